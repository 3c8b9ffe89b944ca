"""The variable-length API (issue #13) attacked with bad input, as a hostile or careless
user would: every bad ``lengths``, id array, label, padding argument or decoding argument
gets ONE clear error naming the argument, what was expected and what was given, raised
before any state changes (layer caches, gradients, parameters); and a padded forward of
finite input never gives NaN or inf, whatever the padding holds."""
import numpy as np
import pytest

from minirnn._checks import check_lengths
from minirnn.data import bucket_batches, pad_sequences, sequence_mask
from minirnn.layers import GRU, LSTM, RNN
from minirnn.metrics import bleu
from minirnn.models import ConditionalLM, Seq2Seq, SequenceClassifier, SequenceTagger

LAYERS = {"rnn": RNN, "gru": GRU, "lstm": LSTM}
STACKS = [(1, False), (2, False), (1, True), (2, True)]


def snapshot(model):
    """Copies of every parameter and gradient, and the layer caches, to compare after an error."""
    params = {k: v.copy() for k, v in model.params.items()}
    grads = {k: v.copy() for k, v in model.grads.items()}
    return params, grads


def assert_unchanged(model, before, what):
    params, grads = before
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, params[k], err_msg=f"{what}: param {k} changed")
    for k, v in model.grads.items():
        np.testing.assert_array_equal(v, grads[k], err_msg=f"{what}: grad {k} changed")


def caches(layer):
    """Every cache inside a recurrent layer (a stack's copies and dropouts too), by identity."""
    found = [layer.cache, layer.order]
    for sub in layer.sublayers():
        found.append(getattr(sub, "cache", None))
    return found


# ----------------------------------------------------------------- recurrent layers
BAD_LENGTHS = [
    (np.array([0, 2]), ValueError, r"lengths must be in \[1, 3\].*got 0"),
    (np.array([-5, 2]), ValueError, r"lengths must be in \[1, 3\].*got -5"),
    (np.array([2, 4]), ValueError, r"lengths must be in \[1, 3\].*got 4"),
    (np.array([2**63, 2], np.uint64), ValueError, r"lengths must be in \[1, 3\].*got 9223372036854775808"),
    (np.array([3.0, 2.0]), TypeError, r"lengths must hold integers.*float64"),
    (np.array([True, True]), TypeError, r"lengths must hold integers.*bool"),
    (np.array([3, 2], dtype=object), TypeError, r"lengths must hold integers.*object"),
    ([3, 2], TypeError, r"lengths must be a numpy array.*\(2,\).*list"),
    ((3, 2), TypeError, r"lengths must be a numpy array.*\(2,\).*tuple"),
    (np.int64(2), TypeError, r"lengths must be a numpy array.*\(2,\).*int64"),
    (np.array(2), ValueError, r"lengths must have shape \(2,\).*got \(\)"),
    (np.array([[3], [2]]), ValueError, r"lengths must have shape \(2,\).*got \(2, 1\)"),
    (np.array([3, 2, 1]), ValueError, r"lengths must have shape \(2,\).*got \(3,\)"),
    (np.zeros(0, np.int64), ValueError, r"lengths must have shape \(2,\).*got \(0,\)"),
]


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("num_layers, bidirectional", STACKS)
@pytest.mark.parametrize("lengths, error, message", BAD_LENGTHS)
def test_layer_forward_names_bad_lengths_and_changes_nothing(kind, num_layers, bidirectional,
                                                             lengths, error, message):
    layer = LAYERS[kind](2, 3, num_layers=num_layers, bidirectional=bidirectional, seed=0)
    X = np.random.default_rng(0).standard_normal((3, 2, 2)).astype(np.float32)
    layer.forward(X, None, np.array([1, 3]))                  # a padded forward first
    before, cached = snapshot(layer), caches(layer)
    with pytest.raises(error, match=message):
        layer.forward(X, None, lengths)
    assert all(a is b for a, b in zip(caches(layer), cached)), "a cache changed"
    assert_unchanged(layer, before, "forward")


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("num_layers, bidirectional", STACKS)
def test_layer_backward_after_a_padded_forward_names_wrong_shapes_and_changes_nothing(
        kind, num_layers, bidirectional):
    layer = LAYERS[kind](2, 3, num_layers=num_layers, bidirectional=bidirectional, seed=0)
    L, nd, S = num_layers * (2 if bidirectional else 1), 2 if bidirectional else 1, len(layer.state_names)
    X = np.random.default_rng(0).standard_normal((3, 2, 2)).astype(np.float32)
    layer.forward(X, None, np.array([1, 3]))
    good_dHs = np.ones((3, 2, 3 * nd), np.float32)
    before, cached = snapshot(layer), caches(layer)
    bad = [
        (dict(dHs=np.ones((2, 2, 3 * nd), np.float32)), ValueError, rf"dHs must have shape \(3, 2, {3 * nd}\)"),
        (dict(dHs=np.ones((3, 1, 3 * nd), np.float32)), ValueError, r"dHs must have shape"),
        (dict(dHs=np.ones((3, 2, 3 * nd + 1), np.float32)), ValueError, r"dHs must have shape"),
        (dict(dHs=good_dHs.astype(np.float64)), TypeError, r"dHs has dtype float64"),
        (dict(dHs=good_dHs.tolist()), TypeError, r"dHs must be a numpy array"),
        (dict(dHs=good_dHs, dstate=tuple(np.ones((L, 3, 3), np.float32) for _ in range(S))),
         ValueError, rf"dstate\[0\] must have shape \({L}, 2, 3\)"),
        (dict(dHs=good_dHs, dstate=np.ones((L, 2, 3), np.float32)), TypeError, r"dstate must be a tuple"),
        (dict(dHs=good_dHs, keep=np.ones(4)), ValueError, r"keep must have shape \(3,\) or \(3, 2\)"),
        (dict(dHs=good_dHs, input_grad="no"), TypeError, r"input_grad must be True or False, got 'no'"),
    ]
    for kwargs, error, message in bad:
        kwargs = dict(kwargs)
        dHs = kwargs.pop("dHs")
        with pytest.raises(error, match=message):
            layer.backward(dHs, **kwargs)
        assert all(a is b for a, b in zip(caches(layer), cached)), f"a cache changed: {kwargs}"
        assert_unchanged(layer, before, f"backward {sorted(kwargs)}")


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("num_layers, bidirectional", STACKS)
def test_a_padded_forward_of_finite_input_is_finite_whatever_the_padding_holds(
        kind, num_layers, bidirectional):
    """NaN and inf in the padded positions of X (forward) and dHs (backward) must not reach
    outputs, states or gradients: padding is absent, not multiplied by zero."""
    layer = LAYERS[kind](2, 3, num_layers=num_layers, bidirectional=bidirectional,
                         dropout=0.5 if num_layers > 1 else 0.0, seed=1)
    rng = np.random.default_rng(1)
    T, B = 5, 4
    lengths = np.array([1, 5, 2, 1])
    real = np.arange(T)[:, None] < lengths                    # (T, B)
    X = rng.standard_normal((T, B, 2)).astype(np.float32)
    X[~real] = np.nan
    X[~real & (np.arange(B) % 2 == 0)] = np.inf
    Hs, state = layer.forward(X, None, lengths)
    assert np.isfinite(Hs).all() and all(np.isfinite(a).all() for a in state)
    assert np.all(Hs[~real] == 0)
    dHs = rng.standard_normal(Hs.shape).astype(np.float32)
    dHs[~real] = np.nan
    dX, dstate0 = layer.backward(dHs)
    assert np.isfinite(dX).all() and all(np.isfinite(a).all() for a in dstate0)
    assert all(np.isfinite(g).all() for g in layer.grads.values())
    assert np.all(dX[~real] == 0)


# ----------------------------------------------------------------- check_lengths itself
@pytest.mark.parametrize("args, error, message", [
    ((np.array([1]), 0, 1), ValueError, r"num_steps must be a positive int, got 0"),
    ((np.array([1]), 3.5, 1), TypeError, r"num_steps must be a positive int, got 3.5"),
    ((np.array([1]), 3, True), TypeError, r"batch_size must be a positive int, got True"),
    ((np.zeros(0, np.int64), 3, 0), ValueError, r"batch_size must be a positive int.*got 0"),
    ((np.array([2**64 - 1], np.uint64), 3, 1), ValueError, r"lengths must be in \[1, 3\].*got 18446744073709551615"),
])
def test_check_lengths_names_its_own_bad_arguments(args, error, message):
    with pytest.raises(error, match=message):
        check_lengths(*args)


def test_check_lengths_gives_int64_for_any_int_dtype():
    out = check_lengths(np.array([3, 1], np.uint8), 3, 2)
    assert out.dtype == np.int64 and out.tolist() == [3, 1]


# ----------------------------------------------------------------- padding helpers
@pytest.mark.parametrize("call, error, message", [
    (lambda: pad_sequences([np.array([2**64 - 1], np.uint64)]), ValueError,
     r"seqs\[0\] holds token id 18446744073709551615.*int64"),
    (lambda: pad_sequences([[1, 2], [1, [2]]]), ValueError, r"seqs\[1\] must be a 1-D sequence of token ids"),
    (lambda: pad_sequences([[True, False]]), TypeError, r"seqs\[0\] must hold integer token ids, got dtype bool"),
    (lambda: pad_sequences([[1]], pad_id=True), TypeError, r"pad_id must be a non-negative int, got True"),
    (lambda: pad_sequences([[1]], pad_id=1.0), TypeError, r"pad_id must be a non-negative int, got 1.0"),
    (lambda: pad_sequences([[1]], num_steps=2.0), TypeError, r"num_steps must be a positive int"),
    (lambda: pad_sequences(None), TypeError, r"seqs must be a list of 1-D int sequences, got NoneType"),
    (lambda: pad_sequences(np.array([1, 2, 3])), TypeError, r"seqs must be a list"),
    (lambda: sequence_mask(np.zeros(0, np.int64), 3), ValueError,
     r"lengths must hold at least one length.*got shape \(0,\)"),
    (lambda: sequence_mask([], 3), ValueError, r"lengths must hold at least one length"),
    (lambda: sequence_mask(np.array([1]), 2, time_major="yes"), TypeError,
     r"time_major must be True or False, got 'yes'"),
    (lambda: sequence_mask(np.array([1.5]), 3), TypeError, r"lengths must hold integers.*float64"),
    (lambda: sequence_mask(np.array([True]), 3), TypeError, r"lengths must hold integers.*bool"),
    (lambda: sequence_mask(np.array([[1, 2]]), 3), ValueError, r"lengths must be 1-D \(B,\), got shape \(1, 2\)"),
    (lambda: sequence_mask(np.int64(2), 3), ValueError, r"lengths must be 1-D \(B,\), got shape \(\)"),
    (lambda: sequence_mask(np.array([0, 2]), 3), ValueError, r"lengths must be in \[1, 3\].*got 0"),
    (lambda: sequence_mask(np.array([1]), True), TypeError, r"num_steps must be a positive int, got True"),
    (lambda: bucket_batches(np.array([1.0, 2.0]), 1), TypeError, r"lengths must hold integers.*float64"),
    (lambda: bucket_batches([1.5, 2], 1), TypeError, r"lengths must hold integers.*float64"),
    (lambda: bucket_batches(np.array([True, True]), 1), TypeError, r"lengths must hold integers.*bool"),
    (lambda: bucket_batches(np.array([1, 2], object), 1), TypeError, r"lengths must hold integers.*object"),
    (lambda: bucket_batches(np.zeros(0, np.int64), 1), ValueError, r"lengths must hold at least one length"),
    (lambda: bucket_batches([], 1), ValueError, r"lengths must hold at least one length"),
    (lambda: bucket_batches(np.array([[1, 2]]), 1), ValueError, r"lengths must be 1-D \(N,\).*got shape \(1, 2\)"),
    (lambda: bucket_batches(np.int64(3), 1), ValueError, r"lengths must be 1-D \(N,\).*got shape \(\)"),
    (lambda: bucket_batches(np.array([-1, 2]), 1), ValueError, r"lengths must be >= 1, got -1"),
    (lambda: bucket_batches(np.array([1, 2]), True), TypeError, r"batch_size must be a positive int, got True"),
    (lambda: bucket_batches(np.array([1, 2]), 2.0), TypeError, r"batch_size must be a positive int, got 2.0"),
    (lambda: bucket_batches(np.array([1, 2]), -3), ValueError, r"batch_size must be a positive int, got -3"),
    (lambda: bucket_batches(np.array([3, 1]), 1, shuffle="no"), TypeError, r"shuffle must be True or False, got 'no'"),
    (lambda: bucket_batches(np.array([3, 1]), 1, drop_last="no"), TypeError, r"drop_last must be True or False, got 'no'"),
    (lambda: bucket_batches(np.array([3, 1]), 5, drop_last=True), ValueError,
     r"drop_last=True with batch_size 5 leaves no batch of the 2 sequences"),
])
def test_padding_helpers_name_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_bucket_batches_with_a_huge_batch_size_is_one_batch():
    (only,) = bucket_batches(np.array([1, 3, 2]), 10**30, shuffle=False)
    assert only.tolist() == [1, 2, 0]


# ----------------------------------------------------------------- the task models
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


# ----------------------------------------------------------------- BLEU
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


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_keep_after_an_unsorted_padded_forward_is_checked_and_may_be_a_list(kind, bidirectional):
    """``keep`` (T,) or (T, B) truncation factors: a nested list works as its array does (the
    batch was sorted: it is reordered with it); strings, objects, NaN and inf are named."""
    layer = LAYERS[kind](2, 3, bidirectional=bidirectional, seed=0)
    X = np.random.default_rng(0).standard_normal((3, 2, 2)).astype(np.float32)
    dHs = np.random.default_rng(1).standard_normal((3, 2, 3 * layer.num_directions)).astype(np.float32)
    keep = np.array([[1.0, 0.5], [0.0, 1.0], [1.0, 1.0]])
    results = []
    for k in (keep, keep.tolist()):
        layer.zero_grad()
        layer.forward(X, None, np.array([1, 3]))              # unsorted: the layer sorts it
        dX, _ = layer.backward(dHs, None, k)
        results.append((dX, {n: g.copy() for n, g in layer.grads.items()}))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for n in results[0][1]:
        np.testing.assert_array_equal(results[0][1][n], results[1][1][n], err_msg=n)
    before = snapshot(layer)
    for k, error, message in [
            (np.array(["a", "b", "c"]), TypeError, r"keep must hold real numbers.*<U1"),
            (np.ones((3, 2), dtype=object), TypeError, r"keep must hold real numbers.*object"),
            (np.array([1.0, np.nan, 1.0]), ValueError, r"keep must hold finite factors.*nan"),
            (np.array([[1.0, np.inf]] * 3), ValueError, r"keep must hold finite factors.*inf")]:
        with pytest.raises(error, match=message):
            layer.backward(dHs, None, k)
        assert_unchanged(layer, before, f"keep {k!r}")


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
