"""Backpropagation through time: the three strategies, gradient-flow instruments, and the
book's linear-RNN analysis (minirnn.bptt, minirnn.linear_rnn)."""
import itertools

import numpy as np
import pytest
from hypothesis import given, strategies as st

from minirnn.bptt import (BPTT_STRATEGIES, FullBPTTMemoryError, check_full_bptt_memory, fit_rate,
                          full_bptt_cache_bytes, gradient_flow, jacobian_norms, keep_factors,
                          measure_peak_bytes, truncation_keep, validate_strategy)
from minirnn.gradcheck import assert_gradients_ok, check_gradients, check_layer, check_model, randomize_params
from minirnn.layers import RNN, RNNCell
from minirnn.linear_rnn import (LinearRNN, book_closed_form_dh, power_alignment, random_symmetric,
                                scale_to_spectral_radius, spectral_radius, spectral_radius_demo)
from minirnn.models import RNNLM


def tiny_lm(V=5, H=4, embed_dim=3, seed=0):
    """A float64 language model with parameters of order one (see randomize_params)."""
    model = RNNLM(V, H, embed_dim=embed_dim, seed=seed).astype(np.float64)
    randomize_params(model, np.random.default_rng([seed, 1]))
    return model


def grads_after(model, X, upstream, state=None, keep=None):
    """Fresh gradients of sum(logits * upstream) with the given keep factors, as a dict."""
    model.zero_grad()
    model.forward(X, state)
    model.backward(upstream, keep=keep)
    return {k: g.copy() for k, g in model.grads.items()}


def flat(grads):
    return np.concatenate([g.ravel() for g in grads.values()])


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize("bptt", ["Truncated", "tbptt", "", None, "random"])
def test_unknown_strategy_is_refused_by_name(bptt):
    with pytest.raises(ValueError, match=r"bptt must be one of 'truncated', 'full', 'randomized'"):
        validate_strategy(bptt, 0.5)


@pytest.mark.parametrize("p", [0, 0.0, -0.1, 1.0000001, 2, float("nan"), None, "0.5", True])
def test_p_outside_the_unit_interval_is_refused(p):
    with pytest.raises(ValueError, match=r"p .* must be in \(0, 1\], got " + repr(p).replace(".", r"\.")):
        validate_strategy("randomized", p)
    with pytest.raises(ValueError, match=r"must be in \(0, 1\]"):
        keep_factors("randomized", 5, p, np.random.default_rng(0))


@pytest.mark.parametrize("p", [1e-9, 0.3, 1, 1.0, np.float32(0.5)])
def test_valid_p_is_accepted(p):
    validate_strategy("randomized", p)


def test_keep_factors_bad_num_steps_and_missing_rng():
    with pytest.raises(ValueError, match="num_steps must be a positive int, got 0"):
        keep_factors("randomized", 0, 0.5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="rng .* required .* got NoneType"):
        keep_factors("randomized", 4, 0.5)


def test_keep_factors_values_and_seeding():
    assert keep_factors("truncated", 7) is None and keep_factors("full", 7) is None
    k = keep_factors("randomized", 1000, 0.25, np.random.default_rng(3))
    assert k.shape == (1000,)
    assert set(np.unique(k)) == {0.0, 4.0}                    # cut, or kept and weighted by 1/p
    np.testing.assert_array_equal(k, keep_factors("randomized", 1000, 0.25, np.random.default_rng(3)))
    np.testing.assert_array_equal(keep_factors("randomized", 9, 1.0, np.random.default_rng(0)), np.ones(9))


def test_truncation_keep_cuts_at_window_edges():
    np.testing.assert_array_equal(truncation_keep(7, 3), [1, 1, 1, 0, 1, 1, 0])
    np.testing.assert_array_equal(truncation_keep(4, 5), np.ones(4))
    with pytest.raises(TypeError, match="num_steps must be a positive int"):
        truncation_keep(4, 2.0)


def test_full_bptt_memory_is_refused_with_the_bytes_needed():
    # The Time Machine's 173,428 characters as one sequence, H = 512, one-hot inputs (D = V)
    T, H, V = 173427, 512, 28
    nbytes = full_bptt_cache_bytes(H, V, 1, T, V)
    assert nbytes == T * (4 * (4 * H + 3 * V + 2 * V) + 8 * V + 96) + 4 * 2 * (H * H + 2 * V * H)
    with pytest.raises(FullBPTTMemoryError, match=f"needs about {nbytes:,} bytes") as info:
        check_full_bptt_memory(nbytes, limit_bytes=1024 ** 3)
    assert isinstance(info.value, MemoryError) and isinstance(info.value, ValueError)
    check_full_bptt_memory(nbytes, limit_bytes=nbytes)         # exactly at the limit: allowed
    assert full_bptt_cache_bytes(H, V, 1, T, V, itemsize=8) > 1.9 * nbytes   # float64: about 2x


@pytest.mark.parametrize("args,message", [
    ((0, 28, 1, 10, 28), "num_hiddens must be a positive int, got 0"),
    ((8, 28, 1, -3, 28), "num_steps must be a positive int, got -3"),
    ((8, 28, 1.5, 10, 28), "batch_size must be a positive int, got 1.5"),
])
def test_cache_estimate_rejects_bad_sizes(args, message):
    with pytest.raises((ValueError, TypeError), match=message):
        full_bptt_cache_bytes(*args)


@pytest.mark.parametrize("nbytes", [-1, 1.5, "big", None])
def test_check_memory_rejects_bad_nbytes(nbytes):
    with pytest.raises((TypeError, ValueError), match="nbytes must be a non-negative int"):
        check_full_bptt_memory(nbytes)


@pytest.mark.parametrize("V,H,B,T,E", [(28, 32, 4, 300, None), (28, 256, 8, 100, None),
                                       (40, 16, 3, 200, 8), (28, 64, 4, 200, 200)])
def test_cache_estimate_bounds_the_measured_peak(V, H, B, T, E):
    """The estimate is an upper bound of the peak tracemalloc sees, within a factor 2."""
    rng = np.random.default_rng(0)
    model = RNNLM(V, H, embed_dim=E, seed=0)
    X, Y = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    peak = measure_peak_bytes(model, X, Y)
    estimate = full_bptt_cache_bytes(H, V if E is None else E, B, T, V)
    assert peak <= estimate <= 2 * peak, (peak, estimate)


# ----------------------------------------------------------------- randomized truncation
def test_randomized_with_p_one_is_exactly_full():
    model, rng = tiny_lm(), np.random.default_rng(2)
    X, G = rng.integers(0, 5, (3, 9)), rng.standard_normal((3, 9, 5))
    full = grads_after(model, X, G)
    rand = grads_after(model, X, G, keep=keep_factors("randomized", 9, 1.0, rng))
    for k in full:
        np.testing.assert_array_equal(rand[k], full[k], err_msg=k)


@pytest.mark.parametrize("p", [0.3, 0.7])
def test_randomized_expectation_is_exactly_the_full_gradient(p):
    """Unbiasedness, exactly: average the gradient over all 2^T keep patterns, each with its
    probability p^kept (1-p)^cut. (The statistical test below checks the sampler.)"""
    T = 6
    model, rng = tiny_lm(seed=4), np.random.default_rng(5)
    X, G = rng.integers(0, 5, (2, T)), rng.standard_normal((2, T, 5))
    full = flat(grads_after(model, X, G))
    expected = np.zeros_like(full)
    for pattern in itertools.product([0, 1], repeat=T):
        xi = np.array(pattern)
        prob = np.prod(np.where(xi == 1, p, 1 - p))
        expected += prob * flat(grads_after(model, X, G, keep=xi / p))
    np.testing.assert_allclose(expected, full, rtol=1e-10, atol=1e-13)
    cut = flat(grads_after(model, X, G, keep=np.zeros(T)))
    assert np.abs(cut - full).max() > 1e-2                     # the cross-step terms matter here


def sample_gradients(model, X, G, p, N, rng, reweight=True):
    """N gradients, each with fresh keep factors from keep_factors (or xi without 1/p)."""
    model.zero_grad()
    model.forward(X)
    out = np.empty((N, flat(model.grads).size))
    for n in range(N):
        keep = keep_factors("randomized", X.shape[1], p, rng)
        if not reweight:
            keep = keep * p                                      # xi_t alone: biased
        model.zero_grad()
        model.backward(G, keep=keep)
        out[n] = flat(model.grads)
    return out


@pytest.mark.parametrize("p", [0.5, 0.8])
def test_mean_of_randomized_gradients_converges_to_the_full_gradient(p):
    """Statistical test of unbiasedness with an explicit bound.

    N = 4000 seeded estimates g_n on one tiny model and minibatch. For every gradient entry j
    that the keep factors affect, z_j = (mean_j - G_j) / (s_j / sqrt(N)) with s_j the sample's
    own standard deviation; by the central limit theorem z_j is close to N(0, 1), so
    P(max_j |z_j| >= 5) <= M * 2 Phi(-5) = M * 5.7e-7, about 3e-5 for the M = 47 entries:
    the test fails by chance with probability below 1e-4 (and the seed is fixed).
    Entries no keep factor touches (the output layer's) must match exactly.
    The same bound rejects the biased estimator that cuts without reweighting by 1/p.
    """
    T, N, k = 5, 4000, 5.0
    model, rng = tiny_lm(seed=7), np.random.default_rng(8)
    X, G = rng.integers(0, 5, (3, T)), rng.standard_normal((3, T, 5))
    full = flat(grads_after(model, X, G))
    samples = sample_gradients(model, X, G, p, N, rng)
    mean, sd = samples.mean(axis=0), samples.std(axis=0, ddof=1)
    varies = np.ptp(samples, axis=0) > 0
    assert varies.sum() == 47                                  # embedding.W (15) + rnn (12 + 16 + 4)
    np.testing.assert_array_equal(samples[:, ~varies], np.broadcast_to(full[~varies], (N, 5 * 4 + 5)))
    z = (mean - full)[varies] / (sd[varies] / np.sqrt(N))
    assert np.abs(z).max() < k, f"mean off by {np.abs(z).max():.2f} standard errors"

    biased = sample_gradients(model, X, G, p, N, rng, reweight=False)
    zb = (biased.mean(0) - full)[varies] / (biased.std(0, ddof=1)[varies] / np.sqrt(N))
    assert np.abs(zb).max() > 4 * k                             # the test has power


# ----------------------------------------------------------------- regular truncation
def windowed_grads(model, X, G, state0, num_steps):
    """The trainer's regular truncation: windows of num_steps, the state carried from one
    window to the next, dL/dstate0 of every window dropped."""
    model.zero_grad()
    state = state0
    for s in range(0, X.shape[1], num_steps):
        _, state = model.forward(X[:, s:s + num_steps], state)
        model.backward(G[:, s:s + num_steps])                  # adds; dL/dstate0 dropped
    return {k: g.copy() for k, g in model.grads.items()}


def cell_truncated_grads(model, X, G, state0, num_steps):
    """An explicit computation with RNNCell, step by step: dL/dh_t = dO_t W_hq^T plus the
    term from step t+1, except where step t+1 starts a window (the cross-window term)."""
    p = model.params
    cell = RNNCell(*p["rnn.W_xh"].shape).astype(np.float64)
    for k in ("W_xh", "W_hh", "b_h"):
        cell.params[k][...] = p[f"rnn.{k}"]
    E = p["embedding.W"]
    T = X.shape[1]
    state, caches = (state0[0][0],), []                         # (1, B, H) -> the cell's (B, H)
    for t in range(T):
        state, c = cell.step_forward(E[X[:, t]], state)
        caches.append(c)
    dE, dW_hq = np.zeros_like(E), np.zeros_like(p["output.W"])
    dh_next = np.zeros_like(state0[0][0])
    for t in reversed(range(T)):
        dW_hq += caches[t].h.T @ G[:, t]                        # dL/dW_hq += H_t^T dO_t
        dx, (dh_prev,) = cell.step_backward((G[:, t] @ p["output.W"].T + dh_next,), caches[t])
        np.add.at(dE, X[:, t], dx)
        dh_next = np.zeros_like(dh_prev) if t % num_steps == 0 else dh_prev  # cut at the edge
    return {"embedding.W": dE, "rnn.W_xh": cell.grads["W_xh"], "rnn.W_hh": cell.grads["W_hh"],
            "rnn.b_h": cell.grads["b_h"], "output.W": dW_hq, "output.b": G.sum(axis=(0, 1))}


@pytest.mark.parametrize("T,num_steps", [(12, 4), (10, 3), (7, 7), (5, 1)])
def test_regular_truncation_three_routes_agree(T, num_steps):
    model, rng = tiny_lm(seed=T), np.random.default_rng(T)
    X, G = rng.integers(0, 5, (2, T)), rng.standard_normal((2, T, 5))
    state0 = (rng.standard_normal((1, 2, 4)),)
    windows = windowed_grads(model, X, G, state0, num_steps)
    keep = grads_after(model, X, G, state0, keep=truncation_keep(T, num_steps))
    cell = cell_truncated_grads(model, X, G, state0, num_steps)
    full = grads_after(model, X, G, state0)
    for k in full:
        np.testing.assert_allclose(windows[k], keep[k], rtol=1e-10, atol=1e-12, err_msg=k)
        np.testing.assert_allclose(cell[k], keep[k], rtol=1e-10, atol=1e-12, err_msg=k)
    differs = max(np.abs(full[k] - keep[k]).max() for k in full)
    assert (differs > 1e-3) == (num_steps < T)                 # cross-window terms were dropped


@given(T=st.integers(2, 9), num_steps=st.integers(1, 4), B=st.integers(1, 3), H=st.integers(1, 4),
       seed=st.integers(0, 2**16))
def test_regular_truncation_gradient_check(T, num_steps, B, H, seed):
    """Truncation is the exact gradient of the detached computation, in which every window
    after the first starts from a constant state (the value the forward pass gave it)."""
    V = 4
    model = tiny_lm(V, H, embed_dim=2, seed=seed)
    rng = np.random.default_rng(seed)
    X, state0 = rng.integers(0, V, (B, T)), (rng.standard_normal((1, B, H)),)
    starts = list(range(0, T, num_steps))
    model.forward(X, state0)
    frozen = {s: (model.rnn.cache.H[s][None].copy(),) for s in starts[1:]}  # H at each edge: constants

    def detached_forward(state0):
        logits, state = [], state0
        for s in starts:
            out, state = model.forward(X[:, s:s + num_steps], state0 if s == 0 else frozen[s])
            logits.append(out)
        return np.concatenate(logits, axis=1), state

    def truncated_backward(dlogits, dstate):
        model.forward(X, state0)
        return model.backward(dlogits, dstate, keep=truncation_keep(T, num_steps))

    errors = check_gradients(detached_forward, truncated_backward, model.params, model.grads,
                             [state0], input_names=["state0"], seed=seed)
    assert set(errors) == set(model.params) | {"state0[0]"}
    assert_gradients_ok(errors)


@pytest.mark.parametrize("T,B,H", [(16, 2, 3), (25, 1, 2)])
def test_full_bptt_gradient_check_over_a_long_sequence(T, B, H):
    model, rng = tiny_lm(6, H, embed_dim=None, seed=T), np.random.default_rng(T)
    assert_gradients_ok(check_model(model, rng.integers(0, 6, (B, T)), (rng.standard_normal((1, B, H)),)))


# ----------------------------------------------------------------- gradient-flow instruments
def test_recording_is_off_by_default_and_exact_when_on():
    rng = np.random.default_rng(0)
    rnn = RNN(3, 4).astype(np.float64)
    randomize_params(rnn, rng)
    X, dHs = rng.standard_normal((6, 2, 3)), rng.standard_normal((6, 2, 4))
    rnn.forward(X)
    rnn.backward(dHs)
    assert rnn.dh_norms is None                                 # off: nothing recorded

    lin = LinearRNN(3, 4, 2, rng=rng, dtype=np.float64)         # same norms from the closed form
    dO = rng.standard_normal((6, 2, 2))
    lin.record_grad_norms = True
    lin.forward(X)
    lin.backward(dO)
    dh = book_closed_form_dh(lin.params["W_hh"], lin.params["W_hq"], dO)
    np.testing.assert_allclose(lin.dh_norms, np.linalg.norm(dh.reshape(6, -1), axis=1), rtol=1e-12)

    rnn.record_grad_norms = True                                # RNN: against the cell, step by step
    rnn.backward(dHs)
    cell = RNNCell(3, 4).astype(np.float64)
    for k in cell.params:
        cell.params[k][...] = rnn.params[k]
    state, caches = (np.zeros((2, 4)),), []
    for t in range(6):
        state, c = cell.step_forward(X[t], state)
        caches.append(c)
    dh_next, expected = np.zeros((2, 4)), np.empty(6)
    for t in reversed(range(6)):
        expected[t] = np.linalg.norm(dHs[t] + dh_next)
        _, (dh_next,) = cell.step_backward((dHs[t] + dh_next,), caches[t])
    np.testing.assert_allclose(rnn.dh_norms, expected, rtol=1e-12)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_jacobian_norms_match_a_numerical_jacobian(nonlinearity):
    rng = np.random.default_rng(1)
    T, B, D, H = 4, 3, 2, 5
    rnn = RNN(D, H, nonlinearity=nonlinearity).astype(np.float64)
    randomize_params(rnn, rng)
    X, h0 = rng.standard_normal((T, B, D)), rng.standard_normal((B, H))
    Hs, _ = rnn.forward(X, (h0[None],))
    Hs = np.concatenate([h0[None], Hs])
    spectral, fro = jacobian_norms(rnn, 2), jacobian_norms(rnn, "fro")
    cell = RNNCell(D, H, nonlinearity=nonlinearity).astype(np.float64)
    for k in cell.params:
        cell.params[k][...] = rnn.params[k]
    eps = 1e-6
    for t in range(T):
        for b in range(B):
            J = np.empty((H, H))                               # J[i, j] = dh_t[i] / dh_{t-1}[j]
            for j in range(H):
                e = np.zeros((1, H))
                e[0, j] = eps
                (hp,), _ = cell.step_forward(X[t, b:b + 1], (Hs[t, b:b + 1] + e,))
                (hm,), _ = cell.step_forward(X[t, b:b + 1], (Hs[t, b:b + 1] - e,))
                J[:, j] = (hp - hm)[0] / (2 * eps)
            assert spectral[t, b] == pytest.approx(np.linalg.norm(J, 2), rel=1e-6)
            assert fro[t, b] == pytest.approx(np.linalg.norm(J), rel=1e-6)
    with pytest.raises(ValueError, match="ord must be 2 or 'fro', got 1"):
        jacobian_norms(rnn, 1)
    with pytest.raises(RuntimeError, match="forward pass"):
        jacobian_norms(RNN(2, 2))


def test_gradient_flow_obeys_the_jacobian_bound_and_leaves_the_model_alone():
    model, rng = tiny_lm(6, 5, embed_dim=None, seed=3), np.random.default_rng(3)
    X, Y = rng.integers(0, 6, (4, 12)), rng.integers(0, 6, (4, 12))
    model.grads["rnn.W_hh"][...] = 7.0
    flow = gradient_flow(model, X, Y)
    assert not model.rnn.record_grad_norms
    assert np.all(model.grads["rnn.W_hh"] == 7.0) and not model.grads["output.b"].any()
    np.testing.assert_array_equal(flow.distance, np.arange(11, -1, -1))
    # loss at the last step only: ||dL/dH_{t-1}|| <= max_b ||dH_t/dH_{t-1}||_2 ||dL/dH_t||
    J = jacobian_norms(model.rnn)                              # the same forward was cached
    assert np.all(flow.dh_norms[:-1] <= J[1:].max(axis=1) * flow.dh_norms[1:] * (1 + 1e-12))
    np.testing.assert_allclose(flow.jacobian_norms, J.mean(axis=1))
    every_step = gradient_flow(model, X, Y, last_step_only=False)
    assert every_step.loss != flow.loss and every_step.dh_norms[0] > 0


def test_fit_rate_recovers_a_geometric_rate():
    d = np.arange(30)
    assert fit_rate(d, 3.0 * 0.8 ** d) == pytest.approx(0.8, rel=1e-12)
    norms = np.where(d < 10, 1.0, 1.2 ** d)                    # a transient, then growth
    assert fit_rate(d, norms, min_distance=10) == pytest.approx(1.2, rel=1e-12)
    assert fit_rate(d, norms, max_distance=9) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="at least 2 points"):
        fit_rate(d, norms, min_distance=29)
    with pytest.raises(ValueError, match="positive and finite"):
        fit_rate(d, np.zeros(30))
    with pytest.raises(ValueError, match="same length"):
        fit_rate(d, norms[:-1])


# ----------------------------------------------------------------- the linear RNN
@given(T=st.integers(1, 6), B=st.integers(1, 3), D=st.integers(1, 3), H=st.integers(1, 4),
       Q=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_linear_rnn_gradients(T, B, D, H, Q, seed):
    rng = np.random.default_rng(seed)
    rnn = LinearRNN(D, H, Q, rng=rng)
    errors = check_layer(rnn, rng.standard_normal((T, B, D)), rng.standard_normal((B, H)),
                         input_names=["X", "h0"], seed=seed)
    assert set(errors) == {"W_xh", "W_hh", "W_hq", "X", "h0"}
    assert_gradients_ok(errors)


@given(T=st.integers(1, 8), B=st.integers(1, 3), H=st.integers(1, 4), Q=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_linear_rnn_matches_the_books_closed_form(T, B, H, Q, seed):
    """dL/dh_t = sum_{i=t}^{T} (W_hh^T)^(T-i) W_qh^T dL/do_(T+t-i) and
    dL/dW_hh = sum_t dL/dh_t h_{t-1}^T, both in the book's column notation."""
    rng = np.random.default_rng(seed)
    rnn = LinearRNN(2, H, Q, rng=rng, dtype=np.float64)
    X, dO = rng.standard_normal((T, B, 2)), rng.standard_normal((T, B, Q))
    rnn.forward(X)
    rnn.backward(dO)
    dh = book_closed_form_dh(rnn.params["W_hh"], rnn.params["W_hq"], dO)
    np.testing.assert_allclose(rnn.dH, dh, rtol=1e-10, atol=1e-12)
    h_prev = rnn._H[:-1]                                        # h_{t-1}, t = 1..T   (T, B, H)
    dW_hh_book = np.einsum("tbi,tbj->ij", dh, h_prev)           # sum_t dL/dh_t h_{t-1}^T
    np.testing.assert_allclose(rnn.grads["W_hh"], dW_hh_book.T, rtol=1e-10, atol=1e-12)


def test_linear_rnn_bad_input():
    rnn = LinearRNN(2, 3, 1)
    with pytest.raises(ValueError, match=r"X must have last dimension 2, got shape \(4, 1, 3\)"):
        rnn.forward(np.zeros((4, 1, 3)))
    with pytest.raises(ValueError, match=r"h0 must have shape \(1, 3\)"):
        rnn.forward(np.zeros((4, 1, 2)), np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match="before forward"):
        rnn.backward(np.zeros((4, 1, 1)))


def test_decay_rate_matches_the_spectral_radius():
    """For a symmetric W_hh and a loss at step T, ||dL/dh_(T-k)||^2 = sum_i a_i lambda_i^(2k)
    (a_i >= 0: the squared weights of dO_T W_hq^T on W_hh's eigenvectors). So
    log||dL/dh_(T-k)|| = k log rho + c + e_k with 0 <= e_k <= E q^(2k), q = |lambda_2|/rho,
    E = (sum_{i>1} a_i) / (2 a_1). A least-squares slope over k0..K moves by
    sum (k - kbar) e_k / sum (k - kbar)^2, at most E q^(2 k0) sum|k - kbar| / sum (k - kbar)^2,
    and downwards (e_k falls with k): that bound, computed below, is the tolerance."""
    num_hiddens, num_steps, seed = 8, 120, 0
    demo = spectral_radius_demo((0.9, 1.0, 1.1), num_hiddens, num_steps, seed=seed)
    rng = np.random.default_rng(seed)                           # the demo's own draws, in order
    rnn = LinearRNN(1, num_hiddens, 1, rng=rng, dtype=np.float64)
    rng.standard_normal((num_steps, 4, 1))
    dO_T = rng.standard_normal((4, 1))
    W = random_symmetric(num_hiddens, rng)
    lam, U = np.linalg.eigh(W)
    order = np.argsort(-np.abs(lam))
    a = ((dO_T @ rnn.params["W_hq"].T) @ U[:, order]) ** 2      # (B, H) weights per eigenvector
    a = a.sum(axis=0)
    q = abs(lam[order[1]] / lam[order[0]])
    k = np.arange(num_steps // 2, num_steps, dtype=float)
    E = a[1:].sum() / (2 * a[0]) * q ** (2 * k[0])
    bound = E * np.abs(k - k.mean()).sum() / ((k - k.mean()) ** 2).sum()
    assert bound < 0.01                                         # the claim is "within 1%"
    for radius, (flow, rate) in demo.items():
        assert -bound - 1e-12 <= np.log(rate / radius) <= 1e-12, (radius, rate, bound)
    assert demo[0.9][0].dh_norms[0] < 1e-3 * demo[0.9][0].dh_norms[-1]   # vanished
    assert demo[1.1][0].dh_norms[0] > 1e3 * demo[1.1][0].dh_norms[-1]    # exploded


def test_spectral_scaling():
    W = random_symmetric(6, np.random.default_rng(0))
    assert spectral_radius(scale_to_spectral_radius(W, 0.7)) == pytest.approx(0.7, rel=1e-12)
    with pytest.raises(ValueError, match="radius must be a positive number, got -1"):
        scale_to_spectral_radius(W, -1)
    with pytest.raises(ValueError, match="nilpotent"):
        scale_to_spectral_radius(np.triu(np.ones((3, 3)), 1), 1.0)
    with pytest.raises(ValueError, match=r"W must be square, got shape \(2, 3\)"):
        spectral_radius(np.zeros((2, 3)))


def test_powers_of_a_symmetric_matrix_align_with_the_top_eigenvector():
    """The book's exercise: tan(angle_k) <= (|lambda_2|/|lambda_1|)^k tan(angle_0) for every k,
    and the ratio of successive tangents tends to |lambda_2|/|lambda_1| (here 2/3; the next
    eigenvalue ratio is 1/2 of that, so by k = 40 the ratio is q to within (1/2)^80)."""
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    lam = np.array([-3.0, 2.0, 1.0, -0.5, 0.3, 0.1])           # top |lambda| is negative: |cos|
    W = (Q * lam) @ Q.T
    v = rng.standard_normal(6)
    cos, tan = power_alignment(W, v, 40)
    np.testing.assert_allclose(cos[:10], 1 / np.sqrt(1 + tan[:10] ** 2), rtol=1e-12)
    q = 2 / 3
    assert np.all(tan <= q ** np.arange(41) * tan[0] * (1 + 1e-9) + 1e-15)
    assert cos[-1] > 1 - 1e-12 and cos[0] < 0.9
    assert tan[30] / tan[29] == pytest.approx(q, rel=1e-9)
    with pytest.raises(ValueError, match="symmetric"):
        power_alignment(np.triu(np.ones((3, 3))), np.ones(3), 5)


def test_strategy_names():
    assert BPTT_STRATEGIES == ("truncated", "full", "randomized")


def test_plot_gradient_flow_writes_a_png(tmp_path):
    from minirnn.plotting import plot_gradient_flow
    demo = spectral_radius_demo((0.9, 1.1), num_hiddens=4, num_steps=20)
    path = plot_gradient_flow({f"radius {r}": flow for r, (flow, _) in demo.items()},
                              tmp_path / "flow.png", title="test")
    assert path == tmp_path / "flow.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_gradient_flow({}, tmp_path / "empty.png")
    with pytest.raises(TypeError, match=r"flows\['x'\] must be a GradientFlow, got ndarray"):
        plot_gradient_flow({"x": np.ones(3)}, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


# ----------------------------------------------------------------- every cell
def test_state_jacobians_of_the_rnn_equal_the_written_out_ones():
    """The generic route (the cell's own step_backward with unit upstream vectors) gives
    the RNN's diag(f'(Z_t)) W_hh^T."""
    from minirnn.bptt import state_jacobians
    rng = np.random.default_rng(4)
    rnn = RNN(3, 5).astype(np.float64)
    randomize_params(rnn, rng)
    rnn.forward(rng.standard_normal((6, 2, 3)))
    J = state_jacobians(rnn)
    fprime = 1 - rnn.cache.H[1:] ** 2
    expected = fprime[..., :, None] * rnn.params["W_hh"].T       # [t, b, j, i] = f'_j W_hh[i, j]
    np.testing.assert_allclose(J, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["gru", "gru-reset-after", "lstm"])
def test_state_jacobians_of_the_gated_cells_match_finite_differences(kind):
    from minirnn.bptt import state_jacobians
    from minirnn.layers import GRU, LSTM, GRUCell, LSTMCell
    rng = np.random.default_rng(5)
    T, B, D, H = 3, 2, 2, 3
    layer = {"gru": lambda: GRU(D, H), "gru-reset-after": lambda: GRU(D, H, reset_after=True),
             "lstm": lambda: LSTM(D, H)}[kind]().astype(np.float64)
    randomize_params(layer, rng)
    layer.forward(rng.standard_normal((T, B, D)))
    J = state_jacobians(layer)
    lstm = kind == "lstm"
    cell = (LSTMCell(D, H) if lstm else GRUCell(D, H, kind == "gru-reset-after")).astype(np.float64)
    for k in cell.params:
        cell.params[k][...] = layer.params[k]
    states = [layer.cache.H] + ([layer.cache.C] if lstm else [])
    n, eps = len(states) * H, 1e-6
    for t in range(T):
        for b in range(B):
            s0 = np.concatenate([S[t, b] for S in states])         # S_{t-1}, (n,)

            def step(s):
                out, _ = cell.step_forward(layer.cache.X[t, b:b + 1],
                                           tuple(s[None, i * H:(i + 1) * H] for i in range(len(states))))
                return np.concatenate([o[0] for o in out])
            numeric = np.stack([(step(s0 + eps * e) - step(s0 - eps * e)) / (2 * eps)
                                for e in np.eye(n)], axis=1)      # [j, i] = dS_t[j]/dS_{t-1}[i]
            np.testing.assert_allclose(J[t, b], numeric, rtol=1e-6, atol=1e-8)
    assert jacobian_norms(layer).shape == (T, B)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_gradient_flow_for_every_cell(cell):
    """dL/dH_t for all three, and the LSTM's dL/dC_t: the memory cell carries the gradient
    with the forget gate alone, dL/dC_{t-1} = dL/dC_t * F_t plus the path through H."""
    model = RNNLM(6, 4, cell=cell, seed=0).astype(np.float64)
    randomize_params(model, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    X, Y = rng.integers(0, 6, (3, 7)), rng.integers(0, 6, (3, 7))
    flow = gradient_flow(model, X, Y)
    assert flow.dh_norms.shape == flow.jacobian_norms.shape == (7,)
    assert (flow.dc_norms is not None) == (cell == "lstm")
    if cell == "lstm":
        assert flow.dc_norms.shape == (7,) and (flow.dc_norms > 0).all()
    assert not any(g.any() for g in model.grads.values())          # gradients restored


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_flow_norms_match_gradient_flow_and_leave_the_model_as_it_was(cell):
    """flow_norms (sequence by sequence, float64, the loss at the last step) against
    gradient_flow's recording of the same backward; the model keeps its dtype and grads."""
    from minirnn.bptt import flow_norms, gradient_flow
    model = RNNLM(7, 5, cell=cell, init="normal", sigma=0.5, seed=0)
    rng = np.random.default_rng(1)
    pairs = [(rng.integers(0, 7, size=(1, 9)), rng.integers(0, 7, size=(1, 9))) for _ in range(3)]
    norms = flow_norms(model, pairs)
    assert set(norms) == ({"h", "c"} if cell == "lstm" else {"h"})
    assert all(n.shape == (3, 9) for n in norms.values())
    assert all(p.dtype == np.float32 for p in model.params.values())
    assert all(not g.any() for g in model.grads.values())
    model64 = model.astype(np.float64)
    for s, (X, Y) in enumerate(pairs):
        flow = gradient_flow(model64, X, Y)
        np.testing.assert_allclose(norms["h"][s], flow.dh_norms, rtol=1e-12)
        if cell == "lstm":
            np.testing.assert_allclose(norms["c"][s], flow.dc_norms, rtol=1e-12)


def test_summarize_flow_takes_the_geometric_mean_and_the_rate():
    from minirnn.bptt import summarize_flow
    distance = np.arange(9, -1, -1)                            # t = 0..9: 9 steps back .. 0
    norms = np.stack([2.0 * 0.5 ** distance, 8.0 * 0.5 ** distance])   # (S, T)
    out = summarize_flow({"h": norms})["h"]
    np.testing.assert_array_equal(out["distance"], distance)
    np.testing.assert_allclose(out["norm"], 4.0 * 0.5 ** distance)     # sqrt(2 * 8) = 4
    assert out["rate"] == pytest.approx(0.5)
