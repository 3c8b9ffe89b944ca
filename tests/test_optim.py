"""Tests of minirnn.optim: the book's SGD step, Adam against its formulas, global-norm
clipping, and argument checks."""
import numpy as np
import pytest

from minirnn.models import RNNLM
from minirnn.optim import SGD, Adam, WeightAverage, clip_grad_norm, grad_norm, make_optimizer


def random_dicts(seed=0, shapes=((3, 4), (4,), (2, 2, 2))):
    rng = np.random.default_rng(seed)
    params = {f"p{i}": rng.standard_normal(s) for i, s in enumerate(shapes)}
    grads = {f"p{i}": rng.standard_normal(s) for i, s in enumerate(shapes)}
    return params, grads


def test_sgd_step_is_param_minus_lr_grad():
    params, grads = random_dicts()
    expected = {k: p - 0.3 * grads[k] for k, p in params.items()}
    SGD(params, grads, lr=0.3).step()
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=0, atol=1e-15)


def test_sgd_updates_the_models_own_arrays():
    model = RNNLM(5, 4, seed=0)
    before = model.params["rnn.W_hh"].copy()
    for g in model.grads.values():
        g.fill(1.0)
    SGD(model.params, model.grads, lr=0.5).step()
    np.testing.assert_array_equal(model.params["rnn.W_hh"], before - 0.5)


def test_adam_matches_its_formulas_over_three_steps():
    params, grads = random_dicts(1)
    ref = {k: p.copy() for k, p in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    s = {k: np.zeros_like(p) for k, p in params.items()}
    opt = Adam(params, grads, lr=0.01, betas=(0.8, 0.95), eps=1e-6)
    rng = np.random.default_rng(2)
    for t in range(1, 4):
        for k in grads:
            grads[k][...] = rng.standard_normal(grads[k].shape)
            v[k] = 0.8 * v[k] + 0.2 * grads[k]
            s[k] = 0.95 * s[k] + 0.05 * grads[k] ** 2
            ref[k] -= 0.01 * (v[k] / (1 - 0.8 ** t)) / (np.sqrt(s[k] / (1 - 0.95 ** t)) + 1e-6)
        opt.step()
    for k in params:
        np.testing.assert_allclose(params[k], ref[k], rtol=1e-12, atol=1e-14)


def test_adam_first_step_moves_each_entry_by_lr():
    # with bias correction, v_hat / sqrt(s_hat) = g / |g| on the first step
    params, grads = random_dicts(3)
    before = {k: p.copy() for k, p in params.items()}
    Adam(params, grads, lr=0.01, eps=1e-12).step()
    for k in params:
        np.testing.assert_allclose(before[k] - params[k], 0.01 * np.sign(grads[k]), rtol=1e-9)


def test_adam_state_round_trip_continues_identically():
    params, grads = random_dicts(4)
    a = Adam(params, grads, lr=0.1)
    a.step()
    state = a.state_dict()
    twin = {k: p.copy() for k, p in params.items()}   # the parameters after step 1
    grads["p0"] += 1.0                                 # a different gradient for step 2
    a.step()                     # must not change the saved state (copies, not views)
    b = Adam(twin, grads, lr=0.5)
    b.load_state_dict(state)
    assert b.t == 1 and b.lr == 0.1
    b.step()
    for k in params:
        np.testing.assert_array_equal(params[k], twin[k])


def test_clip_scales_the_global_norm_exactly_to_max_norm():
    _, grads = random_dicts(5)
    total = np.sqrt(sum((g ** 2).sum() for g in grads.values()))
    directions = {k: g / total for k, g in grads.items()}
    returned = clip_grad_norm(grads, max_norm=0.5)
    assert returned == pytest.approx(total, rel=1e-12)
    assert grad_norm(grads) == pytest.approx(0.5, rel=1e-12)
    for k, g in grads.items():        # every array scaled by the same factor 0.5 / total
        np.testing.assert_allclose(g, 0.5 * directions[k], rtol=1e-12)


def test_clip_leaves_small_gradients_alone():
    _, grads = random_dicts(6)
    before = {k: g.copy() for k, g in grads.items()}
    total = clip_grad_norm(grads, max_norm=1e6)
    assert total == pytest.approx(grad_norm(before))
    for k in grads:
        np.testing.assert_array_equal(grads[k], before[k])


def test_clip_reports_a_non_finite_norm_without_scaling():
    _, grads = random_dicts(7)
    grads["p0"][0, 0] = np.nan
    assert np.isnan(clip_grad_norm(grads, 1.0))
    grads["p0"][0, 0] = np.inf
    before = {k: g.copy() for k, g in grads.items()}
    assert clip_grad_norm(grads, 1.0) == np.inf
    for k in grads:                   # not scaled by 1/inf = 0 (which would turn inf into nan)
        np.testing.assert_array_equal(grads[k], before[k])


@pytest.mark.parametrize("bad", [0, -1.0, np.inf, np.nan])
def test_non_positive_rates_and_norms_are_value_errors(bad):
    params, grads = random_dicts()
    with pytest.raises(ValueError, match="lr must be a positive number"):
        SGD(params, grads, lr=bad)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        Adam(params, grads, lr=bad)
    with pytest.raises(ValueError, match="max_norm must be a positive number"):
        clip_grad_norm(grads, bad)


@pytest.mark.parametrize("bad", ["1", None, True])
def test_non_numeric_rates_are_type_errors(bad):
    params, grads = random_dicts()
    with pytest.raises(TypeError, match="lr must be a positive number"):
        SGD(params, grads, lr=bad)
    with pytest.raises(TypeError, match="max_norm"):
        clip_grad_norm(grads, bad)


def test_mismatched_dicts_and_bad_betas_are_rejected():
    params, grads = random_dicts()
    with pytest.raises(ValueError, match="same keys"):
        SGD(params, {"p0": grads["p0"]}, lr=1.0)
    grads["p1"] = np.zeros(5)
    with pytest.raises(ValueError, match=r"grads\['p1'\] has shape \(5,\)"):
        SGD(params, grads, lr=1.0)
    params, grads = random_dicts()
    with pytest.raises(ValueError, match="betas must be in"):
        Adam(params, grads, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="betas must be a pair"):
        Adam(params, grads, betas=(0.9,))
    with pytest.raises(TypeError, match=r"grads\['p0'\] must be a floating-point"):
        clip_grad_norm({"p0": np.arange(3)}, 1.0)


def test_load_state_dict_rejects_foreign_state_before_changing_anything():
    params, grads = random_dicts()
    opt = Adam(params, grads, lr=0.1)
    with pytest.raises(ValueError, match="missing 'v.p0'"):
        opt.load_state_dict({"name": "adam", "lr": 1.0, "betas": [0.9, 0.999], "eps": 1e-8, "t": 3})
    assert opt.lr == 0.1 and opt.t == 0
    bad = opt.state_dict()
    bad["s.p2"] = np.zeros(3)
    bad["lr"] = 0.7
    with pytest.raises(ValueError, match=r"state\['s.p2'\] has shape \(3,\)"):
        opt.load_state_dict(bad)
    assert opt.lr == 0.1
    with pytest.raises(ValueError, match="lr must be a positive number"):
        SGD(params, grads, lr=1.0).load_state_dict({"name": "sgd", "lr": -2})


def test_an_optimizer_refuses_another_kinds_state():
    params, grads = random_dicts()
    sgd, adam = SGD(params, grads, lr=0.5), Adam(params, grads, lr=0.01)
    with pytest.raises(ValueError, match="state is from optimizer 'adam', not 'sgd'"):
        sgd.load_state_dict(adam.state_dict())
    with pytest.raises(ValueError, match="state is from optimizer 'sgd', not 'adam'"):
        adam.load_state_dict(sgd.state_dict())
    assert sgd.lr == 0.5 and adam.lr == 0.01


@pytest.mark.parametrize("field, value, error, message", [
    ("betas", None, ValueError, "betas must be a pair of numbers"),
    ("betas", [0.9, "x"], ValueError, "betas must be a pair of numbers"),
    ("betas", [0.9, 1.5], ValueError, r"betas must be in \[0, 1\)"),
    ("t", -1, ValueError, r"state\['t'\] must be a non-negative int \(steps taken\), got -1"),
    ("t", 2.5, TypeError, r"state\['t'\] must be a non-negative int \(steps taken\), got 2.5 \(float\)"),
])
def test_adam_state_is_checked_before_anything_changes(field, value, error, message):
    params, grads = random_dicts()
    opt = Adam(params, grads, lr=0.01)
    state = Adam(params, grads, lr=0.5).state_dict()
    state.update({"t": 99, "v.p0": np.full_like(state["v.p0"], 7.0)})
    state[field] = value
    with pytest.raises(error, match=message):
        opt.load_state_dict(state)
    assert opt.t == 0 and opt.lr == 0.01 and not opt.v["p0"].any()


def test_grad_norm_sums_in_float64():
    """Squares of float32 entries above 1.8e19 overflow float32; the norm must not."""
    grads = {"p": np.full(10, 1e19, dtype=np.float32)}
    assert grad_norm(grads) == pytest.approx(np.sqrt(10) * 1e19, rel=1e-6)
    clip_grad_norm(grads, 1.0)
    assert np.linalg.norm(grads["p"].astype(np.float64)) == pytest.approx(1.0, rel=1e-6)


def test_make_optimizer_by_name():
    params, grads = random_dicts()
    assert isinstance(make_optimizer("sgd", params, grads, 1.0), SGD)
    assert isinstance(make_optimizer("adam", params, grads, 1e-3), Adam)
    with pytest.raises(ValueError, match="optimizer must be one of 'sgd', 'adam', got 'rmsprop'"):
        make_optimizer("rmsprop", params, grads, 1.0)


def test_grad_clipping_is_the_books_name_for_clipping_a_models_gradients():
    from minirnn.models import RNNLM
    from minirnn.optim import grad_clipping
    model = RNNLM(5, 3)
    for g in model.grads.values():
        g[...] = 1.0
    before = grad_norm(model.grads)
    assert grad_clipping(model, 0.5) == pytest.approx(before)
    assert grad_norm(model.grads) == pytest.approx(0.5, rel=1e-6)


# ---- WeightAverage: the exponential moving average of the parameters ---------------------
def test_weight_average_is_the_bias_corrected_ema_of_the_updates():
    """After updates with the parameter at p_1 .. p_t, the average is
    sum_i (1 - d) d^(t-i) p_i / (1 - d^t), written out here; with a constant parameter it
    is that constant (the bias correction); copy_to writes it into the parameters."""
    rng = np.random.default_rng(0)
    params = {"W": np.zeros((3, 2)), "b": np.zeros(2)}
    avg, d = WeightAverage(params, decay=0.9), 0.9
    seen = []
    for _ in range(5):
        for p in params.values():
            p[...] = rng.standard_normal(p.shape)
        seen.append({k: p.copy() for k, p in params.items()})
        avg.update()
    t = len(seen)
    for k in params:
        expected = sum((1 - d) * d ** (t - i) * seen[i - 1][k] for i in range(1, t + 1)) / (1 - d ** t)
        np.testing.assert_allclose(avg.averages()[k], expected, rtol=1e-12)
    const = {"W": np.full((2, 2), 3.0)}
    c = WeightAverage(const, decay=0.99)
    for _ in range(3):
        c.update()
    np.testing.assert_allclose(c.averages()["W"], 3.0, rtol=1e-12)
    target = {k: np.zeros_like(p) for k, p in params.items()}
    avg.copy_to(target)
    for k in params:
        np.testing.assert_array_equal(target[k], avg.averages()[k])


def test_weight_average_bad_input_is_named_before_anything_changes():
    params = {"W": np.zeros((2, 2))}
    for bad in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="decay"):
            WeightAverage(params, decay=bad)
    for bad in (True, "0.9", None):                             # not a number: the wrong kind
        with pytest.raises(TypeError, match="decay"):
            WeightAverage(params, decay=bad)
    with pytest.raises(TypeError, match="params"):
        WeightAverage([np.zeros(2)])
    avg = WeightAverage(params)
    with pytest.raises(RuntimeError, match="before any update"):
        avg.averages()
    avg.update()
    other = {"W": np.ones((2, 3))}
    with pytest.raises(ValueError, match="shape"):
        avg.copy_to(other)
    assert (other["W"] == 1).all()                              # unchanged
    with pytest.raises(ValueError, match="names"):
        avg.copy_to({"V": np.ones((2, 2))})


# ------------------------------------------------ bad input: WeightAverage, float16
def small_params():
    return {"W": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(3, np.float32)}


@pytest.mark.parametrize("decay", [np.float32(0.99), np.float64(0.5), 0.9])
def test_weight_average_takes_numpy_floats_as_decay(decay):
    average = WeightAverage(small_params(), decay)
    assert average.decay == float(decay)


@pytest.mark.parametrize("decay, error", [("0.9", TypeError), (None, TypeError), (True, TypeError),
                                          (np.array([0.9]), TypeError), (float("nan"), ValueError),
                                          (0, ValueError), (1, ValueError), (1.5, ValueError),
                                          (-0.1, ValueError), (float("inf"), ValueError)])
def test_weight_average_refuses_bad_decay_naming_it(decay, error):
    with pytest.raises(error, match=r"decay must be a number in \(0, 1\), got"):
        WeightAverage(small_params(), decay)


def test_weight_average_refuses_no_parameters():
    with pytest.raises(ValueError, match="params must hold at least one array, got an empty dict"):
        WeightAverage({}, 0.9)


@pytest.mark.parametrize("change, error, message", [
    (lambda p: p.__setitem__("W", np.zeros((3, 3), np.float32)), ValueError,
     r"params\['W'\] has shape \(3, 3\), its average \(2, 3\)"),
    (lambda p: p.__setitem__("b", np.zeros((1, 3), np.float32)), ValueError,   # would broadcast
     r"params\['b'\] has shape \(1, 3\), its average \(3,\)"),
    (lambda p: p.__setitem__("W", np.zeros((2, 3), np.float64)), TypeError,
     r"params\['W'\] has dtype float64, its average float32"),
    (lambda p: p.__setitem__("c", np.zeros(2, np.float32)), ValueError,
     r"params must have the averaged names \['W', 'b'\], got \['W', 'b', 'c'\]"),
    (lambda p: p.pop("b"), ValueError, r"params must have the averaged names \['W', 'b'\], got \['W'\]"),
])
def test_weight_average_update_refuses_changed_params_before_any_change(change, error, message):
    params = small_params()
    average = WeightAverage(params, 0.9)
    average.update()
    before = {k: a.copy() for k, a in average.a.items()}
    change(params)
    with pytest.raises(error, match=message):
        average.update()
    assert average.t == 1                                  # nothing changed
    for k, a in average.a.items():
        np.testing.assert_array_equal(a, before[k])


def test_weight_average_copy_to_changes_nothing_when_it_fails():
    average = WeightAverage(small_params(), 0.9)
    average.update()
    bad_dtype = {"W": np.zeros((2, 3), np.float64), "b": np.zeros(3, np.float64)}
    with pytest.raises(TypeError, match=r"params\['W'\] has dtype float64, its average float32"):
        average.copy_to(bad_dtype)
    assert not bad_dtype["W"].any() and not bad_dtype["b"].any()
    read_only = {"W": np.zeros((2, 3), np.float32), "b": np.zeros(3, np.float32)}
    read_only["b"].flags.writeable = False
    with pytest.raises(ValueError, match=r"params\['b'\] is read-only"):
        average.copy_to(read_only)
    assert not read_only["W"].any()                        # W was not written before b failed
    for bad, error, message in (
            ({"W": np.zeros((2, 3), np.float32), "c": np.zeros(3, np.float32)}, ValueError,
             r"params must have the averaged names \['W', 'b'\], got \['W', 'c'\]"),
            ({"W": np.zeros((3, 2), np.float32), "b": np.zeros(3, np.float32)}, ValueError,
             r"params\['W'\] has shape \(3, 2\), its average \(2, 3\)"),
            ([np.zeros(3, np.float32)], TypeError, "params must be a dict")):
        with pytest.raises(error, match=message):
            average.copy_to(bad)
    good = {"W": np.zeros((2, 3), np.float32), "b": np.zeros(3, np.float32)}
    average.copy_to(good)
    np.testing.assert_allclose(good["W"], small_params()["W"], rtol=1e-6)   # one update: a_hat = W


def test_float16_is_refused_by_the_optimizers():
    """float16 made Adam's parameters -inf after three steps."""
    params = {"W": np.ones(3, np.float16)}
    for opt in (SGD, Adam):
        with pytest.raises(TypeError, match=r"params\['W'\] must be a floating-point array, got "
                                            r"dtype float16"):
            opt(params, {"W": np.ones(3, np.float16)}, lr=0.1)
    with pytest.raises(TypeError, match=r"grads\['W'\] has dtype float32, params\['W'\] float64"):
        Adam({"W": np.ones(3)}, {"W": np.ones(3, np.float32)})
