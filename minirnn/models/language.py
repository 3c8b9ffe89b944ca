"""The language models: the book's ``RNNLM`` (chapter 9's from-scratch model with one-hot
inputs, the concise model with an embedding, and chapter 10's gated and deep variants).

Dimension letters: B batch, T steps, V vocabulary, E embedding, H hidden.
"""
from __future__ import annotations

import numpy as np

from ..layers import DEFAULT_DTYPE, Linear, Module, check_array, check_positive_int, check_state, make_rng
from .base import check_ids, input_layer, recurrent_stack
from .registry import register_model

__all__ = ["RNNLM"]


@register_model("rnnlm")
class RNNLM(Module):
    """The book's RNN language model: inputs -> recurrent layer -> a linear output layer
    per step.

        X_t = onehot(x_t) (embed_dim None, the book's from-scratch model)  or  W_emb[x_t]
        H_t = f(X_t W_xh + H_{t-1} W_hh + b_h),   f = tanh (the book) or relu (an exercise)
              (``cell='gru'`` or ``'lstm'``: the gated cells of ``minirnn.layers.gated``)
        O_t = H_t W_hq + b_q              (W_hq, b_q are ``output.W``, ``output.b``)

    ``num_layers``, ``bidirectional`` and ``dropout`` stack the recurrent layer as
    PyTorch's do; a bidirectional model reads the future, so its next-token predictions
    are not predictions at all (the book's lesson: it generates gibberish).

    With ``tie_weights`` the output layer reuses the embedding (Press and Wolf, 2017):
    ``W_hq = W_emb^T``, so ``embed_dim`` must equal ``num_hiddens``; the shared matrix is
    listed once, as ``embedding.W``, and its gradient sums both uses.

    The model protocol (``minirnn.models``), as the trainer, ``generate`` and checkpoints
    use it: ``forward(X, state=None, lengths=None)``: ids ``(B, T)`` as the data iterators
    give them (``lengths (B,)`` for a padded batch) ->
    ``(logits (B, T, V), state)``, the state a tuple ``(h,)`` (``(h, c)`` for the LSTM) of
    ``(num_layers * num_directions, B, H)`` arrays;
    ``backward(dlogits, dstate=None, keep=None)`` adds every parameter gradient and returns
    ``dL/dstate0``, a tuple like the state (the trainer drops it: that is where truncated
    BPTT stops); ``begin_state(batch_size)``; ``config()``.

    params (dotted): ``embedding.W`` (only with ``embed_dim``), ``rnn.W_xh``, ``rnn.W_hh``,
    ``rnn.b_h`` (gated cells: ``rnn.W_x``, ``rnn.W_h``, ``rnn.b``; stacks: ``rnn.l0.W_xh``,
    ``rnn.l0_reverse.W_xh``, ...), ``output.W`` (not with ``tie_weights``), ``output.b``.

    Args:
        vocab_size: int V.
        num_hiddens: int H.
        embed_dim: int E for a learned ``Embedding``, or None for one-hot inputs (D = V).
        seed, rng: the initialisation's random source (``rng``, a ``np.random.Generator``,
            wins over ``seed``).
        cell: ``'rnn'`` (the book's chapter 9), ``'gru'`` or ``'lstm'`` (chapter 10).
        num_layers, bidirectional, dropout: the recurrent layer's stack (PyTorch's names).
        reset_after: the GRU's form: False the book's, True PyTorch's ``nn.GRU``.
        nonlinearity: ``'tanh'`` or ``'relu'`` (``cell='rnn'`` only).
        init: ``'normal'`` (N(0, sigma^2), the book's scratch model), ``'uniform'``
            (U(+-1/sqrt(H)), PyTorch's ``nn.RNN``) or ``'xavier'``; biases start at 0.
        sigma: the standard deviation of ``'normal'`` (the book: 0.01).
        tie_weights: share the embedding matrix with the output layer.
        dtype: float32 (default) or float64.
    """

    def __init__(self, vocab_size: int, num_hiddens: int, embed_dim: int | None = None,
                 seed: int | None = 0, rng: np.random.Generator | None = None,
                 nonlinearity: str = "tanh", init: str = "normal", sigma: float = 0.01,
                 tie_weights: bool = False, cell: str = "rnn", num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, reset_after: bool = False,
                 dtype=DEFAULT_DTYPE):
        super().__init__()
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self.num_hiddens = check_positive_int(num_hiddens, "num_hiddens")
        if embed_dim is not None:
            embed_dim = check_positive_int(embed_dim, "embed_dim")
        if not isinstance(tie_weights, bool):
            raise TypeError(f"tie_weights must be True or False, got {tie_weights!r}")
        width = num_hiddens * (2 if bidirectional is True else 1)   # what the output layer reads
        if tie_weights and embed_dim != width:
            raise ValueError(f"tie_weights needs embed_dim equal to num_hiddens (times 2 if "
                             f"bidirectional: the output layer reuses the embedding, "
                             f"transposed), got embed_dim={embed_dim}, num_hiddens={num_hiddens}")
        self.embed_dim, self.tie_weights = embed_dim, tie_weights
        self.init, self.sigma, self.cell, self.reset_after = init, sigma, cell, reset_after
        rng = make_rng(seed, rng)
        V, H = self.vocab_size, self.num_hiddens
        embedding, D = input_layer(V, embed_dim, rng, init, sigma, dtype)
        self.add("embedding", embedding)
        rnn = self.add("rnn", recurrent_stack(
            cell, D, H, num_layers=num_layers, bidirectional=bidirectional, dropout=dropout,
            nonlinearity=nonlinearity, reset_after=reset_after, rng=rng, init=init,
            sigma=sigma, dtype=dtype))
        self.add("output", Linear(H * rnn.num_directions, V, rng=rng, init=init, sigma=sigma,
                                  dtype=dtype))
        self._tie()
        self._dtype = np.dtype(dtype)

    def _tie(self) -> None:
        """With ``tie_weights``: the output layer's W (H, V) and its gradient are views of
        the embedding's (V, E=H), transposed; ``Linear`` adds into the shared gradient."""
        if self.tie_weights:
            self.output.params["W"] = self.embedding.params["W"].T
            self.output.grads["W"] = self.embedding.grads["W"].T

    def astype(self, dtype):
        super().astype(dtype)
        self._tie()                                            # a cast made new arrays: tie again
        return self

    @property
    def hidden_size(self) -> int:
        """PyTorch's name for ``num_hiddens``."""
        return self.num_hiddens

    @property
    def nonlinearity(self) -> str:
        return getattr(self.rnn, "nonlinearity", "tanh")

    @property
    def bidirectional(self) -> bool:
        return self.rnn.num_directions == 2

    def config(self) -> dict:
        """The JSON-able constructor arguments: ``build_model('rnnlm', config)`` rebuilds
        this model (with fresh parameters)."""
        return {"vocab_size": self.vocab_size, "num_hiddens": self.num_hiddens,
                "embed_dim": self.embed_dim, "nonlinearity": self.nonlinearity,
                "init": self.init, "sigma": self.sigma, "tie_weights": self.tie_weights,
                "cell": self.cell, "num_layers": self.rnn.num_layers,
                "bidirectional": self.bidirectional, "dropout": self.rnn.dropout,
                "reset_after": self.reset_after}

    def begin_state(self, batch_size: int) -> tuple:
        """The book's initial state: zeros, ``(h,)`` (``(h, c)``) of ``(L, B, H)`` arrays."""
        return self.rnn.begin_state(batch_size)

    def cache_bytes(self, batch_size: int, num_steps: int) -> int:
        """Bytes that one forward and backward over ``num_steps`` keep alive: what full BPTT
        over a long sequence costs (``minirnn.bptt.full_bptt_cache_bytes``, measured for
        the one-layer RNN; a gated cell keeps its G gates per step, a stack every copy's
        caches, so the hidden side is scaled by G * num_layers * num_directions)."""
        from ..bptt import full_bptt_cache_bytes
        copies = self.rnn.num_layers * self.rnn.num_directions
        gates = {"rnn": 1, "gru": 3, "lstm": 4}[self.cell]
        return full_bptt_cache_bytes(self.num_hiddens * gates * copies, self.rnn.input_size,
                                     batch_size, num_steps, self.vocab_size,
                                     itemsize=self.rnn.dtype.itemsize)

    def forward(self, X: np.ndarray, state: tuple | None = None, lengths=None):
        lengths = check_ids(X, self.vocab_size, lengths)       # before any cache changes
        if state is not None:
            check_state(state, "state", self.rnn.state_shape(X.shape[0]), len(self.rnn.state_names),
                        self.dtype)
        inputs = self.embedding.forward(X.T)                   # ids (T, B) -> (T, B, D)
        Hs, state = self.rnn.forward(inputs, state, lengths)   # (T, B, H * nd), ((L, B, H), ...)
        logits = self.output.forward(Hs)                       # O_t = H_t W_hq + b_q  (T, B, V)
        return logits.transpose(1, 0, 2), state                # (B, T, V) as the data is laid out

    def backward(self, dlogits: np.ndarray, dstate: tuple | None = None,
                 keep: np.ndarray | None = None) -> tuple:
        """dlogits ``(B, T, V)``, dstate = dL/dstate_T (a tuple like the state) or None
        -> dL/dstate0, a tuple like the state.

        ``keep`` (T,) or (T, B) is passed to ``RNN.backward`` (truncation, ``minirnn.bptt``).
        """
        if self.rnn.cache is None:
            raise RuntimeError("RNNLM.backward called before forward")
        T, B = self.rnn.cache.X.shape[:2]
        check_array(dlogits, "dlogits", shape=(B, T, self.vocab_size), dtype=self.dtype)
        self.rnn.check_backward_args(dstate, keep)             # before any gradient changes
        dHs = self.output.backward(dlogits.transpose(1, 0, 2))  # dL/dH_t = dO_t W_hq^T  (T, B, H * nd)
        # one-hot inputs have no gradient: skip dL/dX (input_grad=False) and its GEMM
        dX, dstate0 = self.rnn.backward(dHs, dstate, keep=keep, input_grad=self.embed_dim is not None)
        self.embedding.backward(dX)                             # scatter-add into embedding.W
        return dstate0

