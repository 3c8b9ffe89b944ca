"""Many-to-one: which book is a passage from, *The Time Machine* or *Tiny Shakespeare*?

The chapter's first task shape (sentiment analysis in the book): a passage of 20 to 200
characters in, one label out.  Both books are preprocessed as the book does and split:
the first 80% of each for training, the rest for testing.  Each epoch draws
``--passages`` fresh passages per book, batched by length, padded, with their lengths.
A ``minirnn.models.SequenceClassifier`` (embedding -> GRU -> each passage's final state
-> linear) is trained by ``minirnn.train.Trainer`` on the prediction after every prefix
of at least 20 characters (``--loss every``; ``last`` with ``--bidirectional``), with an
auxiliary next-character head on the same states (``--aux-lm``, its weight) and the
weights' moving average (``--average``, its decay).  Baselines: the majority class and
the character n-gram classifier (``minirnn.ngram``, its order chosen on a validation
split of the training parts).  Evaluation: ``--test-passages`` passages per book of 20,
50, 100 and 200 characters.

    python examples/classify_author.py           # about 4 minutes on 2 cores
    python examples/classify_author.py --epochs 1 --passages 40 --hidden 8 \
        --test-passages 10 --ngram-orders 2 --train-chars 20000    # seconds

Writes (in --out): classify_author_accuracy.png, classify_author_loss.png, metrics.json
and author_classifier.npz, the judge of ``examples/conditional_generation.py``.
"""
# %% Imports and settings (cells: open in VS Code or Jupyter and run one at a time)
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small matrices: one BLAS thread is faster

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from minirnn import checkpoint  # noqa: E402
from minirnn.data import bucket_batches, pad_sequences  # noqa: E402
from minirnn.data.tasks import (AUTHORS, PAD, TEST_LENGTHS, PassageBatches,  # noqa: E402
                                author_test_passages, author_texts, char_vocab, encode_passages)
from minirnn.layers import Linear, Module  # noqa: E402
from minirnn.losses import SoftmaxCrossEntropy  # noqa: E402
from minirnn.models import SequenceClassifier  # noqa: E402
from minirnn.ngram import NGramLM, choose_ngram_order, ngram_classify  # noqa: E402
from minirnn.optim import WeightAverage  # noqa: E402
from minirnn.plotting import plot_accuracy_by_length, plot_running_mean  # noqa: E402
from minirnn.settings import Setting, SettingError, atomic_write_json, example_parser, run_script  # noqa: E402,E501
from minirnn.train import Trainer  # noqa: E402

MIN_LEN, MAX_LEN = 20, 200
NAMES = {"timemachine": "The Time Machine", "tinyshakespeare": "Tiny Shakespeare"}
PAD_ID = char_vocab()[PAD]


# %% Training on every prefix, with an auxiliary next-character head: a model and a loss
class PrefixTraining(Module):
    """The classifier's logits after every prefix ``(B, T, C)`` and, with a ``head``,
    next-character logits ``(B, T, V)``: a model of the protocol, for the Trainer."""

    def __init__(self, classifier, head=None):
        super().__init__()
        self.add("classifier", classifier)
        self.head = head
        if head is not None:
            self.add("lm_head", head)

    def forward(self, X, state=None, lengths=None):
        logits, Hs = self.classifier.forward_steps(X, lengths, return_states=True)
        if self.head is None:
            return logits, None
        return (logits, self.head.forward(Hs).transpose(1, 0, 2)), None

    def backward(self, doutputs, dstate=None):
        if self.head is None:
            return self.classifier.backward_steps(doutputs)
        dlogits, dlm = doutputs
        dHs = self.head.backward(dlm.transpose(1, 0, 2))      # dL/dH_t from the second head
        return self.classifier.backward_steps(dlogits, dHs)   # + the classifier's own


class PrefixLoss:
    """The class's cross-entropy over ``mask``, plus ``weight`` times the next-character one."""

    def __init__(self, weight: float):
        self.weight, self.cls, self.lm = weight, SoftmaxCrossEntropy(), SoftmaxCrossEntropy()

    def forward(self, outputs, targets, mask):
        (logits, lm_logits), (y, following, lm_mask) = outputs, targets
        self.lm_value = self.lm.forward(lm_logits, following, lm_mask)
        return self.cls.forward(logits, y, mask) + self.weight * self.lm_value

    def backward(self):
        return self.cls.backward(), self.lm.backward(self.weight)


def train(model, texts, vocab, args):
    """Train; returns (every update's loss, the auxiliary loss's, the trainer)."""
    head, net, loss = None, model, SoftmaxCrossEntropy()
    if args.loss == "every":
        if args.aux_lm:
            head = Linear(model.num_hiddens, len(vocab), init="xavier", dtype=model.dtype,
                          rng=np.random.default_rng([args.seed, 4]))
            loss = PrefixLoss(args.aux_lm)
        net = PrefixTraining(model, head)
    average = WeightAverage(model.params, args.average) if args.average else None
    losses, lm_losses = [], []

    def after_step(trainer, value):
        losses.append(value)
        if head is not None:
            lm_losses.append(loss.lm_value)
        if average is not None:
            average.update()

    def epoch_done(trainer, record):
        if lm_losses:
            print(f"epoch {record['epoch']}: next-character loss "
                  f"{np.mean(lm_losses[-len(trainer.data):]):.4f}")

    # an epoch: fresh passages; every prefix: the label at each step, masked to >= MIN_LEN
    data = PassageBatches(texts, vocab, args.passages, args.batch_size, MIN_LEN, MAX_LEN,
                          every_prefix=args.loss == "every", next_chars=bool(args.aux_lm),
                          seed=args.seed)
    trainer = Trainer(net, data, loss=loss, optimizer="adam", lr=args.lr, schedule=args.schedule,
                      clip=args.clip, after_step=after_step, callback=epoch_done,
                      progress=not args.no_progress)
    trainer.fit(args.num_epochs)
    if average is not None:
        average.copy_to(model.params)                     # evaluate (and save) the average
    model.zero_grad()
    return losses, lm_losses, trainer


def predict(model, seqs, batch_size=256) -> np.ndarray:
    """The model's label for every sequence (in their order)."""
    out = np.empty(len(seqs), dtype=np.int64)
    for idx in bucket_batches(np.array([len(s) for s in seqs]), batch_size, shuffle=False):
        ids, lengths = pad_sequences([seqs[i] for i in idx], pad_id=PAD_ID)
        out[idx] = model.predict(ids, lengths)
    return out


# %% Run everything
ORDER = Setting("ngram_orders", "--ngram-orders", int, None, "n-gram order", low=1, high=20)
SETTINGS = [
    Setting("loss", "--loss", ("every", "last"), None, "train on every prefix of >= 20 "
            "characters (default; unidirectional) or on the final state only", optional=True),
    Setting("passages", "--passages", int, 3000, "training passages per book and epoch",
            low=1, high=10 ** 7),
    Setting("schedule", "--schedule", ("constant", "cosine"), "constant", "the learning rate"),
    Setting("aux_lm", "--aux-lm", float, 1.0, "weight of the auxiliary next-character loss "
            "(0: off)", low=0),
    Setting("average", "--average", float, 0.999, "evaluate the weights' moving average with "
            "this decay (0: the last weights)", low=0, high=1, open_high=True),
    Setting("test_passages", "--test-passages", int, 500, "test passages per book and length",
            low=1, high=10 ** 6),
    Setting("validation_passages", "--validation-passages", int, 300, "validation passages "
            "per book for the n-gram order", low=1, high=10 ** 6),
    Setting("train_chars", "--train-chars", int, None, "use only the first N characters of "
            "each training part", low=10 * MAX_LEN, none="all"),
    Setting("dev", "--dev", bool, False, "train on the first 90 percent of each training part, test "
            "on the last 10 percent"),
]


def order(text):
    try:
        return ORDER.parse(text)
    except SettingError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def main(argv=None):
    parser = example_parser(__doc__, "cell", "bidirectional", "num_hiddens", "embed_dim",
                            "num_epochs", "batch_size", "lr", "clip", "seed", "out",
                            "no_progress", *SETTINGS,
                            defaults={"cell": "gru", "num_hiddens": 128, "embed_dim": 16,
                                      "num_epochs": 12, "batch_size": 32, "lr": 0.005})
    parser.add_argument("--ngram-orders", type=order, nargs="+", default=[2, 3, 4, 5, 6],
                        help="n-gram orders to choose from on validation (default 2 3 4 5 6)")
    args = parser.parse_args(argv)
    args.loss = args.loss or ("last" if args.bidirectional else "every")
    if args.loss == "every" and args.bidirectional:
        parser.error("--loss every needs a unidirectional model: the reverse direction reads "
                     "past each prefix (use --loss last with --bidirectional)")
    start = time.perf_counter()
    books = author_texts()
    if args.dev:                                          # test on the end of the training parts
        books = [b._replace(train=b.train[:int(0.9 * len(b.train))],
                            test=b.train[int(0.9 * len(b.train)):]) for b in books]
    if args.train_chars is not None:
        books = [b._replace(train=b.train[:args.train_chars]) for b in books]
    vocab = char_vocab()
    # the n-gram baseline: its order chosen on a validation split of the training parts
    n, order_scores = choose_ngram_order([b.train for b in books], args.ngram_orders,
                                         args.validation_passages, MIN_LEN, MAX_LEN,
                                         np.random.default_rng([args.seed, 1]))
    print(f"n-gram order on validation: {order_scores or 'given'} -> n = {n}")
    lms = [NGramLM(list(b.train), n=n) for b in books]
    model = SequenceClassifier(len(vocab), len(AUTHORS), args.num_hiddens,
                               embed_dim=args.embed_dim, cell=args.cell,
                               bidirectional=args.bidirectional, seed=args.seed)
    losses, _, trainer = train(model, [b.train for b in books], vocab, args)
    results = {"model": {}, "ngram": {}, "majority": {}, "ngram_order": n}
    tests = author_test_passages([b.test for b in books], args.test_passages, TEST_LENGTHS,
                                 seed=args.seed)          # the same test passages for every run
    for L in TEST_LENGTHS:
        passages, labels = tests[L]
        results["model"][L] = float(np.mean(predict(model, encode_passages(passages, vocab)) == labels))
        results["ngram"][L] = float(np.mean(ngram_classify(lms, passages) == labels))
        results["majority"][L] = float(np.mean(labels == 0))   # balanced: a tie, broken to 0
    print(f"\nheld-out accuracy, {args.test_passages} passages per book and length\n"
          f"{'length':>8}{'model':>10}{f'{n}-gram':>10}{'majority':>10}")
    for L in TEST_LENGTHS:
        print(f"{L:>8}" + "".join(f"{results[k][L]:>10.3f}" for k in ("model", "ngram", "majority")))
    extras = ", ".join(x for x, on in (("next-character loss", args.aux_lm),
                                       ("averaged", args.average)) if on)
    labels = {"model": f"{args.cell.upper()}{' (bidirectional)' if args.bidirectional else ''}"
                       f", H = {args.num_hiddens}" + (f" ({extras})" if extras else ""),
              "ngram": f"{n}-gram likelihood ratio", "majority": "majority class"}
    title = (f"Which book? {NAMES[AUTHORS[0]]} vs {NAMES[AUTHORS[1]]}\n"
             f"{args.test_passages} held-out passages per book and length")
    print("saved " + str(plot_accuracy_by_length({k: results[k] for k in labels},
                                                 args.out / "classify_author_accuracy.png",
                                                 labels, title)))
    what = " + next-character" if args.loss == "every" and args.aux_lm else ""
    print("saved " + str(plot_running_mean(
        losses, args.out / "classify_author_loss.png", f"cross-entropy ({args.loss}{what}), "
        "running mean", f"Training the author classifier: {args.num_epochs} epochs of "
        f"{2 * args.passages} passages, batch {args.batch_size}")))
    settings = {k: str(v) if k == "out" else v for k, v in vars(args).items()}
    print("saved " + str(checkpoint.save(args.out / "author_classifier.npz", model, vocab, {},
                                         {"authors": list(AUTHORS), **settings},
                                         args.num_epochs, {})))
    by_length = {f"{key}_accuracy_by_length": {str(L): results[key][L] for L in TEST_LENGTHS}
                 for key in ("model", "ngram", "majority")}
    metrics = {"accuracy": results["model"][100], "ngram_accuracy": results["ngram"][100],
               "majority_accuracy": results["majority"][100],
               "accuracy_by_length": by_length.pop("model_accuracy_by_length"), **by_length,
               "ngram_order": n, "ngram_order_validation": {str(k): v for k, v in order_scores.items()},
               "final_train_loss": float(np.mean(losses[-20:])), "history": trainer.history.records,
               "settings": settings, "seconds": time.perf_counter() - start}
    print(f"saved {atomic_write_json(args.out / 'metrics.json', metrics)}\n"
          f"wall time {metrics['seconds']:.0f} s")


# %% Run: as a script with its flags; cell by cell in a notebook, with the defaults
if __name__ == "__main__":
    run_script(main)
