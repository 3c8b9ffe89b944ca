"""minirnn.models.classifier, the author tasks: many-to-one (SequenceClassifier, classify_author.py) and
one-to-many (ConditionalLM, conditional_generation.py).

Gradient checks of the whole models with ``lengths`` (every parameter, float64), a padded
batch against each passage alone, the config / checkpoint round trip, bad input, the task
data, and each example's fast setting.
"""
import json
import os
import runpy
from pathlib import Path

import numpy as np
import pytest

from minirnn import checkpoint
from minirnn.data import Vocab, pad_sequences
from minirnn.data.tasks import (AUTHORS, PAD, author_passages, author_test_passages, author_texts,
                                char_vocab, encode_passages, sample_passages)
from minirnn.gradcheck import assert_gradients_ok, check_gradients, check_layer, randomize_params
from minirnn.models import ConditionalLM, SequenceClassifier, build_model, model_name

from helpers import prepared

EPS = 1e-5                 # the gated cells' step (tests/test_gated.py): float64 round-off
V, C, H, E, A = 7, 3, 4, 3, 2
LENGTHS = np.array([3, 6, 1, 5])            # unsorted, with 1 and T = 6
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def padded_batch(rng, lengths=LENGTHS, vocab_size=V):
    """Random ids (B, T) whose padding is random ids too (lengths must make it ignored)."""
    return rng.integers(0, vocab_size, size=(len(lengths), int(lengths.max())))


# ------------------------------------------------------------------ gradient checks
@pytest.mark.parametrize("cell, bidirectional, num_layers", [
    ("rnn", False, 1), ("gru", False, 1), ("lstm", False, 1),
    ("rnn", True, 1), ("lstm", True, 1), ("rnn", False, 2)])
def test_classifier_gradients_with_lengths(cell, bidirectional, num_layers):
    rng = np.random.default_rng(0)
    model = prepared(SequenceClassifier(V, C, H, embed_dim=E, cell=cell, num_layers=num_layers,
                                        bidirectional=bidirectional), 1)
    errors = check_layer(model, padded_batch(rng), None, LENGTHS,
                         input_names=["X", "state", "lengths"], eps=EPS)
    assert set(errors) == set(model.params) and any(k.startswith("rnn.") for k in errors)
    assert_gradients_ok(errors)


@pytest.mark.parametrize("cell, bidirectional", [("gru", False), ("lstm", True)])
def test_classifier_gradients_with_a_given_state(cell, bidirectional):
    """The protocol's state: a given initial state gets its gradient, and the final state's
    upstream gradient (random, as every output's) is added to the one the logits give."""
    rng = np.random.default_rng(3)
    model = prepared(SequenceClassifier(V, C, H, embed_dim=E, cell=cell,
                                        bidirectional=bidirectional), 4)
    state = tuple(rng.standard_normal(model.rnn.state_shape(len(LENGTHS)))
                  for _ in model.rnn.state_names)
    errors = check_layer(model, padded_batch(rng), state, LENGTHS,
                         input_names=["X", "state", "lengths"], eps=EPS)
    assert {f"state[{i}]" for i in range(len(state))} <= set(errors)
    assert_gradients_ok(errors)


@pytest.mark.parametrize("cell, num_layers", [("rnn", 2), ("gru", 1), ("lstm", 1)])
def test_classifier_every_step_gradients_with_lengths(cell, num_layers):
    """forward_steps / backward_steps: the output layer after every prefix."""
    rng = np.random.default_rng(17)
    model = prepared(SequenceClassifier(V, C, H, embed_dim=E, cell=cell,
                                        num_layers=num_layers), 18)
    # eps 1e-4: the LSTM's smallest entries (dL/dW_h ~ 2e-6) lose digits to float64 round-off
    # at 1e-5 (the worst relative error 5.3e-6 at eps 1e-6, 1.0e-6 at 1e-5, 4.3e-7 at 1e-4,
    # 4.3e-5 at 1e-3: it falls as eps grows until truncation takes over, so it is round-off)
    errors = check_gradients(model.forward_steps, model.backward_steps, model.params,
                             model.grads, [padded_batch(rng), LENGTHS], eps=1e-4)
    assert set(errors) == set(model.params)               # G at padded steps too: O_t = b there
    assert_gradients_ok(errors)


@pytest.mark.parametrize("cell, num_layers", [("gru", 1), ("lstm", 2)])
def test_classifier_states_for_another_head_gradients_with_lengths(cell, num_layers):
    """forward_steps(..., return_states=True) -> (logits, Hs); backward_steps(dlogits, dHs)
    adds the other head's dL/dH_t: checked with random upstream gradients on both."""
    rng = np.random.default_rng(21)
    model = prepared(SequenceClassifier(V, C, H, embed_dim=E, cell=cell,
                                        num_layers=num_layers), 22)
    # eps 1e-4: the two-layer LSTM's smallest entries (dL/dW ~ 5e-6) lose digits to float64
    # round-off at 1e-5 (rel. error 3.4e-6 at 1e-5, 4.2e-6 at 1e-6, 1.5e-7 at 1e-4: it falls
    # as eps grows, so it is round-off, not the derivative)
    errors = check_gradients(lambda X, lengths: model.forward_steps(X, lengths, True),
                             model.backward_steps, model.params, model.grads,
                             [padded_batch(rng), LENGTHS], eps=1e-4)
    assert set(errors) == set(model.params)
    assert_gradients_ok(errors)
    logits, Hs = model.forward_steps(padded_batch(rng), LENGTHS, return_states=True)
    assert Hs.shape == (int(LENGTHS.max()), len(LENGTHS), H) and not Hs.flags.writeable
    with pytest.raises(ValueError, match="dHs"):
        model.backward_steps(np.zeros(logits.shape), np.zeros((2, 2, H)))
    with pytest.raises(TypeError, match="return_states"):
        model.forward_steps(padded_batch(rng), LENGTHS, return_states="yes")


def test_classifier_every_step_ends_in_the_final_state_prediction():
    rng = np.random.default_rng(19)
    model = prepared(SequenceClassifier(V, C, H, embed_dim=E, cell="gru", num_layers=2), 20)
    X = padded_batch(rng)
    steps, (last, _) = model.forward_steps(X, LENGTHS), model.forward(X, lengths=LENGTHS)
    np.testing.assert_allclose(steps[np.arange(len(LENGTHS)), LENGTHS - 1], last, rtol=0,
                               atol=1e-12)
    model.forward(X, lengths=LENGTHS)
    with pytest.raises(RuntimeError, match="backward_steps must follow forward_steps"):
        model.backward_steps(np.zeros(steps.shape))
    with pytest.raises(ValueError, match="unidirectional"):
        SequenceClassifier(V, C, H, bidirectional=True).forward_steps(X, LENGTHS)


@pytest.mark.parametrize("conditioning", ["state", "input"])
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_conditional_lm_gradients_with_lengths(cell, conditioning):
    """Through the conditioning: d/dE (author.W), d/dW_ah, d/db_ah (author_to_state.*)."""
    rng = np.random.default_rng(2)
    model = prepared(ConditionalLM(V, 2, H, embed_dim=E, class_dim=A, cell=cell,
                                   conditioning=conditioning), 3)
    X, classes = padded_batch(rng), np.array([1, 0, 1, 1])
    errors = check_layer(model, (X, classes), None, LENGTHS, eps=EPS,
                         input_names=["inputs", "state", "lengths"])
    expected = {"author.W", "embedding.W", "output.W", "output.b"}
    expected |= {"author_to_state.W", "author_to_state.b"} if conditioning == "state" else set()
    assert expected <= set(errors) == set(model.params)
    assert_gradients_ok(errors)


def test_conditional_lm_gradients_two_layers():
    """h_0 = tanh(E[a] W_ah + b_ah) gives every layer its own H units: (B, L*H) -> (L, B, H)."""
    rng = np.random.default_rng(15)
    model = prepared(ConditionalLM(V, 2, H, embed_dim=E, class_dim=A, cell="gru",
                                   num_layers=2), 16)
    assert model.params["author_to_state.W"].shape == (A, 2 * H)
    errors = check_layer(model, (padded_batch(rng), np.array([1, 0, 0, 1])), None, LENGTHS,
                         eps=EPS, input_names=["inputs", "state", "lengths"])
    assert set(errors) == set(model.params)
    assert_gradients_ok(errors)


def test_conditional_lm_gradients_from_a_given_state():
    """Continuing a text: the state (h, c) is an input and its gradient comes back."""
    rng = np.random.default_rng(4)
    model = prepared(ConditionalLM(V, 2, H, embed_dim=E, class_dim=A, cell="lstm"), 5)
    state = tuple(rng.standard_normal((1, 4, H)) for _ in model.rnn.state_names)
    errors = check_layer(model, (padded_batch(rng), np.array([0, 1, 0, 1])), state, LENGTHS,
                         eps=EPS, input_names=["inputs", "state", "lengths"])
    names = {f"state[{i}]" for i in range(len(state))}
    assert set(errors) == set(model.params) | names
    assert_gradients_ok(errors)


# ------------------------------------------------------------ padding is ignored
@pytest.mark.parametrize("cell, bidirectional", [("rnn", False), ("gru", True), ("lstm", True)])
def test_classifier_padded_batch_equals_each_passage_alone(cell, bidirectional):
    rng = np.random.default_rng(6)
    model = prepared(SequenceClassifier(V, C, H, embed_dim=E, cell=cell,
                                        bidirectional=bidirectional), 7)
    X = padded_batch(rng)
    batch, _ = model.forward(X, lengths=LENGTHS)
    for b, L in enumerate(LENGTHS):
        alone, _ = model.forward(X[b:b + 1, :L])              # no padding, no lengths
        np.testing.assert_allclose(batch[b], alone[0], rtol=0, atol=1e-12)
    junk = X.copy()                                           # other ids in the padding
    junk[np.arange(X.shape[1])[None, :] >= LENGTHS[:, None]] = 0
    np.testing.assert_allclose(model.forward(junk, lengths=LENGTHS)[0], batch, rtol=0, atol=1e-12)
    assert np.array_equal(model.predict(X, LENGTHS), batch.argmax(axis=1))


def test_conditional_lm_padded_batch_equals_each_sequence_alone():
    rng = np.random.default_rng(8)
    model = prepared(ConditionalLM(V, 2, H, embed_dim=E, class_dim=A, cell="gru"), 9)
    X, classes = padded_batch(rng), np.array([1, 0, 0, 1])
    logits, (h,) = model.forward((X, classes), lengths=LENGTHS)
    for b, L in enumerate(LENGTHS):
        alone, (h1,) = model.forward((X[b:b + 1, :L], classes[b:b + 1]))
        np.testing.assert_allclose(logits[b, :L], alone[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(h[:, b], h1[:, 0], rtol=0, atol=1e-12)


def test_conditional_lm_log_likelihood_and_the_generative_classifier():
    """log p(x_1.. | x_0, a) is minus the sum of the written-out -log softmax terms; with
    lengths each sequence's own (padding adds nothing); classify takes the class with the
    larger likelihood (ties: the lower class)."""
    rng = np.random.default_rng(12)
    model = prepared(ConditionalLM(V, 2, H, embed_dim=E, class_dim=A, cell="gru"), 13)
    X, classes = padded_batch(rng), np.array([1, 0, 0, 1])
    ll = model.log_likelihood(X, classes)
    logits, _ = model.forward((X, classes))
    z = logits[:, :-1]
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    expected = np.take_along_axis(logp, X[:, 1:, None], -1)[..., 0].sum(1)
    assert ll.dtype == np.float64 and ll.shape == (4,)
    np.testing.assert_allclose(ll, expected, rtol=1e-12)
    padded = model.log_likelihood(X, classes, LENGTHS)
    for b, L in enumerate(LENGTHS):
        alone = model.log_likelihood(X[b:b + 1, :L], classes[b:b + 1])
        assert padded[b] == pytest.approx(alone[0], rel=1e-12)
    scores = np.stack([model.log_likelihood(X, np.full(4, a), LENGTHS) for a in (0, 1)], 1)
    np.testing.assert_array_equal(model.classify(X, LENGTHS), scores.argmax(1))
    long = LENGTHS > 1
    assert (scores[long, 0] != scores[long, 1]).all()          # the authors' states differ
    assert (scores[~long] == 0).all() and (model.classify(X, LENGTHS)[~long] == 0).all()
    # (one token: nothing to predict, log p = 0 for both: the tie goes to class 0)


def test_generative_classifier_bad_input_is_named():
    model = ConditionalLM(V, 2, H, embed_dim=E, class_dim=A)
    with pytest.raises(ValueError, match="X"):
        model.classify(np.full((2, 3), V), None)               # ids outside the vocabulary
    with pytest.raises(ValueError, match="lengths"):
        model.classify(np.zeros((2, 3), dtype=np.int64), np.array([0, 3]))
    with pytest.raises(ValueError, match="classes"):
        model.log_likelihood(np.zeros((2, 3), dtype=np.int64), np.array([0, 2]))


def test_the_author_changes_the_text_model():
    """A different author gives a different h_0 (state) or input (input), so other logits."""
    rng = np.random.default_rng(10)
    X = padded_batch(rng)[:1]
    for conditioning in ("state", "input"):
        model = prepared(ConditionalLM(V, 2, H, embed_dim=E, class_dim=A,
                                       conditioning=conditioning), 11)
        a, _ = model.forward((X, np.array([0])))
        b, _ = model.forward((X, np.array([1])))
        assert np.abs(a - b).max() > 1e-3


# ------------------------------------------------------ config and checkpoints
@pytest.mark.parametrize("make, args", [
    (lambda: SequenceClassifier(V, C, H, embed_dim=E, cell="lstm", bidirectional=True), ()),
    (lambda: ConditionalLM(V, 2, H, embed_dim=E, class_dim=A, conditioning="input"), (1,)),
    (lambda: ConditionalLM(V, 2, H, embed_dim=E, class_dim=A, cell="lstm", num_layers=2), (1,)),
])
def test_config_build_model_and_checkpoint_round_trip(make, args, tmp_path):
    model = make()
    randomize_params(model, np.random.default_rng(12))
    rebuilt = build_model(model_name(model), model.config())
    assert type(rebuilt) is type(model) and rebuilt.config() == model.config()
    assert {k: p.shape for k, p in rebuilt.params.items()} == \
        {k: p.shape for k, p in model.params.items()}
    vocab = Vocab(list("abcdef"))                             # V = 7 tokens with <unk>
    path = checkpoint.save(tmp_path / "m.npz", model, vocab, {}, {}, 0, {})
    loaded = checkpoint.build_model(checkpoint.load(path))
    X = padded_batch(np.random.default_rng(13))
    classes = np.array([0, 1, 1, 0])
    inputs = (X, classes) if args else X
    first, _ = model.forward(inputs, lengths=LENGTHS)
    second, _ = loaded.forward(inputs, lengths=LENGTHS)
    np.testing.assert_array_equal(first, second)


# ------------------------------------------------------------------ bad input
def test_bad_input_is_named_before_anything_changes():
    model = SequenceClassifier(V, C, H, embed_dim=E)
    X = padded_batch(np.random.default_rng(14))
    model.forward(X, lengths=LENGTHS)
    before = model.embedding.cache
    for lengths, match in [(np.array([3, 6, 1]), "lengths must have shape"),
                           (np.array([3, 7, 1, 5]), r"lengths must be in \[1, 6\]"),
                           (np.array([3, 0, 1, 5]), r"lengths must be in \[1, 6\]"),
                           (np.array([3.0, 6, 1, 5]), "lengths must hold integers")]:
        with pytest.raises((ValueError, TypeError), match=match):
            model.forward(X, lengths=lengths)
        assert model.embedding.cache is before               # nothing ran
    with pytest.raises(ValueError, match="token id 9 in X out of range"):
        model.forward(np.where(X == 0, 9, X), lengths=LENGTHS)
    with pytest.raises(ValueError, match="dlogits must have shape"):
        model.backward(np.zeros((4, C + 1), np.float32))
    lm = ConditionalLM(V, 2, H, embed_dim=E, class_dim=A)
    with pytest.raises(ValueError, match="token id 2 in classes out of range"):
        lm.forward((X, np.array([0, 1, 2, 0])))
    with pytest.raises(ValueError, match=r"classes must have shape \(4,\)"):
        lm.forward((X, np.array([0, 1])))
    with pytest.raises(TypeError, match=r"ConditionalLM.forward's inputs must be a tuple \(X, classes\)"):
        lm.forward(X)
    with pytest.raises(ValueError, match="conditioning must be one of"):
        ConditionalLM(V, 2, H, conditioning="prefix")
    with pytest.raises(RuntimeError, match="before forward"):
        ConditionalLM(V, 2, H).backward(np.zeros((1, 1, V), np.float32))


# ------------------------------------------------------------------ task data
def test_passages_balanced_in_range_and_train_test_disjoint():
    vocab = char_vocab()
    assert len(vocab) == 29 and vocab[PAD] == 1 and vocab.unk == 0
    text = "the time machine " * 20
    passages, labels = author_passages([text, text.upper().lower()[::-1]], 30, 20, 200,
                                       seed=0)
    assert len(passages) == 60 and np.bincount(labels).tolist() == [30, 30]
    assert all(20 <= len(p) <= 200 for p in passages)
    assert all(p in text for p, y in zip(passages, labels) if y == 0)
    assert sample_passages(text, 5, 7, seed=1) == sample_passages(text, 5, 7, seed=1)
    ids, lengths = pad_sequences(encode_passages(passages, vocab), pad_id=vocab[PAD])
    assert ids.shape == (60, lengths.max()) and (ids[:, :20] >= 2).all()
    with pytest.raises(ValueError, match="fewer than max_len"):
        sample_passages("short", 1, 3, 10)


def needs_corpora():
    """Skip without the corpora, except in CI (where MINIRNN_DATA must be set), as
    tests/test_examples.py does."""
    if not os.environ.get("MINIRNN_DATA"):
        if os.environ.get("CI"):
            pytest.fail("MINIRNN_DATA must name the folder holding the corpora in CI")
        pytest.skip("MINIRNN_DATA not set: the author tasks need both corpora")


def test_author_test_passages_are_one_seeded_draw_per_length_in_order():
    texts = ["abcdefghij" * 5, "klmnopqrst" * 5]
    got = author_test_passages(texts, 3, (5, 7), seed=1)
    rng = np.random.default_rng([1, 2])
    for L in (5, 7):
        passages, labels = author_passages(texts, 3, L, rng=rng)
        assert got[L][0] == passages and (got[L][1] == labels).all()
        assert all(len(p) == L for p in passages)
    assert author_test_passages(texts, 3, (5, 7), seed=1)[7][0] == got[7][0]   # repeatable
    assert author_test_passages(texts, 3, (5, 7), seed=2)[7][0] != got[7][0]
    with pytest.raises(ValueError, match="seed"):
        author_test_passages(texts, 3, (5,), seed=-1)


def test_author_texts_split_80_20_without_overlap():
    needs_corpora()
    books = author_texts()
    assert [b.name for b in books] == list(AUTHORS)
    for b in books:
        assert len(b.train) == int(0.8 * (len(b.train) + len(b.test)))
        assert set(b.train + b.test) <= set(" abcdefghijklmnopqrstuvwxyz")


# --------------------------------------------------------------------- examples
def example(script):
    """An example's ``main``, run in this process (no second interpreter to start)."""
    return runpy.run_path(str(EXAMPLES / script), run_name="example")["main"]


def test_examples_fast_settings_write_figures_metrics_and_the_judge(tmp_path, capsys):
    needs_corpora()
    out = tmp_path / "out"
    generate = example("conditional_generation.py")
    with pytest.raises(SystemExit) as exit_info:               # no judge yet: says what to run
        generate(["--out", str(out)])
    assert exit_info.value.code == 2 and "classify_author.py" in capsys.readouterr().err

    example("classify_author.py")(["--epochs", "1", "--passages", "40", "--hidden", "8",
                                   "--test-passages", "10", "--ngram-orders", "2",
                                   "--train-chars", "20000", "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("accuracy", "ngram_accuracy", "majority_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    assert set(metrics["accuracy_by_length"]) == {"20", "50", "100", "200"}
    assert all(0.0 <= a <= 1.0 for a in metrics["accuracy_by_length"].values())
    assert metrics["majority_accuracy"] == 0.5                 # balanced classes
    assert metrics["accuracy"] == metrics["accuracy_by_length"]["100"]
    for png in ("classify_author_accuracy.png", "classify_author_loss.png"):
        assert (out / png).stat().st_size > 10_000
    judge = checkpoint.build_model(checkpoint.load(out / "author_classifier.npz"))
    assert isinstance(judge, SequenceClassifier)
    judged_there = metrics["accuracy_by_length"]

    generate(["--updates", "5", "--hidden", "8", "--samples", "4", "--eval-chars", "2000",
              "--test-passages", "10", "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    # the generative classifier is scored on classify_author.py's own test passages: the
    # judge scores exactly what it scored there
    assert metrics["judge_accuracy_by_length"] == judged_there
    assert set(metrics["generative_accuracy_by_length"]) == {"20", "50", "100", "200"}
    assert all(0.0 <= a <= 1.0 for a in metrics["generative_accuracy_by_length"].values())
    assert metrics["generative_accuracy"] == metrics["generative_accuracy_by_length"]["100"]
    assert 0.0 <= metrics["style_accuracy"] <= 1.0
    assert set(metrics["perplexity"]) == {"right", "wrong"}
    assert all(1.0 < p < 29 * 2 and np.isfinite(p) for p in metrics["perplexity"].values())
    for name in AUTHORS:
        assert all(len(s) == 100 and set(s) <= set(" abcdefghijklmnopqrstuvwxyz")
                   for s in metrics["samples"][name])
    for png in ("conditional_generation.png", "conditional_generation_loss.png"):
        assert (out / png).stat().st_size > 10_000
    assert "style:" in capsys.readouterr().out


def train_args(**kwargs):
    """The settings classify_author.py's ``train`` reads, for small runs."""
    settings = dict(num_epochs=2, passages=6, batch_size=4, lr=0.004, clip=1.0, loss="every",
                    schedule="cosine", aux_lm=0.0, average=0.0, seed=0, no_progress=True)
    return type("Args", (), {**settings, **kwargs})()


def test_classify_author_cosine_schedule_goes_from_lr_to_zero():
    from minirnn.train import cosine_lr
    assert cosine_lr(0.004, 0, 10) == pytest.approx(0.004)
    assert cosine_lr(0.004, 5, 10) == pytest.approx(0.002)
    assert cosine_lr(0.004, 10, 10) == pytest.approx(0.0, abs=1e-15)
    assert cosine_lr(0.004, 3, 10) > cosine_lr(0.004, 4, 10)
    # the example's training follows it: one value per update, the last one at total - 1
    train = runpy.run_path(str(EXAMPLES / "classify_author.py"), run_name="example")["train"]
    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(list(" ab"), size=600)), "".join(rng.choice(list(" cd"), size=600))]
    model = SequenceClassifier(len(char_vocab()), 2, 4, embed_dim=3, seed=0)
    losses, _, trainer = train(model, texts, char_vocab(), train_args())
    total = 2 * 3                                              # epochs * ceil(2 * 6 / 4)
    assert len(losses) == total and trainer.updates == total
    assert trainer.optimizer.lr == pytest.approx(cosine_lr(0.004, total - 1, total))
    _, _, trainer = train(model, texts, char_vocab(), train_args(schedule="constant"))
    assert trainer.optimizer.lr == 0.004


def test_classify_author_auxiliary_loss_and_weight_average(capsys):
    """--aux-lm: a next-character head on the same states learns (its loss falls far below
    log V) and is trained with the model; --average: the same training run ends in other
    weights (the average), which tell this easy pair apart."""
    train = runpy.run_path(str(EXAMPLES / "classify_author.py"), run_name="example")["train"]
    texts = ["the time machine " * 60, "to be or not to be " * 60]
    vocab = char_vocab()
    finals = {}
    for aux, average in ((1.0, 0.0), (1.0, 0.9), (0.0, 0.0)):
        args = train_args(num_epochs=6, passages=32, batch_size=8, lr=0.02,
                          schedule="constant", aux_lm=aux, average=average)
        model = SequenceClassifier(len(vocab), 2, 16, embed_dim=4, seed=0)
        _, lm_losses, trainer = train(model, texts, vocab, args)
        assert any(k.startswith("lm_head.") for k in trainer.model.params) == bool(aux)
        finals[aux, average] = {k: p.copy() for k, p in model.params.items()}
        seqs = [np.array(vocab[list(t[i:i + 40])]) for t in texts for i in (3, 50)]
        ids, lengths = pad_sequences(seqs, pad_id=vocab[PAD])
        if average:                                            # the average is a working model
            assert (model.predict(ids, lengths) == [0, 0, 1, 1]).all()
    out = capsys.readouterr().out
    lm_losses = [float(line.split()[-1]) for line in out.splitlines()
                 if "next-character loss" in line]
    assert len(lm_losses) == 12 and lm_losses[5] < 0.5 * np.log(len(vocab))   # it learns
    assert lm_losses[5] < lm_losses[0]
    # the same run (same seed, same draws) with the average: other final weights
    assert any(np.abs(finals[1.0, 0.9][k] - finals[1.0, 0.0][k]).max() > 1e-4 for k in finals[1.0, 0.0])
    # the auxiliary loss changes the training itself
    assert any(np.abs(finals[1.0, 0.0][k] - finals[0.0, 0.0][k]).max() > 1e-4 for k in finals[0.0, 0.0])


def test_classify_author_refuses_bad_flags_before_writing(tmp_path):
    for bad in (["--aux-lm", "-1"], ["--aux-lm", "inf"], ["--aux-lm", "nan"],
                ["--average", "1"], ["--average", "-0.5"], ["--average", "nan"],
                ["--ngram-orders", "0"], ["--loss", "every", "--bidirectional"]):
        with pytest.raises(SystemExit) as exit_info:
            example("classify_author.py")(bad + ["--out", str(tmp_path / "bad")])
        assert exit_info.value.code == 2
    assert not (tmp_path / "bad").exists()
