"""Concise RNN (d2l 0.17, "Concise Implementation of Recurrent Neural Networks"): the
language model from ready-made pieces, ``RNNLM`` and the trainer, in about twenty lines.

    python examples/rnn_concise.py                  # the book's 500 epochs, about a minute
    python examples/rnn_concise.py --epochs 50      # a quick look

The book: hidden 256, perplexity 1.3 after 500 epochs (minirnn: docs/training.md).
Writes ``rnn_concise_perplexity.png`` to ``--out``.
"""
# %% Imports and settings (cells: open in VS Code or Jupyter and run one at a time)
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small matrices: one BLAS thread is faster

from minirnn.data import load_data_time_machine  # noqa: E402
from minirnn.generate import predict  # noqa: E402
from minirnn.models import RNNLM  # noqa: E402
from minirnn.plotting import plot_history  # noqa: E402
from minirnn.settings import example_parser, run_script  # noqa: E402
from minirnn.train import train  # noqa: E402


# %% The concise model: RNNLM and the trainer
def main(argv=None):
    parser = example_parser(__doc__, "num_epochs", "num_hiddens", "seed", "out", "no_progress",
                            defaults={"num_epochs": 500, "num_hiddens": 256})   # the book's
    args = parser.parse_args(argv)
    batch_size, num_steps, lr = 32, 35, 1.0                               # the book's
    train_iter, vocab = load_data_time_machine(batch_size, num_steps)     # sequential partitioning
    model = RNNLM(len(vocab), args.num_hiddens, init="uniform", seed=args.seed)   # nn.RNN's init
    history = train(model, train_iter, args.num_epochs, vocab=vocab, lr=lr, clip=1.0,
                    seed=args.seed, sample_every=100, progress=not args.no_progress)
    last = history[-1]
    print(f"perplexity {last['train_ppl']:.2f} after {args.num_epochs} epoch{'s' * (args.num_epochs != 1)} "
          f"(the book: 1.3 after 500), {last['tokens_per_s']:,.0f} tokens/s, "
          f"{last['wall_s']:.0f} s")
    print(predict("time traveller", 50, model, vocab))
    print(predict("traveller", 50, model, vocab))
    path = plot_history(history, args.out / "rnn_concise_perplexity.png",
                        title=f"concise RNN (d2l 0.17), hidden {args.num_hiddens}")
    print(f"figure: {path}")


# %% Run: as a script with its flags; cell by cell in a notebook, with the defaults
if __name__ == "__main__":
    run_script(main)
