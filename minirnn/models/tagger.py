"""Aligned many-to-many: ``SequenceTagger``, one label per input step.

Dimension letters: B batch, T steps, V vocabulary, E embedding, H hidden, K tags.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..layers import (DEFAULT_DTYPE, Linear, Module, check_array, check_positive_int, check_state,
                      make_rng)
from .base import check_ids, input_layer, recurrent_stack
from .registry import register_model

__all__ = ["SequenceTagger", "TaggerCache"]


class TaggerCache(NamedTuple):
    """What ``SequenceTagger.backward`` needs (``tagger.cache``)."""
    shape: tuple                  # (B, T) of the ids
    mask: np.ndarray | None       # (T, B) bool: real positions (None: every position is real)


@register_model("tagger")
class SequenceTagger(Module):
    """Aligned many-to-many: one label per input step, for sequences of any length
    (the chapter's speech-recognition shape; ``examples/segment_words.py`` tags each
    character with whether a word ends after it).

        X_t = onehot(x_t) (embed_dim None)  or  W_emb[x_t]           (T, B, D)
        H_t = the recurrent layer's output at t; bidirectional: [H_t(->), H_t(<-)], the
              reverse direction reading each sequence from its own last token
        O_t = H_t W_hq + b_q                                        (T, B, K)
        O_t[b] = 0 for t >= lengths[b]: padding has no output and carries no gradient

    ``forward(X (B, T) ids, state=None, lengths=None) -> (logits (B, T, K), state)``, each
    sequence starting from the zero state (or ``state``); ``lengths (B,)`` ints in [1, T]
    (None: every row has T real tokens).  A sequence's logits do not depend on the padding
    nor on the other rows of its batch.  ``backward(dlogits (B, T, K), dstate=None)`` adds
    every parameter gradient (ids have none) and returns ``dL/dstate0``; the logits of
    padded positions are constants, so their ``dlogits`` are ignored.  Train with ``SoftmaxCrossEntropy().forward(logits, Y,
    mask=sequence_mask(lengths, T))``: the mean over real tokens.

    params (dotted): ``embedding.W`` (only with ``embed_dim``), the recurrent layer's
    (``rnn.W_xh``, ``rnn.W_hh``, ``rnn.b_h``; gated cells ``rnn.W_x``, ``rnn.W_h``,
    ``rnn.b``; stacks ``rnn.l0.W_x``, ``rnn.l0_reverse.W_x``, ...), ``output.W``
    (H * num_directions, K), ``output.b`` (K,).

    Args:
        vocab_size: int V (the padding id is one of the V ids).
        num_tags: int K, the number of labels per step (2: a yes/no tag as a 2-way softmax).
        num_hiddens: int H.
        embed_dim: int E for a learned ``Embedding``, or None for one-hot inputs (D = V).
        cell: ``'rnn'``, ``'gru'`` or ``'lstm'``.
        num_layers, bidirectional, dropout: the recurrent layer's stack (PyTorch's names).
        init, sigma: ``'uniform'`` (PyTorch's, the default), ``'xavier'`` or ``'normal'``
            (N(0, sigma^2)); biases start at 0.
        seed, rng: the initialisation's random source (``rng`` wins over ``seed``).
        dtype: float32 (default) or float64.
    """

    def __init__(self, vocab_size: int, num_tags: int = 2, num_hiddens: int = 64,
                 embed_dim: int | None = None, cell: str = "gru", num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, init: str = "uniform",
                 sigma: float = 0.01, seed: int | None = 0,
                 rng: np.random.Generator | None = None, dtype=DEFAULT_DTYPE):
        super().__init__()
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self.num_tags = check_positive_int(num_tags, "num_tags")
        self.num_hiddens = check_positive_int(num_hiddens, "num_hiddens")
        if embed_dim is not None:
            embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.embed_dim, self.cell, self.init, self.sigma = embed_dim, cell, init, sigma
        rng = make_rng(seed, rng)
        V, H = self.vocab_size, self.num_hiddens
        embedding, D = input_layer(V, embed_dim, rng, init, sigma, dtype)
        self.add("embedding", embedding)
        self.add("rnn", recurrent_stack(cell, D, H, num_layers=num_layers,
                                        bidirectional=bidirectional, dropout=dropout, rng=rng,
                                        init=init, sigma=sigma, dtype=dtype))
        self.add("output", Linear(H * self.rnn.num_directions, self.num_tags, rng=rng,
                                  init=init, sigma=sigma, dtype=dtype))
        self.cache = None

    @property
    def bidirectional(self) -> bool:
        return self.rnn.num_directions == 2

    def config(self) -> dict:
        """The JSON-able constructor arguments: ``build_model('tagger', config)``
        rebuilds this model (with fresh parameters)."""
        return {"vocab_size": self.vocab_size, "num_tags": self.num_tags,
                "num_hiddens": self.num_hiddens, "embed_dim": self.embed_dim,
                "cell": self.cell, "num_layers": self.rnn.num_layers,
                "bidirectional": self.bidirectional, "dropout": self.rnn.dropout,
                "init": self.init, "sigma": self.sigma}

    def forward(self, X: np.ndarray, state: tuple | None = None,
                lengths: np.ndarray | None = None):
        """ids ``(B, T)`` (padded past ``lengths``) -> ``(logits (B, T, K), state)``, the
        logits 0 past each length, the state each sequence's at its own length."""
        lengths = check_ids(X, self.vocab_size, lengths)       # before anything changes
        B, T = X.shape
        if state is not None:
            check_state(state, "state", self.rnn.state_shape(B), len(self.rnn.state_names),
                        self.dtype)
        mask = None
        if lengths is not None:
            mask = np.arange(T)[:, None] < lengths[None, :]   # (T, B): t < lengths[b]
        inputs = self.embedding.forward(X.T)                   # ids (T, B) -> (T, B, D)
        Hs, state = self.rnn.forward(inputs, state, lengths)   # (T, B, H * nd), 0 past lengths
        O = self.output.forward(Hs)                            # O_t = H_t W_hq + b_q  (T, B, K)
        if mask is not None:
            O *= mask[..., None]                               # padding: O_t = 0 (not b_q)
        self.cache = TaggerCache((B, T), mask)
        return O.transpose(1, 0, 2), state                     # (B, T, K) as the data is laid out

    def backward(self, dlogits: np.ndarray, dstate: tuple | None = None) -> tuple:
        """dlogits ``(B, T, K)``, dstate = dL/dstate_T or None -> dL/dstate0; adds
        dL/d(every parameter) into ``grads``."""
        if self.cache is None:
            raise RuntimeError("SequenceTagger.backward called before forward")
        B, T = self.cache.shape
        check_array(dlogits, "dlogits", shape=(B, T, self.num_tags), dtype=self.dtype)
        self.rnn.check_backward_args(dstate)                   # before any gradient changes
        dO = dlogits.transpose(1, 0, 2)                        # (T, B, K)
        if self.cache.mask is not None:
            dO = np.where(self.cache.mask[..., None], dO, 0)   # padded O_t are constants: no gradient
                                                               # (not dO * mask: NaN * 0 is NaN)
        dHs = self.output.backward(dO)                         # dL/dH_t = dO_t W_hq^T  (T, B, H * nd)
        # one-hot inputs have no gradient: skip dL/dX (input_grad=False) and its GEMM
        dX, dstate0 = self.rnn.backward(dHs, dstate, input_grad=self.embed_dim is not None)
        self.embedding.backward(dX)                            # scatter-add into embedding.W
        return dstate0

