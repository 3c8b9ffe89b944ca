"""The gated cells (minirnn.layers.gated): gradient checks of every parameter, input and
initial-state array in float64, the cell equal to the layer, the truncation hook, the
per-gate views, PyTorch equality, and bad input named."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minirnn.gradcheck import assert_gradients_ok, check_gradients, randomize_params
from minirnn.layers import (GRU, LSTM, GRUCell, GRUStepCache, LSTMCell, LSTMStepCache, Module,
                            sigmoid)

from helpers import prepared

sizes = st.integers(1, 4)

#: The centered difference's step.  Its error is truncation, about eps^2 |f'''| / 6, plus
#: round-off, about 1e-16 |f| / eps, smallest near eps = (1e-16)^(1/3), about 1e-5.  The
#: gated cells' products of gates make some gradient entries 1e-5 of the largest (a small
#: input times sigma' times a gate), where eps 1e-6's round-off alone is a 1e-6 relative
#: error: over 400 random problems, 12 exceeded the 1e-6 tolerance at eps 1e-6 (median
#: error 4e-8); at 1e-5 the median is 4e-9.  The tolerance stays 1e-6.
EPS = 1e-5

#: (name, layer class, cell class, constructor keywords): every variant the tests cover.
VARIANTS = {
    "gru": (GRU, GRUCell, {}),
    "gru_reset_after": (GRU, GRUCell, {"reset_after": True}),
    "lstm": (LSTM, LSTMCell, {}),
}


def documented_gate_order(layer) -> tuple:
    """The gate order of the fused arrays as documented, written out here, not read from
    the code: GRU r, z, h (h: the candidate); LSTM i, f, o, c (c: the input node C~)."""
    return ("r", "z", "h") if isinstance(layer, (GRU, GRUCell)) else ("i", "f", "o", "c")


def num_state(layer) -> int:
    """How many arrays the state has: 1 (h) for the GRU, 2 (h, c) for the LSTM."""
    return len(layer.state_names)


# ----------------------------------------------------------------- flattening the state
def flat_layer(layer):
    """The layer with its state tuple spread into separate arguments, for
    ``check_gradients`` (until it takes tuples): ``forward(X, *state0) -> (Hs, *state_T)``
    and ``backward(dHs, *dstate_T) -> (dX, *dstate0)``, state arrays ``(1, B, H)``.
    Without state arrays the layer starts from zeros (state=None)."""
    def forward(X, *state0):
        Hs, state = layer.forward(X, tuple(state0) if state0 else None)
        return (Hs, *state)

    def backward(dHs, *dstate):
        dX, dstate0 = layer.backward(dHs, tuple(dstate))
        return (dX, *dstate0)

    return forward, backward


def flat_cell(cell):
    """The cell's one step with its state spread out: ``forward(x, *state_prev) ->
    state`` (for the GRU ``(h,)``, the LSTM ``(h, c)``) and ``backward(*dstate) ->
    (dx, *dstate_prev)``."""
    caches = []

    def forward(x, *state_prev):
        state, cache = cell.step_forward(x, tuple(state_prev))
        caches.append(cache)
        return state

    def backward(*dstate):
        dx, dstate_prev = cell.step_backward(tuple(dstate), caches[-1])
        return (dx, *dstate_prev)

    return forward, backward


# ----------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("variant", VARIANTS)
@given(B=sizes, D=sizes, H=sizes, seed=st.integers(0, 2**16))
def test_cell_gradients(variant, B, D, H, seed):
    _, cell_cls, kw = VARIANTS[variant]
    rng = np.random.default_rng(seed)
    cell = prepared(cell_cls(D, H, **kw), seed)
    names = ["h_prev", "c_prev"][:num_state(cell)]
    inputs = [rng.standard_normal((B, D))] + [rng.standard_normal((B, H)) for _ in names]
    forward, backward = flat_cell(cell)
    errors = check_gradients(forward, backward, cell.params, cell.grads, inputs,
                             input_names=["x"] + names, seed=seed, eps=EPS)
    assert set(errors) == set(cell.params) | {"x"} | set(names)
    assert_gradients_ok(errors)


@pytest.mark.parametrize("variant", VARIANTS)
@given(T=sizes, B=sizes, D=sizes, H=sizes, with_state=st.booleans(), seed=st.integers(0, 2**16))
def test_layer_gradients(variant, T, B, D, H, with_state, seed):
    layer_cls, _, kw = VARIANTS[variant]
    rng = np.random.default_rng(seed)
    layer = prepared(layer_cls(D, H, **kw), seed)
    names = ["h0", "c0"][:num_state(layer)]
    state = [rng.standard_normal((1, B, H)) for _ in names] if with_state else []
    forward, backward = flat_layer(layer)
    errors = check_gradients(forward, backward, layer.params, layer.grads,
                             [rng.standard_normal((T, B, D))] + state,
                             input_names=["X"] + names, seed=seed, eps=EPS)
    expected = set(layer.params) | {"X"} | (set(names) if with_state else set())
    assert set(errors) == expected
    assert_gradients_ok(errors)


def test_params_are_the_fused_arrays():
    assert GRUCell(3, 4).state_names == GRU(3, 4).state_names == ("h",)
    assert LSTMCell(3, 4).state_names == LSTM(3, 4).state_names == ("h", "c")
    assert set(GRU(3, 4).params) == {"W_x", "W_h", "b"}
    assert set(GRU(3, 4, reset_after=True).params) == {"W_x", "W_h", "b", "b_hn"}
    assert set(LSTM(3, 4).params) == {"W_x", "W_h", "b"}
    shapes = {k: v.shape for k, v in LSTM(3, 4).params.items()}
    assert shapes == {"W_x": (3, 16), "W_h": (4, 16), "b": (16,)}


class SwappedBiasGrad:
    """A backward that puts the first two gates' bias gradients in each other's place: the
    slip numpy-ml's LSTM shipped, which a 1e-3 check against PyTorch let through."""
    swapped: tuple = ()

    def backward(self, *args, **kwargs):
        out = super().backward(*args, **kwargs)
        first, second = (self.gate_grads()[name] for name in self.swapped)
        first[...], second[...] = second.copy(), first.copy()
        return out


class SwappedBiasLSTM(SwappedBiasGrad, LSTM):
    swapped = ("b_i", "b_f")


class SwappedBiasGRU(SwappedBiasGrad, GRU):
    swapped = ("b_r", "b_z")


@pytest.mark.parametrize("layer_cls", [SwappedBiasLSTM, SwappedBiasGRU])
def test_a_bias_gradient_in_the_wrong_gate_is_caught(layer_cls):
    rng = np.random.default_rng(0)
    layer = prepared(layer_cls(3, 4), 1)
    forward, backward = flat_layer(layer)
    errors = check_gradients(forward, backward, layer.params, layer.grads,
                             [rng.standard_normal((5, 2, 3))], input_names=["X"], eps=EPS)
    assert errors["b"] > 1e-2                                # caught, and named: b
    assert errors["b"].index[0] < 2 * 4                      # in the first two gates' blocks
    assert errors["W_x"] < 1e-6 and errors["W_h"] < 1e-6 and errors["X"] < 1e-6
    with pytest.raises(AssertionError, match="gradient of b is off"):
        assert_gradients_ok(errors)


class ForgetGateMissingInCell(LSTMCell):
    """step_backward that forgets C_{t-1}'s path through F: dc_prev = dc (not dc * F)."""

    def step_backward(self, dstate, cache):
        dx, (dh_prev, dc_prev) = super().step_backward(dstate, cache)
        F = cache.gates[:, self.hidden_size:2 * self.hidden_size]   # F_t
        return dx, (dh_prev, dc_prev / F)


def test_a_wrong_cell_state_gradient_is_caught():
    rng = np.random.default_rng(0)
    cell = prepared(ForgetGateMissingInCell(3, 4), 2)
    forward, backward = flat_cell(cell)
    errors = check_gradients(forward, backward, cell.params, cell.grads,
                             [rng.standard_normal((2, 3)), rng.standard_normal((2, 4)),
                              rng.standard_normal((2, 4))],
                             input_names=["x", "h_prev", "c_prev"], eps=EPS)
    assert errors["c_prev"] > 1e-2
    assert errors["x"] < 1e-6 and errors["h_prev"] < 1e-6


# ----------------------------------------------------------------- the per-gate views
def assert_views_follow_gate_order(layer):
    """Every per-gate view is the documented block of its fused array, read-only, and its
    memory is the fused array's (so a Module lists it once)."""
    D, H = layer.input_size, layer.hidden_size
    p, g = layer.params, layer.grads
    views, grad_views = layer.gate_params(), layer.gate_grads()
    expected = []
    for k, gate in enumerate(documented_gate_order(layer)):
        block = slice(k * H, (k + 1) * H)
        for name, fused, index, shape in ((f"W_x{gate}", "W_x", (slice(None), block), (D, H)),
                                          (f"W_h{gate}", "W_h", (slice(None), block), (H, H)),
                                          (f"b_{gate}", "b", block, (H,))):
            expected.append(name)
            v = views[name]
            assert v.shape == shape, name
            np.testing.assert_array_equal(v, p[fused][index], err_msg=name)
            np.testing.assert_array_equal(getattr(layer, name), p[fused][index], err_msg=name)
            assert np.shares_memory(v, p[fused]) and not v.flags.writeable, name
            assert np.shares_memory(grad_views[name], g[fused]), name
            np.testing.assert_array_equal(grad_views[name], g[fused][index], err_msg=name)
    if getattr(layer, "reset_after", False):
        expected.append("b_hn")
        np.testing.assert_array_equal(views["b_hn"], p["b_hn"])
    assert list(views) == expected


class MixedUpViews(LSTM):
    """Views that call the forget gate's block the input gate's (and vice versa)."""

    def gate_params(self):
        views = super().gate_params()
        for name in ("W_x", "W_h", "b_"):
            views[name + "i"], views[name + "f"] = views[name + "f"], views[name + "i"]
        return views


@pytest.mark.parametrize("variant", VARIANTS)
def test_views_are_the_documented_blocks(variant):
    layer_cls, cell_cls, kw = VARIANTS[variant]
    for obj in (layer_cls(3, 4, seed=0, **kw), cell_cls(3, 4, seed=0, **kw)):
        randomize_params(obj, np.random.default_rng(1))      # every entry distinct
        for gr in obj.grads.values():
            gr[...] = np.random.default_rng(2).standard_normal(gr.shape)
        assert_views_follow_gate_order(obj)
        obj.astype(np.float64)                               # a cast makes new arrays:
        assert_views_follow_gate_order(obj)                  # the views follow them
        assert all(v.dtype == np.float64 for v in obj.gate_params().values())


def test_a_gate_mix_up_in_the_views_is_caught():
    layer = MixedUpViews(3, 4, seed=0)
    randomize_params(layer, np.random.default_rng(1))
    with pytest.raises(AssertionError, match="W_xi"):
        assert_views_follow_gate_order(layer)


def test_views_are_read_only_and_listed_once_in_a_module():
    gru = GRU(3, 4, seed=0)
    with pytest.raises(ValueError, match="read-only"):
        gru.W_xr[0, 0] = 1.0
    with pytest.raises(AttributeError, match="read-only view"):
        gru.W_xr = np.zeros((3, 4))
    with pytest.raises(AttributeError, match="no b_hn"):
        gru.b_hn
    gru.params["W_x"][0, 4] = 7.0                            # write into the fused array:
    assert gru.W_xz[0, 0] == 7.0                             # the view shows it
    model = Module()
    model.add("gru", gru)
    assert list(model.params) == ["gru.W_x", "gru.W_h", "gru.b"]


# ----------------------------------------------------------------- the cell and the layer agree
def run_cell(cell, X, state0, dHs, dstate_T):
    """Loop the cell over time, forward then backward: (Hs, state_T, dX, dstate0, dh per step,
    dc per step (LSTM) as dL/dC_t from step t+1 and through H_t)."""
    T = X.shape[0]
    state, caches, hs = tuple(s[0] for s in state0), [], []
    for t in range(T):
        state, cache = cell.step_forward(X[t], state)
        caches.append(cache)
        hs.append(state[0])
    state_T = state
    dstate = tuple(d[0] for d in dstate_T)
    dX, dhs, dcs = np.zeros_like(X), np.zeros((T,) + dHs.shape[1:]), np.zeros((T,) + dHs.shape[1:])
    for t in reversed(range(T)):
        dstate = (dHs[t] + dstate[0],) + dstate[1:]          # dL/dH_t: output and step t+1
        dhs[t] = dstate[0]
        if len(dstate) == 2:                                 # dL/dC_t = dc + dh * O (1 - tanh^2 C)
            c, H = caches[t], cell.hidden_size
            dcs[t] = dstate[1] + dstate[0] * c.gates[:, 2 * H:3 * H] * (1 - c.tanh_c ** 2)
        dX[t], dstate = cell.step_backward(dstate, caches[t])
    return np.stack(hs), state_T, dX, dstate, dhs, dcs


@pytest.mark.parametrize("variant", VARIANTS)
def test_layer_equals_cell_looped_step_by_step(variant):
    layer_cls, cell_cls, kw = VARIANTS[variant]
    T, B, D, H = 7, 3, 4, 5
    rng = np.random.default_rng(1)
    layer = prepared(layer_cls(D, H, **kw), 2)
    cell = cell_cls(D, H, **kw).astype(np.float64)
    for k in cell.params:
        cell.params[k][...] = layer.params[k]
    n = num_state(layer)
    X = rng.standard_normal((T, B, D))
    state0 = tuple(rng.standard_normal((1, B, H)) for _ in range(n))
    dHs = rng.standard_normal((T, B, H))
    dstate_T = tuple(rng.standard_normal((1, B, H)) for _ in range(n))

    layer.record_grad_norms = True
    Hs, state_T = layer.forward(X, state0)
    dX, dstate0 = layer.backward(dHs, dstate_T)
    Hs_c, state_T_c, dX_c, dstate0_c, dhs, dcs = run_cell(cell, X, state0, dHs, dstate_T)

    np.testing.assert_allclose(Hs, Hs_c, rtol=1e-12, atol=1e-12)
    assert len(state_T) == len(dstate0) == n
    for a, b in zip(state_T, state_T_c):
        np.testing.assert_allclose(a[0], b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dX, dX_c, rtol=1e-10, atol=1e-12)
    for a, b in zip(dstate0, dstate0_c):
        np.testing.assert_allclose(a[0], b, rtol=1e-10, atol=1e-12)
    for k in layer.grads:
        np.testing.assert_allclose(layer.grads[k], cell.grads[k], rtol=1e-10, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(layer.dh_norms, np.linalg.norm(dhs, axis=(1, 2)), rtol=1e-10)
    if n == 2:
        np.testing.assert_allclose(layer.dc_norms, np.linalg.norm(dcs, axis=(1, 2)), rtol=1e-10)


@pytest.mark.parametrize("reset_after", [False, True])
def test_gru_cell_matches_the_equations(reset_after):
    """The GRU cell written out here with no views and no buffers, from REFERENCE.md 9."""
    rng = np.random.default_rng(3)
    cell = prepared(GRUCell(3, 4, reset_after=reset_after), 4)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    W_x, W_h, b = cell.params["W_x"], cell.params["W_h"], cell.params["b"]
    s = lambda a: 1 / (1 + np.exp(-a))
    R = s(x @ W_x[:, 0:4] + h @ W_h[:, 0:4] + b[0:4])
    Z = s(x @ W_x[:, 4:8] + h @ W_h[:, 4:8] + b[4:8])
    if reset_after:
        Hc = np.tanh(x @ W_x[:, 8:] + b[8:] + R * (h @ W_h[:, 8:] + cell.params["b_hn"]))
    else:
        Hc = np.tanh(x @ W_x[:, 8:] + (R * h) @ W_h[:, 8:] + b[8:])
    (h_new,), _ = cell.step_forward(x, (h,))
    np.testing.assert_allclose(h_new, Z * h + (1 - Z) * Hc, rtol=1e-12, atol=1e-14)


def test_lstm_cell_matches_the_equations():
    rng = np.random.default_rng(3)
    cell = prepared(LSTMCell(3, 4), 4)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    W_x, W_h, b = cell.params["W_x"], cell.params["W_h"], cell.params["b"]
    s = lambda a: 1 / (1 + np.exp(-a))
    pre = [x @ W_x[:, k * 4:(k + 1) * 4] + h @ W_h[:, k * 4:(k + 1) * 4] + b[k * 4:(k + 1) * 4]
           for k in range(4)]
    I, F, O, Cc = s(pre[0]), s(pre[1]), s(pre[2]), np.tanh(pre[3])
    (h_new, c_new), _ = cell.step_forward(x, (h, c))
    np.testing.assert_allclose(c_new, F * c + I * Cc, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_new, O * np.tanh(F * c + I * Cc), rtol=1e-12, atol=1e-14)


def test_the_two_gru_variants_are_different_functions():
    rng = np.random.default_rng(0)
    book, torch_like = prepared(GRU(3, 4), 5), GRU(3, 4, reset_after=True).astype(np.float64)
    for k in book.params:
        torch_like.params[k][...] = book.params[k]           # the same weights, b_hn = 0
    X = rng.standard_normal((4, 2, 3))
    assert not np.allclose(book.forward(X)[0], torch_like.forward(X)[0], atol=1e-3)


# ----------------------------------------------------------------- keep (truncation)
def run(layer, X, state0, dHs, dstate_T, keep=None):
    """(Hs, state_T, dX, dstate0, grads) of one forward and backward from zeroed grads."""
    layer.zero_grad()
    Hs, state_T = layer.forward(X, state0)
    dX, dstate0 = layer.backward(dHs, dstate_T, keep=keep)
    return Hs.copy(), state_T, dX, dstate0, {k: v.copy() for k, v in layer.grads.items()}


def random_problem(layer, T, B, seed):
    rng = np.random.default_rng(seed)
    D, H, n = layer.input_size, layer.hidden_size, num_state(layer)
    return (rng.standard_normal((T, B, D)), tuple(rng.standard_normal((1, B, H)) for _ in range(n)),
            rng.standard_normal((T, B, H)), tuple(rng.standard_normal((1, B, H)) for _ in range(n)))


@pytest.mark.parametrize("variant", VARIANTS)
def test_keep_all_ones_is_no_keep(variant):
    layer_cls, _, kw = VARIANTS[variant]
    layer = prepared(layer_cls(3, 4, **kw), 0)
    X, state0, dHs, dstate_T = random_problem(layer, 5, 2, 1)
    plain = run(layer, X, state0, dHs, dstate_T)
    for keep in (np.ones(5), np.ones((5, 2))):
        kept = run(layer, X, state0, dHs, dstate_T, keep)
        np.testing.assert_array_equal(kept[2], plain[2])
        for a, b in zip(kept[3], plain[3]):
            np.testing.assert_array_equal(a, b)
        for k in plain[4]:
            np.testing.assert_array_equal(kept[4][k], plain[4][k])


@pytest.mark.parametrize("variant", VARIANTS)
@given(T=st.integers(1, 5), B=sizes, cut=st.integers(0, 4), k=st.sampled_from([0.0, 0.37]),
       seed=st.integers(0, 2**16))
def test_keep_at_one_step_equals_two_halves(variant, T, B, cut, k, seed):
    """keep[cut] = k equals running X[:cut] and X[cut:] separately, the state passed on and
    the gradient of *every* state array (h, and c for the LSTM) handed back times k."""
    layer_cls, _, kw = VARIANTS[variant]
    cut = cut % T
    layer = prepared(layer_cls(3, 2, **kw), seed)
    X, state0, dHs, dstate_T = random_problem(layer, T, B, seed)
    keep = np.ones(T)
    keep[cut] = k
    _, state_T, dX, dstate0, grads = run(layer, X, state0, dHs, dstate_T, keep)

    if cut == 0:                                             # before step 0: dstate0 times k
        _, state_T_halves, dX_halves, plain, halves_grads = run(layer, X, state0, dHs, dstate_T)
        expected_dstate0 = tuple(k * d for d in plain)
    else:
        layer.zero_grad()
        _, mid = layer.forward(X[:cut], state0)              # the first half's final state ...
        _, state_T_halves = layer.forward(X[cut:], mid)      # ... starts the second half
        dX_second, dmid = layer.backward(dHs[cut:], dstate_T)
        layer.forward(X[:cut], state0)
        dX_first, expected_dstate0 = layer.backward(dHs[:cut], tuple(k * d for d in dmid))
        dX_halves = np.concatenate([dX_first, dX_second])
        halves_grads = layer.grads
    for a, b in zip(state_T, state_T_halves):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dX, dX_halves, rtol=1e-10, atol=1e-12)
    for a, b in zip(dstate0, expected_dstate0):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for n in grads:
        np.testing.assert_allclose(grads[n], halves_grads[n], rtol=1e-10, atol=1e-12, err_msg=n)


@pytest.mark.parametrize("variant", VARIANTS)
def test_keep_per_sequence_equals_each_sequence_alone(variant):
    """keep (T, B): column b acts on sequence b alone, as keep[:, b] (T,) on that sequence."""
    layer_cls, _, kw = VARIANTS[variant]
    T, B = 6, 3
    layer = prepared(layer_cls(3, 4, **kw), 3)
    X, state0, dHs, dstate_T = random_problem(layer, T, B, 4)
    keep = np.random.default_rng(5).choice([0.0, 1.0, 2.5], size=(T, B))
    _, _, dX, dstate0, grads = run(layer, X, state0, dHs, dstate_T, keep)
    total = {n: np.zeros_like(v) for n, v in grads.items()}
    for b in range(B):
        one = slice(b, b + 1)
        _, _, dX_b, dstate0_b, grads_b = run(layer, X[:, one], tuple(s[:, one] for s in state0),
                                             dHs[:, one], tuple(d[:, one] for d in dstate_T),
                                             keep[:, b])
        np.testing.assert_allclose(dX[:, one], dX_b, rtol=1e-10, atol=1e-12)
        for a, d in zip(dstate0, dstate0_b):
            np.testing.assert_allclose(a[:, one], d, rtol=1e-10, atol=1e-12)
        for n in total:
            total[n] += grads_b[n]
    for n in grads:
        np.testing.assert_allclose(grads[n], total[n], rtol=1e-10, atol=1e-12, err_msg=n)


# ----------------------------------------------------------------- the layer contract
@pytest.mark.parametrize("variant", VARIANTS)
def test_backward_twice_adds_twice_and_mutates_nothing(variant):
    layer_cls, _, kw = VARIANTS[variant]
    layer = prepared(layer_cls(3, 4, **kw), 0)
    X, state0, dHs, dstate_T = random_problem(layer, 5, 2, 1)
    Hs, _ = layer.forward(X, state0)
    assert not Hs.flags.writeable                            # a view of cache.H
    saved_cache = [None if a is None else a.copy() for a in layer.cache]
    saved_up = [dHs.copy()] + [d.copy() for d in dstate_T]
    once = layer.backward(dHs, dstate_T)
    g1 = {k: v.copy() for k, v in layer.grads.items()}
    assert all(np.abs(v).sum() > 0 for v in g1.values())
    twice = layer.backward(dHs, dstate_T)
    for k, v in layer.grads.items():
        np.testing.assert_allclose(v, 2 * g1[k], rtol=1e-12, err_msg=k)
    np.testing.assert_array_equal(once[0], twice[0])
    for a, b in zip(once[1], twice[1]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(layer.cache, saved_cache):
        if b is not None:
            np.testing.assert_array_equal(a, b)
    for a, b in zip([dHs, *dstate_T], saved_up):
        np.testing.assert_array_equal(a, b)
    assert layer.backward(dHs, dstate_T, input_grad=False)[0] is None
    layer.zero_grad()
    assert not any(v.any() for v in layer.grads.values())


@pytest.mark.parametrize("variant", VARIANTS)
def test_cell_backward_twice_adds_twice_and_mutates_nothing(variant):
    _, cell_cls, kw = VARIANTS[variant]
    rng = np.random.default_rng(0)
    cell = prepared(cell_cls(3, 4, **kw), 1)
    n = num_state(cell)
    state, cache = cell.step_forward(rng.standard_normal((2, 3)),
                                     tuple(rng.standard_normal((2, 4)) for _ in range(n)))
    dstate = tuple(rng.standard_normal((2, 4)) for _ in range(n))
    saved = [None if a is None else a.copy() for a in cache] + [d.copy() for d in dstate]
    first = cell.step_backward(dstate, cache)
    g1 = {k: v.copy() for k, v in cell.grads.items()}
    second = cell.step_backward(dstate, cache)
    np.testing.assert_array_equal(first[0], second[0])
    for k, v in cell.grads.items():
        np.testing.assert_allclose(v, 2 * g1[k], rtol=1e-12, err_msg=k)
    for a, b in zip(list(cache) + list(dstate), saved):
        if b is not None:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("variant", VARIANTS)
def test_float32_by_default_begin_state_and_cast(variant):
    layer_cls, _, kw = VARIANTS[variant]
    layer = layer_cls(3, 4, seed=0, **kw)
    assert all(p.dtype == np.float32 for p in layer.params.values())
    state = layer.begin_state(2)
    assert len(state) == num_state(layer)
    assert all(s.shape == (1, 2, 4) and s.dtype == np.float32 and not s.any() for s in state)
    Hs, state_T = layer.forward(np.ones((5, 2, 3), np.float32), state)
    assert Hs.dtype == np.float32 and all(s.dtype == np.float32 for s in state_T)
    dX, dstate0 = layer.backward(np.ones((5, 2, 4), np.float32))
    assert dX.dtype == np.float32 and all(d.dtype == np.float32 for d in dstate0)
    layer.astype(np.float64)
    assert all(p.dtype == np.float64 for p in layer.params.values())
    assert all(g.dtype == np.float64 for g in layer.grads.values())


def test_init_follows_the_book_and_pytorch():
    """Default: the book's scratch N(0, 0.01^2) weights per gate, zero biases;
    init='uniform': PyTorch's U(-1/sqrt(H), 1/sqrt(H)) per gate (not 1/sqrt(G*H))."""
    lstm = LSTM(30, 200, seed=1)
    for name, v in lstm.gate_params().items():
        if name.startswith("b"):
            assert not v.any(), name
        else:
            assert abs(v.std() - 0.01) < 0.001, name
    np.testing.assert_array_equal(LSTM(30, 200, seed=1).params["W_h"], lstm.params["W_h"])
    uniform = GRU(30, 100, seed=1, init="uniform").params["W_h"]
    assert 0.09 < np.abs(uniform).max() <= 0.1              # 1/sqrt(100)


def test_sigmoid_is_stable_and_exact():
    """No overflow warning (even with errors raised), 0 and 1 at the ends, full relative
    precision in the tails (the (1 + tanh(a/2)) / 2 identity is 1e-4 off at a = -30)."""
    a = np.array([-1000.0, -700.0, -30.0, -1.0, 0.0, 2.0, 40.0, 1000.0])
    exact = np.array([0.0, 9.85967654375977e-305, 9.357622968839299e-14, 0.2689414213699951,
                      0.5, 0.8807970779778824, 1.0, 1.0])   # 1 / (1 + e^-a) to 40 digits, rounded
    with np.errstate(all="raise"):
        s = sigmoid(a)
        s32 = sigmoid(a.astype(np.float32))
    np.testing.assert_allclose(s, exact, rtol=4e-16, atol=0)
    np.testing.assert_allclose(s32, exact.astype(np.float32), rtol=2e-7, atol=0)
    assert s32.dtype == np.float32
    x = a.copy()
    assert sigmoid(x, out=x) is x and np.array_equal(x, s)  # in place


def test_repr_names_shapes_and_gate_order():
    assert repr(LSTM(3, 4)).endswith("b (16,) |grad|=0; gates i|f|o|c)")
    text = repr(GRU(3, 4, reset_after=True))
    assert "W_x (3, 12)" in text and "b_hn (4,)" in text
    assert text.endswith("; gates r|z|h, reset_after=True)")


# ----------------------------------------------------------------- PyTorch
#: PyTorch's gate order in weight_ih / weight_hh / bias_*, in minirnn's letters (torch's
#: GRU n is our candidate h; its LSTM g is our input node c).
TORCH_GATES = {"gru": ("r", "z", "h"), "lstm": ("i", "f", "c", "o")}


def torch_block(a, gate, kind, H):
    k = TORCH_GATES[kind].index(gate)
    return a[k * H:(k + 1) * H]


def from_torch(layer, module, kind):
    """Copy an ``nn.GRU`` / ``nn.LSTM`` (one layer) into ``layer``: transpose the weights,
    reorder the gate blocks, sum the two biases (for the GRU's candidate, bias_hh's n-part
    is b_hn and stays apart)."""
    H = layer.hidden_size
    wi, wh = module.weight_ih_l0.detach().numpy(), module.weight_hh_l0.detach().numpy()
    bi, bh = module.bias_ih_l0.detach().numpy(), module.bias_hh_l0.detach().numpy()
    p = layer.params
    for k, gate in enumerate(documented_gate_order(layer)):
        block = slice(k * H, (k + 1) * H)
        p["W_x"][:, block] = torch_block(wi, gate, kind, H).T
        p["W_h"][:, block] = torch_block(wh, gate, kind, H).T
        p["b"][block] = torch_block(bi, gate, kind, H)
        if not (kind == "gru" and gate == "h"):
            p["b"][block] += torch_block(bh, gate, kind, H)
    if kind == "gru":
        p["b_hn"][...] = torch_block(bh, "h", kind, H)


def torch_grads(layer, module, kind):
    """PyTorch's parameter gradients in minirnn's layout (the inverse of ``from_torch``;
    a summed bias has the gradient of either of its two parts)."""
    H = layer.hidden_size
    gi, gh = module.weight_ih_l0.grad.numpy(), module.weight_hh_l0.grad.numpy()
    gbi, gbh = module.bias_ih_l0.grad.numpy(), module.bias_hh_l0.grad.numpy()
    order = documented_gate_order(layer)
    out = {"W_x": np.concatenate([torch_block(gi, g, kind, H).T for g in order], axis=1),
           "W_h": np.concatenate([torch_block(gh, g, kind, H).T for g in order], axis=1),
           "b": np.concatenate([torch_block(gbi, g, kind, H) for g in order])}
    if kind == "gru":
        out["b_hn"] = torch_block(gbh, "h", kind, H)
    else:
        np.testing.assert_allclose(gbi, gbh, rtol=1e-12)    # the LSTM's two biases: one gradient
    return out


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_equals_pytorch_in_float64(kind):
    torch = pytest.importorskip("torch")
    T, B, D, H = 6, 3, 5, 4
    torch.manual_seed(0)
    module = (torch.nn.GRU if kind == "gru" else torch.nn.LSTM)(D, H).double()
    with torch.no_grad():
        for w in module.parameters():
            w.normal_(0.0, 0.5)                              # order-one weights and biases
    layer = (GRU(D, H, reset_after=True) if kind == "gru" else LSTM(D, H)).astype(np.float64)
    from_torch(layer, module, kind)
    n = num_state(layer)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((T, B, D))
    state0 = tuple(rng.standard_normal((1, B, H)) for _ in range(n))
    dHs = rng.standard_normal((T, B, H))
    dstate_T = tuple(rng.standard_normal((1, B, H)) for _ in range(n))

    Hs, state_T = layer.forward(X, state0)
    dX, dstate0 = layer.backward(dHs, dstate_T)

    Xt = torch.tensor(X, requires_grad=True)
    s0 = [torch.tensor(s, requires_grad=True) for s in state0]
    out, sT = module(Xt, s0[0] if n == 1 else tuple(s0))
    sT = (sT,) if n == 1 else sT
    loss = (out * torch.tensor(dHs)).sum() + sum((s * torch.tensor(d)).sum()
                                                 for s, d in zip(sT, dstate_T))
    loss.backward()

    tol = dict(rtol=1e-10, atol=1e-12)                       # they agree to about 2e-15
    np.testing.assert_allclose(Hs, out.detach().numpy(), **tol)
    for a, b in zip(state_T, sT):
        np.testing.assert_allclose(a, b.detach().numpy(), **tol)
    np.testing.assert_allclose(dX, Xt.grad.numpy(), **tol)
    for a, b in zip(dstate0, s0):
        np.testing.assert_allclose(a, b.grad.numpy(), **tol)
    expected = torch_grads(layer, module, kind)
    assert set(expected) == set(layer.grads)
    for k, v in expected.items():
        np.testing.assert_allclose(layer.grads[k], v, err_msg=k, **tol)


# ----------------------------------------------------------------- bad input, named
@pytest.mark.parametrize("variant", VARIANTS)
def test_bad_input_is_named_before_anything_changes(variant):
    layer_cls, cell_cls, kw = VARIANTS[variant]
    layer = layer_cls(3, 4, **kw)
    n = num_state(layer)
    X = np.zeros((5, 2, 3), np.float32)
    good = layer.begin_state(2)
    with pytest.raises(RuntimeError, match=f"{layer_cls.__name__}.backward called before forward"):
        layer.backward(np.zeros((5, 2, 4)))
    with pytest.raises(ValueError, match="X must have 3 dimensions"):
        layer.forward(np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match="X must have last dimension 3"):
        layer.forward(np.zeros((5, 2, 4), np.float32))
    with pytest.raises(TypeError, match="X must be a floating-point array"):
        layer.forward(np.zeros((5, 2, 3), int))
    with pytest.raises(TypeError, match=r"state must be a tuple.*wrap one array"):
        layer.forward(X, good[0])
    with pytest.raises(ValueError, match=f"state must be a tuple of {n} array"):
        layer.forward(X, good + good)
    with pytest.raises(ValueError, match=rf"state\[{n - 1}\] must have shape \(1, 2, 4\)"):
        layer.forward(X, good[:-1] + (np.zeros((1, 3, 4), np.float32),))
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 5\].*got 0"):
        layer.forward(X, lengths=np.array([5, 0]))
    assert layer.cache is None                               # nothing changed so far
    layer.forward(X, good)
    cache = layer.cache
    with pytest.raises(ValueError, match="state"):
        layer.forward(X, (np.zeros((1, 3, 4), np.float32),) * n)
    assert layer.cache is cache
    with pytest.raises(ValueError, match=r"dHs must have shape \(5, 2, 4\)"):
        layer.backward(np.zeros((5, 2, 3)))
    with pytest.raises(ValueError, match=f"dstate must be a tuple of {n} array"):
        layer.backward(np.zeros((5, 2, 4)), good * 2)
    with pytest.raises(ValueError, match=r"keep must have shape \(5,\) or \(5, 2\)"):
        layer.backward(np.zeros((5, 2, 4)), keep=np.ones(4))
    assert not any(g.any() for g in layer.grads.values())

    cell = cell_cls(3, 4, **kw, dtype=np.float64)            # the inputs' dtype (dtype policy)
    with pytest.raises(ValueError, match="x must have last dimension 3"):
        cell.step_forward(np.zeros((2, 5)), (np.zeros((2, 4)),) * n)
    with pytest.raises(ValueError, match=f"state must be a tuple of {n} array"):
        cell.step_forward(np.zeros((2, 3)), (np.zeros((2, 4)),) * (n + 1))
    _, step_cache = cell.step_forward(np.zeros((2, 3)), (np.zeros((2, 4)),) * n)
    assert isinstance(step_cache, (GRUStepCache, LSTMStepCache))
    with pytest.raises(TypeError, match="cache must be the"):
        cell.step_backward((np.zeros((2, 4)),) * n, tuple(step_cache))
    with pytest.raises(ValueError, match=r"dstate\[0\] must have shape \(2, 4\)"):
        cell.step_backward((np.zeros((3, 4)),) * n, step_cache)


def test_bad_constructor_arguments():
    with pytest.raises(TypeError, match="reset_after must be True"):
        GRU(3, 4, reset_after=1)
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        LSTM(3, 0)
    with pytest.raises(ValueError, match="init must be"):
        LSTMCell(3, 4, init="zeros")
