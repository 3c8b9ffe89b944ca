"""Models built from the layers: the character/word language model and the book's MLP.

Dimension letters: B batch, T steps, V vocabulary, E embedding, H hidden.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import check_lengths
from .layers import (DEFAULT_DTYPE, GRU, LSTM, Embedding, Linear, Module, OneHot, ReLU, RNN,
                     Sequential, check_array, check_positive_int, check_state, check_token_ids, make_rng)

#: The recurrent cells a language model can use.
CELLS = ("rnn", "gru", "lstm")

__all__ = ["MODELS", "CELLS", "register_model", "build_model", "model_name", "RNNLM", "MLP",
           "SequenceTagger"]

#: The registry: a model's name -> its class.  ``build_model(name, config)`` rebuilds any
#: registered model from what its ``config()`` returned, so checkpoints, the trainer,
#: ``generate`` and the command line never name a model class.
MODELS: dict[str, type] = {}


def register_model(name: str):
    """Class decorator: register ``cls`` under ``name`` (its ``model_name``)."""
    def register(cls):
        if name in MODELS and MODELS[name] is not cls:
            raise ValueError(f"a model named {name!r} is registered already: {MODELS[name].__name__}")
        MODELS[name] = cls
        cls.model_name = name
        return cls
    return register


def model_name(model) -> str:
    """The registry name of ``model`` (``'rnnlm'``)."""
    name = getattr(type(model), "model_name", None)
    if name is None or MODELS.get(name) is not type(model):
        raise TypeError(f"model must be a registered minirnn model ({', '.join(MODELS)}), "
                        f"got {type(model).__name__}")
    return name


def build_model(name: str, config: dict, **kwargs):
    """A new model ``MODELS[name](**config, **kwargs)`` (kwargs: ``seed``, ``rng``, ``dtype``)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(sorted(MODELS))}")
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict of constructor arguments, got {type(config).__name__}")
    try:
        return MODELS[name](**config, **kwargs)
    except TypeError as err:                                   # an unknown or missing argument
        raise ValueError(f"config does not fit model {name!r}: {err}") from None


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

    The language-model protocol (what the trainer, ``generate`` and checkpoints use):
    ``forward(X, state=None)``: ids ``(B, T)`` as the data iterators give them ->
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
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(map(repr, CELLS))}, got {cell!r}")
        if cell != "rnn" and nonlinearity != "tanh":
            raise ValueError(f"nonlinearity applies to cell='rnn' only (the gated cells use "
                             f"sigmoid gates and tanh), got nonlinearity={nonlinearity!r} with "
                             f"cell={cell!r}")
        if cell != "gru" and reset_after:
            raise ValueError(f"reset_after applies to cell='gru' only, got cell={cell!r}")
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
        if embed_dim is None:
            self.add("embedding", OneHot(V, dtype=dtype))
            D = V
        else:
            self.add("embedding", Embedding(V, embed_dim, rng=rng, init=init, sigma=sigma, dtype=dtype))
            D = embed_dim
        stack = dict(num_layers=num_layers, bidirectional=bidirectional, dropout=dropout,
                     rng=rng, init=init, sigma=sigma, dtype=dtype)
        if cell == "rnn":
            rnn = RNN(D, H, nonlinearity=nonlinearity, **stack)
        elif cell == "gru":
            rnn = GRU(D, H, reset_after=reset_after, **stack)
        else:
            rnn = LSTM(D, H, **stack)
        self.add("rnn", rnn)
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
        from .bptt import full_bptt_cache_bytes
        copies = self.rnn.num_layers * self.rnn.num_directions
        gates = {"rnn": 1, "gru": 3, "lstm": 4}[self.cell]
        return full_bptt_cache_bytes(self.num_hiddens * gates * copies, self.rnn.input_size,
                                     batch_size, num_steps, self.vocab_size,
                                     itemsize=self.rnn.dtype.itemsize)

    def forward(self, X: np.ndarray, state: tuple | None = None):
        if not isinstance(X, np.ndarray) or X.ndim != 2:
            raise ValueError(f"X must be an int array of token ids with shape (batch, num_steps), "
                             f"got {getattr(X, 'shape', type(X).__name__)}")
        check_token_ids(X, self.vocab_size, "X")
        if state is not None:
            check_state(state, "state", self.rnn.state_shape(X.shape[0]), len(self.rnn.state_names),
                        self.dtype)
        inputs = self.embedding.forward(X.T)                   # ids (T, B) -> (T, B, D)
        Hs, state = self.rnn.forward(inputs, state)            # (T, B, H * nd), ((L, B, H), ...)
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


@register_model("mlp")
class MLP(Sequential):
    """The book's sequence-model MLP: ``Linear(num_inputs, num_hiddens) -> ReLU -> Linear(.., 1)``.

    Weights are Xavier-uniform initialised as in the book (``init='xavier'``), biases 0.
    forward: ``(B, num_inputs)`` -> ``(B, num_outputs)``.  params ``0.W``, ``0.b``, ``2.W``, ``2.b``.
    """

    def __init__(self, num_inputs: int = 4, num_hiddens: int = 10, num_outputs: int = 1,
                 seed: int | None = 0, rng: np.random.Generator | None = None,
                 init: str = "xavier", dtype=DEFAULT_DTYPE):
        rng = make_rng(seed, rng)
        super().__init__(Linear(num_inputs, num_hiddens, rng=rng, init=init, dtype=dtype),
                         ReLU(),
                         Linear(num_hiddens, num_outputs, rng=rng, init=init, dtype=dtype))
        self.init = init

    def config(self) -> dict:
        """The JSON-able constructor arguments (``build_model('mlp', config)``)."""
        first, last = self.layers[0], self.layers[-1]
        return {"num_inputs": first.in_features, "num_hiddens": first.out_features,
                "num_outputs": last.out_features, "init": self.init}


# ---- segment: aligned many-to-many, one tag per input step (issue #13, task 3) ----
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

    ``forward(X (B, T) ids, lengths=None) -> logits (B, T, K)``, each sequence starting
    from the zero state; ``lengths (B,)`` ints in [1, T] (None: every row has T real
    tokens).  A sequence's logits do not depend on the padding nor on the other rows of
    its batch.  ``backward(dlogits (B, T, K))`` adds every parameter gradient (ids have
    none) and returns None; the logits of padded positions are constants, so their
    ``dlogits`` are ignored.  Train with ``SoftmaxCrossEntropy().forward(logits, Y,
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
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(map(repr, CELLS))}, got {cell!r}")
        if not isinstance(bidirectional, bool):
            raise TypeError(f"bidirectional must be True or False, got {bidirectional!r}")
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self.num_tags = check_positive_int(num_tags, "num_tags")
        self.num_hiddens = check_positive_int(num_hiddens, "num_hiddens")
        if embed_dim is not None:
            embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.embed_dim, self.cell, self.init, self.sigma = embed_dim, cell, init, sigma
        rng = make_rng(seed, rng)
        V, H = self.vocab_size, self.num_hiddens
        if embed_dim is None:
            self.add("embedding", OneHot(V, dtype=dtype))
            D = V
        else:
            self.add("embedding", Embedding(V, embed_dim, rng=rng, init=init, sigma=sigma,
                                            dtype=dtype))
            D = embed_dim
        layer = {"rnn": RNN, "gru": GRU, "lstm": LSTM}[cell]
        self.add("rnn", layer(D, H, num_layers=num_layers, bidirectional=bidirectional,
                              dropout=dropout, rng=rng, init=init, sigma=sigma, dtype=dtype))
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

    def forward(self, X: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """ids ``(B, T)`` (padded past ``lengths``) -> logits ``(B, T, K)``, 0 past each length."""
        if not isinstance(X, np.ndarray) or X.ndim != 2:
            raise ValueError(f"X must be an int array of token ids with shape (batch, num_steps), "
                             f"got {getattr(X, 'shape', type(X).__name__)}")
        check_token_ids(X, self.vocab_size, "X")
        B, T = X.shape
        mask = None
        if lengths is not None:                                # checked before anything changes
            lengths = check_lengths(lengths, T, B)
            mask = np.arange(T)[:, None] < lengths[None, :]   # (T, B): t < lengths[b]
        inputs = self.embedding.forward(X.T)                   # ids (T, B) -> (T, B, D)
        Hs, _ = self.rnn.forward(inputs, None, lengths)        # (T, B, H * nd), 0 past lengths
        O = self.output.forward(Hs)                            # O_t = H_t W_hq + b_q  (T, B, K)
        if mask is not None:
            O *= mask[..., None]                               # padding: O_t = 0 (not b_q)
        self.cache = TaggerCache((B, T), mask)
        return O.transpose(1, 0, 2)                            # (B, T, K) as the data is laid out

    def backward(self, dlogits: np.ndarray) -> None:
        """dlogits ``(B, T, K)`` -> None; adds dL/d(every parameter) into ``grads``."""
        if self.cache is None:
            raise RuntimeError("SequenceTagger.backward called before forward")
        B, T = self.cache.shape
        check_array(dlogits, "dlogits", shape=(B, T, self.num_tags), dtype=self.dtype)
        dO = dlogits.transpose(1, 0, 2)                        # (T, B, K)
        if self.cache.mask is not None:
            dO = dO * self.cache.mask[..., None]               # padded O_t are constants: no gradient
        dHs = self.output.backward(dO)                         # dL/dH_t = dO_t W_hq^T  (T, B, H * nd)
        # one-hot inputs have no gradient: skip dL/dX (input_grad=False) and its GEMM
        dX, _ = self.rnn.backward(dHs, None, input_grad=self.embed_dim is not None)
        self.embedding.backward(dX)                            # scatter-add into embedding.W
