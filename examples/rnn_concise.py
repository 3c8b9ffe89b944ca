"""Concise RNN (d2l 0.17, "Concise Implementation of Recurrent Neural Networks"): the
language model from ready-made pieces, ``RNNLM`` and the trainer, in about twenty lines.

    python examples/rnn_concise.py          # about 1 minute on one core

The book: hidden 256, perplexity 1.3 after 500 epochs (minirnn: README "Training").
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small matrices: one BLAS thread is faster

from minirnn.data import load_data_time_machine  # noqa: E402
from minirnn.generate import predict  # noqa: E402
from minirnn.models import RNNLM  # noqa: E402
from minirnn.plotting import plot_history  # noqa: E402
from minirnn.train import train  # noqa: E402

batch_size, num_steps, num_hiddens, num_epochs, lr = 32, 35, 256, 500, 1.0
train_iter, vocab = load_data_time_machine(batch_size, num_steps)       # sequential partitioning
model = RNNLM(len(vocab), num_hiddens, init="uniform")                  # nn.RNN's default init
history = train(model, train_iter, num_epochs, vocab=vocab, lr=lr, clip=1.0, sample_every=100)
last = history[-1]
print(f"perplexity {last['train_ppl']:.2f}, {last['tokens_per_s']:,.0f} tokens/s, {last['wall_s']:.0f} s")
print(predict("time traveller", 50, model, vocab))
print(predict("traveller", 50, model, vocab))
print("figure:", plot_history(history, "rnn_concise_perplexity.png", title="concise RNN, d2l 0.17"))
