"""Whole-model gradient checks through BPTT, and the RNNLM / MLP contracts.  The task models
(classifier, tagger, conditional LM, seq2seq) with padded batches: bad ids, lengths and
classes named before any cache, parameter or gradient changes, and padding ids that change
no real position's output."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minirnn.gradcheck import assert_gradients_ok, check_layer, check_model, randomize_params
from minirnn.losses import SoftmaxCrossEntropy
from minirnn.layers import Embedding, Linear, Module
from minirnn.models import (MLP, MODELS, RNNLM, ConditionalLM, Seq2Seq, SequenceClassifier,
                            SequenceTagger, build_model, model_name)
from minirnn.optim import SGD, clip_grad_norm, grad_norm

from helpers import assert_unchanged, prepared, snapshot


@pytest.mark.parametrize("embed_dim", [None, 3])
@pytest.mark.parametrize("with_state", [False, True])
def test_rnnlm_gradients_through_bptt(embed_dim, with_state):
    """Every parameter and the initial state, through 9 time steps."""
    B, T, V, H = 2, 9, 5, 4
    rng = np.random.default_rng(0)
    model = prepared(RNNLM(V, H, embed_dim=embed_dim), 1)
    X = rng.integers(0, V, size=(B, T))
    state = (rng.standard_normal((1, B, H)),) if with_state else None
    errors = check_model(model, X, state)
    expected = {"rnn.W_xh", "rnn.W_hh", "rnn.b_h", "output.W", "output.b"}
    expected |= {"embedding.W"} if embed_dim else set()
    expected |= {"state[0]"} if with_state else set()
    assert set(errors) == expected
    assert_gradients_ok(errors)


@given(B=st.integers(1, 3), T=st.integers(1, 10), V=st.integers(2, 6), H=st.integers(1, 4),
       seed=st.integers(0, 2**16))
def test_rnnlm_gradients_random_shapes(B, T, V, H, seed):
    rng = np.random.default_rng(seed)
    model = prepared(RNNLM(V, H, embed_dim=2), seed)
    assert_gradients_ok(check_model(model, rng.integers(0, V, size=(B, T)),
                                    (rng.standard_normal((1, B, H)),)))


def test_rnnlm_with_loss_gradients():
    """The loss on top of the model, as training uses it: d(mean CE)/d(params)."""
    B, T, V, H = 3, 8, 6, 5
    rng = np.random.default_rng(4)
    model = prepared(RNNLM(V, H), 5)
    X, Y = rng.integers(0, V, size=(B, T)), rng.integers(0, V, size=(B, T))
    loss = SoftmaxCrossEntropy()

    class WithLoss:
        params, grads = model.params, model.grads

        def forward(self):
            return loss.forward(model.forward(X)[0], Y)

        def backward(self, dout):
            model.backward(loss.backward(dout))

    assert_gradients_ok(check_layer(WithLoss()))


def test_rnnlm_shapes_keys_and_state():
    model = RNNLM(28, 16, seed=0)
    assert list(model.params) == ["rnn.W_xh", "rnn.W_hh", "rnn.b_h", "output.W", "output.b"]
    assert list(RNNLM(28, 16, embed_dim=8).params)[0] == "embedding.W"
    X = np.random.default_rng(0).integers(0, 28, size=(4, 7))
    logits, state = model.forward(X, model.begin_state(4))
    assert isinstance(state, tuple) and len(state) == 1                # (h,), as PyTorch's nn.RNN
    assert logits.shape == (4, 7, 28) and state[0].shape == (1, 4, 16)
    assert logits.dtype == np.float32 and state[0].dtype == np.float32
    (h0,) = model.begin_state(4)
    assert h0.shape == (1, 4, 16) and not h0.any()
    assert model.params["rnn.W_hh"] is model.rnn.params["W_hh"]   # the layers' own arrays


def test_rnnlm_logits_are_batch_major_version_of_time_major_layers():
    """logits[b, t] is the output layer applied to the RNN's H_t for sequence b."""
    model = RNNLM(7, 5, seed=3).astype(np.float64)
    randomize_params(model, np.random.default_rng(2))
    X = np.random.default_rng(1).integers(0, 7, size=(3, 4))
    logits, _ = model.forward(X)
    Hs, _ = model.rnn.forward(np.eye(7)[X.T])
    np.testing.assert_allclose(logits[2, 1], Hs[1, 2] @ model.params["output.W"] + model.params["output.b"])


def test_state_carried_across_minibatches_equals_one_long_sequence():
    """Sequential partitioning: forward on [X1, X2] == forward X1, then X2 from its state."""
    model = RNNLM(6, 4, seed=0).astype(np.float64)
    randomize_params(model, np.random.default_rng(0))
    X = np.random.default_rng(5).integers(0, 6, size=(2, 10))
    whole, _ = model.forward(X)
    whole = whole.copy()
    first, state = model.forward(X[:, :4])
    first = first.copy()
    second, _ = model.forward(X[:, 4:], state)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-12)


def test_rnnlm_float64_cast_and_zero_grad():
    model = RNNLM(5, 3, embed_dim=2)
    assert all(p.dtype == np.float32 for p in model.params.values())
    model.astype(np.float64)
    assert all(p.dtype == np.float64 for p in model.params.values())
    assert all(g.dtype == np.float64 for g in model.grads.values())
    X = np.array([[0, 1, 2], [3, 4, 0]])
    logits, _ = model.forward(X)
    model.backward(np.ones_like(logits))
    assert all(g.any() for g in model.grads.values())
    model.zero_grad()
    assert not any(g.any() for g in model.grads.values())


def test_rnnlm_two_backward_calls_accumulate():
    model = prepared(RNNLM(5, 3), 0)
    X = np.array([[0, 1, 2, 4], [3, 4, 0, 0]])
    G = np.random.default_rng(0).standard_normal((2, 4, 5))
    model.forward(X)
    model.backward(G)
    once = {k: g.copy() for k, g in model.grads.items()}
    model.forward(X)
    model.backward(G)
    for k, g in model.grads.items():
        np.testing.assert_allclose(g, 2 * once[k], rtol=1e-12, err_msg=k)


def test_mlp_is_the_books_and_checks():
    mlp = MLP()
    assert [tuple(p.shape) for p in mlp.params.values()] == [(4, 10), (10,), (10, 1), (1,)]
    bound = np.sqrt(6 / (4 + 10))                               # Xavier uniform, as the book
    assert np.abs(mlp.params["0.W"]).max() <= bound
    x = np.random.default_rng(0).standard_normal((16, 4))
    assert_gradients_ok(check_layer(mlp, x))


# ------------------------------------------------------------------ the model protocol
def test_config_rebuilds_the_model_through_the_registry():
    for model in (RNNLM(7, 5, embed_dim=5, nonlinearity="relu", init="uniform", tie_weights=True),
                  RNNLM(7, 3), MLP(4, 6, 2)):
        name = model_name(model)
        assert MODELS[name] is type(model)
        import json
        config = json.loads(json.dumps(model.config()))                # JSON-able
        twin = build_model(name, config)
        assert twin.config() == model.config()
        assert {k: v.shape for k, v in twin.params.items()} == {k: v.shape for k, v in model.params.items()}
    with pytest.raises(ValueError, match=r"unknown model 'gpt'; registered: (\w+, )*mlp, (\w+, )*rnnlm"):
        build_model("gpt", {})
    with pytest.raises(ValueError, match="config does not fit model 'rnnlm'.*num_layer"):
        build_model("rnnlm", {"vocab_size": 5, "num_hiddens": 3, "num_layer": 2})
    with pytest.raises(TypeError, match="model must be a registered minirnn model"):
        model_name(Linear(2, 3))


# ------------------------------------------------------------------ shared parameters
def test_a_shared_array_is_listed_once_and_its_gradient_sums_both_uses():
    class TwoUses(Module):
        """One Linear used twice: y = f(f(x) ... ) with f(x) = x W + b, the same W and b."""
        def __init__(self):
            super().__init__()
            self.add("first", Linear(3, 3, seed=0, dtype=np.float64))
            self.add("again", self.first)                              # the same layer twice

        def forward(self, x):
            self.h = self.first.forward(x)
            self.h = self.h.copy()
            self.x2 = np.tanh(self.h)
            self.first_cache = self.first.cache
            return self.again.forward(self.x2)                         # overwrites the cache

        def backward(self, dy):
            dx2 = self.first.backward(dy)                              # second use (its cache)
            self.first.cache = self.first_cache                        # first use
            return self.first.backward(dx2 * (1 - self.x2 ** 2))

    m = TwoUses()
    assert list(m.params) == ["first.W", "first.b"]                    # once, first name wins
    assert m.params["first.W"] is m.first.params["W"]
    randomize_params(m, np.random.default_rng(0))
    errors = check_layer(m, np.random.default_rng(1).standard_normal((4, 3)), input_names=["x"])
    assert set(errors) == {"first.W", "first.b", "x"}
    assert_gradients_ok(errors)                                        # the sum of both uses


@pytest.mark.parametrize("embed_dim", [6])
def test_tied_weights_are_one_array_checked_and_updated_once(embed_dim):
    V, H = 9, embed_dim
    model = prepared(RNNLM(V, H, embed_dim=embed_dim, tie_weights=True), 3)
    assert list(model.params) == ["embedding.W", "rnn.W_xh", "rnn.W_hh", "rnn.b_h", "output.b"]
    W = model.params["embedding.W"]
    assert np.shares_memory(model.output.params["W"], W)               # W_hq = W_emb^T, a view
    rng = np.random.default_rng(0)
    X = rng.integers(0, V, size=(2, 5))
    errors = check_model(model, X, (rng.standard_normal((1, 2, H)),))
    assert set(errors) == set(model.params) | {"state[0]"}
    assert_gradients_ok(errors)                                        # the sum of both uses
    # an update moves the shared matrix once: W <- W - lr g, not W - 2 lr g
    model.zero_grad()
    logits, _ = model.forward(X)
    model.backward(rng.standard_normal(logits.shape))
    g = model.grads["embedding.W"].copy()
    before = W.copy()
    norm = grad_norm(model.grads)
    assert norm == pytest.approx(np.sqrt(sum(float((v ** 2).sum()) for v in model.grads.values())))
    SGD(model.params, model.grads, lr=0.1).step()
    np.testing.assert_allclose(W, before - 0.1 * g, rtol=1e-12)
    np.testing.assert_array_equal(model.output.params["W"], W.T)       # still tied
    model.astype(np.float32)                                          # a cast keeps the tie
    assert np.shares_memory(model.output.params["W"], model.params["embedding.W"])
    assert np.shares_memory(model.output.grads["W"], model.grads["embedding.W"])
    assert clip_grad_norm(model.grads, 1.0) >= 0


def test_tie_weights_needs_matching_sizes():
    with pytest.raises(ValueError, match="tie_weights needs embed_dim equal to num_hiddens.*"
                                         "embed_dim=None, num_hiddens=4"):
        RNNLM(5, 4, tie_weights=True)
    with pytest.raises(ValueError, match="embed_dim=3, num_hiddens=4"):
        RNNLM(5, 4, embed_dim=3, tie_weights=True)


# ------------------------------------------------------------------ caches
def test_caches_are_public_named_and_writing_into_outputs_is_refused():
    model = RNNLM(6, 4, embed_dim=3, seed=0)
    X = np.random.default_rng(0).integers(0, 6, size=(2, 5))
    model.forward(X)
    cache = model.rnn.cache
    assert cache._fields == ("X", "H", "lengths") and cache.lengths is None and cache.X.shape == (5, 2, 3) and cache.H.shape == (6, 2, 4)
    assert model.embedding.cache.ids.shape == (5, 2) and model.output.cache.x.shape == (5, 2, 4)
    Hs, _ = model.rnn.forward(cache.X)
    with pytest.raises(ValueError, match="read-only"):                 # backward reads H: intact
        Hs[0] += 1.0
    first, _ = model.rnn.forward(cache.X)
    first = first.copy()
    model.rnn.forward(cache.X[:, :1])                                   # a later forward ...
    np.testing.assert_array_equal(Hs, first)                            # ... leaves Hs as it was


# ------------------------------------------------------------------ gated, deep, bidirectional
@pytest.mark.parametrize("cell, stack", [
    ("gru", {}), ("gru", {"reset_after": True}), ("lstm", {}),
    ("lstm", {"num_layers": 2, "dropout": 0.5}), ("gru", {"bidirectional": True}),
    ("rnn", {"num_layers": 2, "bidirectional": True, "dropout": 0.3}),
])
def test_gated_and_stacked_language_models_through_bptt(cell, stack):
    """Whole models, every parameter and every state array, dropout on with fixed masks."""
    B, T, V, H = 2, 6, 5, 3
    rng = np.random.default_rng(2)
    model = prepared(RNNLM(V, H, embed_dim=4, cell=cell, **stack), 3)
    width = H * model.rnn.num_directions
    for dropout in model.rnn.dropouts:
        dropout.fixed_mask = (rng.random((T, B, width)) >= dropout.p) / (1 - dropout.p)
    state = tuple(rng.standard_normal(s.shape) for s in model.begin_state(B))
    errors = check_model(model, rng.integers(0, V, size=(B, T)), state, eps=1e-5)
    assert set(errors) == set(model.params) | {f"state[{i}]" for i in range(len(state))}
    assert_gradients_ok(errors)


def test_a_bidirectional_model_reads_the_future():
    """Why the book's bidirectional LM generates gibberish: its output at step t changes
    when a later token changes; a one-direction model's does not."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 6, size=(1, 8))
    Y = X.copy()
    Y[0, 6] = (X[0, 6] + 1) % 6                                 # change a later token
    for bidirectional in (False, True):
        model = RNNLM(6, 4, cell="lstm", bidirectional=bidirectional, init="uniform", seed=0)
        a, _ = model.forward(X)
        b, _ = model.forward(Y)
        assert np.allclose(a[0, :6], b[0, :6]) != bidirectional


# ------------------------------------------------ bad input: ids, states, shapes
def test_token_ids_are_checked():
    model = RNNLM(28, 8)
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(ValueError, match="token id 31 in X out of range for vocab_size 28"):
        model.forward(np.array([[1, 31]]))
    with pytest.raises(ValueError, match="token id -1 in X is negative"):
        model.forward(np.array([[1, -1]]))
    with pytest.raises(TypeError, match="X must hold integer token ids, got dtype float64"):
        model.forward(np.array([[1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"X must be a non-empty int array of token ids with shape \(batch, num_steps\), got \(5,\)"):
        model.forward(np.arange(5))
    with pytest.raises(ValueError, match="token id 9 in ids out of range for vocab_size 4"):
        Embedding(4, 2).forward(np.array([[9]]))
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k])


def test_state_shape_is_checked():
    model = RNNLM(5, 8)
    with pytest.raises(ValueError, match=r"state\[0\] must have shape \(1, 2, 8\), got \(1, 2, 7\)"):
        model.forward(np.zeros((2, 3), dtype=int), (np.zeros((1, 2, 7), dtype=np.float32),))
    with pytest.raises(TypeError, match=r"state must be a tuple of 1 array\(s\) of shape \(1, 2, 8\), "
                                        r"got ndarray \(a tuple: wrap one array as \(h,\)\)"):
        model.forward(np.zeros((2, 3), dtype=int), np.zeros((1, 2, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"state must be a tuple of 1 array\(s\).*got a tuple of 2"):
        model.forward(np.zeros((2, 3), dtype=int), model.begin_state(2) * 2)


def test_rnnlm_backward_shape_checked():
    model = RNNLM(5, 3)
    model.forward(np.zeros((2, 4), dtype=int))
    with pytest.raises(ValueError, match=r"dlogits must have shape \(2, 4, 5\), got \(4, 2, 5\)"):
        model.backward(np.zeros((4, 2, 5), np.float32))


@pytest.mark.parametrize("dstate, keep, message", [
    ((np.zeros((1, 5, 3), np.float32),), None, r"dstate\[0\] must have shape \(1, 2, 3\), got \(1, 5, 3\)"),
    (None, np.ones(3), r"keep must have shape \(4,\) or \(4, 2\), got \(3,\)"),
])
def test_rnnlm_backward_checks_everything_before_any_gradient_changes(dstate, keep, message):
    model = RNNLM(5, 3)
    model.forward(np.zeros((2, 4), dtype=int))
    with pytest.raises(ValueError, match=message):
        model.backward(np.ones((2, 4, 5), np.float32), dstate, keep=keep)
    assert not any(g.any() for g in model.grads.values())


def test_astype_to_the_same_dtype_keeps_the_arrays_an_optimizer_holds():
    model = RNNLM(5, 3)
    before = dict(model.params)
    model.astype(np.float32)
    assert all(model.params[k] is before[k] for k in before)


def test_classifier_steps_refuse_bad_input_and_keep_the_gradients():
    model = SequenceClassifier(7, 3, 5, embed_dim=4, seed=0)
    X, lengths = np.array([[1, 2, 3, 4], [2, 3, 1, 0]]), np.array([4, 2])
    for flag in ("yes", 1, None):
        with pytest.raises(TypeError, match="return_states must be True or False"):
            model.forward_steps(X, lengths, return_states=flag)
    logits, Hs = model.forward_steps(X, lengths, return_states=True)
    with pytest.raises(ValueError, match="read-only"):
        Hs[0] = 1.0
    model.zero_grad()
    dlogits = np.ones_like(logits)
    for dHs, error, message in ((np.zeros((4, 2, 6), np.float32), ValueError, r"dHs must have shape \(4, 2, 5\)"),
                                (np.zeros((2, 4, 5), np.float32), ValueError, r"dHs must have shape \(4, 2, 5\)"),
                                (np.zeros((4, 2, 5)), TypeError, "dHs has dtype float64"),
                                (np.zeros((4, 2, 5), int), TypeError, "dHs must be a floating-point array"),
                                ([[0.0]], TypeError, "dHs must be a numpy array")):
        with pytest.raises(error, match=message):
            model.backward_steps(dlogits, dHs)
        assert not any(g.any() for g in model.grads.values())
    model.forward(X, None, lengths)
    with pytest.raises(RuntimeError, match="backward_steps must follow forward_steps, not forward"):
        model.backward_steps(dlogits, np.zeros((4, 2, 5), np.float32))
    assert not any(g.any() for g in model.grads.values())


def test_conditional_lm_scoring_errors_name_the_argument():
    model = ConditionalLM(7, 3, 5, embed_dim=4, class_dim=2, seed=0)
    X, classes, lengths = np.array([[1, 2, 3, 4], [2, 3, 1, 0]]), np.array([0, 2]), np.array([4, 2])
    for bad_classes, error, message in (
            (np.array([0, 3]), ValueError, r"token id 3 in classes out of range for vocab_size 3"),
            (np.array([-1, 0]), ValueError, r"token id -1 in classes is negative; ids must be in \[0, 3\)"),
            (np.array([0.0, 1.0]), TypeError, "classes must be an int numpy array"),
            (np.array([0]), ValueError, r"classes must have shape \(2,\)")):
        with pytest.raises(error, match=message):
            model.log_likelihood(X, bad_classes, lengths)
    for score in (lambda x, n: model.log_likelihood(x, classes, n), model.classify):
        for bad_X, bad_lengths, error, message in (
                (X.astype(float), lengths, TypeError, "X must hold integer token ids"),
                (X + 5, lengths, ValueError, "token id 9 in X out of range for vocab_size 7"),
                (X[0], lengths, ValueError, r"X must be .* got \(4,\)"),
                (X[:0], None, ValueError, r"X must be a non-empty .* got \(0, 4\)"),
                (X, np.array([0, 2]), ValueError, r"lengths must be in \[1, 4\] .* got 0"),
                (X, np.array([5, 2]), ValueError, r"lengths must be in \[1, 4\] .* got 5"),
                (X, np.array([4, 2, 1]), ValueError, r"lengths must have shape \(2,\)")):
            with pytest.raises(error, match=message):
                score(bad_X, bad_lengths)
    # one token: it is given, nothing is predicted: log p = 0 under every class (a tie: class 0)
    np.testing.assert_array_equal(model.log_likelihood(X[:, :1], classes), [0.0, 0.0])
    np.testing.assert_array_equal(model.classify(X[:, :1]), [0, 0])


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_adding_regressor_gradients(cell):
    """Every parameter of the whole model, float64, a random upstream gradient (X, the
    adding problem's numbers, gets no gradient: backward returns None)."""
    from minirnn.data.tasks import adding_problem
    from minirnn.gradcheck import check_gradients
    from minirnn.models import AddingRegressor
    model = AddingRegressor(cell, 3, np.random.default_rng(0), "xavier").astype(np.float64)
    randomize_params(model, np.random.default_rng(1))
    X, _ = adding_problem(np.random.default_rng(2), 4, 6)
    # eps 1e-4: entries of ~5e-6 (saturated gates) are past round-off at 1e-6 (as the
    # tagger's, tests/test_tagger.py), the truncation error at 1e-4 stays far under 1e-6
    errors = check_gradients(lambda X: model.forward(X)[0], lambda dy: model.backward(dy),
                             model.params, model.grads, (X.astype(np.float64),), wrt=[],
                             eps=1e-4)
    assert set(errors) == set(model.params) and "output.W" in errors
    assert_gradients_ok(errors)


def test_adding_regressor_forget_bias_and_last_step_mse():
    from minirnn.data.tasks import adding_problem
    from minirnn.models import AddingRegressor
    lstm = AddingRegressor("lstm", 4, np.random.default_rng(0), "xavier", forget_bias=1.0)
    b = lstm.params["rnn.b"]
    np.testing.assert_array_equal(b[4:8], 1.0)                  # b_f, gate block f of i, f, o, c
    assert not np.any(b[:4]) and not np.any(b[8:])
    X, y = adding_problem(np.random.default_rng(1), 5, 8)
    value = lstm.last_step_backward(X, y)
    assert value == pytest.approx(float(np.mean((lstm.forward(X)[0] - y) ** 2)), rel=1e-5)
    assert np.abs(lstm.grads["output.W"]).max() > 0


# ----------------------------------------------------------------- the task models, padded
V = 6
IDS = np.array([[1, 2, 3], [4, 0, 0]])
LENGTHS = np.array([3, 1])


def model_calls():
    """(name, model, forward(ids, lengths)) for each task model, unidirectional and not."""
    out = []
    for bi in (False, True):
        m = SequenceClassifier(V, 3, 4, 2, bidirectional=bi, num_layers=2)
        out.append((f"classifier bi={bi}", m, lambda X, L, m=m: m.forward(X, None, L)))
        m = SequenceTagger(V, 2, 4, embed_dim=2, bidirectional=bi, num_layers=2)
        out.append((f"tagger bi={bi}", m, lambda X, L, m=m: m.forward(X, None, L)))
    for cond in ("state", "input"):
        m = ConditionalLM(V, 2, 4, 3, 2, conditioning=cond, cell="lstm")
        out.append((f"conditional {cond}", m,
                    lambda X, L, m=m: m.forward((X, np.zeros(X.shape[:1], np.int64)), None, L)))
    m = Seq2Seq(V, V, 3, 4, num_layers=2)
    out.append(("seq2seq src", m, lambda X, L, m=m: m.forward((X, np.ones((X.shape[0], 2), np.int64)), None, (L, None))))
    return out


BAD_IDS = [
    (np.array([[1, 2, 3], [4, V, V]]), LENGTHS, ValueError, rf"token id {V} in \w+ out of range for vocab_size {V}"),
    (np.array([[1, 2, 3], [4, -1, -1]]), LENGTHS, ValueError, r"token id -1 in \w+ is negative"),
    (IDS, np.array([4, 1]), ValueError, r"lengths must be in \[1, 3\].*got 4"),
    (IDS, np.array([0, 1]), ValueError, r"lengths must be in \[1, 3\].*got 0"),
    (IDS, np.array([3, 1, 1]), ValueError, r"lengths must have shape \(2,\).*got \(3,\)"),
    (IDS, [3, 1], TypeError, r"lengths must be a numpy array"),
    (IDS, np.array([3.0, 1.0]), TypeError, r"lengths must hold integers"),
    (IDS.astype(np.float64), LENGTHS, TypeError, r"must hold integer token ids, got dtype float64"),
    (np.zeros((0, 3), np.int64), None, ValueError, r"int array of .*ids with shape \(batch, num_steps\).*got \(0, 3\)"),
    (np.zeros((2, 0), np.int64), None, ValueError, r"int array of .*ids with shape \(batch, num_steps\).*got \(2, 0\)"),
    (np.zeros((0, 3), np.int64), np.zeros(0, np.int64), ValueError, r"int array of .*ids with shape"),
]


@pytest.mark.parametrize("ids, lengths, error, message", BAD_IDS)
def test_task_models_name_bad_ids_and_lengths_before_anything_changes(ids, lengths, error, message):
    for name, model, forward in model_calls():
        forward(IDS, LENGTHS)                                  # a good padded forward first
        before = snapshot(model)
        layer_caches = {k: getattr(l, "cache", None) for k, l in
                        ((k, l) for k, l in _walk(model))}
        with pytest.raises(error, match=message):
            forward(ids, lengths)
        after = {k: getattr(l, "cache", None) for k, l in _walk(model)}
        changed = [k for k in after if after[k] is not layer_caches[k]]
        assert not changed, f"{name}: caches changed before the error: {changed}"
        assert_unchanged(model, before, name)


def _walk(layer, prefix="model"):
    yield prefix, layer
    for i, sub in enumerate(layer.sublayers()):
        yield from _walk(sub, f"{prefix}.{i}")


def test_conditional_lm_names_bad_classes_before_anything_changes():
    m = ConditionalLM(V, 2, 4, 3, 2)
    m.forward((IDS, np.array([0, 1])), None, LENGTHS)
    h0, cache = m.h0, m.rnn.cache
    for classes, error, message in [
            (np.array([0, 2]), ValueError, r"token id 2 in classes out of range for vocab_size 2"),
            (np.array([0., 1.]), TypeError, r"classes must be an int numpy array of shape \(2,\)"),
            (np.array([True, False]), TypeError, r"classes must be an int numpy array"),
            ([0, 1], TypeError, r"classes must be an int numpy array"),
            (1, TypeError, r"classes must be an int numpy array"),
            (np.array([0, 1, 1]), ValueError, r"classes must have shape \(2,\).*got \(3,\)")]:
        with pytest.raises(error, match=message):
            m.forward((IDS, classes), None, LENGTHS)
        assert m.h0 is h0 and m.rnn.cache is cache


def test_the_tagger_ignores_whatever_dlogits_hold_at_padded_positions():
    """Its padded logits are the constant 0 (docstring: their dlogits are ignored), so a NaN
    there must not reach a gradient: masked out, not multiplied by 0."""
    m = SequenceTagger(V, 2, 4, embed_dim=2, bidirectional=True)
    O, _ = m.forward(IDS, None, LENGTHS)
    d = np.random.default_rng(0).standard_normal(O.shape).astype(np.float32)
    m.zero_grad()
    m.backward(d)
    expected = {k: g.copy() for k, g in m.grads.items()}
    d[1, 1:] = np.nan
    m.zero_grad()
    m.backward(d)
    for k, g in m.grads.items():
        np.testing.assert_array_equal(g, expected[k], err_msg=k)


def test_the_task_models_padding_ids_change_nothing_and_give_finite_outputs():
    """Saturating weights (x30), every cell, stacks, both directions: the logits of real
    positions are exactly those with other ids in the padding, and finite."""
    from minirnn.gradcheck import randomize_params
    rng = np.random.default_rng(0)
    for trial in range(12):
        B, T = int(rng.integers(1, 5)), int(rng.integers(1, 8))
        L = rng.integers(1, T + 1, size=B)
        X = rng.integers(0, V, size=(B, T))
        pad = np.arange(T)[None] >= L[:, None]                 # (B, T)
        X2 = X.copy()
        X2[pad] = rng.integers(0, V, size=pad.sum())
        cell, bi, nl = ["rnn", "gru", "lstm"][trial % 3], bool(trial % 2), 1 + (trial // 3) % 2
        zeros = np.zeros(B, np.int64)
        for m, f in [
                (SequenceClassifier(V, 3, 4, 3, cell=cell, bidirectional=bi, num_layers=nl, seed=trial),
                 lambda m, ids: m.forward(ids, None, L)[0]),
                (SequenceTagger(V, 2, 4, embed_dim=3, cell=cell, bidirectional=bi, num_layers=nl, seed=trial),
                 lambda m, ids: m.forward(ids, None, L)[0][~pad]),
                (ConditionalLM(V, 2, 4, 3, 2, cell=cell, num_layers=nl, seed=trial),
                 lambda m, ids: m.forward((ids, zeros), None, L)[0][~pad]),
                (Seq2Seq(V, V, 3, 4, cell=cell, num_layers=nl, seed=trial),
                 lambda m, ids: m.forward((ids, ids), None, (L, L))[0][~pad])]:
            randomize_params(m, np.random.default_rng(trial))
            for p in m.params.values():
                p *= 30
            a, b = f(m, X), f(m, X2)
            assert np.isfinite(a).all(), type(m).__name__
            np.testing.assert_array_equal(a, b, err_msg=f"{type(m).__name__} {cell} bi={bi} layers={nl}")


@pytest.mark.parametrize("ids", [np.zeros((0, 3), np.int64), np.zeros((2, 0), np.int64)])
def test_the_language_model_names_an_empty_batch_before_its_embedding_runs(ids):
    from minirnn.models import RNNLM
    m = RNNLM(V, 3, embed_dim=2)
    m.forward(IDS)
    cache = m.embedding.cache, m.rnn.cache
    with pytest.raises(ValueError, match=r"X must be a non-empty int array of token ids.*got "
                                         + re_shape(ids.shape)):
        m.forward(ids)
    assert m.embedding.cache is cache[0] and m.rnn.cache is cache[1]


def re_shape(shape):
    return r"\(" + ", ".join(map(str, shape)) + r"\)"
