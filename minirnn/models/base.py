"""What every model is built from: the recurrent stack by cell name, the input layer, and
the one check of token ids and lengths that runs before a model changes anything.

Dimension letters: B batch, T steps, V vocabulary, E embedding, H hidden.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import check_bool, check_lengths, check_token_ids
from ..layers import GRU, LSTM, RNN, Embedding, OneHot

__all__ = ["CELLS", "Batch", "recurrent_stack", "input_layer", "check_ids", "check_labels",
           "unpack_inputs"]

#: The recurrent cells a model can use: the book's RNN (chapter 9), GRU and LSTM (chapter 10).
CELLS = ("rnn", "gru", "lstm")


def recurrent_stack(cell: str, input_size: int, num_hiddens: int, *, num_layers: int = 1,
                    bidirectional: bool = False, dropout: float = 0.0,
                    nonlinearity: str = "tanh", reset_after: bool = False, rng=None,
                    init: str = "normal", sigma: float = 0.01, dtype=np.float32):
    """``RNN``, ``GRU`` or ``LSTM`` by ``cell`` name, stacked as PyTorch's (``num_layers``,
    ``bidirectional``, ``dropout`` between layers).  ``nonlinearity`` is the RNN's
    (``'tanh'``, ``'relu'``), ``reset_after`` the GRU's form; each is refused with another cell."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(map(repr, CELLS))}, got {cell!r}")
    check_bool(bidirectional, "bidirectional")
    if cell != "rnn" and nonlinearity != "tanh":
        raise ValueError(f"nonlinearity applies to cell='rnn' only (the gated cells use "
                         f"sigmoid gates and tanh), got nonlinearity={nonlinearity!r} with "
                         f"cell={cell!r}")
    if cell != "gru" and reset_after:
        raise ValueError(f"reset_after applies to cell='gru' only, got cell={cell!r}")
    stack = dict(num_layers=num_layers, bidirectional=bidirectional, dropout=dropout, rng=rng,
                 init=init, sigma=sigma, dtype=dtype)
    if cell == "rnn":
        return RNN(input_size, num_hiddens, nonlinearity=nonlinearity, **stack)
    if cell == "gru":
        return GRU(input_size, num_hiddens, reset_after=reset_after, **stack)
    return LSTM(input_size, num_hiddens, **stack)


def input_layer(vocab_size: int, embed_dim: int | None, rng, init: str, sigma: float, dtype):
    """A model's first layer and its width D: ``OneHot(V)`` (D = V, the book's from-scratch
    inputs) when ``embed_dim`` is None, else ``Embedding(V, embed_dim)`` (D = embed_dim)."""
    if embed_dim is None:
        return OneHot(vocab_size, dtype=dtype), vocab_size
    return Embedding(vocab_size, embed_dim, rng=rng, init=init, sigma=sigma, dtype=dtype), embed_dim


def check_ids(X, vocab_size: int, lengths=None, name: str = "X",
              lengths_name: str = "lengths") -> np.ndarray | None:
    """The one check of a model's token ids and lengths, before anything changes: ``X`` an
    int array ``(B, T)``, B and T >= 1, of ids in ``[0, V)``; ``lengths`` None or ``(B,)``
    ints in ``[1, T]``.  Returns the lengths as int64 (or None)."""
    if not isinstance(X, np.ndarray) or X.ndim != 2 or X.size == 0:
        raise ValueError(f"{name} must be a non-empty int array of token ids with shape (batch, "
                         f"num_steps), got {getattr(X, 'shape', type(X).__name__)}")
    check_token_ids(X, vocab_size, name)
    return None if lengths is None else check_lengths(lengths, X.shape[1], X.shape[0], lengths_name)


def check_labels(labels, num_classes: int, batch_size: int, name: str) -> np.ndarray:
    """``labels`` as an int array ``(batch_size,)`` of values in ``[0, num_classes)``, else
    one error naming the argument."""
    if not isinstance(labels, np.ndarray) or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{name} must be an int numpy array of shape ({batch_size},), got "
                        f"{getattr(labels, 'dtype', type(labels).__name__)}")
    if labels.shape != (batch_size,):
        raise ValueError(f"{name} must have shape ({batch_size},), one per sequence of the "
                         f"batch, got {labels.shape}")
    check_token_ids(labels, num_classes, name)
    return labels


class Batch(NamedTuple):
    """One minibatch, the same form for every model (``minirnn.models``' protocol)."""
    inputs: object                     # what forward reads: ids (B, T), features, or a tuple
    targets: np.ndarray                # what the loss compares the outputs with
    lengths: object = None             # (B,) ints of the inputs, or None (Seq2Seq: a pair)
    mask: np.ndarray | None = None     # (B, T) bool: the targets that count (None: all)


def unpack_inputs(value, names: tuple, what: str) -> tuple:
    """The parts of a tuple argument (a model's ``inputs`` ``(X, classes)``, ``(src,
    tgt_in)``; Seq2Seq's ``lengths``), or one error naming what was expected."""
    if not isinstance(value, tuple) or len(value) != len(names):
        raise TypeError(f"{what} must be a tuple ({', '.join(names)}), got "
                        f"{type(value).__name__}"
                        + (f" of {len(value)}" if isinstance(value, tuple) else ""))
    return value
