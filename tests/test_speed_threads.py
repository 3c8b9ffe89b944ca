"""minirnn._threads (set_num_threads, for_rows) and the code that uses it: the same numbers
with one thread and with several, and the softmax's fewer passes equal to the formula."""
import threading

import numpy as np
import pytest

import minirnn
from minirnn import _threads
from minirnn.losses import SoftmaxCrossEntropy
from minirnn.models import RNNLM


@pytest.fixture
def threads():
    """Set the thread count for one test; the previous count afterwards."""
    before = minirnn.get_num_threads()
    yield minirnn.set_num_threads
    minirnn.set_num_threads(before)


@pytest.mark.parametrize("num_rows, row_size, n", [(10, 1, 2), (1000, 28, 2), (1 << 20, 1, 3),
                                                   (5, 1 << 16, 4), (0, 1, 2), (7, 1 << 20, 3)])
def test_row_blocks_cover_the_rows_once(num_rows, row_size, n):
    blocks = _threads.row_blocks(num_rows, row_size, threads=n)
    assert blocks[0].start == 0 and blocks[-1].stop == num_rows
    assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:]))      # contiguous, in order
    assert 1 <= len(blocks) <= n
    if len(blocks) > 1:                                 # only blocks worth a thread
        assert min(b.stop - b.start for b in blocks) * row_size >= _threads.MIN_ELEMENTS
        assert min(b.stop - b.start for b in blocks) >= _threads.MIN_ROWS


def test_for_rows_runs_blocks_in_other_threads_and_matches_one_thread(threads):
    x = np.random.default_rng(0).standard_normal((4096, 64)).astype(np.float32)
    seen = set()

    def exp_rows(rows, out):
        seen.add(threading.get_ident())
        np.exp(x[rows], out=out[rows])

    threads(1)
    one = np.empty_like(x)
    _threads.for_rows(lambda rows: exp_rows(rows, one), len(x), x.shape[1])
    assert seen == {threading.get_ident()}
    threads(2)
    seen.clear()
    two = np.empty_like(x)
    _threads.for_rows(lambda rows: exp_rows(rows, two), len(x), x.shape[1])
    assert len(seen) == 2                               # the caller and one worker
    np.testing.assert_array_equal(one, two)


def test_for_rows_raises_a_workers_exception_after_every_block(threads):
    threads(2)
    done = []

    def body(rows):
        if rows.start > 0:
            raise ArithmeticError(f"block at {rows.start}")
        done.append(rows)
    with pytest.raises(ArithmeticError, match="block at"):
        _threads.for_rows(body, 1 << 16)
    assert done == [slice(0, 1 << 15)]


def test_for_rows_inside_a_block_runs_there_and_does_not_wait_on_the_pool(threads):
    threads(2)
    out = np.zeros((2, 1 << 17))                           # a row per outer block: no race

    def outer(rows):
        i = 0 if rows.start == 0 else 1

        def inner(r):
            out[i, r] += 1
        _threads.for_rows(inner, 1 << 17)                  # from the worker too: no deadlock
    _threads.for_rows(outer, 1 << 16)
    np.testing.assert_array_equal(out, 1)                  # every entry once per outer block


def test_matmul_at_is_the_sum_of_its_blocks(threads):
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((70000, 5)), rng.standard_normal((70000, 3))
    for n in (1, 3):
        threads(n)
        np.testing.assert_allclose(_threads.matmul_at(a, b), a.T @ b, rtol=1e-12)
        np.testing.assert_allclose(_threads.matmul_at(a, b[:, 0]), a.T @ b[:, 0], rtol=1e-12)
    assert len(_threads.row_blocks(70000, 8)) == 3          # it did split


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None])
def test_set_num_threads_refuses_what_is_not_a_positive_int(bad):
    with pytest.raises(ValueError, match=rf"n must be an int >= 1, got {bad!r}"):
        minirnn.set_num_threads(bad)


def test_softmax_cross_entropy_same_with_one_and_two_threads(threads):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((32, 512, 28)).astype(np.float32).transpose(1, 0, 2)  # (B, T, V) view
    targets = rng.integers(0, 28, (512, 32))
    out = {}
    for n in (1, 2):
        threads(n)
        loss = SoftmaxCrossEntropy()
        out[n] = loss.forward(logits, targets), loss.backward(0.5)
    assert out[1][0] == out[2][0]
    np.testing.assert_array_equal(out[1][1], out[2][1])


@pytest.mark.parametrize("layout", ["C", "time-major view", "F"])
@pytest.mark.parametrize("spread", [3.0, 60.0])     # 60: beyond 44, rows shifted by their max
@pytest.mark.parametrize("masked", [False, True])
def test_softmax_cross_entropy_is_the_formula_in_any_layout(layout, spread, masked):
    """Loss and gradient against the textbook formula in float64, for logits in C order, as
    RNNLM's (B, T, V) view of a time-major array, and in Fortran order; the gradient comes
    back in the logits' own memory layout (no copy for the caller's reshape)."""
    rng = np.random.default_rng(2)
    B, T, V = 6, 5, 7
    z = (spread * rng.standard_normal((B, T, V))).astype(np.float32)
    if layout == "time-major view":
        z = np.ascontiguousarray(z.transpose(1, 0, 2)).transpose(1, 0, 2)
    elif layout == "F":
        z = np.asfortranarray(z)
    y = rng.integers(0, V, (B, T))
    w = (rng.random((B, T)) > 0.3).astype(np.float32) if masked else np.ones((B, T), np.float32)
    z64 = z.astype(np.float64)
    p = np.exp(z64 - z64.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    p_y = np.take_along_axis(p, y[..., None], -1)[..., 0]
    expected_loss = (-np.log(p_y) * w).sum() / w.sum()
    onehot = np.eye(V)[y]
    expected_grad = 0.5 * (p - onehot) * w[..., None] / w.sum()
    loss = SoftmaxCrossEntropy()
    got = loss.forward(z, y, w if masked else None)
    d = loss.backward(0.5)
    np.testing.assert_allclose(got, expected_loss, rtol=2e-6)
    np.testing.assert_allclose(d, expected_grad, rtol=1e-5, atol=1e-8)
    assert d.shape == z.shape and d.dtype == z.dtype
    if layout != "F":
        assert d.strides == z.strides
    np.testing.assert_array_equal(loss.backward(0.5), d)      # backward twice: the same


@pytest.mark.parametrize("z_target", [8.0, 12.0, 16.0, 40.0])
def test_confident_predictions_keep_their_small_loss(z_target):
    """-log p_y = log(s / e_y): no cancellation of two large numbers when p_y is near 1
    (``log s - z_y`` in float32 is off by 1.1e-7 to 2.7e-7 at z_y = 8, 12, 16)."""
    z = np.array([[z_target, 0.0, 0.0]], np.float32)
    got = SoftmaxCrossEntropy().forward(z, np.array([0]))
    expected = np.log1p(2 * np.exp(-z_target))                 # 6.7e-4 ... 8.5e-18
    assert abs(got - expected) <= 6e-8


def test_a_training_step_same_with_one_and_two_threads(threads):
    """The whole step of RNNLM at a shape where the threads split the batch: the same loss
    and gradients with one thread and with two, up to float32 rounding (BLAS with two
    threads may sum a weight gradient's N = B*T products in another order)."""
    rng = np.random.default_rng(3)
    X, Y = rng.integers(0, 28, (512, 16)), rng.integers(0, 28, (512, 16))
    out = {}
    for n in (1, 2):
        threads(n)
        model = RNNLM(28, 32, seed=0)
        loss = SoftmaxCrossEntropy()
        logits, _ = model.forward(X)
        value = loss.forward(logits, Y)
        model.backward(loss.backward())
        out[n] = value, {k: g.copy() for k, g in model.grads.items()}
    assert abs(out[1][0] - out[2][0]) <= 1e-6 * out[1][0]
    for k, g in out[1][1].items():
        assert np.abs(g - out[2][1][k]).max() <= 1e-5 * np.abs(g).max(), k


# ---- the gradient checks and equalities again, with every split into row blocks ----------
# Re-collected here under a fixture that sets two threads and makes every block worth a
# thread (MIN_ELEMENTS = MIN_ROWS = 1), so the recurrences and the softmax run in row blocks even at
# the tiny shapes the checks use: lengths (a block's running rows), truncation factors
# per sequence, the initial state's gradient, stacks and both directions.
from test_bptt import test_regular_truncation_gradient_check as test_truncation_gradients_in_blocks  # noqa: E402,E501
from test_layers import test_rnn_equals_cell_looped_step_by_step as test_rnn_equals_cell_in_blocks  # noqa: E402,E501
from test_layers import test_rnn_gradients as test_rnn_gradients_in_blocks  # noqa: E402
from test_layers import test_softmax_cross_entropy_gradients as test_softmax_gradients_in_blocks  # noqa: E402,E501
from test_lengths import test_gradients_with_lengths as test_gradients_with_lengths_in_blocks  # noqa: E402,E501
from test_lengths import \
    test_padded_batch_equals_each_sequence_alone as test_padded_batch_in_blocks  # noqa: E402
from test_models import test_rnnlm_gradients_through_bptt as test_rnnlm_gradients_in_blocks  # noqa: E402,E501
from test_models import test_rnnlm_with_loss_gradients as test_rnnlm_with_loss_in_blocks  # noqa: E402


@pytest.fixture(autouse=True)
def _blocks_everywhere(request, monkeypatch):
    if request.function.__name__.endswith("_in_blocks"):
        before = minirnn.get_num_threads()
        minirnn.set_num_threads(2)
        monkeypatch.setattr(_threads, "MIN_ELEMENTS", 1)
        monkeypatch.setattr(_threads, "MIN_ROWS", 1)
        yield
        minirnn.set_num_threads(before)
    else:
        yield


def test_the_checks_above_do_split(monkeypatch):
    """What the fixture sets really splits a tiny recurrence, forward and backward, into two
    blocks in two threads."""
    seen = []
    real = _threads.for_rows

    def spy(body, num_rows, row_size=1, split=True):
        seen.append(_threads.row_blocks(num_rows, row_size) if split else [slice(0, num_rows)])
        real(body, num_rows, row_size, split)
    before = minirnn.get_num_threads()
    minirnn.set_num_threads(2)
    monkeypatch.setattr(_threads, "MIN_ELEMENTS", 1)
    monkeypatch.setattr(_threads, "MIN_ROWS", 1)
    import minirnn.layers.recurrent as recurrent
    monkeypatch.setattr(recurrent, "for_rows", spy)
    try:
        from minirnn.layers import RNN
        layer = RNN(3, 4, seed=0, dtype=np.float64)
        layer.forward(np.ones((2, 5, 3)), None, np.array([2, 1, 2, 1, 1]))
        layer.backward(np.ones((2, 5, 4)))                     # the backward loop too
    finally:
        minirnn.set_num_threads(before)
    assert seen == [[slice(0, 2), slice(2, 5)]] * 2
