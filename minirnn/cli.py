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
import os
import sys
import textwrap
import time
import warnings
from pathlib import Path

# One BLAS thread unless the user chose otherwise: set by minirnn/__init__.py, which runs
# before this module and before NumPy is imported.

#: The settings (``minirnn.settings``) that ``minirnn train`` takes, by group.
TRAIN_GROUPS = {
    "data": ("corpus", "token", "sampling", "max_tokens", "num_train", "num_val", "num_steps",
             "batch_size"),
    "model": ("cell", "num_hiddens", "num_layers", "bidirectional", "dropout", "reset_after",
              "embed_dim", "tie_weights", "nonlinearity", "init"),
    "optimization": ("optimizer", "lr", "num_epochs", "clip", "bptt", "bptt_p", "seed"),
    "output": ("out", "sample_every", "prefix", "num_preds", "no_progress"),
}
#: What may still change when resuming (config keys).
RESUME_KEYS = ("num_epochs", "sample_every", "prefix", "num_preds")


def _preset_lines(presets: dict) -> str:
    """Each preset as the flags it sets, its name on a line of its own."""
    from .settings import SETTINGS
    lines = []
    for name, values in presets.items():
        flags = [SETTINGS[k].flag if v is True else f"{SETTINGS[k].flag}\0{v}"   # \0: kept
                 for k, v in values.items() if k != "sample_every"]                # together
        lines.append(f"  {name}")
        lines += [line.replace("\0", " ") for line in textwrap.wrap(
            " ".join(flags), width=84, initial_indent=" " * 6, subsequent_indent=" " * 6,
            break_on_hyphens=False, break_long_words=False)]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from dataclasses import replace

    from . import __version__
    from .presets import PRESETS
    from .settings import SETTINGS, Parser, Setting, add_settings
    parser = Parser(
        prog="minirnn",
        description="Recurrent neural networks from Dive into Deep Learning, in pure NumPy.")
    parser.add_argument("--version", action="version", version=f"minirnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    tr = sub.add_parser(
        "train", help="train an RNN language model and write a run folder",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent("""\
            Train an RNN language model (the book's RNN from scratch / concise) and write a
            run folder: checkpoint.npz, config.json, history.json, perplexity.png,
            samples.txt.  Options override the preset.  Ctrl-C saves a checkpoint and
            exits with code 130; --resume continues from it (--epochs: the total)."""),
        epilog="presets (unlisted: --corpus timemachine --token char, one-hot inputs, --cell rnn,\n"
               "--nonlinearity tanh --optimizer sgd --init normal --bptt truncated --seed 0):\n"
               + _preset_lines(PRESETS))
    for title, keys in TRAIN_GROUPS.items():
        g = tr.add_argument_group(title)
        if title == "data":
            add_settings(g, Setting("preset", "--preset", tuple(PRESETS), "default",
                                    "the starting settings (default: default, the README's "
                                    "main job; the list is below)", metavar="NAME"),
                         given_only=True)
        add_settings(g, *keys, given_only=True)
        if title == "output":
            g.add_argument("--resume", metavar="PATH",
                           help="continue from a checkpoint (or run folder) to --epochs in all")
    tr.set_defaults(func=_cmd_train)

    ge = sub.add_parser(
        "generate", help="continue a prefix with a trained model",
        description="Warm the state up on the prefix, then generate: greedily (the book), "
                    "by sampling when --temperature or --alpha is given, or by beam search "
                    "with --beam K (the continuation with the highest probability that K "
                    "beams find; --beam 1 is greedy).  Characters "
                    "outside the vocabulary (e.g. capitals: the corpus is lowercased) are "
                    "read as <unk>, with a warning.")
    ge.add_argument("--checkpoint", required=True, metavar="PATH",
                    help="checkpoint.npz, or the run folder that holds it")
    add_settings(ge, "prefix", replace(SETTINGS["num_preds"], low=0, high=None, default=100,
                                       help="tokens to generate"),
                 Setting("temperature", "--temperature", float, None,
                         "sample from softmax(o / T) instead of taking the argmax",
                         low=0, open_low=True, metavar="T"),
                 Setting("alpha", "--alpha", float, None,
                         "sample from q ∝ P^A (the book's sharpening; = temperature 1/A)",
                         low=0, open_low=True, metavar="A"),
                 Setting("beam", "--beam", int, None,
                         "beam search with K beams instead of the argmax", low=1,
                         high=10 ** 4, metavar="K"),
                 replace(SETTINGS["seed"], help="seed of the sampling"))
    ge.set_defaults(func=_cmd_generate)

    gc = sub.add_parser("gradcheck", help="check every layer's gradients (float64)",
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
    from .presets import DEFAULT_CONFIG, preset_config
    overrides = {key: value for key, value in vars(args).items() if key in DEFAULT_CONFIG}
    try:
        config = preset_config(getattr(args, "preset", "default"), **overrides)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if config["corpus"] not in CORPORA and Path(config["corpus"]).is_file():
        config["corpus"] = str(Path(config["corpus"]).resolve())   # --resume from anywhere
    if config["nonlinearity"] != "tanh" and config["cell"] != "rnn":
        raise UsageError(f"--nonlinearity {config['nonlinearity']} applies to --cell rnn only, "
                         f"not --cell {config['cell']}")
    if config["reset_after"] and config["cell"] != "gru":
        raise UsageError(f"--reset-after applies to --cell gru only, not --cell {config['cell']}")
    if config["tie_weights"] and config["embed_dim"] != config["num_hiddens"] * (
            2 if config["bidirectional"] else 1):
        raise UsageError(f"--tie-weights needs --embed-dim equal to --hidden"
                         f"{' times 2 (--bidirectional)' if config['bidirectional'] else ''}"
                         f", got {'no --embed-dim' if config['embed_dim'] is None else '--embed-dim ' + str(config['embed_dim'])}"
                         f" and --hidden {config['num_hiddens']}")
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
    from .presets import DEFAULT_CONFIG
    from .runfolder import (load_run_checkpoint, new_run_dir, prepare_run, release_out_dir,
                            resume_config)
    given = {key: value for key, value in vars(args).items() if key in DEFAULT_CONFIG}
    if "preset" in args:
        given["preset"] = args.preset
    resume = None
    if args.resume is not None:                                # (--resume '' is a bad path)
        try:
            resume = load_run_checkpoint(args.resume)
            config = resume_config(resume, given)
        except (ValueError, OSError) as err:
            raise UsageError(str(err)) from None
        out = Path(args.out) if "out" in args else resume.path.parent
    else:
        config = _config_from_args(args)
        out = Path(args.out) if "out" in args else new_run_dir(config["preset"])

    def after_epoch(trainer, record):                          # (after the epoch's checkpoint)
        if isinstance(STDOUT.error, BrokenPipeError):          # '| head -1': stop here, the
            raise BrokenPipeError                              # epoch's work saved
    try:
        trainer = prepare_run(config, out, progress="no_progress" not in args, resume=resume,
                              log=STDOUT.line, after_epoch=after_epoch)
    except (ValueError, TypeError, OSError) as err:
        raise UsageError(str(err)) from None
    except MemoryError as err:
        from .settings import SizeError
        raise UsageError(str(err) if isinstance(err, SizeError) else
                         f"not enough memory for this run ({err}); lower --hidden, --batch "
                         f"or --steps") from None
    try:
        return _train(trainer, config, out)
    finally:
        release_out_dir(out)


def _train(trainer, config: dict, out: Path) -> int:
    """Train a prepared run to its end (``minirnn.runfolder.train_run``) and print what
    happened: a failure is one line; the run folder keeps it beside the last good
    checkpoint."""
    from ._checks import plural
    from .runfolder import RunFailed, train_run
    from .settings import as_flags
    from .train import TrainingDiverged, TrainingInterrupted
    num_epochs = config["num_epochs"]
    STDOUT.line(f"minirnn train: preset {config['preset']}, {config['corpus']} "
                f"({config['token']}s, vocabulary {len(trainer.vocab)}), {trainer.regime} data, "
                f"{_describe_model(config)}, {config['optimizer']} lr {config['lr']}, clip "
                f"{config['clip']}, {plural(num_epochs, 'epoch')} -> {out}")
    try:
        samples = train_run(trainer, out, num_epochs,
                            title=f"minirnn train --preset {config['preset']}")
    except TrainingInterrupted as err:
        print(f"minirnn train: {err}; resume with: minirnn train --resume {out} "
              f"--epochs {num_epochs}", file=sys.stderr)
        return 130
    except (TrainingDiverged, RunFailed) as err:
        print(f"minirnn train: error: {as_flags(str(err))}", file=sys.stderr)
        return 1
    except MemoryError as err:
        raise UsageError(str(err)) from None
    last = trainer.history[-1]
    summary = f"final train perplexity {last['train_ppl']:.3f}"
    if "val_ppl" in last:
        summary += f", validation perplexity {last['val_ppl']:.3f}"
    STDOUT.line(f"{summary}, {last['wall_s']:.0f} s")
    STDOUT.line("\n".join(samples))
    STDOUT.line(f"run folder: {out} (checkpoint.npz, config.json, history.json, perplexity.png, "
                f"samples.txt)")
    if STDOUT.error is not None:                               # a full disk: the run is done
        why = STDOUT.error.strerror or STDOUT.error
        print(f"minirnn train: error: cannot write to stdout ({why}); the run finished: {out}",
              file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------- generate
def _cmd_generate(args) -> int:
    from .checkpoint import build_model
    from .generate import predict_stream
    from .runfolder import load_run_checkpoint
    try:
        ckpt = load_run_checkpoint(args.checkpoint)
        if ckpt.model.get("name") != "rnnlm":
            raise UsageError(f"checkpoint {str(ckpt.path)!r} holds a {ckpt.model.get('name')!r} "
                             f"model, not a language model: minirnn generate continues text "
                             f"with the language models minirnn train writes")
        model = build_model(ckpt)
    except (ValueError, OSError) as err:
        raise UsageError(str(err)) from None
    strategy = "sample" if (args.temperature or args.alpha) else "greedy"
    if args.beam is not None:
        if strategy == "sample":
            raise UsageError("--beam searches for the most likely text; --temperature and "
                             "--alpha sample: give one or the other")
        strategy = "beam"
    try:
        pieces = predict_stream(args.prefix, args.num_preds, model, ckpt.vocab, strategy=strategy,
                                temperature=args.temperature, alpha=args.alpha, seed=args.seed,
                                token=ckpt.config.get("token", "char"), beam_size=args.beam)
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from None
    flushed = time.monotonic()
    try:                                                       # the text as it comes: a few
        for piece in pieces:                                   # flushes a second, whatever
            STDOUT.write(piece)                                # --num-preds is
            if STDOUT.error is not None:
                break
            if time.monotonic() - flushed > 0.1:
                STDOUT.flush()
                flushed = time.monotonic()
    finally:                                                   # Ctrl-C: what came stays printed
        STDOUT.write("\n")
        STDOUT.flush()
    if isinstance(STDOUT.error, BrokenPipeError):              # '| head -c 10': quietly
        return EXIT_BROKEN_PIPE
    if STDOUT.error is not None:
        raise UsageError(f"cannot write to stdout ({STDOUT.error.strerror or STDOUT.error})")
    return 0


# -------------------------------------------------------------------- gradcheck
def _cmd_gradcheck(args) -> int:
    from .gradcheck import main as gradcheck_main
    return gradcheck_main([])


#: Exit code after a closed pipe (``minirnn generate | head -c 10``): 128 + SIGPIPE, as a
#: tool that the signal ended.
EXIT_BROKEN_PIPE = 141


class _Stdout:
    """What the commands print, never raising: a closed pipe (``| head``) or a full disk
    (``> /dev/full``) is kept in ``error`` and the rest of the output dropped, so that a
    run still saves its work; the command then says so (or, for a pipe, ends quietly)."""

    def __init__(self):
        self.error: OSError | None = None

    def write(self, text: str) -> None:
        if self.error is None:
            try:
                sys.stdout.write(text)
            except OSError as err:
                self._failed(err)

    def flush(self) -> None:
        if self.error is None:
            try:
                sys.stdout.flush()
            except OSError as err:
                self._failed(err)

    def line(self, text: str = "") -> None:
        self.write(text + "\n")
        self.flush()

    def _failed(self, err: OSError) -> None:
        from .settings import quiet_stdout
        self.error = err
        quiet_stdout()


STDOUT = _Stdout()


def main(argv=None) -> int:
    """Run one command; returns the exit code (see the module's docstring)."""
    for name in ("stdout", "stderr"):                          # closed ('>&-'): Python has None
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))
    STDOUT.error = None
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()                                 # a closed pipe fails here
    except BrokenPipeError:                                    # '... | head': stop quietly, as
        from .settings import quiet_stdout                     # standard tools do
        quiet_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as err:                                     # '> /dev/full', at the last flush
        from .settings import quiet_stdout
        quiet_stdout()
        print(f"minirnn: error: cannot write to stdout ({err.strerror or err})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:                                  # before a command runs (while
        return 130                                             # NumPy is imported): quietly


def _main(argv) -> int:
    from .settings import as_flags                             # errors in the flags' words
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:                                   # a bare 'minirnn'
        parser.print_help()
        return 2

    def one_line(message, category, filename, lineno, file=None, line=None):
        print(f"minirnn {args.command}: warning: {as_flags(str(message))}", file=sys.stderr)

    try:
        with warnings.catch_warnings():                        # warnings as one line each, like
            warnings.showwarning = one_line                    # errors (each text printed once)
            return args.func(args)
    except UsageError as err:
        print(f"minirnn {args.command}: error: {as_flags(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"minirnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
