"""The APIs added with the author classifier's regularisers attacked with bad input, as a
hostile but reasonable user would: ``WeightAverage``, ``SequenceClassifier.forward_steps``
/ ``backward_steps``, ``ConditionalLM.log_likelihood`` / ``classify``,
``SoftmaxCrossEntropy.token_nll``, ``author_test_passages`` and ``classify_author.py``'s
flags.  Bad input gets one clear error naming the argument, the expected and the given
value, before any state changes."""
from pathlib import Path

import numpy as np
import pytest
import runpy

from minirnn.data.tasks import author_test_passages
from minirnn.models import ConditionalLM, SequenceClassifier
from minirnn.optim import WeightAverage

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def small_params():
    return {"W": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(3, np.float32)}


# ---- WeightAverage ----------------------------------------------------------------

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


# ---- SequenceClassifier.forward_steps / backward_steps ----------------------------

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


# ---- ConditionalLM.log_likelihood / classify --------------------------------------

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


# ---- SoftmaxCrossEntropy.token_nll -------------------------------------------------


# ---- author_test_passages ----------------------------------------------------------

TEXTS = ["ab" * 300, "cd" * 125]                         # 600 and 250 characters


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(num_per_author=0), ValueError, "num_per_author must be a positive int, got 0"),
    (dict(num_per_author=2.0), TypeError, "num_per_author must be a positive int, got 2.0"),
    (dict(num_per_author=True), TypeError, "num_per_author must be a positive int, got True"),
    (dict(lengths=(0,)), ValueError, r"lengths\[0\] must be an int in \[1, 250\]"),
    (dict(lengths=(20, 260)), ValueError,
     r"lengths\[1\] must be an int in \[1, 250\] \(the shortest text's length\), got 260"),
    (dict(lengths=(20.0,)), TypeError, r"lengths\[0\] must be an int"),
    (dict(lengths=(True,)), TypeError, r"lengths\[0\] must be an int"),
    (dict(lengths=20), TypeError, "lengths must be a non-empty sequence of passage lengths, got 20"),
    (dict(lengths="20"), TypeError, "lengths must be a non-empty sequence of passage lengths, got '20'"),
    (dict(lengths=()), ValueError, r"lengths must be a non-empty sequence of passage lengths, got \(\)"),
    (dict(lengths=(20, 50, 20)), ValueError, r"lengths must not repeat a length, got \(20, 50, 20\)"),
    (dict(seed=-1), ValueError, "seed must be a non-negative int, got -1"),
    (dict(seed=1.0), TypeError, "seed must be a non-negative int, got 1.0"),
    (dict(seed=True), TypeError, "seed must be a non-negative int, got True"),
    (dict(texts="ab" * 300), TypeError, "texts must be a list of str"),
    (dict(texts=[]), ValueError, r"texts must be a non-empty list of str"),
    (dict(texts=["ab" * 300, 7]), TypeError, r"texts must be a list of str .* got int at texts\[1\]"),
])
def test_author_test_passages_refuses_bad_arguments_naming_them(kwargs, error, message):
    args = dict(texts=TEXTS, num_per_author=2, lengths=(20, 50), seed=0) | kwargs
    with pytest.raises(error, match=message):
        author_test_passages(**args)


def test_author_test_passages_keys_are_python_ints():
    tests = author_test_passages(TEXTS, 2, np.array([20, 50]), seed=0)
    assert list(tests) == [20, 50] and all(type(L) is int for L in tests)   # JSON-able keys
    assert tests[20][0] == author_test_passages(TEXTS, 2, (20, 50), seed=0)[20][0]


# ---- classify_author.py flags ------------------------------------------------------

def test_classify_author_refuses_a_negative_seed(tmp_path, capsys):
    main = runpy.run_path(str(EXAMPLES / "classify_author.py"), run_name="example")["main"]
    with pytest.raises(SystemExit) as exit_info:
        main(["--seed", "-1", "--out", str(tmp_path / "bad")])
    assert exit_info.value.code == 2
    assert "--seed must be an integer >= 0, got '-1'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
