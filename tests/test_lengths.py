"""Variable-length batches: a padded batch with ``lengths`` gives exactly what running each
sequence alone gives (outputs, final states, every gradient), for RNN, GRU and LSTM, one
and two layers, both directions, truncation factors too; gradient checks with lengths; the
padding helpers; bad lengths.  (PyTorch's packed path: tests/test_interop.py.)"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minirnn.data import bucket_batches, pad_sequences, sequence_mask
from minirnn.gradcheck import assert_gradients_ok, check_layer, randomize_params
from minirnn.layers import GRU, LSTM, RNN
from minirnn.layers.timeloop import reverse_keep, reverse_padded

KINDS = {
    "rnn": lambda D, H, **kw: RNN(D, H, **kw),
    "gru": lambda D, H, **kw: GRU(D, H, **kw),
    "gru-reset-after": lambda D, H, **kw: GRU(D, H, reset_after=True, **kw),
    "lstm": lambda D, H, **kw: LSTM(D, H, **kw),
}


def prepared(kind, D, H, num_layers, bidirectional, seed):
    layer = KINDS[kind](D, H, num_layers=num_layers, bidirectional=bidirectional, seed=seed)
    layer.astype(np.float64)
    randomize_params(layer, np.random.default_rng([seed, 7]))
    return layer


def run(layer, X, state, dHs, dstate, keep=None, lengths=None):
    """One forward and backward from zeroed gradients -> outputs, states, dX, dstate0, grads."""
    layer.zero_grad()
    Hs, state_T = layer.forward(X, state, lengths)
    dX, dstate0 = layer.backward(dHs, dstate, keep)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    return np.array(Hs), state_T, dX, dstate0, grads


def close(a, b, what):
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=what)


@pytest.mark.parametrize("kind", list(KINDS))
@settings(max_examples=15, deadline=None)
@given(num_layers=st.integers(1, 2), bidirectional=st.booleans(), T=st.integers(1, 5),
       data=st.data(), D=st.integers(1, 3), H=st.integers(1, 3), keep_kind=st.sampled_from(
           [None, "steps", "steps-and-sequences"]), seed=st.integers(0, 2**16))
def test_padded_batch_equals_each_sequence_alone(kind, num_layers, bidirectional, T, data, D, H,
                                                 keep_kind, seed):
    """The heart of variable-length batches.  Lengths in [1, T] in any order (1 and T
    included by the strategy's range); padded inputs and upstream gradients are random
    (they must be ignored); truncation factors in {0, 0.5, 1} cut the same boundaries."""
    B = data.draw(st.integers(1, 4), label="B")
    lengths = np.array(data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B),
                                 label="lengths"))
    rng = np.random.default_rng(seed)
    layer = prepared(kind, D, H, num_layers, bidirectional, seed)
    L, nd = layer.num_layers * layer.num_directions, layer.num_directions
    X = rng.standard_normal((T, B, D))
    state = tuple(rng.standard_normal((L, B, H)) for _ in layer.state_names)
    dHs = rng.standard_normal((T, B, H * nd))
    dstate = tuple(rng.standard_normal((L, B, H)) for _ in layer.state_names)
    keep = {None: None, "steps": rng.choice([0.0, 0.5, 1.0], size=T),
            "steps-and-sequences": rng.choice([0.0, 0.5, 1.0], size=(T, B))}[keep_kind]

    Hs, state_T, dX, dstate0, grads = run(layer, X, state, dHs, dstate, keep, lengths)

    summed = {k: np.zeros_like(v) for k, v in grads.items()}
    for b, n in enumerate(lengths):
        k_b = None if keep is None else keep[:n] if keep.ndim == 1 else keep[:n, b:b + 1]
        alone = run(layer, X[:n, b:b + 1], tuple(a[:, b:b + 1] for a in state),
                    dHs[:n, b:b + 1], tuple(a[:, b:b + 1] for a in dstate), k_b)
        Hs_b, state_b, dX_b, dstate0_b, grads_b = alone
        close(Hs[:n, b], Hs_b[:, 0], f"outputs of sequence {b} (length {n})")
        assert not Hs[n:, b].any(), "outputs past a sequence's length must be 0"
        for i in range(len(state)):
            close(state_T[i][:, b], state_b[i][:, 0], f"final state[{i}] of sequence {b}")
            close(dstate0[i][:, b], dstate0_b[i][:, 0], f"dstate0[{i}] of sequence {b}")
        close(dX[:n, b], dX_b[:, 0], f"dX of sequence {b}")
        assert not dX[n:, b].any(), "padded inputs must get no gradient"
        for k in summed:
            summed[k] += grads_b[k]
    for k in grads:
        close(grads[k], summed[k], f"gradient of {k}")


@pytest.mark.parametrize("kind", list(KINDS))
@settings(max_examples=6, deadline=None)
@given(num_layers=st.integers(1, 2), bidirectional=st.booleans(), T=st.integers(1, 4),
       data=st.data(), seed=st.integers(0, 2**16))
def test_gradients_with_lengths(kind, num_layers, bidirectional, T, data, seed):
    """Float64 centered differences: every parameter, X and the initial state, with
    random upstream gradients on every output position and on the final state."""
    B = data.draw(st.integers(1, 3), label="B")
    lengths = np.array(data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B),
                                 label="lengths"))
    rng = np.random.default_rng(seed)
    D, H = 2, 3
    layer = prepared(kind, D, H, num_layers, bidirectional, seed)
    L = layer.num_layers * layer.num_directions
    X = rng.standard_normal((T, B, D))
    state = tuple(rng.standard_normal((L, B, H)) for _ in layer.state_names)
    errors = check_layer(layer, X, state, lengths, input_names=["X", "state"], seed=seed,
                         eps=1e-5)
    assert set(errors) == set(layer.params) | {"X"} | {
        f"state[{i}]" for i in range(len(layer.state_names))}
    assert_gradients_ok(errors)


def test_lengths_of_T_are_the_unpadded_computation():
    """lengths all T: bit for bit what no lengths gives."""
    rng = np.random.default_rng(0)
    for kind in KINDS:
        layer = prepared(kind, 3, 4, 2, True, 0)
        X, dHs = rng.standard_normal((5, 3, 3)), rng.standard_normal((5, 3, 8))
        a = run(layer, X, None, dHs, None)
        b = run(layer, X, None, dHs, None, lengths=np.full(3, 5))
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[2], b[2])
        for k in a[4]:
            np.testing.assert_array_equal(a[4][k], b[4][k], err_msg=f"{kind} {k}")


def test_an_unsorted_batch_is_put_back_in_the_callers_order():
    """The layer sorts longest first inside; outputs and gradients come back in the order
    given, and a sorted batch needs no sorting (``layer.order`` is None)."""
    rng = np.random.default_rng(1)
    layer = prepared("lstm", 2, 3, 1, True, 1)
    X, dHs = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 6))
    lengths = np.array([2, 4, 1])
    Hs, state_T, dX, dstate0, _ = run(layer, X, None, dHs, None, lengths=lengths)
    np.testing.assert_array_equal(layer.order, [1, 0, 2])
    perm = np.array([1, 0, 2])
    Hs2, state2, dX2, dstate02, _ = run(layer, X[:, perm], None, dHs[:, perm], None,
                                        lengths=lengths[perm])
    assert layer.order is None
    close(Hs[:, perm], Hs2, "outputs")
    close(dX[:, perm], dX2, "dX")
    for a, b in zip(state_T + dstate0, state2 + dstate02):
        close(a[:, perm], b, "states")


def test_reverse_padded_reverses_within_each_length_and_is_its_own_inverse():
    A = np.arange(4 * 3).reshape(4, 3) + 1          # (T, B): A[t, b]
    lengths = np.array([4, 2, 1])
    R = reverse_padded(A, lengths)
    np.testing.assert_array_equal(R[:, 0], A[::-1, 0])
    np.testing.assert_array_equal(R[:, 1], [A[1, 1], A[0, 1], A[2, 1], A[3, 1]])
    np.testing.assert_array_equal(R[:, 2], A[:, 2])
    np.testing.assert_array_equal(reverse_padded(R, lengths), A)
    np.testing.assert_array_equal(reverse_padded(A), A[::-1])


def test_reverse_keep_with_lengths_cuts_each_sequences_own_boundaries():
    keep = np.array([10., 11., 12., 13.])            # keep[t]: the boundary between t-1 and t
    np.testing.assert_array_equal(reverse_keep(keep), [10, 13, 12, 11])
    rk = reverse_keep(keep, np.array([4, 2]))
    np.testing.assert_array_equal(rk[:, 0], [10, 13, 12, 11])
    np.testing.assert_array_equal(rk[:2, 1], [10, 11])   # length 2: step 1 crosses keep[1]


# ----------------------------------------------------------------- bad lengths
@pytest.mark.parametrize("lengths, error, message", [
    (np.array([0, 2]), ValueError, r"lengths must be in \[1, 3\].*got 0"),
    (np.array([-1, 2]), ValueError, r"lengths must be in \[1, 3\].*got -1"),
    (np.array([4, 2]), ValueError, r"lengths must be in \[1, 3\].*got 4"),
    (np.array([3, 2, 1]), ValueError, r"lengths must have shape \(2,\).*got \(3,\)"),
    (np.array([[3, 2]]), ValueError, r"lengths must have shape \(2,\).*got \(1, 2\)"),
    (np.array([3.0, 2.0]), TypeError, r"lengths must hold integers.*float64"),
    ([3, 2], TypeError, r"lengths must be a numpy array"),
])
def test_bad_lengths_are_named_before_anything_changes(lengths, error, message):
    for kind in KINDS:
        layer = KINDS[kind](2, 3, bidirectional=True)
        X = np.zeros((3, 2, 2), np.float32)
        layer.forward(X)
        cache = layer.cache
        with pytest.raises(error, match=message):
            layer.forward(X, lengths=lengths)
        assert layer.cache is cache, kind


def test_an_empty_batch_is_refused():
    with pytest.raises(ValueError, match=r"X must hold at least one step and one sequence"):
        LSTM(2, 3).forward(np.zeros((3, 0, 2), np.float32), lengths=np.zeros(0, np.int64))
    with pytest.raises(ValueError, match=r"X must hold at least one step"):
        GRU(2, 3).forward(np.zeros((0, 2, 2), np.float32))


# ----------------------------------------------------------------- padding helpers
def test_pad_sequences_and_sequence_mask():
    ids, lengths = pad_sequences([[5, 6, 7], [8], [9, 1]], pad_id=0)
    np.testing.assert_array_equal(ids, [[5, 6, 7], [8, 0, 0], [9, 1, 0]])
    np.testing.assert_array_equal(lengths, [3, 1, 2])
    assert ids.dtype == lengths.dtype == np.int64
    ids, _ = pad_sequences([np.array([1, 2])], pad_id=3, num_steps=4)
    np.testing.assert_array_equal(ids, [[1, 2, 3, 3]])
    np.testing.assert_array_equal(sequence_mask(np.array([3, 1]), 3),
                                  [[True, True, True], [True, False, False]])
    assert sequence_mask(np.array([3, 1]), 3, time_major=True).shape == (3, 2)


@pytest.mark.parametrize("call, error, message", [
    (lambda: pad_sequences([]), ValueError, "at least one sequence"),
    (lambda: pad_sequences([[1], []]), ValueError, r"seqs\[1\] is empty"),
    (lambda: pad_sequences([[1.5]]), TypeError, r"seqs\[0\] must hold integer token ids"),
    (lambda: pad_sequences([[1, -2]]), ValueError, r"seqs\[0\] holds a negative token id -2"),
    (lambda: pad_sequences([[1]], pad_id=-1), ValueError, "pad_id must be a non-negative int"),
    (lambda: pad_sequences([[1, 2, 3]], num_steps=2), ValueError, r"num_steps must hold .*3"),
    (lambda: pad_sequences("abc"), TypeError, "seqs must be a list"),
    (lambda: sequence_mask(np.array([4]), 3), ValueError, r"lengths must be in \[1, 3\]"),
    (lambda: bucket_batches(np.array([2, 0]), 2), ValueError, "lengths must be >= 1, got 0"),
    (lambda: bucket_batches(np.array([2, 1]), 0), ValueError, "batch_size must be a positive"),
])
def test_padding_helpers_name_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_bucket_batches_group_similar_lengths_cover_every_index_and_are_seeded():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 200, size=1000)
    batches = bucket_batches(lengths, 32, seed=3)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    for idx in batches:
        assert np.all(np.diff(lengths[idx]) <= 0), "longest first within a batch"
    padded = sum(len(i) * lengths[i].max() for i in batches)
    random_padded = sum(32 * lengths[i].max() for i in np.array_split(rng.permutation(1000), 32))
    assert padded < 1.1 * lengths.sum() < random_padded    # small padding; random batches: not
    assert all(np.array_equal(a, b) for a, b in zip(batches, bucket_batches(lengths, 32, seed=3)))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, bucket_batches(lengths, 32, seed=4)))
    assert len(bucket_batches(lengths, 300, seed=0, drop_last=True)) == 3


# ----------------------------------------------------------------- masked losses
def test_the_masked_loss_is_a_mean_over_real_tokens_and_padding_changes_nothing():
    """SoftmaxCrossEntropy(mask=...) divides by the real tokens: padding a batch further
    (more steps of padding, any logits and targets there) changes neither the loss nor
    the gradient at real positions.  The 0.17 book's MaskedSoftmaxCELoss (a mean over all
    T positions of each row, padding counted as 0) changes with the padding: T=4 vs T=8
    halves it, and it is not the per-token loss."""
    from minirnn.losses import SoftmaxCrossEntropy
    rng = np.random.default_rng(0)
    lengths = np.array([4, 1, 3])
    logits = rng.standard_normal((3, 8, 5))
    targets = rng.integers(0, 5, (3, 8))
    loss = SoftmaxCrossEntropy()
    values, grads = [], []
    for T in (4, 8):
        mask = sequence_mask(lengths, T)
        values.append(loss.forward(logits[:, :T], targets[:, :T], mask=mask))
        grads.append(loss.backward()[:, :4])
    assert values[0] == pytest.approx(values[1], rel=1e-15)
    np.testing.assert_allclose(grads[0] * sequence_mask(lengths, 4)[..., None],
                               grads[1] * sequence_mask(lengths, 4)[..., None], rtol=1e-15)
    assert not grads[1][~sequence_mask(lengths, 4)].any()

    def book_017(T):                                        # (l * mask).mean(dim=1).mean()
        z = logits[:, :T] - logits[:, :T].max(-1, keepdims=True)
        nll = np.log(np.exp(z).sum(-1)) - np.take_along_axis(z, targets[:, :T, None], -1)[..., 0]
        return (nll * sequence_mask(lengths, T)).mean(axis=1).mean(), nll
    (at4, nll), (at8, _) = book_017(4), book_017(8)
    assert at8 == pytest.approx(at4 / 2)                    # the same tokens, half the loss
    per_token = nll[sequence_mask(lengths, 4)].mean()
    assert values[0] == pytest.approx(per_token)
    assert at4 == pytest.approx(per_token * lengths.sum() / (3 * 4))   # scaled by 1 - padding
