"""Working with sequences: autoregressive models of a noisy sine (the book's first RNN section).

The data is the book's synthetic series, T = 1000 points,

    x_t = sin(0.01 t) + eps_t,   eps_t ~ N(0, 0.2^2),   t = 1..T,

and an autoregressive model predicts each value from the ``tau`` values before it:

    x_t  ~  f(x_{t-tau}, ..., x_{t-1}).

``window_series`` turns the series into ``(features, labels)`` rows, row i being
``[x_i .. x_{i+tau-1}] -> x_{i+tau}`` (0-based indices into ``x``); the first
``n_train = 600`` rows train, the rest validate.  Two models of ``f`` are trained on them
with MSE and Adam by ``train_regressor``: the book's ``MLP`` (tau -> 10, ReLU, -> 1) and,
for the book's exercise, ``RNNRegressor`` (an ``RNN`` read over the window, then a
``Linear`` on its last hidden state), both in ``minirnn.models``.

Three kinds of prediction show how errors accumulate:

* one-step-ahead: every prediction sees ``tau`` true observations;
* multi-step (``multistep_predictions``): from index ``start`` on, predictions are fed
  back as inputs, so after ``tau`` steps the model sees only its own output;
* k-step-ahead (``k_step_ahead``): from the ``tau`` observations up to ``t``, predict
  ``x_{t+k}`` by feeding back ``k - 1`` predictions, for every ``t`` at once.

Dimension letters: N examples (windows), B batch size, tau window length (the RNN's
number of time steps T), H hidden units (``num_hiddens``).  Indices into ``x`` are
0-based: the book's time ``t`` is index ``t - 1``, and its "multi-step from 604" starts
at index ``n_train + tau = 604`` (time 605), the first label no training row has seen.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from ._checks import check_array, check_int, check_number, check_positive_int, make_rng
from .layers import DEFAULT_DTYPE
from .losses import MSELoss

from .optim import make_optimizer

__all__ = ["sine_series", "window_series", "SeriesWindows", "ArrayLoader", "load_array",
           "evaluate_loss", "train_regressor", "one_step_predictions",
           "multistep_predictions", "k_step_features", "k_step_ahead", "prediction_mse"]


# --------------------------------------------------------------------------- checks
def _check_series(x) -> np.ndarray:
    """A 1-D floating-point series ``(T,)`` with at least 2 points."""
    check_array(x, "x", ndim=1)
    if x.size < 2:
        raise ValueError(f"x must hold at least 2 points (one feature, one label), got {x.size}")
    return x


def _check_tau(tau, T: int) -> int:
    """tau past values need at least one label after them: 1 <= tau <= T - 1."""
    return check_int(tau, "tau", 1, T - 1,
                     why=f"the window length; at most T - 1 for a series of T = {T} points")


# --------------------------------------------------------------------------- the data
def sine_series(T: int = 1000, noise_std: float = 0.2, seed: int | None = 0,
                rng: np.random.Generator | None = None, dtype=DEFAULT_DTYPE):
    """The book's synthetic series: ``x_t = sin(0.01 t) + N(0, noise_std^2)``, t = 1..T.

    Args:
        T: int, number of points (the book: 1000).
        noise_std: float >= 0, standard deviation of the noise (the book: 0.2; 0 gives the
            noise-free series of the book's exercise).
        seed, rng: the noise is drawn from ``rng``, else from ``default_rng(seed)``.
        dtype: of both returned arrays.

    Returns:
        ``(time (T,), x (T,))``, ``time = 1, 2, .., T``.
    """
    T = check_positive_int(T, "T")
    check_number(noise_std, "noise_std", minimum=0)
    rng = make_rng(seed, rng)
    time = np.arange(1, T + 1, dtype=np.float64)
    x = np.sin(0.01 * time) + rng.normal(0.0, noise_std, size=T)
    return time.astype(dtype), x.astype(dtype)


@dataclass(frozen=True)
class SeriesWindows:
    """``(features, labels)`` rows of one series, split into training and validation.

    Row i: ``features[i] = x[i : i + tau]`` (the tau values before the label) and
    ``labels[i] = x[i + tau]``; rows ``0 .. n_train - 1`` train, the rest validate.  The
    last training label is ``x[n_train + tau - 1]``: no validation label (``x[n_train +
    tau:]``) is ever a training feature or label.
    """
    features: np.ndarray   # (N, tau), N = T - tau
    labels: np.ndarray     # (N, 1)
    tau: int
    n_train: int

    @property
    def train(self) -> tuple[np.ndarray, np.ndarray]:
        """``(features (n_train, tau), labels (n_train, 1))``."""
        return self.features[:self.n_train], self.labels[:self.n_train]

    @property
    def val(self) -> tuple[np.ndarray, np.ndarray]:
        """``(features (N - n_train, tau), labels (N - n_train, 1))``."""
        return self.features[self.n_train:], self.labels[self.n_train:]

    @property
    def val_start(self) -> int:
        """Index into ``x`` of the first validation label: ``n_train + tau`` (604 in the book)."""
        return self.n_train + self.tau

    def train_iter(self, batch_size: int = 16, seed=0) -> "ArrayLoader":
        """The book's ``train_iter``: shuffled minibatches of the training rows."""
        return load_array(self.train, batch_size, is_train=True, seed=seed)


def window_series(x: np.ndarray, tau: int = 4, n_train: int = 600) -> SeriesWindows:
    """The book's features and labels: every window of ``tau`` values and the value after it.

    Args:
        x: ``(T,)`` float series.
        tau: int in ``[1, T - 1]``, the number of past values per example (the book: 4).
        n_train: int in ``[1, T - tau - 1]``, rows for training (the book: 600); the other
            ``T - tau - n_train`` rows validate.

    Returns:
        ``SeriesWindows`` with ``features (T - tau, tau)``, ``labels (T - tau, 1)``.
    """
    x = _check_series(x)
    T = x.size
    tau = check_int(tau, "tau", 1, T - 2,
                    why=f"the window length; at most T - 2 for a series of T = {T} points, "
                        f"so that a training and a validation row remain")
    n_train = check_int(n_train, "n_train", 1, T - tau - 1,
                        why=f"rows for training; the other rows of the T - tau = {T - tau} "
                            f"windows validate")
    # features[i, j] = x[i + j], j < tau: one strided view of x[:-1], copied once
    features = np.lib.stride_tricks.sliding_window_view(x[:-1], tau).copy()   # (T - tau, tau)
    labels = x[tau:].reshape(-1, 1).copy()                                    # labels[i] = x[i + tau]
    return SeriesWindows(features, labels, tau, n_train)


class ArrayLoader:
    """Re-iterable minibatches of ``(features, labels)`` rows: each ``iter()`` is one epoch.

    The book's ``d2l.load_array``.  With ``shuffle``, every epoch draws a fresh order from
    one generator seeded once; the last batch is smaller when ``batch_size`` does not
    divide N (600 rows, batch 16: 37 batches of 16 and one of 8, like the book's loader).
    """

    def __init__(self, features: np.ndarray, labels: np.ndarray, batch_size: int,
                 shuffle: bool = True, seed=0):
        check_array(features, "features", ndim=2)
        check_array(labels, "labels", ndim=2)
        if labels.shape[0] != features.shape[0]:
            raise ValueError(f"labels must have as many rows as features ({features.shape[0]}), "
                             f"got shape {labels.shape}")
        self.features, self.labels = features, labels
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.shuffle = bool(shuffle)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return math.ceil(self.features.shape[0] / self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        N = self.features.shape[0]
        order = self.rng.permutation(N) if self.shuffle else np.arange(N)
        for i in range(0, N, self.batch_size):
            rows = order[i:i + self.batch_size]
            yield self.features[rows], self.labels[rows]      # (B, tau), (B, 1)

    def __repr__(self) -> str:
        return (f"ArrayLoader({self.features.shape[0]} rows, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle})")


def load_array(data_arrays: tuple[np.ndarray, np.ndarray], batch_size: int,
               is_train: bool = True, seed=0) -> ArrayLoader:
    """The book's ``load_array((features, labels), batch_size, is_train)``: shuffled if
    ``is_train``.  ``seed``: int or ``np.random.Generator`` for the order."""
    features, labels = data_arrays
    return ArrayLoader(features, labels, batch_size, shuffle=is_train, seed=seed)


# --------------------------------------------------------------------------- training
def evaluate_loss(net, features: np.ndarray, labels: np.ndarray) -> float:
    """Mean squared error of ``net`` over all rows, one batched forward (the book's
    ``evaluate_loss``): ``mean_i (net(features_i) - labels_i)^2``."""
    return MSELoss().forward(net.forward(features)[0], labels)


def train_regressor(net, features: np.ndarray, labels: np.ndarray, num_epochs: int = 5,
                    lr: float = 0.01, batch_size: int = 16, seed=0,
                    progress: bool = False,
                    optimizer: str = "adam") -> list[float]:
    """The book's ``train``: minibatch Adam (0.17's MLP; ``optimizer='sgd'``: the 1.0
    book's linear regression) on the mean squared error.

    Per minibatch, ``minirnn.train.Trainer`` runs the one training step: ``L = mean_b
    (net(X_b) - y_b)^2``; ``net.backward(dL/dpred)`` fills the gradients (hand-derived,
    through ``Sequential`` or the RNN); ``optimizer.step()`` (no clipping).  The
    0.17 book sums the loss over the batch instead of averaging; Adam divides the gradient
    by its own running scale, so the two give the same steps (up to Adam's ``eps``).  The
    1.0 book averages, as here.

    Args:
        net: a model with ``forward (B, tau) -> (B, 1)``, ``backward``, ``params``, ``grads``.
        features: ``(N, tau)``, labels: ``(N, 1)``, the training rows.
        num_epochs, lr, batch_size: the book: 5, 0.01, 16.
        seed: int or Generator for the minibatch order.
        progress: the Trainer's bar over each epoch's batches (in a terminal only).
        optimizer: ``'adam'`` or ``'sgd'``.

    Returns:
        the training loss after each epoch, evaluated on all training rows (what the book
        prints as ``epoch e, loss: ...``).

    Raises:
        minirnn.train.TrainingDiverged (a FloatingPointError): the loss became NaN or
        infinite (names the epoch and step).
    """
    from .train import Trainer
    num_epochs = check_positive_int(num_epochs, "num_epochs")
    loader = load_array((features, labels), batch_size, is_train=True, seed=seed)
    trainer = Trainer(net, loader, loss=MSELoss(), optimizer=optimizer, lr=lr, clip=None,
                      evaluate=lambda net: {"train_mse": evaluate_loss(net, features, labels)},
                      progress=progress)
    return trainer.fit(num_epochs).column("train_mse")   # the book's "epoch e, loss: ..."


# --------------------------------------------------------------------------- predictions
def one_step_predictions(net, features: np.ndarray) -> np.ndarray:
    """One batched forward: ``features (N, tau)`` -> predictions ``(N,)`` (the book's
    ``net(features)``; not ``minirnn.generate.predict``, which continues text)."""
    return net.forward(features)[0][:, 0]


def multistep_predictions(net, x: np.ndarray, tau: int, start: int) -> np.ndarray:
    """Predict ``x[start:]`` feeding each prediction back in (the book's ``multistep_preds``).

        p_t = x_t                                  for t < start (observed)
        p_t = f(p_{t-tau}, ..., p_{t-1})           for t >= start

    After ``tau`` steps the model sees only its own outputs; the book's MLP decays to a
    constant.  The loop over t is the recurrence itself: each step needs the one before.

    Args:
        net: a trained model ``(B, tau) -> (B, 1)``; x: ``(T,)``; tau: its window length.
        start: int in ``[tau, T - 1]``, the first predicted index (the book: 604).

    Returns:
        ``(T,)``: ``x[:start]`` followed by the fed-back predictions.
    """
    x = _check_series(x)
    T = x.size
    tau = _check_tau(tau, T)
    start = check_int(start, "start", tau, T - 1,
                      why=f"the first predicted index needs tau = {tau} values before it")
    preds = x.copy()
    for t in range(start, T):
        preds[t] = one_step_predictions(net, preds[None, t - tau:t])[0]   # p_t = f(p_{t-tau} .. p_{t-1})
    return preds


def k_step_features(net, x: np.ndarray, tau: int, max_steps: int) -> np.ndarray:
    """The book's k-step matrix, one row per window of ``tau`` observations:

        M[i, j] = x_{i+j}                                    for j < tau (observed)
        M[i, j] = f(M[i, j-tau], ..., M[i, j-1])             for tau <= j < tau + max_steps

    so ``M[i, tau + k - 1]`` is the k-step-ahead prediction of ``x[i + tau + k - 1]``.
    Each column is one batched forward over all rows: the loop runs over k, never over t.
    Rows ``i = 0 .. T - tau - 1`` (every window that has a next value; the book keeps only
    the ``T - tau - max_steps + 1`` rows whose every column has a true value).

    Args:
        net: model ``(B, tau) -> (B, 1)``; x: ``(T,)``; tau: int in ``[1, T - 1]``.
        max_steps: int in ``[1, T - tau]``, the longest horizon k.

    Returns:
        ``M (T - tau, tau + max_steps)``.
    """
    x = _check_series(x)
    T = x.size
    tau = _check_tau(tau, T)
    max_steps = check_int(max_steps, "max_steps", 1, T - tau,
                          why=f"a horizon beyond T - tau = {T - tau} has no true value "
                              f"in a series of T = {T} points with tau = {tau}")
    N = T - tau
    M = np.empty((N, tau + max_steps), dtype=x.dtype)
    M[:, :tau] = np.lib.stride_tricks.sliding_window_view(x[:-1], tau)   # M[i, j] = x[i + j]
    for j in range(tau, tau + max_steps):                   # column j: (j - tau + 1)-step-ahead
        M[:, j] = one_step_predictions(net, M[:, j - tau:j])             # f(previous tau columns), all rows at once
    return M


def k_step_ahead(net, x: np.ndarray, tau: int,
                 steps: Iterable[int] = (1, 4, 16, 64)) -> dict[int, np.ndarray]:
    """k-step-ahead predictions for every k in ``steps``, aligned with ``x``.

    Returns ``{k: p_k}`` with ``p_k (T,)``: ``p_k[t]`` is the prediction of ``x[t]`` made
    from ``x[t-k-tau+1 .. t-k]`` (feeding back k - 1 predictions), NaN for the first
    ``tau + k - 1`` indices, which have no such window.  k = 1 is one-step-ahead.

    Raises:
        ValueError: a k outside ``[1, T - tau]`` (zero, negative, or longer than the series).
    """
    x = _check_series(x)
    T = x.size
    tau = _check_tau(tau, T)
    steps = list(steps)
    if not steps:
        raise ValueError("steps must name at least one horizon k, got none")
    for k in steps:
        check_int(k, "k", 1, T - tau, why=f"a horizon beyond T - tau = {T - tau} has "
                                          f"no true value in a series of T = {T} points "
                                          f"with tau = {tau}")
    M = k_step_features(net, x, tau, max(steps))
    preds = {}
    for k in steps:
        p = np.full(T, np.nan, dtype=x.dtype)
        p[tau + k - 1:] = M[:T - tau - k + 1, tau + k - 1]   # row i predicts x[i + tau + k - 1]
        preds[int(k)] = p
    return preds


def prediction_mse(preds: np.ndarray, x: np.ndarray, start: int = 0) -> float:
    """``mean_t (preds[t] - x[t])^2`` over ``t >= start``; every prediction there must exist.

    Raises:
        ValueError: ``preds`` and ``x`` differ in shape, ``start`` is outside ``[0, T - 1]``,
            or a prediction at ``t >= start`` is NaN (no window: choose a later ``start``).
    """
    x = _check_series(x)
    check_array(preds, "preds", shape=x.shape)
    start = check_int(start, "start", 0, x.size - 1, why=f"an index into x of T = {x.size}")
    diff = preds[start:].astype(np.float64) - x[start:]
    missing = np.flatnonzero(np.isnan(diff))
    if missing.size:
        raise ValueError(f"preds has no prediction (NaN) at index {start + missing[-1]} >= start "
                         f"= {start}: choose start >= {start + missing[-1] + 1}")
    return float(np.mean(diff ** 2))
