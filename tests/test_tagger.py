"""minirnn.models.tagger, the aligned many-to-many task: SequenceTagger and examples/segment_words.py.

Gradient checks of the whole tagger with ``lengths`` (every parameter, float64, the masked
loss on top too), a padded batch against each sequence alone, padding that changes
nothing (ids, logits, targets, upstream gradients), the config / checkpoint round trip, bad input, and the example's
fast setting.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minirnn import checkpoint
from minirnn.data import Vocab, pad_sequences, sequence_mask
from minirnn.gradcheck import assert_gradients_ok, check_gradients, check_layer, randomize_params
from minirnn.losses import SoftmaxCrossEntropy
from minirnn.models import MODELS, SequenceTagger, build_model, model_name

#: The centered difference's step.  Whole taggers have entries whose gradient is about 1e-6
#: of their array's largest (saturated gates); there round-off, about 1e-16 |f| / eps,
#: decides.  Measured on the two-layer bidirectional GRU below, the worst entry of
#: rnn.l1.b (gradient 2.1e-6) is off by 2.7e-7 at eps 1e-4, 6.5e-6 at 1e-5 and 3.9e-4 at
#: 1e-7: the error grows as eps shrinks, round-off and not a wrong derivative.  At 1e-4 the
#: truncation error, about eps^2 |f'''| / 6, stays small (every case here passes at 3e-7
#: or less), far under the 1e-6 tolerance that a wrong derivative breaks.
EPS = 1e-4
V, K, H, E = 6, 2, 3, 3
LENGTHS = np.array([4, 6, 1, 3])            # unsorted, with 1 and T = 6
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CASES = [("rnn", False, 1, E), ("gru", False, 1, E), ("lstm", False, 1, E),
         ("rnn", True, 1, None), ("gru", True, 1, E), ("lstm", True, 1, E), ("gru", True, 2, E)]


def tagger(cell="gru", bidirectional=False, num_layers=1, embed_dim=E, seed=1):
    """A float64 tagger with parameters of order one (randomize_params)."""
    model = SequenceTagger(V, K, H, embed_dim=embed_dim, cell=cell, num_layers=num_layers,
                           bidirectional=bidirectional).astype(np.float64)
    randomize_params(model, np.random.default_rng([seed, 1]))
    return model


def padded_batch(rng, lengths=LENGTHS):
    """Random ids (B, T); the padding is random ids too, which lengths must make ignored."""
    return rng.integers(0, V, size=(len(lengths), int(lengths.max())))


# ------------------------------------------------------------------ gradient checks
@pytest.mark.parametrize("cell, bidirectional, num_layers, embed_dim", CASES)
def test_tagger_gradients_with_lengths(cell, bidirectional, num_layers, embed_dim):
    """Every parameter, through the padded batch, against a random upstream gradient."""
    model = tagger(cell, bidirectional, num_layers, embed_dim)
    X = padded_batch(np.random.default_rng(0))
    model.astype(np.float64)
    errors = check_gradients(lambda X, lengths: model.forward(X, None, lengths)[0],
                             lambda dlogits: model.backward(dlogits), model.params, model.grads,
                             (X, LENGTHS), input_names=["X", "lengths"], eps=EPS)
    assert set(errors) == set(model.params)
    assert {"output.W", "output.b"} <= set(errors) and any(k.startswith("rnn.") for k in errors)
    assert ("embedding.W" in errors) == (embed_dim is not None)
    assert_gradients_ok(errors)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_tagger_gradients_through_the_state(cell):
    """The protocol's state: a given initial state gets its gradient back, and the final
    state's upstream gradient flows in beside the logits'."""
    model = tagger(cell, False, 2, 3)
    rng = np.random.default_rng(5)
    state = tuple(rng.standard_normal(model.rnn.state_shape(len(LENGTHS)))
                  for _ in model.rnn.state_names)
    errors = check_layer(model, padded_batch(rng), state, LENGTHS,
                         input_names=["X", "state", "lengths"], eps=EPS)
    assert {f"state[{i}]" for i in range(len(state))} <= set(errors)
    assert_gradients_ok(errors)


@pytest.mark.parametrize("cell, bidirectional", [("rnn", True), ("gru", False), ("lstm", True)])
def test_tagger_with_masked_loss_gradients(cell, bidirectional):
    """The training objective itself: d(mean CE over real tokens)/d(every parameter)."""
    rng = np.random.default_rng(3)
    model = tagger(cell, bidirectional, seed=4)
    X, Y = padded_batch(rng), rng.integers(0, K, size=(len(LENGTHS), LENGTHS.max()))
    mask = sequence_mask(LENGTHS, int(LENGTHS.max()))
    loss = SoftmaxCrossEntropy()

    def forward():
        return loss.forward(model.forward(X, lengths=LENGTHS)[0], Y, mask=mask)

    def backward(dout):
        model.backward(loss.backward(dout))

    errors = check_gradients(forward, backward, model.params, model.grads, (), eps=EPS)
    assert set(errors) == set(model.params)
    assert_gradients_ok(errors)


# ------------------------------------------------- a padded batch is each sequence alone
@pytest.mark.parametrize("cell, bidirectional, num_layers, embed_dim", CASES)
def test_padded_batch_equals_each_sequence_alone(cell, bidirectional, num_layers, embed_dim):
    """Logits (0 past each length) and every parameter gradient of the padded batch are
    those of the sequences run one by one, unpadded, with their slices of dlogits."""
    rng = np.random.default_rng(5)
    model = tagger(cell, bidirectional, num_layers, embed_dim, seed=6)
    X = padded_batch(rng)
    G = rng.standard_normal(X.shape + (K,))                      # dL/dlogits (B, T, K)
    model.zero_grad()
    logits = model.forward(X, lengths=LENGTHS)[0]
    model.backward(G)
    batch_grads = {k: g.copy() for k, g in model.grads.items()}

    model.zero_grad()                                            # grads add up over the rows
    for b, n in enumerate(LENGTHS):
        alone, _ = model.forward(X[b:b + 1, :n])                    # (1, n, K), no lengths
        np.testing.assert_allclose(logits[b, :n], alone[0], rtol=1e-12, atol=1e-12)
        model.backward(G[b:b + 1, :n])
        assert not logits[b, n:].any(), "padded positions must give 0 logits"
    for k, g in model.grads.items():
        np.testing.assert_allclose(batch_grads[k], g, rtol=1e-10, atol=1e-12, err_msg=k)


# ------------------------------------------------------------ padding changes nothing
def test_masked_loss_ignores_padded_logits_and_targets():
    """Changing what sits at padded positions (logits and targets) changes neither the
    loss nor its gradient at real positions; the gradient at padded positions is 0."""
    rng = np.random.default_rng(7)
    B, T = len(LENGTHS), int(LENGTHS.max())
    mask = sequence_mask(LENGTHS, T)
    logits, Y = rng.standard_normal((B, T, K)), rng.integers(0, K, size=(B, T))
    loss = SoftmaxCrossEntropy()
    value, grad = loss.forward(logits, Y, mask=mask), loss.backward()
    logits2, Y2 = logits.copy(), Y.copy()
    logits2[~mask] = rng.standard_normal(((~mask).sum(), K)) * 10
    Y2[~mask] = 1 - Y2[~mask]
    value2, grad2 = loss.forward(logits2, Y2, mask=mask), loss.backward()
    assert value2 == pytest.approx(value, rel=1e-14)
    np.testing.assert_array_equal(grad2, grad)
    assert not grad[~mask].any()
    # the mean is over real tokens: the same as the unpadded tokens' plain mean
    flat = SoftmaxCrossEntropy().forward(logits[mask], Y[mask])
    assert value == pytest.approx(flat, rel=1e-12)
    # and a change at a real position does change it (the test can fail)
    logits2[0, 0, 0] += 1.0                                     # one logit: softmax changes
    assert loss.forward(logits2, Y2, mask=mask) != pytest.approx(value, rel=1e-9)


@pytest.mark.parametrize("cell, bidirectional", [("rnn", True), ("lstm", True), ("gru", False)])
def test_padding_ids_and_padded_dlogits_change_nothing(cell, bidirectional):
    """Other ids in the padding, other dlogits at padded positions: the same logits and
    the same gradients."""
    rng = np.random.default_rng(8)
    model = tagger(cell, bidirectional, seed=9)
    X = padded_batch(rng)
    pad = ~sequence_mask(LENGTHS, X.shape[1])
    G = rng.standard_normal(X.shape + (K,))
    model.zero_grad()
    logits = model.forward(X, lengths=LENGTHS)[0]
    model.backward(G)
    grads = {k: g.copy() for k, g in model.grads.items()}
    X2, G2 = X.copy(), G.copy()
    X2[pad] = (X2[pad] + 1) % V
    G2[pad] = rng.standard_normal((pad.sum(), K)) * 10
    model.zero_grad()
    np.testing.assert_array_equal(model.forward(X2, lengths=LENGTHS)[0], logits)
    model.backward(G2)
    for k, g in model.grads.items():
        np.testing.assert_array_equal(g, grads[k], err_msg=k)


# ------------------------------------------------------------- the model protocol
def test_config_rebuilds_and_checkpoint_round_trip(tmp_path):
    model = SequenceTagger(V, 3, H, embed_dim=E, cell="lstm", num_layers=2, bidirectional=True,
                           dropout=0.1, init="xavier", seed=3)
    assert model_name(model) == "tagger" and MODELS["tagger"] is SequenceTagger
    config = model.config()
    assert json.loads(json.dumps(config)) == config
    rebuilt = build_model("tagger", config, seed=3)
    assert rebuilt.config() == config and set(rebuilt.params) == set(model.params)
    vocab = Vocab(list("abcd"), reserved_tokens=["<pad>"])
    assert len(vocab) == V
    path = checkpoint.save(tmp_path / "tagger.npz", model, vocab, {}, {"task": "segment"}, 1, {})
    loaded = checkpoint.build_model(checkpoint.load(path))
    assert isinstance(loaded, SequenceTagger) and loaded.config() == config
    for k, p in model.params.items():
        np.testing.assert_array_equal(loaded.params[k], p, err_msg=k)
    X, lengths = pad_sequences([[2, 3, 4], [5], [2, 2, 3, 3, 4]], pad_id=vocab["<pad>"])
    model.eval(), loaded.eval()
    np.testing.assert_array_equal(loaded.forward(X, lengths=lengths)[0], model.forward(X, lengths=lengths)[0])


def test_tagger_float32_by_default_and_shapes():
    model = SequenceTagger(V, K, H, embed_dim=E, bidirectional=True)
    X, lengths = pad_sequences([[1, 2, 3], [4, 5]])
    logits = model.forward(X, lengths=lengths)[0]
    assert logits.shape == (2, 3, K) and logits.dtype == np.float32
    assert model.params["output.W"].shape == (2 * H, K)
    assert not logits[1, 2].any()


@pytest.mark.parametrize("lengths, match", [
    (np.array([3, 0]), r"lengths must be in \[1, 3\]"),
    (np.array([4, 2]), r"lengths must be in \[1, 3\]"),
    (np.array([3]), r"lengths must have shape \(2,\)"),
    (np.array([3.0, 2.0]), "lengths must hold integers"),
    ([3, 2], "lengths must be a numpy array"),
])
def test_bad_lengths_are_named_before_anything_changes(lengths, match):
    model = SequenceTagger(V, K, H, embed_dim=E)
    X = np.array([[1, 2, 3], [4, 5, 0]])
    model.forward(X[:1, :2])
    before = model.cache
    with pytest.raises((ValueError, TypeError), match=match):
        model.forward(X, lengths=lengths)[0]
    assert model.cache is before and model.embedding.cache.ids.shape == (2, 1)


def test_bad_ids_and_dlogits_are_named():
    model = SequenceTagger(V, K, H, embed_dim=E)
    with pytest.raises(ValueError, match="token id 6 in X out of range for vocab_size 6"):
        model.forward(np.array([[1, 6]]), lengths=np.array([2]))
    with pytest.raises(ValueError, match=r"X must be a non-empty int array .* \(batch, num_steps\)"):
        model.forward(np.array([1, 2]))
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.zeros((1, 2, K), dtype=np.float32))
    model.forward(np.array([[1, 2]]), lengths=np.array([1]))
    with pytest.raises(ValueError, match="dlogits"):
        model.backward(np.zeros((1, 3, K), dtype=np.float32))
    with pytest.raises(ValueError, match="cell must be one of"):
        SequenceTagger(V, K, H, cell="transformer")


# ------------------------------------------------------------------ the example
def test_segment_words_fast_setting_writes_figures_and_metrics(tmp_path):
    if not os.environ.get("MINIRNN_DATA"):
        if os.environ.get("CI"):
            pytest.fail("MINIRNN_DATA must name the folder holding timemachine.txt in CI")
        pytest.skip("MINIRNN_DATA not set: the example needs The Time Machine")
    out = tmp_path / "figs"
    env = dict(os.environ, MPLBACKEND="Agg")
    run = subprocess.run([sys.executable, str(EXAMPLES / "segment_words.py"), "--epochs", "1",
                          "--hidden", "8", "--embed-dim", "4", "--max-chars", "12000",
                          "--sample-len", "100", "--out", str(out)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "\r" not in run.stderr and "it/s" not in run.stderr, run.stderr[-500:]
    for name in ("segment_words_f1.png", "segment_words_probs.png"):
        assert (out / name).stat().st_size > 10_000, name
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("f1", "unidirectional_f1", "baseline_f1"):
        assert 0 <= metrics[key] <= 1 and math.isfinite(metrics[key]), key
    assert metrics["baseline_f1"] > 0.4                          # the rule works on any text
    sample = metrics["sample"]
    assert sample["truth"].replace(" ", "") == sample["input"] == \
        sample["bidirectional"].replace(" ", "")
    assert len(sample["input"]) == 100

