"""The sequence-models section's regressors: the book's ``MLP`` and, for its exercise,
``RNNRegressor``; both map a window of ``tau`` past values to the next value
(``minirnn.sequence`` has the data and the predictions).  ``AddingRegressor``: a sequence
to one number, for the adding problem that compares the gated cells.

Dimension letters: B batch, tau window length (the RNN's steps), H hidden.
"""
from __future__ import annotations

import numpy as np

from ..layers import DEFAULT_DTYPE, Linear, Module, ReLU, RNN, Sequential, check_array, make_rng
from .._checks import check_positive_int
from ..losses import MSELoss
from .base import recurrent_stack
from .registry import register_model

__all__ = ["LinearRegression", "MLP", "RNNRegressor", "AddingRegressor"]


def check_no_state(state, lengths, model: str) -> None:
    """A regressor reads whole windows from the zero state: ``state`` and ``lengths`` None."""
    if state is not None or lengths is not None:
        raise ValueError(f"{model} reads whole windows from the zero state: state and lengths "
                         f"must be None")


@register_model("linear_regression")
class LinearRegression(Module):
    """The 1.0 book's model for the sequence section: ``y = X w + b``, one ``Linear(num_inputs,
    1)`` with weights from N(0, sigma^2) (``init='normal'``, sigma 0.01) and bias 0.

    ``forward(X (B, num_inputs), state=None, lengths=None) -> (y (B, 1), None)``;
    ``backward(dy, dstate=None) -> dX``.  params ``linear.W (num_inputs, 1)``, ``linear.b``.
    """

    def __init__(self, num_inputs: int = 4, seed: int | None = 0,
                 rng: np.random.Generator | None = None, init: str = "normal",
                 sigma: float = 0.01, dtype=DEFAULT_DTYPE):
        super().__init__()
        self.init, self.sigma = init, sigma
        self.add("linear", Linear(num_inputs, 1, rng=make_rng(seed, rng), init=init,
                                  sigma=sigma, dtype=dtype))
        self._dtype = np.dtype(dtype)

    def config(self) -> dict:
        """The JSON-able constructor arguments (``build_model('linear_regression', config)``)."""
        return {"num_inputs": self.linear.in_features, "init": self.init, "sigma": self.sigma}

    def forward(self, X: np.ndarray, state=None, lengths=None) -> tuple:
        check_no_state(state, lengths, "LinearRegression")
        return self.linear.forward(X), None                     # y = X w + b   (B, 1)

    def backward(self, dy: np.ndarray, dstate=None) -> np.ndarray:
        return self.linear.backward(dy)                         # dL/dX = dy w^T; dw, db added


@register_model("mlp")
class MLP(Sequential):
    """The book's sequence-model MLP: ``Linear(num_inputs, num_hiddens) -> ReLU -> Linear(.., 1)``.

    Weights are Xavier-uniform initialised as in the book (``init='xavier'``), biases 0.
    ``forward(X (B, num_inputs), state=None, lengths=None) -> (Y (B, num_outputs), None)``
    and ``backward(dY, dstate=None) -> dX``: the model protocol (no state, no lengths).
    params ``0.W``, ``0.b``, ``2.W``, ``2.b``.
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

    def forward(self, X: np.ndarray, state=None, lengths=None) -> tuple:
        check_no_state(state, lengths, "MLP")
        return super().forward(X), None                        # Linear -> ReLU -> Linear

    def backward(self, dY: np.ndarray, dstate=None) -> np.ndarray:
        return super().backward(dY)                            # the chain rule, last layer first



@register_model("rnn_regressor")
class RNNRegressor(Module):
    """The book's exercise, an RNN for the same task: read the window, predict the next value.

        X_t = x_{i+t-1}                                 (the window, one value per step)
        H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h),      t = 1..tau,  H_0 = 0
        y   = H_tau W_hq + b_q                          (the last hidden state only)

    ``forward(X (B, tau), state=None, lengths=None) -> (Y (B, 1), None)``, the same rows
    the MLP reads; ``backward(dY (B, 1), dstate=None) -> dX (B, tau)``; full BPTT over the window (the gradient
    reaches every step; nothing is truncated, the state starts at zero for every window).

    Only the last step is read out: the label of a window is the one value after it, and
    the MLP is trained on the same pairs, so the two models are compared on equal terms.

    params (dotted): ``rnn.W_xh (1, H)``, ``rnn.W_hh (H, H)``, ``rnn.b_h (H,)``,
    ``output.W (H, 1)`` (the book's ``W_hq``), ``output.b (1,)`` (``b_q``).
    The recurrent weights start as the book's framework RNN layer,
    U(-1/sqrt(H), 1/sqrt(H)) (``init='uniform'``); the output layer is Xavier, like the MLP.
    """

    def __init__(self, num_hiddens: int = 16, seed: int | None = 0,
                 rng: np.random.Generator | None = None, init: str = "uniform",
                 dtype=DEFAULT_DTYPE):
        super().__init__()
        self.num_hiddens = check_positive_int(num_hiddens, "num_hiddens")
        self.init = init
        rng = make_rng(seed, rng)
        self.add("rnn", RNN(1, self.num_hiddens, rng=rng, init=init, dtype=dtype))
        self.add("output", Linear(self.num_hiddens, 1, rng=rng, init="xavier", dtype=dtype))
        self._dtype = np.dtype(dtype)
        self._shape = None      # (B, tau) of the last forward's X

    def config(self) -> dict:
        """The JSON-able constructor arguments (``build_model('rnn_regressor', config)``)."""
        return {"num_hiddens": self.num_hiddens, "init": self.init}

    def forward(self, X: np.ndarray, state=None, lengths=None) -> tuple:
        check_no_state(state, lengths, "RNNRegressor")
        check_array(X, "X", ndim=2)
        self._shape = X.shape                                   # (B, tau)
        _, (h_T,) = self.rnn.forward(X.T[:, :, None])           # (B, tau) -> (tau, B, 1) time-major
        return self.output.forward(h_T[0]), None                # y = H_tau W_hq + b_q   (B, 1)

    def backward(self, dY: np.ndarray, dstate=None) -> np.ndarray:
        if self._shape is None:
            raise RuntimeError("RNNRegressor.backward called before forward")
        B, tau = self._shape
        check_array(dY, "dY", shape=(B, 1))
        dh_T = self.output.backward(dY)                         # dL/dH_tau = dY W_hq^T  (B, H)
        dHs = np.zeros((tau, B, self.num_hiddens), dY.dtype)    # no output at steps < tau
        dX, _ = self.rnn.backward(dHs, (dh_T[None],))           # BPTT over the whole window
        return dX[:, :, 0].T                                    # (tau, B, 1) -> (B, tau)


class AddingRegressor(Module):
    """The adding problem's model (``minirnn.data.tasks.adding_problem``,
    ``examples/gated_cells.py``): recurrent layer -> its last hidden state H_T -> linear ->
    one number.

        H_t = cell(X_t, H_{t-1}),  t = 1..T;   y = H_T W + b

    ``cell``: ``'rnn'``, ``'gru'`` or ``'lstm'`` (``recurrent_stack``), input 2 (value,
    marker); for the LSTM the forget gate's bias ``b_f`` (gate block f of the fused ``b``,
    order i, f, o, c) starts at ``forget_bias``.  params ``rnn.*``, ``output.W (H, 1)``,
    ``output.b (1,)``.

    The model protocol: ``forward(X (T, B, 2), state=None, lengths=None) -> (prediction
    (B, 1), None)`` (time-major: the adding problem's own layout); ``backward(dpred (B, 1))``.
    """

    def __init__(self, cell: str, hidden: int, rng, init: str, forget_bias: float = 0.0):
        super().__init__()
        self.add("rnn", recurrent_stack(cell, 2, hidden, rng=rng, init=init))
        if cell == "lstm":                                # b_f: F_t = sigma(... + b_f), gate
            self.rnn.params["b"][hidden:2 * hidden] = forget_bias   # block f of i, f, o, c
        self.add("output", Linear(hidden, 1, rng=rng, init=init))
        self.hs_shape = None                              # (T, B, H) of the last forward

    def forward(self, X: np.ndarray, state=None, lengths=None) -> tuple:
        Hs, _ = self.rnn.forward(X)                       # (T, B, H)
        self.hs_shape = Hs.shape
        return self.output.forward(Hs[-1]), None          # H_T W + b  (B, 1); no state

    def backward(self, dpred: np.ndarray, dstate=None) -> None:
        dHs = np.zeros(self.hs_shape, dtype=dpred.dtype)  # dL/dH_t = 0 for t < T  (T, B, H)
        dHs[-1] = self.output.backward(dpred)             # only H_T reaches the loss
        self.rnn.backward(dHs, input_grad=False)          # X needs no gradient

    def last_step_backward(self, X: np.ndarray, y: np.ndarray) -> float:
        """Forward, the MSE (the loss is at the last step already), backward."""
        loss = MSELoss()
        value = loss.forward(self.forward(X)[0], y)
        self.backward(loss.backward())
        return value
