"""Argument validation shared by every module: one place for each check, so every error
names the argument, what was expected and what was given, in the same words.

Wrong kind of value (a float where an int belongs, a list where an array belongs):
``TypeError``; right kind, bad value (a negative size, a wrong shape): ``ValueError``.
Nothing here imports another minirnn module.
"""
from __future__ import annotations

import math
import os

import numpy as np

__all__ = ["FLOAT_DTYPES", "check_int", "check_positive_int", "check_non_negative_int",
           "check_bool", "check_number", "check_positive_number", "check_probability", "check_float_dtype",
           "check_array", "check_loss_dout", "check_token_ids", "check_lengths", "check_finite_params",
           "SizeError", "check_memory", "make_rng", "is_int", "plural"]

#: The dtype policy (docs/layers-and-gradcheck.md): minirnn computes in float32 (training,
#: the default) or float64 (gradient checks), and in nothing else.  float16 has too little
#: range for a softmax over a vocabulary or Adam's squared gradients; integer and complex
#: weights are not weights.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def plural(n: int, word: str) -> str:
    """``'1 epoch'``, ``'4 epochs'``: a count and its noun, for messages."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def is_int(value) -> bool:
    """True for a Python or NumPy integer (``bool`` is not a size)."""
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None,
              allow_none: bool = False, why: str = ""):
    """``value`` as an int in ``[minimum, maximum]`` (None: unbounded), else an error
    naming ``name``; ``allow_none`` lets None through unchanged."""
    if value is None and allow_none:
        return None
    if minimum == 1 and maximum is None:
        what = "a positive int"
    elif minimum == 0 and maximum is None:
        what = "a non-negative int"
    elif minimum is not None and maximum is not None:
        what = f"an int in [{minimum}, {maximum}]"
    elif minimum is not None:
        what = f"an int >= {minimum}"
    elif maximum is not None:
        what = f"an int <= {maximum}"
    else:
        what = "an int"
    if allow_none:
        what += " or None"
    why = f" ({why})" if why else ""
    if not is_int(value):
        raise TypeError(f"{name} must be {what}{why}, got {value!r} ({type(value).__name__})")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {what}{why}, got {value}")
    return int(value)


def check_positive_int(value, name: str) -> int:
    """A size argument: an int >= 1."""
    return check_int(value, name, minimum=1)


def check_non_negative_int(value, name: str, allow_none: bool = False):
    """A count that may be zero (epochs done, tokens to generate, a seed)."""
    return check_int(value, name, minimum=0, allow_none=allow_none)


def check_bool(value, name: str) -> bool:
    """A flag: True or False (or a NumPy bool), not a truthy string such as ``'no'``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def check_number(value, name: str, minimum: float | None = None, maximum: float | None = None,
                 strict_minimum: bool = False, allow_none: bool = False):
    """``value`` as a finite float in the given range (``strict_minimum``: ``> minimum``)."""
    if value is None and allow_none:
        return None
    bounds = []
    if minimum is not None:
        bounds.append(f"> {minimum:g}" if strict_minimum else f">= {minimum:g}")
    if maximum is not None:
        bounds.append(f"<= {maximum:g}")
    what = " ".join(["a finite number", " and ".join(bounds)]).strip()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be {what}, got {value!r} ({type(value).__name__})")
    v = float(value)
    if not math.isfinite(v) or (minimum is not None and (v <= minimum if strict_minimum else v < minimum)) \
            or (maximum is not None and v > maximum):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return v


def check_positive_number(value, name: str) -> float:
    """``value`` as a float if it is a finite number > 0; else a TypeError/ValueError
    that names ``name`` and the value given."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value}")
    return float(value)


def check_probability(value, name: str, allow_zero: bool = True, allow_one: bool = True) -> float:
    """A probability in [0, 1] (ends excluded as asked)."""
    lo, hi = ("[" if allow_zero else "("), ("]" if allow_one else ")")
    what = f"a number in {lo}0, 1{hi}"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be {what}, got {value!r} ({type(value).__name__})")
    v = float(value)
    if not (0 <= v <= 1) or (v == 0 and not allow_zero) or (v == 1 and not allow_one):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return v


def check_float_dtype(dtype, name: str = "dtype") -> np.dtype:
    """``dtype`` as a NumPy dtype if it is float32 or float64 (``FLOAT_DTYPES``), else a
    TypeError naming ``name`` and what was given."""
    try:
        d = None if dtype is None else np.dtype(dtype)      # np.dtype(None) would be float64
    except TypeError:
        d = None
    if d is None or d not in FLOAT_DTYPES:                  # (dtype == None is float64 == None)
        raise TypeError(f"{name} must be float32 or float64 (minirnn's dtype policy), got "
                        f"{d.name if d is not None else repr(dtype)}")
    return d


def check_array(x, name: str, ndim: int | None = None, last_dim: int | None = None,
                shape: tuple | None = None, floating: bool = True, dtype=None) -> np.ndarray:
    """Validate an array argument and name it in the error.  ``floating``: float32 or
    float64 (the dtype policy); ``dtype``: exactly this one (the layer's), with a hint to
    cast one or the other."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if floating and x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be a floating-point array, got dtype {x.dtype} "
                        f"(float32 or float64: minirnn's dtype policy)")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {x.shape}")
    if last_dim is not None and (x.ndim == 0 or x.shape[-1] != last_dim):
        raise ValueError(f"{name} must have last dimension {last_dim}, got shape {x.shape}")
    if shape is not None and x.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {x.shape}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but the layer computes in {np.dtype(dtype)}: "
                        f"cast the array ({name}.astype(np.{np.dtype(dtype)})) or the layer "
                        f"(layer.astype(np.{x.dtype}))")
    return x


def check_loss_dout(dout) -> float:
    """A loss's upstream gradient ``dout``: one finite number (the loss is a scalar)."""
    if isinstance(dout, np.ndarray) and dout.ndim == 0:
        dout = dout[()]
    if isinstance(dout, np.ndarray):
        raise ValueError(f"dout must be one number (the gradient of the scalar loss), got an "
                         f"array of shape {dout.shape}")
    return check_number(dout, "dout")


def check_token_ids(ids, vocab_size: int, name: str = "ids") -> np.ndarray:
    """Validate an integer array of token ids in ``[0, vocab_size)``."""
    if not isinstance(ids, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of int token ids, got {type(ids).__name__}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"{name} must hold integer token ids, got dtype {ids.dtype}")
    if ids.size:
        lo, hi = ids.min(), ids.max()
        if lo < 0:
            raise ValueError(f"token id {lo} in {name} is negative; ids must be in [0, {vocab_size})")
        if hi >= vocab_size:
            raise ValueError(f"token id {hi} in {name} out of range for vocab_size {vocab_size}")
    return ids


def make_rng(seed=None, rng=None) -> np.random.Generator:
    """Return ``rng`` if given, else a new generator seeded by ``seed`` (None: fresh
    entropy; an int >= 0; or a ``Generator`` / ``SeedSequence``, as ``default_rng`` takes)."""
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    if not isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        check_int(seed, "seed", minimum=0, allow_none=True)
    return np.random.default_rng(seed)


def check_lengths(lengths, num_steps: int, batch_size: int, name: str = "lengths") -> np.ndarray:
    """``lengths`` as an int64 array ``(batch_size,)`` of values in ``[1, num_steps]``,
    else one error naming the argument, the expected and the given value."""
    num_steps = check_positive_int(num_steps, "num_steps")
    batch_size = check_positive_int(batch_size, "batch_size")   # an empty batch is no batch
    if not isinstance(lengths, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of ints of shape ({batch_size},), got "
                        f"{type(lengths).__name__}")
    if not np.issubdtype(lengths.dtype, np.integer):
        raise TypeError(f"{name} must hold integers (each sequence's number of real steps), "
                        f"got dtype {lengths.dtype}")
    if lengths.shape != (batch_size,):
        raise ValueError(f"{name} must have shape ({batch_size},), one length per sequence of "
                         f"the batch, got {lengths.shape}")
    if lengths.size:
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 1 or hi > num_steps:
            bad = lo if lo < 1 else hi
            raise ValueError(f"{name} must be in [1, {num_steps}] (1 <= length <= the number "
                             f"of steps T={num_steps}), got {bad}")
    return lengths.astype(np.int64, copy=False)


def check_finite_params(params: dict, where: str = "model") -> dict:
    """``params`` (name -> array) if every value is finite, else a ``ValueError`` naming
    ``where``, the first parameter with a NaN or an infinity and how many it holds: the
    one check that a model's parameters are usable, on load, on import and before a save.
    """
    for name, p in params.items():
        p = np.asarray(p)
        if p.dtype.kind in "fc" and not np.isfinite(p).all():
            bad = int(p.size - np.count_nonzero(np.isfinite(p)))
            raise ValueError(f"{where}: parameter {name!r} holds {bad:,} non-finite value"
                             f"{'s' if bad != 1 else ''} (NaN or inf) of {p.size:,}")
    return params


class SizeError(MemoryError):
    """Sizes whose arrays no memory of this machine holds (``check_memory``), found before
    anything is allocated: a usage error (exit 2 on the command line), naming what to
    lower."""


def memory_bytes() -> int | None:
    """The machine's physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _size(n: int) -> str:
    """``'1.7 TB'``, ``'8.2 GB'``: a count of bytes for messages."""
    for unit, scale in (("TB", 10 ** 12), ("GB", 10 ** 9), ("MB", 10 ** 6)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,} bytes"


def check_memory(nbytes: int, what: str, flags: str, limit: int | None = None) -> None:
    """Refuse, before anything is allocated, a run whose arrays (``nbytes``, counted in
    Python ints: no overflow) exceed the machine's memory (or ``limit``).  ``what`` says
    which arrays, ``flags`` which settings to lower (``'--hidden or --layers'``, or a
    Python argument).

    Raises:
        SizeError: a MemoryError, one line naming the size, the memory and the flags.
    """
    limit = memory_bytes() if limit is None else limit
    if limit is not None and nbytes > limit:
        raise SizeError(f"{what} would take {_size(nbytes)}, more than this machine's "
                        f"{_size(limit)} of memory; lower {flags}")
