"""Many-to-one and one-to-many: ``SequenceClassifier`` (a sequence -> a label) and
``ConditionalLM`` (a label -> a sequence), the author tasks of ``docs/tasks.md``.

Dimension letters: B batch, T steps, V vocabulary, E embedding, H hidden, C classes,
A class embedding, L layers.
"""
from __future__ import annotations

import numpy as np

from .._checks import check_bool
from ..layers import (DEFAULT_DTYPE, Embedding, Linear, Module, check_array, check_positive_int,
                      check_state, evaluating, make_rng)
from ..losses import SoftmaxCrossEntropy
from .base import check_ids, check_labels, recurrent_stack, unpack_inputs
from .registry import register_model

__all__ = ["SequenceClassifier", "ConditionalLM", "CONDITIONINGS"]


@register_model("classifier")
class SequenceClassifier(Module):
    """Many-to-one: a sequence of tokens -> one label (the chapter's sentiment-analysis
    shape; ``examples/classify_author.py`` tells which book a passage is from).

        X_t = W_emb[x_t]                          (T, B, E)
        H_t = recurrent(X_t, H_{t-1}),  t < lengths[b]   (RNN, GRU or LSTM)
        h   = the last layer's final state, each sequence's at its own length  (B, H * nd)
              (bidirectional: [h_forward at position L-1, h_reverse back at position 0])
        O   = h W + b                             (B, C) logits; softmax in the loss

    ``forward(X (B, T) int ids, state=None, lengths=None) -> (logits (B, C), state)``, the
    final state ``(h,)`` (LSTM ``(h, c)``) of ``(L * nd, B, H)`` arrays;
    ``backward(dlogits (B, C), dstate=None) -> dL/dstate0`` adds every parameter gradient
    (ids have none).  Only the final state reaches the loss, so backward sends ``dL/dh``
    into the recurrent layer's ``dstate`` (the other rows zero) and zeros as ``dHs``.  ``forward_steps`` /
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
        self.add("rnn", recurrent_stack(cell, embed_dim, num_hiddens, num_layers=num_layers,
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

    def forward(self, X: np.ndarray, state: tuple | None = None,
                lengths: np.ndarray | None = None):
        lengths = check_ids(X, self.vocab_size, lengths)       # before any change
        if state is not None:
            check_state(state, "state", self.rnn.state_shape(X.shape[0]),
                        len(self.rnn.state_names), self.dtype)
        inputs = self.embedding.forward(X.T)                   # ids (T, B) -> (T, B, E)
        _, state = self.rnn.forward(inputs, state, lengths)    # ((L*nd, B, H), ...) at own lengths
        h = np.concatenate([state[0][r] for r in self._last_rows()], axis=-1)   # (B, H * nd)
        return self.output.forward(h), state                   # O = h W + b   (B, C)

    def backward(self, dlogits: np.ndarray, dstate: tuple | None = None) -> tuple:
        """dlogits ``(B, C)``, dstate = dL/dstate_T or None -> dL/dstate0 (a tuple like
        the state); adds every parameter's gradient (ids have none)."""
        if self.rnn.cache is None or self.output.cache is None:
            raise RuntimeError("SequenceClassifier.backward called before forward")
        T, B = self.rnn.cache.X.shape[:2]
        check_array(dlogits, "dlogits", shape=(B, self.num_classes), dtype=self.dtype)
        if self.output.cache.x.ndim != 2:
            raise RuntimeError("backward must follow forward, not forward_steps")
        self.rnn.check_backward_args(dstate)                   # before any gradient changes
        H = self.num_hiddens
        dh = self.output.backward(dlogits)                     # dL/dh = dO W^T   (B, H * nd)
        if dstate is None:                                     # dL/dc_T = 0 (LSTM): h is read
            dstate = tuple(np.zeros(self.rnn.state_shape(B), dtype=self.dtype)
                           for _ in self.rnn.state_names)
        else:
            dstate = tuple(d.copy() for d in dstate)           # never change the caller's arrays
        for d, r in enumerate(self._last_rows()):
            dstate[0][r] += dh[:, d * H:(d + 1) * H]           # each direction's final h is read
        dHs = np.zeros((T, B, H * self.rnn.num_directions), dtype=self.dtype)  # no H_t is read
        dX, dstate0 = self.rnn.backward(dHs, dstate)           # BPTT from the final state
        self.embedding.backward(dX)                            # scatter-add into embedding.W
        return dstate0

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
        lengths = check_ids(X, self.vocab_size, lengths)   # before any change
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
            O = self.forward(X, None, lengths)[0].astype(np.float64)
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

    ``forward((X, classes), state=None, lengths=None) -> (logits (B, T, V), state)``: ids
    ``X (B, T)`` and the class of each sequence, ``classes (B,)`` ints.  With ``state`` None the initial state comes from the
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
        self.add("rnn", recurrent_stack(cell, D, num_hiddens, num_layers=num_layers,
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

    def forward(self, inputs: tuple, state: tuple | None = None,
                lengths: np.ndarray | None = None):
        X, classes = unpack_inputs(inputs, ("X", "classes"), "ConditionalLM.forward's inputs")
        lengths = check_ids(X, self.vocab_size, lengths)   # before any change
        B, T = X.shape
        check_labels(classes, self.num_classes, B, "classes")
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
            logits, _ = self.forward((X, classes), None, lengths)  # (B, T, V); checks X, classes
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
