"""The ``minirnn`` command line (also ``python -m minirnn``).

* ``minirnn train``: train a character (or word) RNN language model and write a run
  folder: ``checkpoint.npz``, ``config.json``, ``history.json`` (one record per epoch),
  ``perplexity.png`` and ``samples.txt``.  With no arguments it is the README's main job.
* ``minirnn generate``: continue a prefix with a trained checkpoint.
* ``minirnn gradcheck``: check every layer's backward pass against centered differences.

Exit codes: 0 done; 1 training diverged (NaN/inf), a file of the run could not be
written (one line: what, why, and the last good checkpoint) or the gradient check failed;
2 bad arguments, or a run that cannot start or ran out of memory (one line on stderr);
130 interrupted by Ctrl-C (checkpoint saved; before a command started: silently);
141 stdout was closed (``... | head``), quietly.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
import warnings
from pathlib import Path

# One BLAS thread unless the user chose otherwise: set by minirnn/__init__.py, which runs
# before this module and before NumPy is imported.

class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``minirnn train: error: ...``, exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int_at_least(lowest: int):
    """An argparse type: an int >= ``lowest``, else a one-line error."""
    what = "a positive integer" if lowest == 1 else f"an integer >= {lowest}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value
    return parse


_positive_int, _non_negative_int = _int_at_least(1), _int_at_least(0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _clip(text: str):
    if text.lower() in ("none", "off"):
        return "none"
    return _positive_float(text)


def _probability(text: str) -> float:
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a probability in (0, 1], got {text}")
    return value


def _dropout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1), got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1), got {text}")
    return value


def _max_tokens(text: str):
    return "all" if text.lower() == "all" else _positive_int(text)


# option -> config key, for the options that set a config value
TRAIN_OPTIONS = {"corpus": "corpus", "token": "token", "hidden": "num_hiddens",
                 "embed_dim": "embed_dim", "steps": "num_steps", "batch": "batch_size",
                 "lr": "lr", "epochs": "num_epochs", "clip": "clip", "optimizer": "optimizer",
                 "seed": "seed", "bptt": "bptt", "bptt_p": "bptt_p", "sampling": "sampling",
                 "max_tokens": "max_tokens", "num_train": "num_train", "num_val": "num_val",
                 "init": "init", "nonlinearity": "nonlinearity", "tie_weights": "tie_weights",
                 "cell": "cell", "layers": "num_layers", "bidirectional": "bidirectional",
                 "dropout": "dropout", "reset_after": "reset_after",
                 "sample_every": "sample_every", "prefix": "prefix",
                 "num_preds": "num_preds"}
# what may still change when resuming
RESUME_OPTIONS = ("epochs", "sample_every", "prefix", "num_preds")


def build_parser() -> argparse.ArgumentParser:
    from .run import PRESETS, SAMPLINGS
    parser = _Parser(
        prog="minirnn",
        description="Recurrent neural networks from Dive into Deep Learning, in pure NumPy.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    presets = "\n".join(textwrap.fill(
        ", ".join(f"{k}={v}" for k, v in PRESETS[name].items() if k != "sample_every"),
        width=88, initial_indent=f"  {name:<18}", subsequent_indent=" " * 20) for name in PRESETS)
    tr = sub.add_parser(
        "train", help="train an RNN language model and write a run folder",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent("""\
            Train an RNN language model (the book's RNN from scratch / concise) and write a
            run folder: checkpoint.npz, config.json, history.json, perplexity.png,
            samples.txt.  Options override the preset.  Ctrl-C saves a checkpoint and
            exits with code 130; --resume continues from it."""),
        epilog="presets (unlisted: timemachine characters, one-hot inputs, tanh, sgd, init normal,\n"
               "truncated BPTT, seed 0):\n" + presets)
    g = tr.add_argument_group("data")
    g.add_argument("--preset", choices=list(PRESETS),
                   help="the starting settings (default: default, the README's main job)")
    g.add_argument("--corpus", help="timemachine, tinyshakespeare, or the path of a UTF-8 text file")
    g.add_argument("--token", choices=["char", "word"], help="token kind (default char)")
    g.add_argument("--sampling", choices=list(SAMPLINGS),
                   help="sequential partitioning, random sampling (0.17 book), or shuffled "
                        "windows with validation (1.0 book)")
    g.add_argument("--max-tokens", type=_max_tokens, metavar="N|all",
                   help="use the first N tokens of the corpus")
    g.add_argument("--num-train", type=_positive_int, metavar="N", help="training windows (windowed)")
    g.add_argument("--num-val", type=_non_negative_int, metavar="N",
                   help="validation windows (windowed; 0 for none)")
    g.add_argument("--steps", type=_positive_int, metavar="T", help="num_steps, the window length")
    g.add_argument("--batch", type=_positive_int, metavar="B", help="batch size")
    g = tr.add_argument_group("model")
    g.add_argument("--cell", choices=["rnn", "gru", "lstm"],
                   help="the recurrent cell (default rnn, the book's chapter 9; gru, lstm: "
                        "chapter 10)")
    g.add_argument("--hidden", type=_positive_int, metavar="H", help="num_hiddens")
    g.add_argument("--layers", type=_positive_int, metavar="N",
                   help="stacked recurrent layers (default 1)")
    g.add_argument("--bidirectional", action="store_const", const=True, default=None,
                   help="read the text both ways (its samples are then not next-token "
                        "predictions: the book's lesson)")
    g.add_argument("--dropout", type=_dropout, metavar="P",
                   help="dropout between stacked layers, in [0, 1) (default 0)")
    g.add_argument("--reset-after", action="store_const", const=True, default=None,
                   help="--cell gru: PyTorch's GRU (the reset gate after the product), not "
                        "the book's")
    g.add_argument("--embed-dim", type=_positive_int, metavar="E",
                   help="learned embeddings of this size (default: one-hot inputs, as the book)")
    g.add_argument("--tie-weights", action="store_const", const=True, default=None,
                   help="share the embedding matrix with the output layer, W_hq = W_emb^T "
                        "(Press and Wolf, 2017); needs --embed-dim equal to --hidden")
    g.add_argument("--nonlinearity", choices=["tanh", "relu"],
                   help="the RNN's f in H_t = f(X_t W_xh + H_{t-1} W_hh + b_h) (default tanh, "
                        "the book's; relu: an exercise)")
    g.add_argument("--init", choices=["normal", "uniform", "xavier"],
                   help="normal: N(0, 0.01^2) (book, scratch); uniform: U(+-1/sqrt(H)) "
                        "(book, concise); xavier: U(+-sqrt(6/(fan_in+fan_out)))")
    g = tr.add_argument_group("optimization")
    g.add_argument("--optimizer", choices=["sgd", "adam"])
    g.add_argument("--lr", type=_positive_float, help="learning rate")
    g.add_argument("--epochs", type=_positive_int, metavar="N",
                   help="number of epochs (with --resume: the total to reach)")
    g.add_argument("--clip", type=_clip, metavar="THETA|none",
                   help="clip the global gradient norm to THETA; 'none' for no clipping")
    g.add_argument("--bptt", choices=["truncated", "full", "randomized"],
                   help="backpropagation through time (default truncated)")
    g.add_argument("--bptt-p", type=_probability, metavar="P",
                   help="keep probability of --bptt randomized")
    g.add_argument("--seed", type=_non_negative_int,
                   help="seed of the init, the data order and the trainer")
    g = tr.add_argument_group("output")
    g.add_argument("--out", metavar="DIR", help="run folder (default runs/<preset>-<time>)")
    g.add_argument("--resume", metavar="PATH",
                   help="continue from a checkpoint (or run folder) to --epochs in all")
    g.add_argument("--sample-every", type=_non_negative_int, metavar="K",
                   help="print a sample every K epochs (0: never)")
    g.add_argument("--prefix", help="prefix of the samples (default 'time traveller')")
    g.add_argument("--num-preds", type=_positive_int, metavar="N", help="tokens per sample")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    tr.set_defaults(func=_cmd_train)

    ge = sub.add_parser(
        "generate", help="continue a prefix with a trained model",
        description="Warm the state up on the prefix, then generate: greedily (the book), "
                    "or by sampling when --temperature or --alpha is given.  Characters "
                    "outside the vocabulary (e.g. capitals: the corpus is lowercased) are "
                    "read as <unk>, with a warning.")
    ge.add_argument("--checkpoint", required=True, metavar="PATH",
                    help="checkpoint.npz, or the run folder that holds it")
    ge.add_argument("--prefix", default="time traveller", help="default: %(default)r")
    ge.add_argument("--num-preds", type=_non_negative_int, default=100, metavar="N",
                    help="tokens to generate (default %(default)s)")
    ge.add_argument("--temperature", type=_positive_float, metavar="T",
                    help="sample from softmax(o / T) instead of taking the argmax")
    ge.add_argument("--alpha", type=_positive_float, metavar="A",
                    help="sample from q ∝ P^A (the book's sharpening; = temperature 1/A)")
    ge.add_argument("--seed", type=_non_negative_int, default=0,
                    help="seed of the sampling (default 0)")
    ge.set_defaults(func=_cmd_generate)

    gc = sub.add_parser("gradcheck", help="check every layer's backward pass against centered "
                                          "differences in float64 and print a table",
                        description="Gradient-check every layer and the language model "
                                    "(float64, centered differences); exit 1 if any max "
                                    "relative error is 1e-6 or more.")
    gc.set_defaults(func=_cmd_gradcheck)
    return parser


class UsageError(Exception):
    """A bad argument found after parsing (exit 2, one line)."""


# ------------------------------------------------------------------------ train
def _config_from_args(args) -> dict:
    from .data import CORPORA
    from .run import preset_config
    overrides = {key: getattr(args, opt) for opt, key in TRAIN_OPTIONS.items()}
    try:
        config = preset_config(args.preset or "default", **overrides)
    except ValueError as err:
        raise UsageError(str(err)) from None
    for key in ("clip", "max_tokens"):             # '--clip none', '--max-tokens all'
        if config[key] in ("none", "all"):
            config[key] = None
    if config["corpus"] not in CORPORA and Path(config["corpus"]).is_file():
        config["corpus"] = str(Path(config["corpus"]).resolve())   # --resume from anywhere
    if config["bptt"] == "randomized" and config["bptt_p"] is None:
        raise UsageError("--bptt randomized needs --bptt-p P (the keep probability, in (0, 1])")
    if config["bptt"] != "randomized" and config["bptt_p"] is not None:
        raise UsageError(f"--bptt-p applies to --bptt randomized, not --bptt {config['bptt']}")
    return config


def _describe_model(config: dict) -> str:
    """``'lstm, 2 layers, bidirectional, hidden 256'`` (``'hidden 128'`` for the book's RNN)."""
    parts = [] if config["cell"] == "rnn" else [config["cell"]]
    if config["num_layers"] > 1:
        parts.append(f"{config['num_layers']} layers")
    if config["bidirectional"]:
        parts.append("bidirectional")
    return ", ".join(parts + [f"hidden {config['num_hiddens']}"])


def _cmd_train(args) -> int:
    from .run import (DEFAULT_CONFIG, LATER_KEYS, load_run_checkpoint, new_run_dir, prepare_run,
                      release_out_dir)

    resume = None
    if args.out == "":
        raise UsageError("--out must name a folder, got ''")
    if args.resume is not None:                                # (--resume '' is a bad path)
        given = [f"--{opt.replace('_', '-')}" for opt in TRAIN_OPTIONS
                 if getattr(args, opt) is not None and opt not in RESUME_OPTIONS]
        if given or args.preset is not None:
            raise UsageError(f"{', '.join(given + (['--preset'] if args.preset is not None else []))} "
                             f"cannot change when resuming; only --epochs, --out, "
                             f"--sample-every, --prefix, --num-preds and --no-progress can")
        try:
            resume = load_run_checkpoint(args.resume)
        except (ValueError, OSError) as err:
            raise UsageError(str(err)) from None
        resume.config = {**LATER_KEYS, **resume.config}      # a version-1 checkpoint's run
        missing = sorted(set(DEFAULT_CONFIG) - set(resume.config))
        if missing:
            raise UsageError(f"checkpoint {str(resume.path)!r} was not written by minirnn train "
                             f"(its config lacks {', '.join(missing)}); continue it in Python "
                             f"with minirnn.train.Trainer.restore")
        config = dict(resume.config)
        for opt in RESUME_OPTIONS:
            if getattr(args, opt) is not None:
                config[TRAIN_OPTIONS[opt]] = getattr(args, opt)
        out = Path(args.out) if args.out is not None else resume.path.parent
    else:
        config = _config_from_args(args)
        out = Path(args.out) if args.out is not None else new_run_dir(config["preset"])
    try:
        trainer = prepare_run(config, out, progress=not args.no_progress, resume=resume)
    except (ValueError, TypeError, OSError) as err:
        raise UsageError(str(err)) from None
    except MemoryError as err:
        raise UsageError(f"not enough memory for this run ({err}); lower --hidden, --batch "
                         f"or --steps") from None
    try:
        return _train(trainer, config, out)
    finally:
        release_out_dir(out)


def _train(trainer, config: dict, out: Path) -> int:
    """Train a prepared run to its end and write its files; a failure is one line, and
    the run folder keeps it (``error.txt``) next to the last good checkpoint."""
    from ._checks import plural
    from .run import finish_run, record_failure
    from .train import TrainingDiverged, TrainingInterrupted
    num_epochs = config["num_epochs"]
    print(f"minirnn train: preset {config['preset']}, {config['corpus']} ({config['token']}s, "
          f"vocabulary {len(trainer.vocab)}), {trainer.regime} data, {_describe_model(config)}, "
          f"{config['optimizer']} lr {config['lr']}, clip "
          f"{config['clip']}, {plural(num_epochs, 'epoch')} -> {out}", flush=True)
    try:
        trainer.fit(num_epochs)
        samples = finish_run(trainer, out, title=f"minirnn train --preset {config['preset']}")
    except TrainingInterrupted as err:
        record_failure(trainer, out, None if err.checkpoint else f"interrupted: {err}")
        print(f"minirnn train: {err}; resume with: minirnn train --resume {out} "
              f"--epochs {num_epochs}", file=sys.stderr)
        return 130
    except TrainingDiverged as err:
        record_failure(trainer, out, str(err))
        print(f"minirnn train: error: {err}", file=sys.stderr)
        return 1
    except MemoryError as err:
        message = (f"ran out of memory while training ({err}); lower --hidden, --batch or "
                   f"--steps ({trainer.last_checkpoint_note()})")
        record_failure(trainer, out, message)
        raise UsageError(message) from None
    except BrokenPipeError:                                    # stdout closed: stop, quietly
        record_failure(trainer, out, f"stopped: its output was closed (a broken pipe); "
                                     f"{trainer.last_checkpoint_note()}")
        raise
    except OSError as err:                                     # a full disk, a read-only folder
        message = f"{err}; {trainer.last_checkpoint_note()}"
        record_failure(trainer, out, message)
        print(f"minirnn train: error: {message}", file=sys.stderr)
        return 1
    last = trainer.history[-1]
    summary = f"final train perplexity {last['train_ppl']:.3f}"
    if "val_ppl" in last:
        summary += f", validation perplexity {last['val_ppl']:.3f}"
    print(f"{summary}, {last['wall_s']:.0f} s")
    print("\n".join(samples))
    print(f"run folder: {out} (checkpoint.npz, config.json, history.json, perplexity.png, "
          f"samples.txt)")
    return 0


# --------------------------------------------------------------------- generate
def _cmd_generate(args) -> int:
    from .checkpoint import build_model
    from .generate import predict_stream
    from .run import load_run_checkpoint
    try:
        ckpt = load_run_checkpoint(args.checkpoint)
        model = build_model(ckpt)
    except (ValueError, OSError) as err:
        raise UsageError(str(err)) from None
    strategy = "sample" if (args.temperature or args.alpha) else "greedy"
    try:
        pieces = predict_stream(args.prefix, args.num_preds, model, ckpt.vocab, strategy=strategy,
                                temperature=args.temperature, alpha=args.alpha, seed=args.seed,
                                token=ckpt.config.get("token", "char"))
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from None
    out, flushed = sys.stdout, time.monotonic()
    try:                                                       # the text as it comes: a few
        for piece in pieces:                                   # flushes a second, whatever
            out.write(piece)                                   # --num-preds is
            if time.monotonic() - flushed > 0.1:
                out.flush()
                flushed = time.monotonic()
    finally:                                                   # Ctrl-C: what came stays printed
        out.write("\n")
        out.flush()
    return 0


# -------------------------------------------------------------------- gradcheck
def _cmd_gradcheck(args) -> int:
    from .gradcheck import main as gradcheck_main
    return gradcheck_main([])


#: Exit code after a closed pipe (``minirnn generate | head -c 10``): 128 + SIGPIPE, as a
#: tool that the signal ended.
EXIT_BROKEN_PIPE = 141


def _quiet_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null, so that Python's last flush at exit
    has nowhere to fail (else it prints 'Exception ignored ... BrokenPipeError')."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):              # no real stdout (a test's capture)
        pass


def main(argv=None) -> int:
    """Run one command; returns the exit code (see the module's docstring)."""
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()                                 # a closed pipe fails here
    except BrokenPipeError:                                    # '... | head': stop quietly, as
        _quiet_stdout()                                        # standard tools do
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:                                  # before a command runs (while
        return 130                                             # NumPy is imported): quietly


def _main(argv) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def one_line(message, category, filename, lineno, file=None, line=None):
        print(f"minirnn {args.command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():                        # warnings as one line each, like
            warnings.showwarning = one_line                    # errors (each text printed once)
            return args.func(args)
    except UsageError as err:
        print(f"minirnn {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"minirnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
