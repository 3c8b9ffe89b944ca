"""Models built from the layers: the character/word language model and the book's MLP,
and the chapter's four task shapes (docs/tasks.md): ``SequenceClassifier`` (many-to-one),
``ConditionalLM`` (one-to-many), ``SequenceTagger`` (aligned many-to-many) and
``Seq2Seq`` (unaligned sequence to sequence, the book's encoder-decoder).

Dimension letters: B batch, T steps, V vocabulary, E embedding, H hidden.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import check_bool, check_int, check_lengths
from .layers import (DEFAULT_DTYPE, GRU, LSTM, Embedding, Linear, Module, OneHot, ReLU, RNN,
                     Sequential, check_array, check_positive_int, check_state, check_token_ids,
                     evaluating, make_rng)
from .losses import SoftmaxCrossEntropy

#: The recurrent cells a language model can use.
CELLS = ("rnn", "gru", "lstm")

__all__ = ["MODELS", "CELLS", "register_model", "build_model", "model_name", "RNNLM", "MLP",
           "SequenceTagger", "Seq2SeqEncoder", "Seq2SeqDecoder", "Seq2Seq",
           "SequenceClassifier", "ConditionalLM", "CONDITIONINGS"]

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


def input_layer(vocab_size: int, embed_dim: int | None, rng, init: str, sigma: float, dtype):
    """A model's first layer and its width D: ``OneHot(V)`` (D = V, the book's from-scratch
    inputs) when ``embed_dim`` is None, else ``Embedding(V, embed_dim)`` (D = embed_dim)."""
    if embed_dim is None:
        return OneHot(vocab_size, dtype=dtype), vocab_size
    return Embedding(vocab_size, embed_dim, rng=rng, init=init, sigma=sigma, dtype=dtype), embed_dim


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
        embedding, D = input_layer(V, embed_dim, rng, init, sigma, dtype)
        self.add("embedding", embedding)
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
        if X.size == 0:                                        # before the embedding's cache changes
            raise ValueError(f"X must hold at least one sequence and one step (batch, num_steps "
                             f">= 1), got shape {X.shape}")
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
        embedding, D = input_layer(V, embed_dim, rng, init, sigma, dtype)
        self.add("embedding", embedding)
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
        if not isinstance(X, np.ndarray) or X.ndim != 2 or X.size == 0:
            raise ValueError(f"X must be an int array of token ids with shape (batch, num_steps), "
                             f"both >= 1, got {getattr(X, 'shape', type(X).__name__)}")
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
            dO = np.where(self.cache.mask[..., None], dO, 0)   # padded O_t are constants: no gradient
                                                               # (not dO * mask: NaN * 0 is NaN)
        dHs = self.output.backward(dO)                         # dL/dH_t = dO_t W_hq^T  (T, B, H * nd)
        # one-hot inputs have no gradient: skip dL/dX (input_grad=False) and its GEMM
        dX, _ = self.rnn.backward(dHs, None, input_grad=self.embed_dim is not None)
        self.embedding.backward(dX)                            # scatter-add into embedding.W


# ---- seq2seq: the book's encoder-decoder (issue #13, unaligned sequence to sequence) ----


def _recurrent_layer(cell: str, input_size: int, num_hiddens: int, num_layers: int,
                     dropout: float, rng, init: str, sigma: float, dtype):
    """``RNN``, ``GRU`` or ``LSTM`` (the book's cells) with one stack and init."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(map(repr, CELLS))}, got {cell!r}")
    layer = {"rnn": RNN, "gru": GRU, "lstm": LSTM}[cell]
    return layer(input_size, num_hiddens, num_layers=num_layers, dropout=dropout, rng=rng,
                 init=init, sigma=sigma, dtype=dtype)


class Seq2SeqEncoder(Module):
    """The book's ``Seq2SeqEncoder``: source ids -> embedding -> recurrent layer; what the
    decoder needs is the final state, each sequence's state at its own length.

    forward: ``X (B, T)`` source ids, ``lengths (B,)`` or None (all T) ->
    ``(Hs (T, B, H), state)``, the state ``(h,)`` (LSTM ``(h, c)``) of ``(L, B, H)`` arrays.
    backward: ``(dHs (T, B, H) or None (zeros: only the state is used), dstate)`` -> None
    (ids have no gradient); adds every parameter gradient.

    params: ``embedding.W (V_src, E)``, ``rnn.*``.
    """

    def __init__(self, vocab_size: int, embed_dim: int, num_hiddens: int, num_layers: int = 1,
                 cell: str = "gru", dropout: float = 0.0, rng=None, init: str = "xavier",
                 sigma: float = 0.01, dtype=DEFAULT_DTYPE):
        super().__init__()
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self.add("embedding", Embedding(vocab_size, embed_dim, rng=rng, init=init, sigma=sigma,
                                        dtype=dtype))
        self.add("rnn", _recurrent_layer(cell, embed_dim, num_hiddens, num_layers, dropout, rng,
                                         init, sigma, dtype))

    def forward(self, X: np.ndarray, lengths=None):
        if not isinstance(X, np.ndarray) or X.ndim != 2 or X.size == 0:
            raise ValueError(f"X must be an int array of source ids with shape (batch, num_steps), "
                             f"both >= 1, got {getattr(X, 'shape', type(X).__name__)}")
        check_token_ids(X, self.vocab_size, "X")
        if lengths is not None:                                # before the embedding's cache changes
            lengths = check_lengths(lengths, X.shape[1], X.shape[0])
        inputs = self.embedding.forward(X.T)                   # ids (T, B) -> (T, B, E)
        return self.rnn.forward(inputs, None, lengths)         # (T, B, H), ((L, B, H), ...)

    def backward(self, dHs: np.ndarray | None = None, dstate: tuple | None = None) -> None:
        if self.rnn.cache is None:
            raise RuntimeError("Seq2SeqEncoder.backward called before forward")
        T, B = self.rnn.cache.X.shape[:2]
        if dHs is None:                                        # the book's seq2seq: only the
            dHs = np.zeros((T, B, self.rnn.hidden_size), dtype=self.dtype)   # state is used
        self.rnn.check_backward_args(dstate)                   # before any gradient changes
        dX, _ = self.rnn.backward(dHs, dstate)                 # dL/dX_t (T, B, E); h_0 = 0 is fixed
        self.embedding.backward(dX)                            # scatter-add into embedding.W
        return None


class Seq2SeqDecoder(Module):
    """The book's ``Seq2SeqDecoder``: its initial state is the encoder's final state, and
    the context c (the encoder's final top-layer hidden state) is concatenated to the
    embedded input at every step:

        X_t = [W_emb[y_{t-1}] ; c]                 (B, E + H)
        S_t = f(X_t, S_{t-1}),  S_0 = the encoder's final state (every layer)
        O_t = S_t W_hq + b_q                       (B, V_tgt)

    The context is an argument, fixed for the whole output.  (The 0.17 book's decoder
    takes ``state[-1]`` of whatever state it is given, so during step-by-step prediction
    its "context" becomes the decoder's own last state; the 1.0 book keeps the encoder's.
    Here it is always the encoder's.)

    forward: ``X (B, T)`` target-side input ids (teacher forcing: ``<bos>`` + the target
    shifted), ``state`` (a tuple of ``(L, B, H)``), ``context (B, H)``, ``lengths (B,)`` or
    None -> ``(logits (B, T, V_tgt), state)``.
    backward: ``(dlogits (B, T, V_tgt), dstate or None)`` -> ``(dstate0, dcontext (B, H))``:
    dL/dS_0 (a tuple like the state) and ``dL/dc = sum_t dL/dX_t[:, E:]`` (c is read at
    every step, so its gradient is the sum over the steps).

    params: ``embedding.W (V_tgt, E)``, ``rnn.*`` (input size E + H), ``output.W (H, V_tgt)``,
    ``output.b``.
    """

    def __init__(self, vocab_size: int, embed_dim: int, num_hiddens: int, num_layers: int = 1,
                 cell: str = "gru", dropout: float = 0.0, rng=None, init: str = "xavier",
                 sigma: float = 0.01, dtype=DEFAULT_DTYPE):
        super().__init__()
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self.embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.add("embedding", Embedding(vocab_size, embed_dim, rng=rng, init=init, sigma=sigma,
                                        dtype=dtype))
        self.add("rnn", _recurrent_layer(cell, embed_dim + num_hiddens, num_hiddens, num_layers,
                                         dropout, rng, init, sigma, dtype))
        self.add("output", Linear(num_hiddens, vocab_size, rng=rng, init=init, sigma=sigma,
                                  dtype=dtype))

    def forward(self, X: np.ndarray, state: tuple, context: np.ndarray, lengths=None):
        if not isinstance(X, np.ndarray) or X.ndim != 2 or X.size == 0:
            raise ValueError(f"X must be an int array of target-side ids with shape (batch, "
                             f"num_steps), both >= 1, got {getattr(X, 'shape', type(X).__name__)}")
        B, T = X.shape
        check_token_ids(X, self.vocab_size, "X")
        check_state(state, "state", self.rnn.state_shape(B), len(self.rnn.state_names), self.dtype)
        check_array(context, "context", shape=(B, self.rnn.hidden_size), dtype=self.dtype)
        if lengths is not None:                                # before the embedding's cache changes
            lengths = check_lengths(lengths, T, B)
        E, H = self.embed_dim, self.rnn.hidden_size
        inputs = np.empty((T, B, E + H), dtype=self.dtype)     # X_t = [embedding ; context]
        inputs[..., :E] = self.embedding.forward(X.T)          # W_emb[y_{t-1}]  (T, B, E)
        inputs[..., E:] = context                              # c, the same at every step
        Hs, state = self.rnn.forward(inputs, state, lengths)   # (T, B, H), ((L, B, H), ...)
        logits = self.output.forward(Hs)                       # O_t = S_t W_hq + b_q  (T, B, V)
        return logits.transpose(1, 0, 2), state                # (B, T, V) as the ids are laid out

    def backward(self, dlogits: np.ndarray, dstate: tuple | None = None) -> tuple:
        if self.rnn.cache is None:
            raise RuntimeError("Seq2SeqDecoder.backward called before forward")
        T, B = self.rnn.cache.X.shape[:2]
        check_array(dlogits, "dlogits", shape=(B, T, self.vocab_size), dtype=self.dtype)
        self.rnn.check_backward_args(dstate)                   # before any gradient changes
        E = self.embed_dim
        dHs = self.output.backward(dlogits.transpose(1, 0, 2))  # dL/dS_t = dO_t W_hq^T  (T, B, H)
        dX, dstate0 = self.rnn.backward(dHs, dstate)           # dL/dX_t (T, B, E + H), dL/dS_0
        self.embedding.backward(dX[..., :E])                   # scatter-add into embedding.W
        dcontext = dX[..., E:].sum(axis=0)                     # dL/dc = sum_t dL/dX_t[:, E:]  (B, H)
        return dstate0, dcontext


@register_model("seq2seq")
class Seq2Seq(Module):
    """The book's encoder-decoder for unaligned sequence to sequence (no attention).

        S^enc = encoder(source)                 each sequence's final state, at its length
        c     = S^enc's top-layer h             (B, H), the context
        logits = decoder(<bos> y_1 .. y_{n-1}, S_0 = S^enc, c)   (teacher forcing)

    Training: ``forward`` with the target-side inputs (``<bos>`` + target) and lengths,
    ``SoftmaxCrossEntropy`` against the targets (target + ``<eos>``) with the mask of the
    target lengths (a mean over real tokens), ``backward``.  Prediction: ``greedy_decode``
    feeds back the most likely token until ``<eos>``.

    forward: ``src (B, T_src)``, ``src_lengths (B,)`` or None, ``tgt_in (B, T_tgt)``,
    ``tgt_lengths (B,)`` or None -> ``logits (B, T_tgt, V_tgt)``.
    backward: ``dlogits (B, T_tgt, V_tgt)`` -> None (ids have no gradient); adds every
    parameter gradient.  The gradient reaches the encoder only through its final state:
    ``dL/dS^enc = dL/dS_0`` (the decoder's initial state), plus ``dL/dc`` into the top
    layer's h (the context).

    params: ``encoder.embedding.W``, ``encoder.rnn.*``, ``decoder.embedding.W``,
    ``decoder.rnn.*``, ``decoder.output.W``, ``decoder.output.b``.

    Args:
        src_vocab_size, tgt_vocab_size: ints, the two vocabularies (may be the same size).
        embed_dim: int E of both embeddings.
        num_hiddens: int H of both recurrent layers (the decoder starts from the encoder's state).
        num_layers: int L of both.
        cell: ``'rnn'``, ``'gru'`` (the book's) or ``'lstm'`` (state and context: h and c
            pass to the decoder, the context is h).
        dropout: between stacked layers, training only.
        init, sigma: the initialisation (``'xavier'`` as the book's ``init_seq2seq``).
        seed, rng: the initialisation's random source; dtype: float32 or float64.
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, embed_dim: int = 32,
                 num_hiddens: int = 128, num_layers: int = 1, cell: str = "gru",
                 dropout: float = 0.0, init: str = "xavier", sigma: float = 0.01,
                 seed: int | None = 0, rng: np.random.Generator | None = None,
                 dtype=DEFAULT_DTYPE):
        super().__init__()
        self.embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.num_hiddens = check_positive_int(num_hiddens, "num_hiddens")
        self.cell, self.init, self.sigma = cell, init, sigma
        rng = make_rng(seed, rng)
        common = dict(num_layers=num_layers, cell=cell, dropout=dropout, rng=rng, init=init,
                      sigma=sigma, dtype=dtype)
        self.add("encoder", Seq2SeqEncoder(src_vocab_size, embed_dim, num_hiddens, **common))
        self.add("decoder", Seq2SeqDecoder(tgt_vocab_size, embed_dim, num_hiddens, **common))
        self._dtype = np.dtype(dtype)

    @property
    def src_vocab_size(self) -> int:
        return self.encoder.vocab_size

    @property
    def tgt_vocab_size(self) -> int:
        return self.decoder.vocab_size

    def config(self) -> dict:
        """The JSON-able constructor arguments (``build_model('seq2seq', config)``)."""
        return {"src_vocab_size": self.src_vocab_size, "tgt_vocab_size": self.tgt_vocab_size,
                "embed_dim": self.embed_dim, "num_hiddens": self.num_hiddens,
                "num_layers": self.encoder.rnn.num_layers, "cell": self.cell,
                "dropout": self.encoder.rnn.dropout, "init": self.init, "sigma": self.sigma}

    @staticmethod
    def context(state: tuple) -> np.ndarray:
        """The context c: the top layer's final hidden state ``state[0][-1]`` ``(B, H)``."""
        return state[0][-1]

    def forward(self, src: np.ndarray, src_lengths, tgt_in: np.ndarray, tgt_lengths=None):
        for name, ids in (("src", src), ("tgt_in", tgt_in)):
            if not isinstance(ids, np.ndarray) or ids.ndim != 2 or ids.size == 0:
                raise ValueError(f"{name} must be an int array of ids with shape (batch, "
                                 f"num_steps), both >= 1, got "
                                 f"{getattr(ids, 'shape', type(ids).__name__)}")
        if src.shape[0] != tgt_in.shape[0]:
            raise ValueError(f"tgt_in must have one row per source sequence ({src.shape[0]}), "
                             f"got {tgt_in.shape[0]}")
        check_token_ids(src, self.src_vocab_size, "src")      # everything before the encoder runs
        check_token_ids(tgt_in, self.tgt_vocab_size, "tgt_in")
        if src_lengths is not None:
            check_lengths(src_lengths, src.shape[1], src.shape[0], "src_lengths")
        if tgt_lengths is not None:
            check_lengths(tgt_lengths, tgt_in.shape[1], tgt_in.shape[0], "tgt_lengths")
        _, enc_state = self.encoder.forward(src, src_lengths)  # S^enc, ((L, B, H), ...)
        logits, _ = self.decoder.forward(tgt_in, enc_state, self.context(enc_state), tgt_lengths)
        return logits                                          # (B, T_tgt, V_tgt)

    def backward(self, dlogits: np.ndarray) -> None:
        if self.encoder.rnn.cache is None or self.decoder.rnn.cache is None:
            raise RuntimeError("Seq2Seq.backward called before forward")
        dstate0, dcontext = self.decoder.backward(dlogits)     # dL/dS_0, dL/dc
        dh = dstate0[0].copy()                                 # (L, B, H): dL/dh^enc of each layer
        dh[-1] += dcontext                                     # c = h^enc of the top layer
        self.encoder.backward(None, (dh, *dstate0[1:]))        # (LSTM: dL/dc^enc = dL/dC_0)
        return None

    def greedy_decode(self, src: np.ndarray, src_lengths, bos_id: int, eos_id: int,
                      max_len: int) -> list:
        """The book's ``predict_seq2seq``, for a batch: encode, then feed back the most likely
        token, ``y_t = argmax O_t``, from ``<bos>`` until each sequence has given ``<eos>``
        (or ``max_len`` tokens).  In evaluation mode (no dropout); no gradient is kept.

        -> a list of B int arrays, each sequence's tokens before its ``<eos>``.
        """
        if not isinstance(src, np.ndarray) or src.ndim != 2 or src.size == 0:
            raise ValueError(f"src must be an int array of ids with shape (batch, num_steps), "
                             f"both >= 1, got {getattr(src, 'shape', type(src).__name__)}")
        check_token_ids(src, self.src_vocab_size, "src")      # everything before the encoder runs
        if src_lengths is not None:
            check_lengths(src_lengths, src.shape[1], src.shape[0], "src_lengths")
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):   # target-side token ids
            check_int(value, name, minimum=0, maximum=self.tgt_vocab_size - 1)
        max_len = check_positive_int(max_len, "max_len")
        with evaluating(self):
            _, state = self.encoder.forward(src, src_lengths)
            context = self.context(state)                      # fixed for the whole output
            B = src.shape[0]
            y = np.full((B, 1), bos_id, dtype=np.int64)        # <bos> starts every output
            out = np.empty((B, max_len), dtype=np.int64)
            length = np.full(B, max_len, dtype=np.int64)       # max_len unless <eos> came
            done = np.zeros(B, dtype=bool)
            for t in range(max_len):
                logits, state = self.decoder.forward(y, state, context)   # one step (B, 1, V)
                y = logits[:, -1].argmax(axis=-1)[:, None]     # y_t = argmax O_t  (B, 1)
                out[:, t] = y[:, 0]
                ended = (y[:, 0] == eos_id) & ~done
                length[ended] = t
                done |= ended
                if done.all():
                    break
        return [out[b, :length[b]] for b in range(B)]


# ---- tasks: many-to-one and one-to-many (issue #13, the author tasks) ----


def _check_labels(labels, num_classes: int, batch_size: int, name: str) -> np.ndarray:
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


def _check_ids_and_lengths(X, vocab_size: int, lengths) -> np.ndarray | None:
    """ids ``(B, T)`` in ``[0, V)`` and ``lengths`` (None, or ``(B,)`` ints in [1, T])."""
    if not isinstance(X, np.ndarray) or X.ndim != 2 or X.size == 0:
        raise ValueError(f"X must be a non-empty int array of token ids with shape (batch, "
                         f"num_steps), got {getattr(X, 'shape', type(X).__name__)}")
    check_token_ids(X, vocab_size, "X")
    return None if lengths is None else check_lengths(lengths, X.shape[1], X.shape[0])


def _make_recurrent(cell: str, input_size: int, num_hiddens: int, **stack):
    """``RNN``, ``GRU`` or ``LSTM`` by name."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(map(repr, CELLS))}, got {cell!r}")
    return {"rnn": RNN, "gru": GRU, "lstm": LSTM}[cell](input_size, num_hiddens, **stack)


@register_model("classifier")
class SequenceClassifier(Module):
    """Many-to-one: a sequence of tokens -> one label (the chapter's sentiment-analysis
    shape; ``examples/classify_author.py`` tells which book a passage is from).

        X_t = W_emb[x_t]                          (T, B, E)
        H_t = recurrent(X_t, H_{t-1}),  t < lengths[b]   (RNN, GRU or LSTM)
        h   = the last layer's final state, each sequence's at its own length  (B, H * nd)
              (bidirectional: [h_forward at position L-1, h_reverse back at position 0])
        O   = h W + b                             (B, C) logits; softmax in the loss

    forward(X (B, T) int ids, lengths (B,) or None) -> logits ``(B, C)``;
    backward(dlogits (B, C)) adds every parameter gradient (ids have none).  Only the
    final state reaches the loss, so backward sends ``dL/dh`` into the recurrent layer's
    ``dstate`` (the other rows zero) and zeros as ``dHs``.  ``forward_steps`` /
    ``backward_steps``: the same output layer after every prefix ``(B, T, C)``, a
    training signal at every step (unidirectional models).

    params (dotted): ``embedding.W``, ``rnn.*`` (the recurrent layer's), ``output.W``,
    ``output.b``.

    Args:
        vocab_size: int V.   num_classes: int C.   num_hiddens: int H.
        embed_dim: int E.
        cell: ``'rnn'``, ``'gru'`` (default) or ``'lstm'``.
        num_layers, bidirectional, dropout: the recurrent stack (PyTorch's names).
        init, sigma: initialisation (``'xavier'`` default; biases 0).
        seed, rng, dtype: as ``RNNLM``.
    """

    def __init__(self, vocab_size: int, num_classes: int = 2, num_hiddens: int = 64,
                 embed_dim: int = 16, cell: str = "gru", num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, init: str = "xavier",
                 sigma: float = 0.01, seed: int | None = 0, rng: np.random.Generator | None = None,
                 dtype=DEFAULT_DTYPE):
        super().__init__()
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.num_hiddens = check_positive_int(num_hiddens, "num_hiddens")
        self.embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.cell, self.init, self.sigma = cell, init, sigma
        rng = make_rng(seed, rng)
        self.add("embedding", Embedding(vocab_size, embed_dim, rng=rng, init=init, sigma=sigma,
                                        dtype=dtype))
        self.add("rnn", _make_recurrent(cell, embed_dim, num_hiddens, num_layers=num_layers,
                                        bidirectional=bidirectional, dropout=dropout, rng=rng,
                                        init=init, sigma=sigma, dtype=dtype))
        nd = self.rnn.num_directions
        self.add("output", Linear(num_hiddens * nd, num_classes, rng=rng, init=init, sigma=sigma,
                                  dtype=dtype))
        self._dtype = np.dtype(dtype)

    @property
    def bidirectional(self) -> bool:
        return self.rnn.num_directions == 2

    def config(self) -> dict:
        """The JSON-able constructor arguments (``build_model('classifier', config)``)."""
        return {"vocab_size": self.vocab_size, "num_classes": self.num_classes,
                "num_hiddens": self.num_hiddens, "embed_dim": self.embed_dim, "cell": self.cell,
                "num_layers": self.rnn.num_layers, "bidirectional": self.bidirectional,
                "dropout": self.rnn.dropout, "init": self.init, "sigma": self.sigma}

    def _last_rows(self) -> list:
        """The state rows of the last layer's copies: ``(L-1) * nd + d``, d = 0 (, 1)."""
        nd = self.rnn.num_directions
        return [(self.rnn.num_layers - 1) * nd + d for d in range(nd)]

    def forward(self, X: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        lengths = _check_ids_and_lengths(X, self.vocab_size, lengths)   # before any change
        inputs = self.embedding.forward(X.T)                   # ids (T, B) -> (T, B, E)
        _, state = self.rnn.forward(inputs, None, lengths)     # ((L*nd, B, H), ...) at own lengths
        h = np.concatenate([state[0][r] for r in self._last_rows()], axis=-1)   # (B, H * nd)
        return self.output.forward(h)                          # O = h W + b   (B, C)

    def backward(self, dlogits: np.ndarray) -> None:
        """dlogits ``(B, C)`` -> None (ids have no gradient); adds every parameter's."""
        if self.rnn.cache is None or self.output.cache is None:
            raise RuntimeError("SequenceClassifier.backward called before forward")
        T, B = self.rnn.cache.X.shape[:2]
        check_array(dlogits, "dlogits", shape=(B, self.num_classes), dtype=self.dtype)
        if self.output.cache.x.ndim != 2:
            raise RuntimeError("backward must follow forward, not forward_steps")
        H = self.num_hiddens
        dh = self.output.backward(dlogits)                     # dL/dh = dO W^T   (B, H * nd)
        dstate = tuple(np.zeros(self.rnn.state_shape(B), dtype=self.dtype)
                       for _ in self.rnn.state_names)          # dL/dc_T = 0 (LSTM): h is read
        for d, r in enumerate(self._last_rows()):
            dstate[0][r] = dh[:, d * H:(d + 1) * H]            # each direction's final h
        dHs = np.zeros((T, B, H * self.rnn.num_directions), dtype=self.dtype)  # no H_t is read
        dX, _ = self.rnn.backward(dHs, dstate)                 # BPTT from the final state
        self.embedding.backward(dX)                            # scatter-add into embedding.W

    def forward_steps(self, X: np.ndarray, lengths: np.ndarray | None = None,
                      return_states: bool = False):
        """The prediction after every prefix: ``O_t = H_t W + b``, logits ``(B, T, C)``.

        A training signal at every step (each prefix of a passage is a shorter passage of
        the same book): at ``t = lengths[b] - 1`` it is ``forward``'s logits, since a
        unidirectional layer's final state is its last output; past a length ``H_t = 0``
        (mask those positions in the loss).  Unidirectional only: a reverse direction's
        ``H_t`` has read the rest of the passage.

        ``return_states=True``: ``(logits, Hs)`` with the states ``Hs (T, B, H)`` (read
        only), for another head on the same states, e.g. an auxiliary next-token loss;
        its ``dL/dH_t`` goes to ``backward_steps(dlogits, dHs)``.
        """
        if self.bidirectional:
            raise ValueError("forward_steps needs a unidirectional model (bidirectional=False): "
                             "the reverse direction's H_t has read past step t")
        lengths = _check_ids_and_lengths(X, self.vocab_size, lengths)   # before any change
        check_bool(return_states, "return_states")
        inputs = self.embedding.forward(X.T)                   # ids (T, B) -> (T, B, E)
        Hs, _ = self.rnn.forward(inputs, None, lengths)        # (T, B, H), 0 past each length
        logits = self.output.forward(Hs).transpose(1, 0, 2)    # O_t = H_t W + b  (B, T, C)
        if not return_states:
            return logits
        Hs = Hs.view()
        Hs.flags.writeable = False                             # backward reads them: keep intact
        return logits, Hs

    def backward_steps(self, dlogits: np.ndarray, dHs: np.ndarray | None = None) -> None:
        """dlogits ``(B, T, C)`` of ``forward_steps`` -> None; adds every parameter's
        gradient.  ``dHs (T, B, H)``: ``dL/dH_t`` from another head on the states
        (``return_states``), added to the output layer's."""
        if self.rnn.cache is None or self.output.cache is None:
            raise RuntimeError("SequenceClassifier.backward_steps called before forward_steps")
        T, B = self.rnn.cache.X.shape[:2]
        check_array(dlogits, "dlogits", shape=(B, T, self.num_classes), dtype=self.dtype)
        if self.output.cache.x.shape != (T, B, self.num_hiddens):
            raise RuntimeError("backward_steps must follow forward_steps, not forward")
        if dHs is not None:
            check_array(dHs, "dHs", shape=(T, B, self.num_hiddens), dtype=self.dtype)
        dH = self.output.backward(dlogits.transpose(1, 0, 2))  # dL/dH_t = dO_t W^T  (T, B, H)
        if dHs is not None:
            dH += dHs                                          # + the other head's dL/dH_t
        dX, _ = self.rnn.backward(np.ascontiguousarray(dH))    # BPTT; padded steps add nothing
        self.embedding.backward(dX)                            # scatter-add into embedding.W

    def predict_proba(self, X: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """softmax of the logits, ``(B, C)`` float64 (dropout off)."""
        with evaluating(self):
            O = self.forward(X, lengths).astype(np.float64)
        P = np.exp(O - O.max(axis=1, keepdims=True))           # shifted: no overflow
        return P / P.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """The most probable class of each sequence, ``(B,)`` int64."""
        return self.predict_proba(X, lengths).argmax(axis=1)


CONDITIONINGS = ("state", "input")


@register_model("conditional_lm")
class ConditionalLM(Module):
    """One-to-many: a language model whose text is conditioned on a fixed input, a class
    ``a`` (the chapter's image-captioning shape with a label for the image;
    ``examples/conditional_generation.py`` writes in the style of a given book).

    ``conditioning='state'`` (default): the class sets the initial state,

        h_0 = tanh(E[a] W_ah + b_ah)    (B, H) for every layer (the LSTM's c_0 = 0)
        X_t = W_emb[x_t];  H_t = recurrent(X_t, H_{t-1});  O_t = H_t W_hq + b_q

    ``conditioning='input'``: the class embedding is read at every step, h_0 = 0,

        X_t = [W_emb[x_t], E[a]]        (T, B, E + A)

    params (dotted): ``embedding.W``, ``author.W`` (E, (num_classes, A)), with ``'state'``
    also ``author_to_state.W`` (W_ah, (A, num_layers * H)) and ``author_to_state.b``
    (b_ah), ``rnn.*``, ``output.W``, ``output.b``.

    forward(X (B, T) ids, classes (B,) ints, state=None, lengths=None) ->
    ``(logits (B, T, V), state)``.  With ``state`` None the initial state comes from the
    class (``'state'``) or is zero (``'input'``); a given ``state`` (continuing a text)
    is used as it is.  backward(dlogits (B, T, V), dstate=None) adds every parameter
    gradient, through h_0 into E, W_ah, b_ah, and returns ``dL/dstate0`` when the state was
    given (else None: it is a function of the parameters, not an input).

    Args:
        vocab_size: int V.   num_classes: int (authors).   num_hiddens: int H.
        embed_dim: int E.    class_dim: int A, the class embedding's size.
        conditioning: ``'state'`` or ``'input'``.
        cell, num_layers, dropout, init, sigma, seed, rng, dtype: as ``SequenceClassifier``
        (unidirectional only: it generates).
    """

    def __init__(self, vocab_size: int, num_classes: int = 2, num_hiddens: int = 128,
                 embed_dim: int = 16, class_dim: int = 8, conditioning: str = "state",
                 cell: str = "gru", num_layers: int = 1, dropout: float = 0.0,
                 init: str = "xavier", sigma: float = 0.01, seed: int | None = 0,
                 rng: np.random.Generator | None = None, dtype=DEFAULT_DTYPE):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {', '.join(map(repr, CONDITIONINGS))}, "
                             f"got {conditioning!r}")
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.num_hiddens = check_positive_int(num_hiddens, "num_hiddens")
        self.embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.class_dim = check_positive_int(class_dim, "class_dim")
        self.conditioning, self.cell, self.init, self.sigma = conditioning, cell, init, sigma
        rng = make_rng(seed, rng)
        kw = dict(rng=rng, init=init, sigma=sigma, dtype=dtype)
        self.add("embedding", Embedding(vocab_size, embed_dim, **kw))
        self.add("author", Embedding(num_classes, class_dim, **kw))
        D = embed_dim + (class_dim if conditioning == "input" else 0)
        self.add("rnn", _make_recurrent(cell, D, num_hiddens, num_layers=num_layers,
                                        dropout=dropout, **kw))
        if conditioning == "state":
            self.add("author_to_state", Linear(class_dim, self.rnn.num_layers * num_hiddens, **kw))
        self.add("output", Linear(num_hiddens, vocab_size, **kw))
        self._dtype = np.dtype(dtype)
        self.from_class = False               # did the last forward compute h_0 from the class?
        self.state_given = False              # was the last forward given a state?
        self.h0 = None                        # (L, B, H): tanh(E[a] W_ah + b_ah) of that forward

    def config(self) -> dict:
        """The JSON-able constructor arguments (``build_model('conditional_lm', config)``)."""
        return {"vocab_size": self.vocab_size, "num_classes": self.num_classes,
                "num_hiddens": self.num_hiddens, "embed_dim": self.embed_dim,
                "class_dim": self.class_dim, "conditioning": self.conditioning,
                "cell": self.cell, "num_layers": self.rnn.num_layers,
                "dropout": self.rnn.dropout, "init": self.init, "sigma": self.sigma}

    def begin_state(self, batch_size: int) -> tuple:
        """Zeros (``'input'`` conditioning's initial state), ``(h,)`` or ``(h, c)``."""
        return self.rnn.begin_state(batch_size)

    def forward(self, X: np.ndarray, classes: np.ndarray, state: tuple | None = None,
                lengths: np.ndarray | None = None):
        lengths = _check_ids_and_lengths(X, self.vocab_size, lengths)   # before any change
        B, T = X.shape
        _check_labels(classes, self.num_classes, B, "classes")
        if state is not None:
            check_state(state, "state", self.rnn.state_shape(B), len(self.rnn.state_names),
                        self.dtype)
        L, H = self.rnn.num_layers, self.num_hiddens
        inputs = self.embedding.forward(X.T)                   # ids (T, B) -> (T, B, E)
        e = self.author.forward(classes)                       # E[a]  (B, A)
        if self.conditioning == "input":                       # X_t = [W_emb[x_t], E[a]]
            inputs = np.concatenate([inputs, np.broadcast_to(e, (T,) + e.shape)], axis=-1)
        self.state_given = state is not None
        self.from_class = state is None and self.conditioning == "state"
        if self.from_class:
            z = self.author_to_state.forward(e)                # E[a] W_ah + b_ah  (B, L * H)
            self.h0 = np.tanh(z).reshape(B, L, H).transpose(1, 0, 2)   # h_0 (L, B, H)
            state = (np.ascontiguousarray(self.h0),) + tuple(
                np.zeros_like(self.h0) for _ in self.rnn.state_names[1:])   # LSTM: c_0 = 0
        Hs, state = self.rnn.forward(inputs, state, lengths)   # (T, B, H), ((L, B, H), ...)
        logits = self.output.forward(Hs)                       # O_t = H_t W_hq + b_q  (T, B, V)
        return logits.transpose(1, 0, 2), state                # (B, T, V)

    def backward(self, dlogits: np.ndarray, dstate: tuple | None = None):
        """dlogits ``(B, T, V)``, dstate = dL/dstate_T or None -> dL/dstate0 (a tuple) when
        forward was given a state, else None (the gradient went on into E, W_ah, b_ah)."""
        if self.rnn.cache is None:
            raise RuntimeError("ConditionalLM.backward called before forward")
        T, B = self.rnn.cache.X.shape[:2]
        check_array(dlogits, "dlogits", shape=(B, T, self.vocab_size), dtype=self.dtype)
        self.rnn.check_backward_args(dstate)                   # before any gradient changes
        dHs = self.output.backward(dlogits.transpose(1, 0, 2))  # dL/dH_t = dO_t W_hq^T  (T, B, H)
        dX, dstate0 = self.rnn.backward(dHs, dstate)           # BPTT: (T, B, D), dL/dstate_0
        E = self.embed_dim
        if self.conditioning == "input":                       # E[a] is read at every step:
            self.author.backward(dX[..., E:].sum(axis=0))      # dL/dE[a] = sum_t dL/dX_t[E:]
            dX = dX[..., :E]
        self.embedding.backward(np.ascontiguousarray(dX))      # scatter-add into embedding.W
        if not self.from_class:                                # a given state: its gradient
            return dstate0 if self.state_given else None       # goes back; zeros: none
        L, H = self.rnn.num_layers, self.num_hiddens
        dh0 = dstate0[0]                                       # dL/dh_0 (L, B, H); dc_0 unused
        dz = (dh0 * (1 - self.h0 ** 2)).transpose(1, 0, 2).reshape(B, L * H)  # tanh' = 1 - h_0^2
        de = self.author_to_state.backward(dz)                 # dW_ah += e^T dz, db_ah += sum dz;
        self.author.backward(de)                               # dL/de = dz W_ah^T -> E[a] rows
        return None

    def log_likelihood(self, X: np.ndarray, classes: np.ndarray,
                       lengths: np.ndarray | None = None) -> np.ndarray:
        """``log p(x_1 .. x_{L-1} | x_0, a) = sum_t log softmax(O_t)[x_{t+1}]`` of each
        sequence (its own length L; the first token is given, the model predicts the rest)
        under class ``classes[b]``, from the initial state of the class: ``(B,)`` float64
        (dropout off).  The per-token terms are ``SoftmaxCrossEntropy``'s."""
        with evaluating(self):
            logits, _ = self.forward(X, classes, None, lengths)    # (B, T, V); checks X, classes
        loss = SoftmaxCrossEntropy()
        loss.forward(logits[:, :-1], X[:, 1:])                 # O_t predicts x_{t+1}
        nll = loss.token_nll.astype(np.float64)                # (B, T-1) -log p(x_{t+1} | ...)
        if lengths is not None:
            nll[np.arange(1, X.shape[1]) >= np.asarray(lengths)[:, None]] = 0   # padding: nothing
        return -nll.sum(axis=1)

    def classify(self, X: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """The generative classifier, Bayes' rule with equal priors: the class under which
        each sequence is most probable, ``argmax_a log p(X | a)`` ``(B,)`` int64 (ties: the
        lower class)."""
        B = X.shape[0] if isinstance(X, np.ndarray) and X.ndim == 2 else 0
        scores = np.stack([self.log_likelihood(X, np.full(B, a), lengths)
                           for a in range(self.num_classes)], axis=1)   # (B, C)
        return scores.argmax(axis=1)
