"""Tests of minirnn.sequence: the noisy sine, windowing, minibatches, the two regressors
(gradient checks in float64), training to the book's loss, and the three predictions."""
import numpy as np
import pytest

from minirnn.gradcheck import assert_gradients_ok, check_gradients, check_layer, randomize_params
from minirnn.losses import MSELoss
from minirnn.models import MLP, LinearRegression, RNNRegressor
from minirnn.sequence import (SeriesWindows, evaluate_loss, k_step_ahead,
                              k_step_features, load_array, multistep_predictions, one_step_predictions,
                              prediction_mse, sine_series, train_regressor, window_series)

T, TAU, N_TRAIN = 1000, 4, 600
STEPS = (1, 4, 16, 64)


def check_with_mse(net, X, y, seed=0, eps=1e-5):
    """Gradient-check ``L = MSE(net(X), y)`` in float64: every parameter and ``X``.

    eps 1e-5, not the checker's 1e-6: a scalar loss gets none of the entry-by-entry
    cancellation the checker uses for array outputs, so round-off in ``L(x +- eps)`` is about
    1e-16 |L| / eps.  The smallest entries of dL/dX (the first steps of a window, damped
    by tau tanh' factors) are about 2e-5, where that round-off alone is a 1e-5 relative
    error at eps 1e-6.  Measured on the RNN case tau=4, B=16, H=5 (max relative error of
    dL/dX): 4.3e-6 at eps 1e-6, 1.2e-7 at 1e-5, 8.7e-8 at 1e-4, 8.9e-6 at 1e-3 (truncation
    error, growing as eps^2): round-off, not a wrong derivative.  The model alone is also
    checked at eps 1e-6 under a random upstream gradient (array output).
    """
    net.astype(np.float64)
    X, y = X.astype(np.float64), y.astype(np.float64)
    loss = MSELoss()
    return check_gradients(lambda X: loss.forward(net.forward(X)[0], y),
                           lambda dL: net.backward(loss.backward(dL)),
                           net.params, net.grads, [X], input_names=["X"], seed=seed, eps=eps)


@pytest.fixture(scope="module")
def series():
    return sine_series(T, seed=0)


@pytest.fixture(scope="module")
def trained_mlp(series):
    """The book's MLP after the book's 5 epochs, and its per-epoch losses."""
    _, x = series
    w = window_series(x, TAU, N_TRAIN)
    net = MLP(TAU, 10, 1, seed=0)
    untrained = evaluate_loss(net, *w.train)
    history = train_regressor(net, *w.train, num_epochs=5, lr=0.01, batch_size=16, seed=0)
    return net, untrained, history


# ----------------------------------------------------------------- the series
def test_sine_series_is_the_books(series):
    time, x = series
    assert time.shape == x.shape == (T,) and x.dtype == np.float32
    np.testing.assert_array_equal(time, np.arange(1, T + 1))
    noise = x.astype(np.float64) - np.sin(0.01 * np.arange(1, T + 1))
    assert abs(noise.mean()) < 0.03                 # N(0, 0.2^2): SE of the mean 0.006
    assert 0.18 < noise.std() < 0.22                # SE of the std about 0.0045
    _, x_again = sine_series(T, seed=0)
    np.testing.assert_array_equal(x, x_again)       # seeded: the same series every time
    assert not np.array_equal(x, sine_series(T, seed=1)[1])


def test_sine_series_without_noise_is_the_sine():
    time, x = sine_series(50, noise_std=0.0, dtype=np.float64)
    np.testing.assert_allclose(x, np.sin(0.01 * time), rtol=0, atol=1e-15)


@pytest.mark.parametrize("kwargs, exc, words", [
    ({"T": 0}, ValueError, "T"), ({"T": 2.5}, TypeError, "T"),
    ({"noise_std": -0.1}, ValueError, "noise_std"), ({"noise_std": float("nan")}, ValueError, "noise_std"),
    ({"noise_std": "0.2"}, TypeError, r"noise_std must be a finite number >= 0, got '0.2' \(str\)")])
def test_sine_series_rejects_bad_arguments(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        sine_series(**kwargs)


# ----------------------------------------------------------------- windowing
def test_windows_are_the_books_features_and_labels(series):
    _, x = series
    w = window_series(x, TAU, N_TRAIN)
    assert isinstance(w, SeriesWindows)
    assert w.features.shape == (T - TAU, TAU) and w.labels.shape == (T - TAU, 1)
    books = np.zeros((T - TAU, TAU), dtype=x.dtype)      # the book's loop over the tau columns
    for i in range(TAU):
        books[:, i] = x[i:T - TAU + i]
    np.testing.assert_array_equal(w.features, books)
    np.testing.assert_array_equal(w.labels[:, 0], x[TAU:])
    (Xt, yt), (Xv, yv) = w.train, w.val
    assert Xt.shape == (600, 4) and yt.shape == (600, 1) and Xv.shape == (396, 4) and yv.shape == (396, 1)
    assert w.val_start == 604


@pytest.mark.parametrize("tau", [1, 4, 16, 64])
def test_windowing_has_no_leakage(series, tau):
    _, x = series
    assert np.unique(x).size == x.size                    # distinct values: equality means identity
    w = window_series(x, tau, N_TRAIN)
    # the label is never among its own features
    assert not np.any(w.features == w.labels)
    # each label is the value right after its features, in x
    pos = np.searchsorted(np.sort(x), w.labels[:, 0])
    idx = np.argsort(x)[pos]
    np.testing.assert_array_equal(idx, np.arange(tau, T))
    # no validation label is a training feature or training label
    (Xt, yt), (_, yv) = w.train, w.val
    seen = np.concatenate([Xt.ravel(), yt.ravel()])
    assert not np.isin(yv, seen).any()
    np.testing.assert_array_equal(yv[:, 0], x[w.val_start:])


@pytest.mark.parametrize("tau", [0, -1, T - 1, T, T + 5])
def test_bad_tau_is_a_clear_error(series, tau):
    _, x = series
    with pytest.raises(ValueError, match=rf"tau must be an int in \[1, {T - 2}\].*a training and "
                                         rf"a validation row remain\), got {tau}$"):
        window_series(x, tau)
    if tau == T - 1:                                        # a valid window for predictions
        return
    net = MLP(4, 10, 1)
    for call in (lambda: k_step_ahead(net, x, tau), lambda: multistep_predictions(net, x, tau, 604),
                 lambda: k_step_features(net, x, tau, 4)):
        with pytest.raises(ValueError, match=rf"tau must be .*got {tau}$"):
            call()


def test_bad_tau_type_and_bad_split(series):
    _, x = series
    with pytest.raises(TypeError, match=r"tau must be an int in \[1, 998\] .*got 4.0 \(float\)"):
        window_series(x, 4.0)
    with pytest.raises(ValueError, match=r"n_train must be an int in \[1, 995\].*got 996"):
        window_series(x, 4, n_train=996)
    with pytest.raises(ValueError, match=r"n_train .* got 0"):
        window_series(x, 4, n_train=0)
    with pytest.raises(ValueError, match="x must have 1 dimensions"):
        window_series(x.reshape(10, 100), 4)
    with pytest.raises(TypeError, match="x must be a numpy array"):
        window_series(list(x), 4)


# ----------------------------------------------------------------- minibatches
def test_load_array_visits_every_row_once_per_epoch_in_fresh_orders(series):
    _, x = series
    Xt, yt = window_series(x, TAU, N_TRAIN).train
    loader = load_array((Xt, yt), 16, is_train=True, seed=0)
    epochs = [list(loader) for _ in range(2)]
    assert len(loader) == 38
    for batches in epochs:
        assert [len(X) for X, _ in batches] == [16] * 37 + [8]
        X = np.concatenate([X for X, _ in batches])
        y = np.concatenate([y for _, y in batches])
        order = np.argsort(X[:, 0])
        np.testing.assert_array_equal(X[order], Xt[np.argsort(Xt[:, 0])])
        np.testing.assert_array_equal(y[order], yt[np.argsort(Xt[:, 0])])  # pairs stay paired
    first = [np.concatenate([X for X, _ in b]) for b in epochs]
    assert not np.array_equal(first[0], first[1])                       # reshuffled every epoch
    again = np.concatenate([X for X, _ in load_array((Xt, yt), 16, seed=0)])
    np.testing.assert_array_equal(again, first[0])                      # seeded
    in_order = np.concatenate([X for X, _ in load_array((Xt, yt), 16, is_train=False)])
    np.testing.assert_array_equal(in_order, Xt)


def test_load_array_rejects_mismatched_rows(series):
    _, x = series
    w = window_series(x, TAU)
    with pytest.raises(ValueError, match="labels must have as many rows as features"):
        load_array((w.features, w.labels[:-1]), 16)
    with pytest.raises(ValueError, match="batch_size"):
        load_array((w.features, w.labels), 0)


# ----------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("tau,B", [(4, 16), (1, 3), (7, 5)])
def test_mlp_gradients_with_mse(tau, B):
    rng = np.random.default_rng(tau * 10 + B)
    net = MLP(tau, 10, 1, seed=tau)
    errors = check_with_mse(net, rng.standard_normal((B, tau)), rng.standard_normal((B, 1)), seed=B)
    assert set(errors) == {"0.W", "0.b", "2.W", "2.b", "X"}
    assert_gradients_ok(errors)


@pytest.mark.parametrize("tau,B,H", [(4, 16, 5), (1, 2, 3), (9, 3, 4), (6, 1, 1)])
def test_rnn_regressor_gradients_with_mse(tau, B, H):
    rng = np.random.default_rng(tau * 100 + B * 10 + H)
    net = RNNRegressor(H, seed=tau).astype(np.float64)
    randomize_params(net, rng)                       # order-one weights: no vanishing gradients
    errors = check_with_mse(net, rng.standard_normal((B, tau)), rng.standard_normal((B, 1)), seed=H)
    assert set(errors) == {"rnn.W_xh", "rnn.W_hh", "rnn.b_h", "output.W", "output.b", "X"}
    assert_gradients_ok(errors)


def test_rnn_regressor_gradients_with_random_upstream():
    """The model alone under the project's checker: a random upstream dL/dy."""
    rng = np.random.default_rng(3)
    net = RNNRegressor(6, seed=1).astype(np.float64)
    randomize_params(net, rng)
    assert_gradients_ok(check_layer(net, rng.standard_normal((4, 8)), input_names=["X"], seed=5))


def test_truncated_backward_fails_the_check():
    """The check sees full BPTT: cutting the gradient between steps is caught."""
    class Truncated(RNNRegressor):
        def backward(self, dY, dstate=None):
            dh_T = self.output.backward(dY)
            B, tau = self._shape
            dHs = np.zeros((tau, B, self.num_hiddens))
            dX, _ = self.rnn.backward(dHs, (dh_T[None],), keep=np.zeros(tau))  # cut between steps
            return dX[:, :, 0].T

    rng = np.random.default_rng(0)
    net = Truncated(4, seed=0).astype(np.float64)
    randomize_params(net, rng)
    errors = check_with_mse(net, rng.standard_normal((3, 5)), rng.standard_normal((3, 1)))
    assert errors["rnn.W_hh"] > 1e-2 and errors["X"] > 1e-2


def test_rnn_regressor_computes_the_books_recurrence():
    rng = np.random.default_rng(1)
    net = RNNRegressor(3, seed=2).astype(np.float64)
    randomize_params(net, rng)
    X = rng.standard_normal((5, 6))
    p = net.params
    h = np.zeros((5, 3))
    for t in range(6):                               # H_t = tanh(x_t W_xh + H_{t-1} W_hh + b_h)
        h = np.tanh(X[:, t:t + 1] @ p["rnn.W_xh"] + h @ p["rnn.W_hh"] + p["rnn.b_h"])
    np.testing.assert_allclose(net.forward(X)[0], h @ p["output.W"] + p["output.b"], rtol=1e-12)


def test_rnn_regressor_contract():
    net = RNNRegressor(8, seed=0)
    assert net.params["rnn.W_hh"].dtype == np.float32
    assert net.params["rnn.W_hh"] is net.rnn.params["W_hh"]
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal((4, 1)).astype(np.float32)
    loss = MSELoss()
    loss.forward(net.forward(X)[0], y)
    net.backward(loss.backward())
    once = {k: g.copy() for k, g in net.grads.items()}
    net.backward(loss.backward())                    # backward adds: twice gives double
    for k, g in net.grads.items():
        np.testing.assert_allclose(g, 2 * once[k], rtol=1e-6)
    net.zero_grad()
    assert all(not g.any() for g in net.grads.values())
    with pytest.raises(RuntimeError, match="before forward"):
        RNNRegressor(2).backward(np.zeros((1, 1)))
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        net.forward(X[None])


# ----------------------------------------------------------------- training
def test_mlp_reaches_the_books_loss_in_five_epochs(trained_mlp):
    _, untrained, history = trained_mlp
    assert len(history) == 5
    assert untrained > 0.1                           # training has work to do
    assert history[-1] <= 0.06                       # the book prints 0.053 after 5 epochs
    assert history[-1] > 0.03                        # and cannot beat the noise, 0.2^2 = 0.04, by much


def test_training_is_reproducible_and_stops_on_nan(series):
    _, x = series
    Xt, yt = window_series(x, TAU, N_TRAIN).train
    runs = [train_regressor(MLP(TAU, 10, 1, seed=3), Xt, yt, num_epochs=2, seed=3) for _ in range(2)]
    assert runs[0] == runs[1]
    bad = Xt.copy()
    bad[:] = np.nan
    with pytest.raises(FloatingPointError, match="loss became nan at epoch 1, step 1 of 38"):
        train_regressor(MLP(TAU, 10, 1), bad, yt, num_epochs=1)


def test_the_1_0_books_linear_regression_with_sgd(series):
    """LinearRegression(4) (one Linear) from N(0, 0.01^2) with plain SGD: its update is w <- w - lr g exactly,
    and 5 epochs bring the loss from about 0.5 to near the noise floor."""
    _, x = series
    Xt, yt = window_series(x, TAU, N_TRAIN).train
    net = LinearRegression(TAU, seed=0)
    assert evaluate_loss(net, Xt, yt) > 0.3
    history = train_regressor(net, Xt, yt, num_epochs=5, seed=0, optimizer="sgd")
    assert 0.04 < history[-1] < 0.055 and history[-1] < history[0]
    one = LinearRegression(TAU, seed=0)
    w0 = one.params["linear.W"].copy()
    train_regressor(one, Xt[:16], yt[:16], num_epochs=1, batch_size=16, lr=0.5, seed=0,
                    optimizer="sgd")                           # one minibatch, one step
    grad = 2 * Xt[:16].T @ (Xt[:16] @ w0 - yt[:16]) / 16     # d/dW mean (X W + 0 - y)^2
    np.testing.assert_allclose(one.params["linear.W"], w0 - 0.5 * grad, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="optimizer must be one of 'sgd', 'adam', got 'rmsprop'"):
        train_regressor(LinearRegression(TAU), Xt, yt, optimizer="rmsprop")


# ----------------------------------------------------------------- predictions
def test_one_step_predictions_cover_the_series(series, trained_mlp):
    _, x = series
    net = trained_mlp[0]
    w = window_series(x, TAU, N_TRAIN)
    one = k_step_ahead(net, x, TAU, steps=(1,))[1]
    assert np.isnan(one[:TAU]).all() and not np.isnan(one[TAU:]).any()
    np.testing.assert_array_equal(one[TAU:], one_step_predictions(net, w.features))
    assert 0.035 < prediction_mse(one, x, w.val_start) < 0.06   # near the noise floor 0.04


def test_k_step_ahead_matches_feeding_back_one_window_at_a_time(series, trained_mlp):
    _, x = series
    net = trained_mlp[0]
    preds = k_step_ahead(net, x, TAU, STEPS)
    for t in (TAU + 64 - 1, 500, 777, T - 1):
        for k in STEPS:
            window = list(x[t - k - TAU + 1:t - k + 1])              # observed up to t - k
            for _ in range(k):                                       # k predictions, fed back
                window.append(one_step_predictions(net, np.array([window[-TAU:]], dtype=x.dtype))[0])
            assert preds[k][t] == pytest.approx(window[-1], rel=1e-5, abs=1e-6)
    for k in STEPS:
        assert np.isnan(preds[k][:TAU + k - 1]).all() and not np.isnan(preds[k][TAU + k - 1:]).any()


def test_k_step_error_grows_with_k(series, trained_mlp):
    _, x = series
    preds = k_step_ahead(trained_mlp[0], x, TAU, STEPS)
    errors = [prediction_mse(preds[k], x, N_TRAIN + TAU) for k in STEPS]
    assert all(a < b for a, b in zip(errors, errors[1:])), f"errors for k = {STEPS}: {errors}"
    assert errors[-1] > 3 * errors[0]


def test_multistep_feeds_predictions_back_and_decays(series, trained_mlp):
    _, x = series
    net = trained_mlp[0]
    start = N_TRAIN + TAU
    p = multistep_predictions(net, x, TAU, start)
    np.testing.assert_array_equal(p[:start], x[:start])
    assert p[start] == pytest.approx(one_step_predictions(net, x[None, start - TAU:start])[0])
    assert p[start + 1] == pytest.approx(one_step_predictions(net, np.r_[x[start - TAU + 1:start], p[start]][None])[0])
    # the book: the fed-back predictions decay to a constant, while the data keeps moving
    assert np.ptp(p[-100:]) < 0.05 < np.ptp(x[-100:])
    assert prediction_mse(p, x, start) > 5 * prediction_mse(k_step_ahead(net, x, TAU, (1,))[1], x, start)


@pytest.mark.parametrize("k", [0, -3, T - TAU + 1, 10 * T])
def test_bad_k_is_a_clear_error_before_any_work(series, k):
    _, x = series

    class Spy(MLP):
        calls = 0

        def forward(self, X, state=None, lengths=None):
            Spy.calls += 1
            return super().forward(X)

    with pytest.raises(ValueError, match=rf"k must be an int in \[1, {T - TAU}\].*got {k}$"):
        k_step_ahead(Spy(TAU, 10, 1), x, TAU, steps=(1, 4, k))
    assert Spy.calls == 0                            # validated before any prediction
    with pytest.raises(ValueError, match=rf"max_steps must be an int in \[1, {T - TAU}\]"):
        k_step_features(Spy(TAU, 10, 1), x, TAU, k)
    with pytest.raises(TypeError, match="k must be an int"):
        k_step_ahead(Spy(TAU, 10, 1), x, TAU, steps=(2.0,))


def test_bad_start_and_missing_predictions(series, trained_mlp):
    _, x = series
    net = trained_mlp[0]
    with pytest.raises(ValueError, match=rf"start must be an int in \[{TAU}, {T - 1}\].*got 2"):
        multistep_predictions(net, x, TAU, 2)
    preds = k_step_ahead(net, x, TAU, (16,))[16]
    with pytest.raises(ValueError, match="no prediction .* at index 18 .* choose start >= 19"):
        prediction_mse(preds, x, 0)
    assert prediction_mse(preds, x, 19) > 0


def test_series_and_windowing_live_in_sequence_only():
    """The series helpers are minirnn.sequence's: minirnn.data (text data, imported without
    any model) does not re-export them."""
    import minirnn.data as data
    import minirnn.sequence as sequence

    for name in ("sine_series", "window_series", "load_array", "SeriesWindows"):
        assert name in sequence.__all__
        assert not hasattr(data, name) and name not in data.__all__
