"""Backpropagation through time: the three strategies of the book's BPTT section.

* ``'truncated'`` (regular truncation, the default the book trains with): windows of
  ``num_steps``; the state is carried to the next window but the gradient stops at the
  window edge (the trainer drops ``dL/dstate0``).
* ``'full'``: the gradient flows over the whole sequence: one window per sequence, so the
  RNN caches every hidden state of the sequence (see ``full_bptt_cache_bytes``).
* ``'randomized'`` (Tallec and Ollivier, 2017): going back through time, at each step the
  recurrent gradient is kept with probability ``p`` and then weighted by ``1/p``, else cut;
  the estimate of the gradient is unbiased.

The RNN's backward takes the per-step factors as ``keep`` (``RNN.backward(..., keep=k)``).
"""
from __future__ import annotations

import numpy as np

STRATEGIES = ("truncated", "full", "randomized")


def validate_strategy(bptt: str, p: float | None = None) -> None:
    """Raise ValueError for an unknown strategy or a probability ``p`` outside (0, 1]."""
    if bptt not in STRATEGIES:
        raise ValueError(f"bptt must be one of {', '.join(map(repr, STRATEGIES))}, got {bptt!r}")
    if bptt == "randomized":
        if p is None or isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) \
                or not 0 < p <= 1:
            raise ValueError(f"p (the keep probability of randomized truncation) must be in (0, 1], got {p!r}")


def keep_factors(bptt: str, num_steps: int, p: float | None = None,
                 rng: np.random.Generator | None = None) -> np.ndarray | None:
    """Per-step factors for ``RNN.backward(keep=...)``, shape ``(T,)``, or None.

    ``'randomized'``: ``xi_t / p`` with ``xi_t ~ Bernoulli(p)``: kept and reweighted, or cut.
    ``'truncated'`` and ``'full'`` need no factors (None): within a window the gradient
    flows unchanged.
    """
    validate_strategy(bptt, p)
    if bptt != "randomized":
        return None
    if rng is None:
        raise ValueError("rng (a numpy Generator) is required for randomized truncation")
    return (rng.random(num_steps) < p) / p                          # E[xi_t / p] = 1: unbiased


def full_bptt_cache_bytes(num_hiddens: int, input_size: int, batch_size: int, num_steps: int,
                          vocab_size: int, itemsize: int = 4) -> int:
    """Bytes the forward/backward caches need for one window of ``num_steps``: hidden states
    ``(T+1, B, H)``, their gradients ``(T, B, H)``, inputs ``(T, B, D)``, logits and
    probabilities ``2 x (T, B, V)`` and their gradient ``(T, B, V)``."""
    T, B = num_steps, batch_size
    return itemsize * ((2 * T + 1) * B * num_hiddens + T * B * input_size + 3 * T * B * vocab_size)


def check_full_bptt_memory(nbytes: int, limit_bytes: int = 2 * 1024 ** 3) -> None:
    """Refuse full BPTT when its caches would need more than ``limit_bytes`` (2 GiB default)."""
    if nbytes > limit_bytes:
        raise MemoryError(f"full BPTT over this sequence needs about {nbytes:,} bytes of caches, "
                          f"more than the limit of {limit_bytes:,} bytes: use bptt='truncated' "
                          f"or 'randomized', or a shorter corpus")
