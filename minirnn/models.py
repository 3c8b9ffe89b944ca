"""Models built from the layers: the character/word language model and the book's MLP.

Dimension letters: B batch, T steps, V vocabulary, E embedding, H hidden.
"""
from __future__ import annotations

import numpy as np

from .layers import (DEFAULT_DTYPE, Embedding, Linear, Module, OneHot, ReLU, RNN, Sequential,
                     check_positive_int, check_array, check_token_ids)


class RNNLM(Module):
    """The book's RNN language model: inputs -> RNN -> a linear output layer per step.

        X_t = onehot(x_t) (embed_dim None, the book's from-scratch model)  or  W_emb[x_t]
        H_t = f(X_t W_xh + H_{t-1} W_hh + b_h),   f = tanh (the book) or relu (an exercise)
        O_t = H_t W_hq + b_q              (W_hq, b_q are ``output.W``, ``output.b``)

    ``forward(X, state=None)``: ids ``(B, T)`` as the data iterators give them ->
    ``(logits (B, T, V), state (B, H))``.  ``backward(dlogits, dstate=None)`` adds every
    parameter gradient and returns ``dL/dstate0`` ``(B, H)``, the gradient of the initial
    state (the trainer drops it: that is where truncated BPTT stops).

    params (dotted): ``embedding.W`` (only with ``embed_dim``), ``rnn.W_xh``, ``rnn.W_hh``,
    ``rnn.b_h``, ``output.W``, ``output.b``.

    Args:
        vocab_size: int V.
        num_hiddens: int H.
        embed_dim: int E for a learned ``Embedding``, or None for one-hot inputs (D = V).
        seed, rng: the initialisation's random source (``rng``, a ``np.random.Generator``,
            wins over ``seed``).
        nonlinearity: ``'tanh'`` or ``'relu'``.
        init: ``'normal'`` (N(0, sigma^2), the book's scratch model), ``'uniform'``
            (U(+-1/sqrt(H)), PyTorch's ``nn.RNN``) or ``'xavier'``; biases start at 0.
        sigma: the standard deviation of ``'normal'`` (the book: 0.01).
        dtype: float32 (default) or float64.
    """

    def __init__(self, vocab_size: int, num_hiddens: int, embed_dim: int | None = None,
                 seed: int | None = 0, rng: np.random.Generator | None = None,
                 nonlinearity: str = "tanh", init: str = "normal", sigma: float = 0.01,
                 dtype=DEFAULT_DTYPE):
        super().__init__()
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self.num_hiddens = check_positive_int(num_hiddens, "num_hiddens")
        if embed_dim is not None:
            embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.embed_dim = embed_dim
        rng = rng if rng is not None else np.random.default_rng(seed)
        V, H = self.vocab_size, self.num_hiddens
        if embed_dim is None:
            self.add("embedding", OneHot(V, dtype=dtype))
            D = V
        else:
            self.add("embedding", Embedding(V, embed_dim, rng=rng, init=init, sigma=sigma, dtype=dtype))
            D = embed_dim
        self.add("rnn", RNN(D, H, nonlinearity=nonlinearity, rng=rng, init=init, sigma=sigma,
                            dtype=dtype))
        self.add("output", Linear(H, V, rng=rng, init=init, sigma=sigma, dtype=dtype))
        self._dtype = np.dtype(dtype)

    def begin_state(self, batch_size: int) -> np.ndarray:
        """The book's initial state: zeros ``(B, H)``."""
        check_positive_int(batch_size, "batch_size")
        return np.zeros((batch_size, self.num_hiddens), dtype=self.rnn.params["W_hh"].dtype)

    def forward(self, X: np.ndarray, state: np.ndarray | None = None):
        if not isinstance(X, np.ndarray) or X.ndim != 2:
            raise ValueError(f"X must be an int array of token ids with shape (batch, num_steps), "
                             f"got {getattr(X, 'shape', type(X).__name__)}")
        check_token_ids(X, self.vocab_size, "X")
        if state is not None:
            check_array(state, "state", shape=(X.shape[0], self.num_hiddens))
        inputs = self.embedding.forward(X.T)                   # ids (T, B) -> (T, B, D)
        Hs, state = self.rnn.forward(inputs, state)            # (T, B, H), (B, H)
        logits = self.output.forward(Hs)                       # O_t = H_t W_hq + b_q  (T, B, V)
        return logits.transpose(1, 0, 2), state                # (B, T, V) as the data is laid out

    def backward(self, dlogits: np.ndarray, dstate: np.ndarray | None = None,
                 keep: np.ndarray | None = None) -> np.ndarray:
        """dlogits ``(B, T, V)``, dstate = dL/dh_T ``(B, H)`` or None -> dL/dstate0 ``(B, H)``.

        ``keep`` (T,) is passed to ``RNN.backward`` (truncation strategies, ``minirnn.bptt``).
        """
        X = self.rnn._X
        if X is None:
            raise RuntimeError("RNNLM.backward called before forward")
        T, B = X.shape[:2]
        check_array(dlogits, "dlogits", shape=(B, T, self.vocab_size))
        self.rnn.check_backward_args(dstate, keep, dh_T_name="dstate")  # before any gradient changes
        dHs = self.output.backward(dlogits.transpose(1, 0, 2))  # dL/dH_t = dO_t W_hq^T  (T, B, H)
        # one-hot inputs have no gradient: skip dL/dX (input_grad=False) and its GEMM
        dX, dstate0 = self.rnn.backward(dHs, dstate, keep=keep, input_grad=self.embed_dim is not None)
        self.embedding.backward(dX)                             # scatter-add into embedding.W
        return dstate0


class MLP(Sequential):
    """The book's sequence-model MLP: ``Linear(num_inputs, num_hiddens) -> ReLU -> Linear(.., 1)``.

    Weights are Xavier-uniform initialised as in the book (``init='xavier'``), biases 0.
    forward: ``(B, num_inputs)`` -> ``(B, num_outputs)``.  params ``0.W``, ``0.b``, ``2.W``, ``2.b``.
    """

    def __init__(self, num_inputs: int = 4, num_hiddens: int = 10, num_outputs: int = 1,
                 seed: int | None = 0, rng: np.random.Generator | None = None,
                 init: str = "xavier", dtype=DEFAULT_DTYPE):
        rng = rng if rng is not None else np.random.default_rng(seed)
        super().__init__(Linear(num_inputs, num_hiddens, rng=rng, init=init, dtype=dtype),
                         ReLU(),
                         Linear(num_hiddens, num_outputs, rng=rng, init=init, dtype=dtype))
