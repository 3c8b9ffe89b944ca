"""The one schema of settings: each setting of a run or an example is defined once here,
with its name, type, default, help and check.  ``minirnn train``'s flags, a run's
``config.json``, a checkpoint's config, the presets (``minirnn.presets``) and every
example's parser derive from it, so one concept has one name everywhere
(``--hidden``, ``--embed-dim``, ``--steps``, ``--batch``, ``--epochs``, ``--lr``,
``--clip``, ``--seed``, ``--out``, ``--no-progress``).

A setting has two names: its *key*, the book's name (``num_hiddens``), which is the
config key, the Python argument and the attribute of the parsed arguments; and its
*flag*, the command line's short name (``--hidden``).  Errors name what the user
typed: the flag on the command line, the argument in Python.

An example's parser (one-line errors, exit 2, nothing written on refusal)::

    from minirnn.settings import (Setting, atomic_write_json, check_memory, example_parser,
                                  run_script)

    RUNS = Setting("runs", "--runs", int, 10, "seeds per model", low=1, high=1000,
                   metavar="N")                       # a setting of this example only

    def main(argv=None):
        parser = example_parser(__doc__, "num_epochs", "num_hiddens", "seed", "out",
                                "no_progress", RUNS, defaults={"num_epochs": 100})
        args = parser.parse_args(argv)                # args.num_hiddens, args.runs, args.out
        check_memory(nbytes, "the models", "--hidden")   # before allocating (optional)
        ...                                           # tqdm(..., disable=args.no_progress or None)
        atomic_write_json(args.out / "metrics.json", metrics)   # every file: atomic

    if __name__ == "__main__":
        run_script(main)                              # exit code, or the defaults in a notebook

``--out`` is checked before any work (a writable folder, or one that can be created:
nothing is created before the first file); every file is written atomically
(``minirnn._files``); ``run_example`` turns a failed write, a missing corpus, Ctrl-C and a
closed stdout into one line (or silence) and the right exit code. Sizes are bounded by
their checks; ``check_memory`` refuses what no memory holds, naming the flags.
"""
from __future__ import annotations

import argparse
import numbers
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ._checks import SizeError, check_memory
from ._files import WriteError, atomic_write_json

__all__ = ["Setting", "SettingError", "SizeError", "SETTINGS", "RUN_KEYS", "defaults", "check_config",
           "as_flags", "Parser", "example_parser", "add_settings", "check_out_folder", "check_memory",
           "atomic_write_json", "run_example", "run_script", "EXIT_USAGE", "EXIT_INTERRUPTED"]

EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 2, 130, 141


class SettingError(ValueError):
    """A setting's value is not one it accepts; the message names the flag or argument."""


@dataclass(frozen=True)
class Setting:
    """One setting.

    Attributes:
        key: the book's name: config key, Python argument, parsed attribute.
        flag: the command-line flag, or None for a setting only configs hold.
        type: int, float, str, bool (a switch), Path (an output folder, checked
            writable), or a tuple of the allowed strings.
        default: the value when nothing sets it; help: one line for ``--help``.
        low, high: bounds of an int or float (None: unbounded), excluded by
            ``open_low`` / ``open_high``.
        none: the word that means None on the command line (``none``, ``all``).
        metavar: the value's name in ``--help``.
        optional: None is valid (a setting that does not apply); so with ``none``.
    """
    key: str
    flag: str | None
    type: object
    default: object
    help: str
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    none: str | None = None
    metavar: str | None = None
    optional: bool = False

    def expected(self) -> str:
        """What the setting accepts, in words: ``'an integer in [1, 65536]'``."""
        if isinstance(self.type, tuple):
            what = f"one of {', '.join(self.type)}"
        elif self.type is bool:
            what = "true or false"
        elif self.type is str:
            what = "a string"
        elif self.type is Path:
            what = "a folder"
        else:
            what = "an integer" if self.type is int else "a finite number"
            low, high = (_number(self.low), _number(self.high))
            if self.low is not None and self.high is not None:
                lo, hi = ("(" if self.open_low else "["), (")" if self.open_high else "]")
                what += f" in {lo}{low}, {high}{hi}"
            elif self.low is not None:
                what += f" {'>' if self.open_low else '>='} {low}"
            elif self.high is not None:
                what += f" {'<' if self.open_high else '<='} {high}"
        return what + (f" or '{self.none}'" if self.none else "")

    def check(self, value, name: str | None = None):
        """``value`` if this setting accepts it (ints and floats as Python numbers), else
        a ``SettingError`` (wrong value) or ``TypeError`` (wrong kind) naming ``name``
        (default: the key, as the Python API names it)."""
        name = name or self.key
        if value is None and (self.none or self.default is None or self.optional):
            return None
        if isinstance(self.type, tuple):
            if value not in self.type:
                raise SettingError(f"{name} must be {self.expected()}, got {value!r}")
            return value
        if self.type is bool:
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be true or false, got {value!r}")
            return value
        if self.type in (str, Path):
            if not isinstance(value, (str, Path)) or (self.type is str and isinstance(value, Path)):
                raise TypeError(f"{name} must be {self.expected()}, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                (self.type is int and not isinstance(value, numbers.Integral)):
            kind = "an integer" if self.type is int else "a number"
            raise TypeError(f"{name} must be {kind} ({self.expected()}), got {value!r} "
                            f"({type(value).__name__})")
        try:
            value = self.type(value)                  # a Python int or float
        except OverflowError:                         # an int too large for a float
            raise SettingError(f"{name} must be {self.expected()}, got {value!r}") from None
        if value != value or value in (float("inf"), float("-inf")) or \
                (self.low is not None and (value <= self.low if self.open_low else value < self.low)) or \
                (self.high is not None and (value >= self.high if self.open_high else value > self.high)):
            raise SettingError(f"{name} must be {self.expected()}, got {value!r}")
        return value

    def parse(self, text: str):
        """The value of ``text`` typed after the flag, checked; errors name the flag."""
        name = self.flag or self.key
        if self.none and text.strip().lower() == self.none:
            return None
        if self.type is Path:
            return check_out_folder(text, name)
        if self.type in (int, float):
            try:
                value = self.type(text)
            except (ValueError, OverflowError):
                raise SettingError(f"{name} must be {self.expected()}, got {text!r}") from None
            try:
                return self.check(value, name)
            except SettingError:
                raise SettingError(f"{name} must be {self.expected()}, got {text!r}") from None
        return self.check(text, name)


def _number(x) -> str:
    """A bound for messages: ``65536``, ``0.5``."""
    return "" if x is None else f"{x:g}" if isinstance(x, float) else str(x)


def _s(*args, **kwargs) -> tuple[str, Setting]:
    setting = Setting(*args, **kwargs)
    return setting.key, setting


CELLS = ("rnn", "gru", "lstm")
MAX_HIDDEN = 2 ** 16      # a (2^16, 2^16) float32 matrix is 16 GiB: beyond any laptop's memory

#: Every setting, by key.  A run's config (``RUN_KEYS``) is a subset; examples pick theirs.
SETTINGS: dict[str, Setting] = dict([
    # data
    _s("corpus", "--corpus", str, "timemachine",
       "timemachine, tinyshakespeare, or the path of a UTF-8 text file", metavar="NAME|PATH"),
    _s("token", "--token", ("char", "word"), "char", "token kind"),
    _s("max_tokens", "--max-tokens", int, None, "use the first N tokens of the corpus",
       low=1, none="all", metavar="N|all"),
    _s("sampling", "--sampling", ("sequential", "random", "windowed"), "windowed",
       "sequential partitioning, random sampling (0.17 book), or shuffled windows with "
       "validation (1.0 book)"),
    _s("num_train", "--num-train", int, 10000, "training windows (--sampling windowed)",
       low=1, high=2 ** 31, metavar="N", optional=True),
    _s("num_val", "--num-val", int, 5000, "validation windows (--sampling windowed; 0: none)",
       low=0, high=2 ** 31, metavar="N", optional=True),
    _s("batch_size", "--batch", int, 1024, "batch size", low=1, high=2 ** 24, metavar="B"),
    _s("num_steps", "--steps", int, 32, "num_steps: the window length", low=1, high=2 ** 24,
       metavar="T"),
    # model
    _s("model", None, ("rnnlm",), "rnnlm", "the registry's model"),
    _s("cell", "--cell", CELLS, "rnn",
       "the recurrent cell (rnn: the book's chapter 9; gru, lstm: chapter 10)"),
    _s("num_hiddens", "--hidden", int, 32, "hidden units", low=1, high=MAX_HIDDEN, metavar="H"),
    _s("num_layers", "--layers", int, 1, "stacked recurrent layers", low=1, high=1024, metavar="N"),
    _s("bidirectional", "--bidirectional", bool, False,
       "read the text both ways (its samples are then not next-token predictions)"),
    _s("dropout", "--dropout", float, 0.0, "dropout between stacked layers", low=0, high=1,
       open_high=True, metavar="P"),
    _s("reset_after", "--reset-after", bool, False,
       "--cell gru: PyTorch's GRU (the reset gate after the product), not the book's"),
    _s("embed_dim", "--embed-dim", int, None,
       "learned embeddings of this size (default: one-hot inputs, as the book)",
       low=1, high=MAX_HIDDEN, metavar="E"),
    _s("tie_weights", "--tie-weights", bool, False,
       "share the embedding with the output layer, W_hq = W_emb^T; needs --embed-dim = --hidden"),
    _s("nonlinearity", "--nonlinearity", ("tanh", "relu"), "tanh",
       "the RNN's f in H_t = f(X_t W_xh + H_{t-1} W_hh + b_h)"),
    _s("init", "--init", ("normal", "uniform", "xavier"), "normal",
       "normal: N(0, 0.01^2) (book, scratch); uniform: U(+-1/sqrt(H)) (concise); xavier"),
    _s("sigma", None, float, 0.01, "the standard deviation of --init normal", low=0,
       open_low=True),
    # optimization
    _s("optimizer", "--optimizer", ("sgd", "adam"), "sgd", "the optimizer"),
    _s("lr", "--lr", float, 1.0, "learning rate", low=0, open_low=True, metavar="LR"),
    _s("clip", "--clip", float, 1.0, "clip the global gradient norm to THETA ('none': never)",
       low=0, open_low=True, none="none", metavar="THETA|none"),
    _s("num_epochs", "--epochs", int, 100, "number of epochs", low=1, high=10 ** 9, metavar="N"),
    _s("bptt", "--bptt", ("truncated", "full", "randomized"), "truncated",
       "backpropagation through time"),
    _s("bptt_p", "--bptt-p", float, None, "keep probability of --bptt randomized", low=0,
       high=1, open_low=True, metavar="P"),
    _s("seed", "--seed", int, 0, "seed of the init, the data order and the trainer", low=0,
       metavar="S"),
    # samples during training
    _s("sample_every", "--sample-every", int, 10, "print a sample every K epochs (0: never)",
       low=0, metavar="K"),
    _s("prefix", "--prefix", str, "time traveller", "the samples' prefix"),
    _s("num_preds", "--num-preds", int, 50, "tokens per sample", low=1, high=10 ** 7,
       metavar="N"),
    # not part of a run's config: where it reads and writes, how it shows progress
    _s("data", "--data", str, None, "folder holding the corpus files (default: $MINIRNN_DATA, "
       "else ~/.cache/minirnn)", metavar="DIR"),
    _s("out", "--out", Path, "figures", "output folder", metavar="DIR"),
    _s("no_progress", "--no-progress", bool, False, "no progress bars"),
])

#: The settings of a run of ``minirnn train``: its ``config.json`` and checkpoint config.
RUN_KEYS = ("corpus", "token", "max_tokens", "sampling", "num_train", "num_val", "batch_size",
            "num_steps", "model", "cell", "num_hiddens", "num_layers", "bidirectional",
            "dropout", "reset_after", "embed_dim", "tie_weights", "nonlinearity", "init",
            "sigma", "optimizer", "lr", "clip", "num_epochs", "bptt", "bptt_p", "seed",
            "sample_every", "prefix", "num_preds")


def defaults(keys=RUN_KEYS) -> dict:
    """``{key: default}`` of the given settings (by default a run's: ``DEFAULT_CONFIG``)."""
    return {key: SETTINGS[key].default for key in keys}


def check_config(config, where: str = "config", keys=RUN_KEYS) -> dict:
    """Check a whole config (a run's ``config.json``, a checkpoint's config, a preset with
    overrides): a dict with every one of ``keys``, each accepted by its setting.  Errors
    name ``where`` and the entry (``checkpoint 'x.npz': config entry 'cell': ...``).

    Raises:
        SettingError: not a dict, an entry missing, or a value its setting refuses.
    """
    if not isinstance(config, dict):
        raise SettingError(f"{where} must be a JSON object of settings, got "
                           f"{type(config).__name__}")
    missing = [key for key in keys if key not in config]
    if missing:
        raise SettingError(f"{where} lacks the entr{'y' if len(missing) == 1 else 'ies'} "
                           f"{', '.join(missing)}")
    for key in keys:
        try:
            SETTINGS[key].check(config[key], f"{where} entry {key!r}")
        except TypeError as err:
            raise SettingError(str(err)) from None
    return config


def as_flags(message: str) -> str:
    """A message of the Python API in the command line's words, for the CLI to print:
    ``clip=1.0`` -> ``--clip 1.0``, ``clip=None`` -> ``--clip none``, ``num_hiddens=8``
    -> ``--hidden 8``, ``reset_after=True`` -> ``--reset-after``, ``name_or_path='x'`` (a
    corpus) -> ``--corpus 'x'``."""
    message = message.replace("name_or_path=", "--corpus ")
    pattern = "|".join(sorted((k for k, s in SETTINGS.items() if s.flag), key=len, reverse=True))

    def flag(match):
        s, value = SETTINGS[match.group(1)], match.group(2)
        if s.type is bool:
            return s.flag if value == "True" else f"no {s.flag}"
        return f"{s.flag} {s.none if value == 'None' and s.none else value}"
    return re.sub(rf"(?<![\w.-])({pattern})=([^\s,;:)]+)", flag, message)


# ------------------------------------------------------------------- parsers
class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (``bptt.py: error: --hidden must be an
    integer in [1, 65536], got '0'``) and exit 2, without the usage lines before it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)      # an error names the flag as typed
        super().__init__(*args, **kwargs)

    def error(self, message):
        message = re.sub(r"^argument [^:]+: (?=--)", "", message)   # the flag is named already
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _argparse_type(setting: Setting):
    def parse(text):
        try:
            return setting.parse(text)
        except (SettingError, TypeError) as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    parse.__name__ = setting.key                      # argparse names a failed type by it
    parse.setting = setting                           # (what a test finds on the parser)
    return parse


def add_settings(parser, *settings, defaults: dict | None = None, given_only: bool = False):
    """Add each setting (a key of ``SETTINGS`` or a ``Setting``) as a flag of ``parser``
    (or of an argument group).  ``defaults``: per-key defaults in place of the schema's;
    ``given_only``: a flag not given is absent from the parsed namespace (``minirnn
    train``: the preset fills it)."""
    defaults = defaults or {}
    for s in settings:
        s = SETTINGS[s] if isinstance(s, str) else s
        if s.flag is None:
            raise ValueError(f"setting {s.key!r} has no command-line flag")
        value = argparse.SUPPRESS if given_only else defaults.get(s.key, s.default)
        text = s.help
        if not given_only and value is not None and value is not False:
            text += f" (default {value})"
        text = text.replace("%", "%%")                # argparse formats help with %
        if s.type is bool:
            parser.add_argument(s.flag, dest=s.key, action="store_const", const=True,
                                default=value, help=text)
            continue
        metavar = s.metavar or ("{" + ",".join(s.type) + "}" if isinstance(s.type, tuple) else None)
        if isinstance(value, (int, float, Path)) and not isinstance(value, bool):
            value = str(value)                        # argparse checks a str default by type
        parser.add_argument(s.flag, dest=s.key, type=_argparse_type(s), default=value,
                            metavar=metavar, help=text)
    return parser


def example_parser(doc: str, *settings, defaults: dict | None = None) -> Parser:
    """The parser of an example: its description is the first paragraph of ``doc``, its
    flags the named settings (keys of ``SETTINGS``) and the example's own ``Setting``s,
    with ``defaults`` in place of the schema's.  ``parse_args`` returns the values
    checked, ``args.out`` a ``Path`` checked writable; errors are one line, exit 2."""
    prog = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else None
    parser = Parser(prog=prog, description=(doc or "").strip().split("\n\n")[0])
    return add_settings(parser, *settings, defaults=defaults)


# ------------------------------------------------------------------- outputs
def check_out_folder(text, flag: str = "--out") -> Path:
    """``text`` as the Path of an output folder that exists and can be written, or that
    can be created (its nearest existing ancestor is a writable folder); nothing is created
    here.  Else a one-line ``SettingError`` naming ``flag`` (empty, a file, under a file,
    not writable)."""
    if str(text) == "":
        raise SettingError(f"{flag} must name a folder, got ''")
    path = Path(text)
    try:
        if path.exists() or path.is_symlink():
            if not path.is_dir():
                raise SettingError(f"{flag} {str(text)!r} is a file, not a folder")
            if not os.access(path, os.W_OK | os.X_OK):
                raise SettingError(f"{flag} {str(text)!r}: the folder is not writable")
            return path
        parent = path.absolute().parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise SettingError(f"{flag} {str(text)!r} cannot be created: {str(parent)!r} is a "
                               f"file, not a folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise SettingError(f"{flag} {str(text)!r} cannot be created: {str(parent)!r} is not "
                               f"writable")
    except (OSError, ValueError) as err:
        if isinstance(err, SettingError):
            raise
        raise SettingError(f"{flag} {str(text)!r} is not a usable folder: "
                           f"{getattr(err, 'strerror', None) or err}") from None
    return path


# ------------------------------------------------------------------- running
def run_example(main, argv=None) -> int:
    """Run an example's ``main(argv)`` and return its exit code: a missing or corrupt
    corpus, a file that cannot be written (a full disk), training that diverged
    (``minirnn.train.TrainingDiverged``: nothing saved) or memory running out is one
    line on stderr and exit 1 (settings too big for memory, found by ``check_memory``
    before any work: exit 2); Ctrl-C is one line and 130; a closed stdout (``| head``)
    ends it quietly (141)."""
    from .data.corpus import ChecksumError, CorpusNotFoundError
    prog = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "example"
    try:
        try:
            main(argv)
        finally:
            if sys.stdout is not None:
                sys.stdout.flush()
    except BrokenPipeError:
        quiet_stdout()
        return EXIT_BROKEN_PIPE
    except SizeError as err:
        _print_error(f"{prog}: error: {err}")
        return EXIT_USAGE
    except (CorpusNotFoundError, ChecksumError, WriteError, MemoryError,
            FloatingPointError) as err:                   # FloatingPointError: TrainingDiverged
        if type(err) is MemoryError:
            err = f"ran out of memory ({str(err) or 'no details'}); lower the sizes"
        _print_error(f"{prog}: error: {as_flags(str(err))}")   # (clip=1.0) -> (--clip 1.0)
        return 1
    except KeyboardInterrupt:
        _print_error(f"{prog}: interrupted")
        return EXIT_INTERRUPTED
    return 0


def run_script(main) -> None:
    """An example's ``__main__``: exit with ``run_example(main)``'s code; in a notebook
    kernel (its argv is not the example's), ``main([])`` with the defaults."""
    if "ipykernel" in sys.modules:
        main([])
    else:
        sys.exit(run_example(main))


def _print_error(line: str) -> None:
    try:
        print(line, file=sys.stderr)
    except (OSError, ValueError, AttributeError):    # no stderr either: the exit code says it
        pass


def quiet_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null, so that Python's last flush at exit
    has nowhere to fail (else it prints 'Exception ignored ... BrokenPipeError')."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):    # no real stdout (a test's capture)
        pass
