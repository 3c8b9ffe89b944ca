"""minirnn.models.seq2seq, unaligned sequence to sequence: the book's encoder-decoder
(``minirnn.models.Seq2Seq``), the book's BLEU (``minirnn.metrics.bleu``) and the
addition example (``examples/seq2seq_addition.py``).
"""
import functools
import importlib.util
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
from minirnn.gradcheck import assert_gradients_ok, check_layer, randomize_params
from minirnn.losses import SoftmaxCrossEntropy
from minirnn.metrics import bleu
from minirnn.models import Seq2Seq, build_model
from minirnn.optim import Adam

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "seq2seq_addition.py"

#: Centered differences at eps 1e-5, as tests/test_gated.py explains: the encoder's
#: gradients come back through the decoder and both recurrences, and their smallest
#: entries (1e-6 of the largest) are where eps 1e-6's round-off alone is a 1e-6 relative
#: error.  The tolerance stays 1e-6.
EPS = 1e-5
V = 6
IDS = np.array([[1, 2, 3], [4, 0, 0]])       # a padded batch of two sources
LENGTHS = np.array([3, 1])


@functools.lru_cache(maxsize=None)
def example_module():
    """examples/seq2seq_addition.py as a module (imported once: it imports matplotlib)."""
    spec = importlib.util.spec_from_file_location("seq2seq_addition", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def small_model(cell, num_layers, seed, dtype=np.float64):
    """A float64 Seq2Seq with parameters of order one (``randomize_params``)."""
    model = Seq2Seq(7, 6, embed_dim=2, num_hiddens=3, num_layers=num_layers, cell=cell,
                    seed=seed, dtype=dtype)
    randomize_params(model, np.random.default_rng([seed, 1]))
    return model


# --------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_whole_encoder_decoder_gradients_with_lengths(cell, num_layers):
    """Every parameter of encoder and decoder, through the masked loss's upstream
    gradient's stand-in (a random one), with source lengths 4, 1, 2 and target lengths
    2, 3, 1: the encoder's gradients exist only through its final state.

    (Seed 1: every case's worst entry is below 2.2e-7.  Over seeds 0-3 the median of the
    worst entries is 6e-8, but 4 of 24 cases, the 2-layer GRU and LSTM, reach 3e-6 to 6e-6
    at entries of about 1e-6 of the largest: round-off of the centered difference, not a
    derivative; a wrong derivative is off by far more.)"""
    model = small_model(cell, num_layers, seed=1)
    rng = np.random.default_rng([1, 3])
    src, tgt_in = rng.integers(0, 7, (3, 4)), rng.integers(0, 6, (3, 3))
    errors = check_layer(model, (src, tgt_in), None, (np.array([4, 1, 2]), np.array([2, 3, 1])),
                         input_names=("inputs", "state", "lengths"), eps=EPS)
    assert set(errors) == set(model.params)
    assert any(k.startswith("encoder.rnn") for k in errors)
    assert_gradients_ok(errors)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_decoder_gradient_into_the_encoder_state_and_context(cell):
    """The decoder alone: dL/dS_0 (each array of the encoder's final state it starts from,
    every layer) and dL/dc (the context, read at every step), with target lengths."""
    model = small_model(cell, 2, seed=1)
    rng = np.random.default_rng(4)
    _, state = model.encoder.forward(rng.integers(0, 7, (3, 4)), np.array([2, 4, 1]))
    state = tuple(rng.standard_normal(s.shape) for s in state)   # any S_0 and c
    context = rng.standard_normal((3, 3))
    errors = check_layer(model.decoder, rng.integers(0, 6, (3, 3)), state, context,
                         np.array([3, 1, 2]), input_names=("X", "state", "context", "lengths"),
                         eps=EPS)
    expected = {f"state[{i}]" for i in range(len(state))} | {"context"} | set(model.decoder.params)
    assert set(errors) == expected
    assert_gradients_ok(errors)


def test_backward_passes_the_decoder_state_gradient_and_the_context_into_the_encoder():
    """Seq2Seq.backward gives the encoder dL/dS_0, with dL/dc added to the top layer's h
    only: the encoder's gradients equal those of an encoder backward run by hand."""
    model = small_model("lstm", 2, seed=2)
    rng = np.random.default_rng(5)
    src, tgt = rng.integers(0, 7, (3, 4)), rng.integers(0, 6, (3, 3))
    dlogits = rng.standard_normal((3, 3, 6))
    model.zero_grad()
    model.forward((src, tgt))
    model.backward(dlogits)
    got = {k: g.copy() for k, g in model.encoder.grads.items()}
    model.zero_grad()
    _, state = model.encoder.forward(src)
    model.decoder.forward(tgt, state, state[0][-1])
    (dh, dc), dcontext = model.decoder.backward(dlogits)
    dh = dh.copy()
    dh[-1] += dcontext                      # layer 0's h and both c: dL/dS_0 alone
    model.encoder.backward(None, (dh, dc))
    for k, g in model.encoder.grads.items():
        np.testing.assert_allclose(got[k], g, rtol=1e-12, atol=1e-14, err_msg=k)
    assert np.abs(dcontext).max() > 0


# --------------------------------------------------------------------------- padding
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_padded_batch_equals_each_example_alone(cell):
    """The masked loss of a padded batch, times its N real target tokens, is the sum of
    each example's own loss times its n_b tokens; the same for every gradient; and the
    logits at the real positions are each example's own."""
    model = small_model(cell, 2, seed=3)
    rng = np.random.default_rng(6)
    src_seqs = [rng.integers(2, 7, n) for n in (5, 1, 3, 4)]
    tgt_seqs = [rng.integers(2, 6, n) for n in (2, 4, 1, 3)]      # <bos> + answer, say
    out_seqs = [rng.integers(2, 6, s.size) for s in tgt_seqs]     # answer + <eos>
    loss = SoftmaxCrossEntropy()

    def run(srcs, tins, touts):
        X, X_len = pad_sequences(srcs, pad_id=1)
        Y, Y_len = pad_sequences(tins, pad_id=1)
        Y_out, _ = pad_sequences(touts, pad_id=1)
        mask = sequence_mask(Y_len, Y.shape[1])
        model.zero_grad()
        logits = model.forward((X, Y), lengths=(X_len, Y_len))[0]
        value = loss.forward(logits, Y_out, mask)
        model.backward(loss.backward())
        n = int(mask.sum())
        return value * n, {k: g * n for k, g in model.grads.items()}, logits, Y_len

    total, grads, logits, lengths = run(src_seqs, tgt_seqs, out_seqs)
    alone_total, alone_grads = 0.0, {k: np.zeros_like(g) for k, g in grads.items()}
    for b in range(len(src_seqs)):
        t, g, lg, _ = run([src_seqs[b]], [tgt_seqs[b]], [out_seqs[b]])
        alone_total += t
        for k in g:
            alone_grads[k] += g[k]
        np.testing.assert_allclose(logits[b, :lengths[b]], lg[0], rtol=1e-12, atol=1e-12)
    assert total == pytest.approx(alone_total, rel=1e-12)
    for k in grads:
        np.testing.assert_allclose(grads[k], alone_grads[k], rtol=1e-10, atol=1e-12, err_msg=k)


# --------------------------------------------------------------------------- decoding
def test_greedy_decode_stops_at_eos():
    """A decoder scripted to say 5 <eos> 9 for row 0 and 6 7 8 <eos> for row 1: greedy
    decoding returns [5] and [6, 7, 8] and stops after the step where the last row ended
    (4 decoder steps, not max_len)."""
    model = Seq2Seq(10, 10, embed_dim=2, num_hiddens=3)
    eos, script = 3, [[5, 3, 9, 9, 9], [6, 7, 8, 3, 9]]
    real, calls = model.decoder.forward, []

    def scripted(X, state, context, lengths=None):
        logits, state = real(X, state, context, lengths)        # the real state, then
        logits = np.zeros_like(logits)                            # logits that say the script
        for b, row in enumerate(script):
            logits[b, -1, row[len(calls)]] = 1.0
        calls.append(X[:, 0].copy())
        return logits, state

    model.decoder.forward = scripted
    out = model.greedy_decode(np.array([[4, 5], [6, 7]]), np.array([2, 1]), bos_id=2,
                              eos_id=eos, max_len=10)
    assert [o.tolist() for o in out] == [[5], [6, 7, 8]]
    assert len(calls) == 4
    assert calls[0].tolist() == [2, 2] and calls[1].tolist() == [5, 6]   # <bos>, then fed back


def test_greedy_decode_is_teacher_forcing_on_its_own_output():
    """What greedy decoding says, fed back with teacher forcing, is what the model
    predicts at every step (the context stays the encoder's, the state flows on): each
    row ends where the model says <eos>, or at max_len.  (Parameters of scale 2: outputs
    that differ from row to row, one ending at 4 tokens, the others running to max_len.)"""
    model = Seq2Seq(9, 6, embed_dim=4, num_hiddens=6, num_layers=2, cell="lstm", seed=4,
                    dtype=np.float64)
    randomize_params(model, np.random.default_rng(5), scale=2.0)
    rng = np.random.default_rng(8)
    srcs = [rng.integers(3, 9, n) for n in (4, 2, 5, 1, 3, 5)]
    X, X_len = pad_sequences(srcs, pad_id=1)
    bos, eos, max_len = 2, 3, 6
    out = model.greedy_decode(X, X_len, bos, eos, max_len)
    assert len(out) == len(srcs)
    assert len({tuple(ids.tolist()) for ids in out}) > 1
    ended = []
    for b, ids in enumerate(out):
        Y_in = np.array([[bos, *ids.tolist()]])
        logits = model.forward((X[b:b + 1, :X_len[b]], Y_in), lengths=(X_len[b:b + 1], None))[0]
        said = logits[0].argmax(axis=-1).tolist()               # len(ids) + 1 predictions
        assert said[:len(ids)] == ids.tolist() and eos not in ids.tolist()
        ended.append(said[-1] == eos)
        assert ended[-1] or len(ids) == max_len
    assert any(ended) and not all(ended)


# --------------------------------------------------------------------------- checkpoint
def test_config_and_checkpoint_round_trip(tmp_path):
    model = Seq2Seq(15, 14, embed_dim=5, num_hiddens=7, num_layers=2, cell="lstm", seed=3)
    rebuilt = build_model("seq2seq", model.config())
    assert rebuilt.config() == model.config()
    assert {k: v.shape for k, v in rebuilt.params.items()} == \
        {k: v.shape for k, v in model.params.items()}
    opt = Adam(model.params, model.grads, lr=0.01)
    vocab = Vocab(list("+0123456789"), reserved_tokens=("<pad>", "<bos>", "<eos>"))
    path = checkpoint.save(tmp_path / "s2s.npz", model, vocab, opt.state_dict(), {"task": "add"},
                           epoch=3, rng_state={})
    loaded = checkpoint.build_model(checkpoint.load(path))
    assert isinstance(loaded, Seq2Seq) and loaded.config() == model.config()
    rng = np.random.default_rng(0)
    src, tgt = rng.integers(0, 15, (2, 4)), rng.integers(0, 14, (2, 3))
    lengths = np.array([4, 2])
    np.testing.assert_array_equal(model.forward((src, tgt), lengths=(lengths, np.array([3, 1])))[0],
                                  loaded.forward((src, tgt), lengths=(lengths, np.array([3, 1])))[0])


def test_bad_input_is_named():
    model = Seq2Seq(7, 6, embed_dim=2, num_hiddens=3)
    src, tgt = np.zeros((2, 3), dtype=np.int64), np.zeros((2, 2), dtype=np.int64)
    with pytest.raises(ValueError, match="tgt_in must have one row per source"):
        model.forward((src, tgt[:1]))
    with pytest.raises(ValueError, match="tgt_in.*out of range for vocab_size 6"):
        model.forward((src, tgt + 6))
    with pytest.raises(ValueError, match=r"src_lengths must be in \[1, 3\].*got 4"):
        model.forward((src, tgt), lengths=(np.array([4, 1]), None))[0]
    with pytest.raises(ValueError, match=r"tgt_lengths must have shape \(2,\)"):
        model.forward((src, tgt), lengths=(None, np.array([1, 2, 2])))[0]
    with pytest.raises(ValueError, match=r"tgt_lengths must be in \[1, 2\].*got 0"):
        model.forward((src, tgt), lengths=(None, np.array([0, 2])))[0]
    with pytest.raises(ValueError, match="eos_id"):
        model.greedy_decode(src, None, bos_id=1, eos_id=6, max_len=3)
    with pytest.raises(RuntimeError, match="before forward"):
        Seq2Seq(7, 6, embed_dim=2, num_hiddens=3).backward(np.zeros((2, 2, 6), np.float32))


def test_seq2seq_names_mismatched_batches_and_target_lengths():
    m = Seq2Seq(V, V + 1, 3, 4)
    tgt, tl = np.array([[0, 1], [0, 2]]), np.array([2, 1])
    with pytest.raises(ValueError, match=r"tgt_in must have one row per source sequence \(2\), got 1"):
        m.forward((IDS, tgt[:1]), None, (LENGTHS, tl[:1]))
    with pytest.raises(ValueError, match=r"tgt_lengths must be in \[1, 2\].*got 3"):
        m.forward((IDS, tgt), None, (LENGTHS, np.array([3, 1])))
    with pytest.raises(ValueError, match=rf"token id {V + 1} in tgt_in out of range"):
        m.forward((IDS, np.array([[0, 1], [0, V + 1]])), None, (LENGTHS, tl))
    with pytest.raises(ValueError, match=r"tgt_in must be .*int array.*got \(2, 0\)"):
        m.forward((IDS, np.zeros((2, 0), np.int64)), None, (LENGTHS, None))
    m.forward((IDS, tgt), None, (LENGTHS, tl))
    with pytest.raises(ValueError, match=rf"dlogits must have shape \(2, 2, {V + 1}\)"):
        m.backward(np.zeros((2, 2, V), np.float32))


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(bos_id=V), ValueError, rf"bos_id must be an int in \[0, {V - 1}\].*got {V}"),
    (dict(bos_id=-1), ValueError, rf"bos_id must be an int in \[0, {V - 1}\].*got -1"),
    (dict(eos_id=V), ValueError, rf"eos_id must be an int in \[0, {V - 1}\].*got {V}"),
    (dict(bos_id=1.5), TypeError, r"bos_id must be an int.*got 1.5"),
    (dict(bos_id=1.0), TypeError, r"bos_id must be an int.*got 1.0"),
    (dict(bos_id=True), TypeError, r"bos_id must be an int.*got True"),
    (dict(bos_id="a"), TypeError, r"bos_id must be an int.*got 'a'"),
    (dict(eos_id=None), TypeError, r"eos_id must be an int.*got None"),
    (dict(eos_id=float("nan")), TypeError, r"eos_id must be an int.*got nan"),
    (dict(bos_id=np.array([1])), TypeError, r"bos_id must be an int"),
    (dict(max_len=0), ValueError, r"max_len must be a positive int, got 0"),
    (dict(max_len=2.0), TypeError, r"max_len must be a positive int, got 2.0"),
    (dict(src_lengths=np.array([4, 1])), ValueError, r"src_lengths must be in \[1, 3\].*got 4"),
    (dict(src_lengths=[3, 1]), TypeError, r"src_lengths must be a numpy array"),
    (dict(src=IDS.tolist()), ValueError, r"src must be .*int array.*got list"),
    (dict(src=np.zeros((0, 3), np.int64), src_lengths=None), ValueError, r"src must be .*int array.*got \(0, 3\)"),
    (dict(src=np.array([[1, V]]), src_lengths=None), ValueError, rf"token id {V} in src out of range"),
])
def test_greedy_decode_names_bad_arguments_and_stays_in_its_mode(kwargs, error, message):
    m = Seq2Seq(V, V, 3, 4)
    args = dict(src=IDS, src_lengths=LENGTHS, bos_id=0, eos_id=1, max_len=3)
    args.update(kwargs)
    m.forward((IDS, IDS), None, (LENGTHS, LENGTHS))
    cache = m.encoder.rnn.cache, m.encoder.embedding.cache
    with pytest.raises(error, match=message):
        m.greedy_decode(**args)
    assert m.training
    assert m.encoder.rnn.cache is cache[0] and m.encoder.embedding.cache is cache[1]


def test_greedy_decode_takes_numpy_ints():
    out = Seq2Seq(V, V, 3, 4).greedy_decode(IDS, LENGTHS, np.int64(0), np.int32(1), np.int64(2))
    assert len(out) == 2 and all(o.size <= 2 for o in out)


def test_the_encoder_and_decoder_alone_check_lengths_before_their_embeddings_run():
    """``Seq2SeqEncoder`` / ``Seq2SeqDecoder`` are public and take lengths themselves."""
    m = Seq2Seq(V, V, 3, 4)
    m.forward((IDS, IDS), None, (LENGTHS, LENGTHS))
    _, state = m.encoder.forward(IDS, LENGTHS)
    context = m.context(state)
    for part, call in [
            (m.encoder, lambda L: m.encoder.forward(IDS, L)),
            (m.decoder, lambda L: m.decoder.forward(IDS, state, context, L))]:
        cache = part.embedding.cache, part.rnn.cache
        for lengths, error, message in [(np.array([4, 1]), ValueError, r"lengths must be in \[1, 3\].*got 4"),
                                        ([3, 1], TypeError, r"lengths must be a numpy array")]:
            with pytest.raises(error, match=message):
                call(lengths)
            assert part.embedding.cache is cache[0] and part.rnn.cache is cache[1], type(part).__name__


# --------------------------------------------------------------------------- BLEU
def test_bleu_the_books_examples():
    """d2l's four translations (k = 2): three perfect, and "il est riche ." for
    "il est calme .": p_1 = 3/4, p_2 = 1/3, no penalty: (3/4)^(1/2) (1/3)^(1/4) = 0.658."""
    pairs = [("va !", "va !"), ("j'ai perdu .", "j'ai perdu ."),
             ("il est riche .", "il est calme ."), ("je suis chez moi .", "je suis chez moi .")]
    scores = [bleu(p.split(), y.split(), k=2) for p, y in pairs]
    assert scores[0] == scores[1] == scores[3] == 1.0
    assert scores[2] == pytest.approx((3 / 4) ** 0.5 * (1 / 3) ** 0.25, rel=1e-12)
    assert round(scores[2], 3) == 0.658


def test_bleu_by_hand_on_characters():
    assert bleu("1234", "1234", k=4) == 1.0                              # perfect
    # brevity: "12" for "1234", k = 1: exp(1 - 4/2) * (2/2)^(1/2)
    assert bleu("12", "1234", k=1) == pytest.approx(math.exp(-1.0), rel=1e-12)
    # no penalty for a longer prediction; "12345" for "1234", k = 2: p_1 = 4/5, p_2 = 3/4
    assert bleu("12345", "1234", k=2) == pytest.approx((4 / 5) ** 0.5 * (3 / 4) ** 0.25)
    # clipped counts: "1111" for "12": p_1 = 1/4 (one "1" in the label), k = 1
    assert bleu("1111", "12", k=1) == pytest.approx(0.5, rel=1e-12)
    # k longer than the prediction: its missing orders are left out, the penalty stays
    assert bleu("7", "17", k=2) == pytest.approx(math.exp(1 - 2 / 1) * 1.0, rel=1e-12)
    assert bleu("7", "7", k=2) == 1.0
    assert bleu("", "17", k=2) == 0.0                                   # nothing predicted
    assert bleu("98", "17", k=2) == 0.0                                  # nothing right
    assert bleu(["il", "est"], "il est".split(), k=2) == 1.0
    for k in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="k must be"):
            bleu("1", "1", k=k)
    with pytest.raises(ValueError, match="label_seq"):
        bleu("1", "", k=1)


@pytest.mark.parametrize("args, error, message", [
    (("a", "a", 0), ValueError, r"k must be an int >= 1.*got 0"),
    (("a", "a", 1.0), ValueError, r"k must be an int >= 1.*got 1.0"),
    (("a", "a", "2"), ValueError, r"k must be an int >= 1.*got '2'"),
    ((None, "a", 2), TypeError, r"pred_seq must be a sequence of tokens.*got NoneType"),
    ((5, "a", 2), TypeError, r"pred_seq must be a sequence of tokens.*got int"),
    (("a", 5, 2), TypeError, r"label_seq must be a sequence of tokens.*got int"),
    ((np.array(3), np.array([3]), 2), TypeError, r"pred_seq must be a sequence of tokens.*0-d"),
    ((np.array([[1, 2]]), np.array([[1, 2]]), 2), TypeError,
     r"pred_seq must be a sequence of hashable tokens.*ndarray"),
    (([[1], [2]], [[1], [2]], 2), TypeError, r"pred_seq must be a sequence of hashable tokens.*list"),
    (("a", [[1]], 2), TypeError, r"label_seq must be a sequence of hashable tokens.*list"),
    (("a", "", 2), ValueError, r"label_seq must hold at least one token"),
    (("", "", 2), ValueError, r"label_seq must hold at least one token"),
])
def test_bleu_names_bad_arguments(args, error, message):
    with pytest.raises(error, match=message):
        bleu(*args)


def test_bleu_takes_a_numpy_int_k_and_numpy_token_arrays():
    assert bleu("1234", "1234", k=np.int64(4)) == 1.0
    assert bleu(np.array([1, 2, 3]), np.array([1, 2, 4]), k=np.int32(2)) == \
        pytest.approx((2 / 3) ** 0.5 * (1 / 2) ** 0.25, rel=1e-12)
    assert bleu([], "a") == 0.0


# --------------------------------------------------------------------------- the data
def test_problems_distinct_seeded_and_a_tenth_held_out():
    ex = example_module()
    problems = ex.make_problems(3000, max_digits=3, seed=0)
    assert len(problems) == len(set(problems)) == 3000
    assert problems == ex.make_problems(3000, max_digits=3, seed=0)
    assert problems != ex.make_problems(3000, max_digits=3, seed=1)
    digits = {len(str(a)) for a, _ in problems} | {len(str(b)) for _, b in problems}
    assert digits == {1, 2, 3}
    assert all(0 <= a < 1000 and 0 <= b < 1000 for a, b in problems)
    train, test = ex.split_problems(problems, 0.1, seed=0)
    assert len(test) == 300 and len(train) == 2700
    assert not set(train) & set(test) and set(train) | set(test) == set(problems)
    assert (train, test) == ex.split_problems(problems, 0.1, seed=0)
    with pytest.raises(ValueError, match="num_examples must be at most 100"):
        ex.make_problems(101, max_digits=1)


def test_encoding_reverses_the_source_and_frames_the_target():
    ex = example_module()
    vocab = ex.make_vocab()
    src, tgt_in, tgt_out = ex.encode([(123, 45)], vocab, reverse=True)
    assert "".join(vocab.to_tokens(src[0].tolist())) == "54+321"
    assert vocab.to_tokens(tgt_in[0].tolist()) == ["<bos>", "1", "6", "8"]
    assert vocab.to_tokens(tgt_out[0].tolist()) == ["1", "6", "8", "<eos>"]
    src, _, _ = ex.encode([(123, 45)], vocab, reverse=False)
    assert "".join(vocab.to_tokens(src[0].tolist())) == "123+45"


def test_example_fast_setting_writes_figure_and_metrics(tmp_path):
    out = tmp_path / "figs"
    env = dict(os.environ, MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, str(EXAMPLE), "--examples", "1000", "--epochs", "2",
                           "--hidden", "8", "--embed-dim", "4", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\r" not in done.stderr and "it/s" not in done.stderr    # no bars when redirected
    assert (out / "seq2seq_addition.png").stat().st_size > 10_000
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("exact_match", "exact_match_unreversed", "bleu"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["num_held_out"] == 100 and metrics["num_train"] == 900
    assert len(metrics["history"]["reversed"]) == len(metrics["history"]["unreversed"]) == 2
    assert all(math.isfinite(h["train_loss"]) for h in metrics["history"]["reversed"])
