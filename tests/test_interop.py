"""minirnn.interop: PyTorch state dicts, both ways.

Without torch: exact round trips (export, then import into a freshly initialised layer or
model), PyTorch's keys, shapes and gate orders written out by hand, the two biases summed
on import, gradients exported, the book's GRU refused, and bad state dicts refused before
anything changes.  With torch: minirnn's outputs, final states and every gradient
(parameters, input, initial state) equal PyTorch's ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM``,
their cells and a small language model in float64, the weights passed through the
interchange, for one and two layers and both directions.
"""
import warnings

import numpy as np
import pytest

from minirnn.gradcheck import randomize_params
from minirnn.interop import load_torch_state_dict, to_torch_state_dict, torch_module_args
from minirnn.layers import (GRU, LSTM, RNN, Embedding, GRUCell, Linear, LSTMCell, Module, OneHot,
                            RNNCell)
from minirnn.models import MLP, RNNLM

#: Every recurrent layer with a PyTorch counterpart: (class, constructor keywords).
RECURRENT = {"rnn": (RNN, {}), "rnn_relu": (RNN, {"nonlinearity": "relu"}),
             "gru": (GRU, {"reset_after": True}), "lstm": (LSTM, {})}
CELLS = {"rnn": (RNNCell, {}), "rnn_relu": (RNNCell, {"nonlinearity": "relu"}),
         "gru": (GRUCell, {"reset_after": True}), "lstm": (LSTMCell, {})}
#: (num_layers, bidirectional)
STACKS = [(1, False), (2, False), (1, True), (2, True)]

#: minirnn and PyTorch agree to about 1e-15 in float64; the bar is 1e-6.
TOL = dict(rtol=1e-6, atol=1e-6)


def stack_id(stack):
    num_layers, bidirectional = stack
    return f"{num_layers}layer{'s' if num_layers > 1 else ''}{'_bidirectional' * bidirectional}"


def make(variant, D, H, num_layers=1, bidirectional=False, seed=0):
    """A recurrent layer, stacked or bidirectional as asked."""
    cls, kw = RECURRENT[variant]
    return cls(D, H, num_layers=num_layers, bidirectional=bidirectional, seed=seed, **kw)


def rnnlm(cell="rnn", **kw):
    """An RNNLM; a GRU one in PyTorch's form (``reset_after=True``), the one PyTorch has."""
    if cell == "gru":
        kw["reset_after"] = True
    return RNNLM(cell=cell, **kw)


def randomized(obj, seed):
    """``obj`` with every parameter N(0, 0.5^2), biases included (not the init's zeros)."""
    randomize_params(obj, np.random.default_rng([seed, 7]))
    return obj


def shapes(state_dict):
    return {k: v.shape for k, v in state_dict.items()}


def num_state(layer):
    return 2 if isinstance(layer, (LSTM, LSTMCell)) else 1


# ----------------------------------------------------------------- round trips
ROUND_TRIPS = {
    **{variant: (lambda seed, v=variant: make(v, 3, 4, seed=seed)) for variant in RECURRENT},
    **{f"{variant}_{stack_id(stack)}":
       (lambda seed, v=variant, s=stack: make(v, 3, 4, *s, seed=seed))
       for variant in RECURRENT for stack in STACKS[1:]},
    **{f"{variant}_cell": (lambda seed, c=cls, kw=kw: c(3, 4, seed=seed, **kw))
       for variant, (cls, kw) in CELLS.items()},
    "linear": lambda seed: Linear(3, 5, seed=seed),
    "embedding": lambda seed: Embedding(7, 3, seed=seed),
    "rnnlm_onehot": lambda seed: RNNLM(7, 5, seed=seed),
    "rnnlm_embedding": lambda seed: RNNLM(7, 5, embed_dim=3, seed=seed),
    "rnnlm_tied": lambda seed: RNNLM(7, 5, embed_dim=5, tie_weights=True, seed=seed),
    "mlp": lambda seed: MLP(seed=seed),
}


@pytest.mark.parametrize("name", ROUND_TRIPS)
def test_round_trip_is_exact(name):
    source = randomized(ROUND_TRIPS[name](1), 1)
    target = ROUND_TRIPS[name](2)                            # freshly initialised, float32
    arrays = dict(target.params)
    assert set(arrays) == set(source.params)
    assert not all(np.array_equal(arrays[k], source.params[k]) for k in arrays)
    state_dict = to_torch_state_dict(source)
    assert load_torch_state_dict(target, state_dict) is target
    for k, v in source.params.items():
        np.testing.assert_array_equal(target.params[k], v, err_msg=k)
        assert target.params[k] is arrays[k]                # in place: the same arrays
        assert target.params[k].dtype == np.float32
    again = to_torch_state_dict(target)
    assert list(again) == list(state_dict)
    for k, v in state_dict.items():
        np.testing.assert_array_equal(again[k], v, err_msg=k)
    if name == "rnnlm_tied":                                 # still one matrix, both uses
        assert np.shares_memory(target.output.params["W"], target.embedding.params["W"])
        np.testing.assert_array_equal(state_dict["output.weight"], state_dict["embedding.weight"])


def test_export_is_a_copy():
    lstm = randomized(LSTM(3, 4), 0)
    saved = {k: v.copy() for k, v in lstm.params.items()}
    for v in to_torch_state_dict(lstm).values():
        v[...] = 7
    for v in to_torch_state_dict(lstm, "grads").values():
        v[...] = 7
    for k, v in lstm.params.items():
        np.testing.assert_array_equal(v, saved[k], err_msg=k)
    assert not any(g.any() for g in lstm.grads.values())


# ----------------------------------------------------------------- PyTorch's names, by hand
def test_keys_and_shapes_are_pytorchs():
    assert shapes(to_torch_state_dict(RNN(3, 4))) == {
        "weight_ih_l0": (4, 3), "weight_hh_l0": (4, 4), "bias_ih_l0": (4,), "bias_hh_l0": (4,)}
    assert shapes(to_torch_state_dict(GRU(3, 4, reset_after=True))) == {
        "weight_ih_l0": (12, 3), "weight_hh_l0": (12, 4), "bias_ih_l0": (12,), "bias_hh_l0": (12,)}
    assert shapes(to_torch_state_dict(LSTM(3, 4))) == {
        "weight_ih_l0": (16, 3), "weight_hh_l0": (16, 4), "bias_ih_l0": (16,), "bias_hh_l0": (16,)}
    assert shapes(to_torch_state_dict(LSTMCell(3, 4))) == {
        "weight_ih": (16, 3), "weight_hh": (16, 4), "bias_ih": (16,), "bias_hh": (16,)}
    assert shapes(to_torch_state_dict(Linear(3, 5))) == {"weight": (5, 3), "bias": (5,)}
    assert shapes(to_torch_state_dict(Embedding(7, 3))) == {"weight": (7, 3)}
    assert shapes(to_torch_state_dict(RNNLM(7, 5))) == {        # one-hot: no embedding key
        "rnn.weight_ih_l0": (5, 7), "rnn.weight_hh_l0": (5, 5), "rnn.bias_ih_l0": (5,),
        "rnn.bias_hh_l0": (5,), "output.weight": (7, 5), "output.bias": (7,)}
    assert shapes(to_torch_state_dict(RNNLM(7, 5, embed_dim=5, tie_weights=True))) == {
        "embedding.weight": (7, 5), "rnn.weight_ih_l0": (5, 5), "rnn.weight_hh_l0": (5, 5),
        "rnn.bias_ih_l0": (5,), "rnn.bias_hh_l0": (5,), "output.weight": (7, 5),
        "output.bias": (7,)}
    assert shapes(to_torch_state_dict(MLP(4, 10, 1))) == {
        "0.weight": (10, 4), "0.bias": (10,), "2.weight": (1, 10), "2.bias": (1,)}


def stacked_lstm_keys():
    """nn.LSTM(3, 4, num_layers=2, bidirectional=True)'s state dict, in its order."""
    keys = []
    for suffix, D_k in [("_l0", 3), ("_l0_reverse", 3), ("_l1", 8), ("_l1_reverse", 8)]:
        keys += [(f"weight_ih{suffix}", (16, D_k)), (f"weight_hh{suffix}", (16, 4)),
                 (f"bias_ih{suffix}", (16,)), (f"bias_hh{suffix}", (16,))]
    return keys


def test_stacked_bidirectional_keys_are_pytorchs():
    lstm = make("lstm", 3, 4, num_layers=2, bidirectional=True)
    assert [(k, v.shape) for k, v in to_torch_state_dict(lstm).items()] == stacked_lstm_keys()


def test_gate_blocks_go_to_pytorchs_order():
    """Each gate's block marked with its index in minirnn's order: PyTorch's LSTM rows are
    i, f, g, o, i.e. minirnn's blocks 0, 1, 3, 2; the GRU's r, z, n are 0, 1, 2."""
    H = 2
    lstm, gru = LSTM(3, H), GRU(3, H, reset_after=True)
    for layer in (lstm, gru):
        for k in range(len(layer.params["b"]) // H):
            block = slice(k * H, (k + 1) * H)
            layer.params["W_x"][:, block] = k
            layer.params["W_h"][:, block] = 10 + k
            layer.params["b"][block] = 20 + k
    gru.params["b_hn"][...] = 30
    def rows(blocks, width):                                 # each block's value on H rows
        return np.repeat(blocks, H)[:, None] * np.ones(width)

    sd = to_torch_state_dict(lstm)
    np.testing.assert_array_equal(sd["weight_ih_l0"], rows([0, 1, 3, 2], 3))
    np.testing.assert_array_equal(sd["weight_hh_l0"], rows([10, 11, 13, 12], H))
    np.testing.assert_array_equal(sd["bias_ih_l0"], np.repeat([20, 21, 23, 22], H))
    np.testing.assert_array_equal(sd["bias_hh_l0"], np.zeros(4 * H))
    sd = to_torch_state_dict(gru)
    np.testing.assert_array_equal(sd["weight_ih_l0"], rows([0, 1, 2], 3))
    np.testing.assert_array_equal(sd["weight_hh_l0"], rows([10, 11, 12], H))
    np.testing.assert_array_equal(sd["bias_ih_l0"], np.repeat([20, 21, 22], H))
    np.testing.assert_array_equal(sd["bias_hh_l0"], np.repeat([0, 0, 30], H))   # [0 | 0 | b_hn]


def test_weights_are_transposed():
    rnn = randomized(RNN(3, 4), 0)
    sd = to_torch_state_dict(rnn)
    np.testing.assert_array_equal(sd["weight_ih_l0"], rnn.params["W_xh"].T)
    np.testing.assert_array_equal(sd["weight_hh_l0"], rnn.params["W_hh"].T)
    np.testing.assert_array_equal(sd["bias_ih_l0"], rnn.params["b_h"])
    assert all(v.flags.c_contiguous for v in sd.values())
    linear = randomized(Linear(3, 5), 0)
    np.testing.assert_array_equal(to_torch_state_dict(linear)["weight"], linear.params["W"].T)


def test_import_sums_the_two_biases_except_the_grus_candidate():
    H, rng = 3, np.random.default_rng(0)
    bi, bh = rng.standard_normal(4 * H), rng.standard_normal(4 * H)
    lstm = LSTM(2, H).astype(np.float64)
    sd = dict(to_torch_state_dict(lstm), bias_ih_l0=bi, bias_hh_l0=bh)
    load_torch_state_dict(lstm, sd)
    i, f, g, o = (bi + bh).reshape(4, H)                     # PyTorch's blocks
    np.testing.assert_array_equal(lstm.params["b"], np.concatenate([i, f, o, g]))

    bi, bh = bi[:3 * H], bh[:3 * H]
    gru = GRU(2, H, reset_after=True).astype(np.float64)
    load_torch_state_dict(gru, dict(to_torch_state_dict(gru), bias_ih_l0=bi, bias_hh_l0=bh))
    np.testing.assert_array_equal(gru.params["b"][:2 * H], bi[:2 * H] + bh[:2 * H])  # b_r, b_z
    np.testing.assert_array_equal(gru.params["b"][2 * H:], bi[2 * H:])              # b_h
    np.testing.assert_array_equal(gru.params["b_hn"], bh[2 * H:])                   # b_hn


@pytest.mark.parametrize("variant", RECURRENT)
def test_grads_export_like_params_with_each_bias_getting_the_sums_gradient(variant):
    layer = randomized(make(variant, 3, 4), 0)
    rng = np.random.default_rng(1)
    layer.forward(rng.standard_normal((5, 2, 3)).astype(np.float32))
    layer.backward(rng.standard_normal((5, 2, 4)).astype(np.float32))
    g = layer.grads
    twin = make(variant, 3, 4)                               # params := layer's grads: the
    for k, v in twin.params.items():                         # params' transforms, on grads
        v[...] = g[k]
    sd, expected = to_torch_state_dict(layer, "grads"), to_torch_state_dict(twin)
    assert list(sd) == list(expected)
    for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0"):
        np.testing.assert_array_equal(sd[k], expected[k], err_msg=k)
    H = 4
    if variant == "gru":                                     # r, z summed; n: b_hn's own
        np.testing.assert_array_equal(sd["bias_hh_l0"][:2 * H], sd["bias_ih_l0"][:2 * H])
        np.testing.assert_array_equal(sd["bias_hh_l0"][2 * H:], g["b_hn"])
    else:
        np.testing.assert_array_equal(sd["bias_hh_l0"], sd["bias_ih_l0"])
    assert np.abs(sd["bias_hh_l0"]).sum() > 0


def test_which_must_be_params_or_grads():
    with pytest.raises(ValueError, match="which must be 'params' or 'grads', got 'grad'"):
        to_torch_state_dict(RNN(3, 4), which="grad")
    with pytest.raises(TypeError, match="obj must be a minirnn layer or model, got dict"):
        to_torch_state_dict({"W": np.zeros(3)})


def test_torch_module_args_name_the_module_and_the_nonlinearity():
    assert torch_module_args(RNN(3, 4, nonlinearity="relu")) == ("RNN", {
        "input_size": 3, "hidden_size": 4, "num_layers": 1, "bidirectional": False,
        "nonlinearity": "relu"})
    assert torch_module_args(RNN(3, 4))[1]["nonlinearity"] == "tanh"
    assert torch_module_args(LSTM(3, 4)) == ("LSTM", {
        "input_size": 3, "hidden_size": 4, "num_layers": 1, "bidirectional": False})
    assert torch_module_args(GRUCell(3, 4, reset_after=True)) == ("GRUCell", {
        "input_size": 3, "hidden_size": 4})
    assert torch_module_args(RNNCell(3, 4, nonlinearity="relu")) == ("RNNCell", {
        "input_size": 3, "hidden_size": 4, "nonlinearity": "relu"})
    with pytest.raises(TypeError, match="layer must be a recurrent layer or cell.*got Linear"):
        torch_module_args(Linear(3, 4))


# ----------------------------------------------------------------- refusals
BOOK_GRU = (r"^(rnn: )?GRU\(reset_after=False\) is the book's GRU, which has no exact PyTorch "
            r"counterpart .*reset_after=True")


def test_the_books_gru_is_refused_in_one_line():
    for call in (lambda: to_torch_state_dict(GRU(3, 4)),
                 lambda: to_torch_state_dict(GRUCell(3, 4), "grads"),
                 lambda: load_torch_state_dict(GRU(3, 4), to_torch_state_dict(
                     GRU(3, 4, reset_after=True))),
                 lambda: torch_module_args(GRU(3, 4))):
        with pytest.raises(ValueError, match=BOOK_GRU) as err:
            call()
        assert "\n" not in str(err.value)
    model = Module()
    model.add("embedding", OneHot(3))
    model.add("rnn", GRU(3, 4))
    with pytest.raises(ValueError, match="^rnn: GRU"):
        to_torch_state_dict(model)


def params_copy(obj):
    return {k: v.copy() for k, v in obj.params.items()}


def assert_unchanged(obj, saved):
    assert set(obj.params) == set(saved)
    for k, v in obj.params.items():
        np.testing.assert_array_equal(v, saved[k], err_msg=k)


def _tied_apart(sd):
    sd["output.weight"] = sd["output.weight"] + 1e-3


#: (name, obj factory, state dict edit, exception, message pattern)
BAD = [
    ("missing", lambda: LSTM(3, 4), lambda sd: sd.pop("bias_hh_l0"),
     ValueError, r"missing key\(s\): bias_hh_l0"),
    ("unexpected", lambda: LSTM(3, 4), lambda sd: sd.update(weight_ih_l1=np.zeros((16, 4))),
     ValueError, r"unexpected key\(s\): weight_ih_l1"),
    ("transposed", lambda: LSTM(3, 4), lambda sd: sd.update(weight_ih_l0=sd["weight_ih_l0"].T),
     ValueError, r"weight_ih_l0: expected shape \(16, 3\), got \(3, 16\)"),
    ("one_gate_short", lambda: GRU(3, 4, reset_after=True),
     lambda sd: sd.update(bias_hh_l0=sd["bias_hh_l0"][:8]),
     ValueError, r"bias_hh_l0: expected shape \(12,\), got \(8,\)"),
    ("strings", lambda: RNN(3, 4), lambda sd: sd.update(bias_ih_l0=np.array(["a"] * 4)),
     TypeError, r"bias_ih_l0 must be an array of real numbers, got dtype <U1"),
    ("complex", lambda: RNN(3, 4), lambda sd: sd.update(bias_ih_l0=np.ones(4, complex)),
     TypeError, r"bias_ih_l0 must be an array of real numbers, got dtype complex128"),
    ("ragged", lambda: RNN(3, 4), lambda sd: sd.update(bias_ih_l0=[[1.0], [1.0, 2.0]]),
     TypeError, r"bias_ih_l0 must be an array of real numbers, got list"),
    ("no_prefix", lambda: RNNLM(7, 5),
     lambda sd: sd.update(weight_ih_l0=sd.pop("rnn.weight_ih_l0")),
     ValueError, r"missing key\(s\): rnn.weight_ih_l0\n  unexpected key\(s\): weight_ih_l0"),
    ("tied_apart", lambda: RNNLM(7, 5, embed_dim=5, tie_weights=True), _tied_apart,
     ValueError, r"output.weight must equal embedding.weight: the model ties them"),
]


@pytest.mark.parametrize("name, factory, edit, error, pattern", BAD, ids=[b[0] for b in BAD])
def test_bad_state_dicts_are_refused_before_anything_changes(name, factory, edit, error, pattern):
    obj = factory()
    sd = to_torch_state_dict(randomized(factory(), 9))      # differs from obj's everywhere
    edit(sd)
    saved = params_copy(obj)
    with pytest.raises(error, match=pattern):
        load_torch_state_dict(obj, sd)
    assert_unchanged(obj, saved)


def test_every_problem_is_listed_at_once():
    lstm = LSTM(3, 4)
    sd = to_torch_state_dict(lstm)
    del sd["bias_hh_l0"]
    sd["weight_hh_l0"] = np.zeros((4, 16))
    sd["extra"] = np.zeros(1)
    with pytest.raises(ValueError) as err:
        load_torch_state_dict(lstm, sd)
    assert str(err.value) == ("state_dict does not fit LSTM (nothing was changed):\n"
                              "  weight_hh_l0: expected shape (16, 4), got (4, 16)\n"
                              "  missing key(s): bias_hh_l0\n"
                              "  unexpected key(s): extra")
    with pytest.raises(TypeError, match="state_dict must be a mapping.*got list"):
        load_torch_state_dict(lstm, list(sd.items()))


# ----------------------------------------------------------------- what it accepts
class FakeTensor:
    """What load_torch_state_dict may use of a torch tensor: ``detach()``, ``cpu()``,
    ``numpy()`` (a tensor that requires grad refuses ``__array__``, so has none here)."""

    def __init__(self, a):
        self.a = a

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.a


class ArrayLike:
    def __init__(self, a):
        self.a = a

    def __array__(self, dtype=None, copy=None):
        return self.a if dtype is None else self.a.astype(dtype)


@pytest.mark.parametrize("wrap", [FakeTensor, ArrayLike, np.ndarray.tolist])
def test_tensors_array_likes_and_lists_are_read_and_cast_to_the_layers_dtype(wrap):
    source = randomized(GRU(3, 4, reset_after=True).astype(np.float64), 0)
    target = GRU(3, 4, reset_after=True)                     # float32
    arrays = dict(target.params)
    load_torch_state_dict(target, {k: wrap(v) for k, v in to_torch_state_dict(source).items()})
    for k, v in source.params.items():
        assert target.params[k] is arrays[k] and v.dtype == np.float64
        assert target.params[k].dtype == np.float32
        np.testing.assert_array_equal(target.params[k], v.astype(np.float32), err_msg=k)


# ----------------------------------------------------------------- equal to PyTorch
def torch_state(torch, state, lstm):
    tensors = [torch.tensor(s, requires_grad=True) for s in state]
    return tensors, (tuple(tensors) if lstm else tensors[0])


def upstream_loss(torch, outputs, grads):
    """sum_i <output_i, upstream gradient_i>: backward gives each output its gradient."""
    return sum((o * torch.from_numpy(g)).sum() for o, g in zip(outputs, grads))


def torch_grads(net):
    """Every parameter's ``.grad`` by state-dict name (tied ones under both names)."""
    return {k: p.grad.numpy() for k, p in net.state_dict(keep_vars=True).items()}


def assert_same_grads(obj, net):
    ours, theirs = to_torch_state_dict(obj, "grads"), torch_grads(net)
    assert list(ours) == list(theirs)
    for k, v in theirs.items():
        np.testing.assert_allclose(ours[k], v, err_msg=k, **TOL)


def torch_net(torch, obj):
    """The torch.nn module that computes what ``obj`` computes, loaded through the
    interchange (``strict``: every key used, none missing)."""
    name, kwargs = torch_module_args(obj)
    net = getattr(torch.nn, name)(**kwargs).double()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_state_dict(obj).items()})
    return net


def assert_layer_equals_pytorch(variant, stack, T, B, D, H, seed, lengths=None):
    """minirnn's layer and the torch.nn module with the same weights, one forward and
    backward each (random initial state and upstream gradients): outputs, final states,
    dX, dstate0 and every parameter's gradient.  With ``lengths``, PyTorch runs the
    ``pack_padded_sequence`` path (unsorted: ``enforce_sorted=False``) and pads with 0."""
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    layer = randomized(make(variant, D, H, *stack).astype(np.float64), 0)
    net = torch_net(torch, layer)
    L = layer.num_layers * layer.num_directions
    lstm = num_state(layer) == 2
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((T, B, D))
    state0 = tuple(rng.standard_normal((L, B, H)) for _ in range(num_state(layer)))
    dHs = rng.standard_normal((T, B, H * layer.num_directions))
    if lengths is not None:                                    # PyTorch's padded outputs are
        dHs *= (np.arange(T)[:, None] < lengths)[..., None]    # constants: no gradient
    dstate_T = tuple(rng.standard_normal((L, B, H)) for _ in state0)

    Hs, state_T = layer.forward(X, state0, lengths)
    dX, dstate0 = layer.backward(dHs, dstate_T)

    Xt = torch.tensor(X, requires_grad=True)
    s0, s0_arg = torch_state(torch, state0, lstm)
    if lengths is None:
        out, sT = net(Xt, s0_arg)
    else:
        packed = pack_padded_sequence(Xt, torch.from_numpy(lengths), enforce_sorted=False)
        out, sT = net(packed, s0_arg)
        out, _ = pad_packed_sequence(out, total_length=T)
    sT = sT if lstm else (sT,)
    upstream_loss(torch, [out, *sT], [dHs, *dstate_T]).backward()

    np.testing.assert_allclose(Hs, out.detach().numpy(), **TOL)
    for ours, theirs in zip(state_T, sT):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), **TOL)
    np.testing.assert_allclose(dX, Xt.grad.numpy(), **TOL)
    for ours, theirs in zip(dstate0, s0):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), **TOL)
    assert_same_grads(layer, net)


@pytest.mark.parametrize("stack", STACKS, ids=stack_id)
@pytest.mark.parametrize("variant", RECURRENT)
def test_layer_equals_pytorch(variant, stack):
    assert_layer_equals_pytorch(variant, stack, T=5, B=3, D=4, H=3, seed=1)


@pytest.mark.parametrize("stack", STACKS, ids=stack_id)
@pytest.mark.parametrize("variant", RECURRENT)
def test_padded_batch_equals_pytorchs_packed_sequence(variant, stack):
    """``forward(X, state, lengths)`` against ``pack_padded_sequence`` (unsorted lengths,
    1 and T included): padded outputs, final states, dX, dstate0, every gradient."""
    assert_layer_equals_pytorch(variant, stack, T=6, B=4, D=3, H=3, seed=2,
                                lengths=np.array([3, 6, 1, 4]))


@pytest.mark.parametrize("variant", CELLS)
def test_cell_equals_pytorch(variant):
    torch = pytest.importorskip("torch")
    B, D, H = 3, 4, 5
    cls, kw = CELLS[variant]
    cell = randomized(cls(D, H, **kw).astype(np.float64), 0)
    net = torch_net(torch, cell)
    lstm = num_state(cell) == 2
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, D))
    state = tuple(rng.standard_normal((B, H)) for _ in range(num_state(cell)))
    dstate = tuple(rng.standard_normal((B, H)) for _ in state)

    new_state, cache = cell.step_forward(x, state)
    dx, dstate_prev = cell.step_backward(dstate, cache)

    xt = torch.tensor(x, requires_grad=True)
    s, s_arg = torch_state(torch, state, lstm)
    out = net(xt, s_arg)
    out = out if lstm else (out,)
    upstream_loss(torch, out, dstate).backward()

    for ours, theirs in zip(new_state, out):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)
    for ours, theirs in zip(dstate_prev, s):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), **TOL)
    assert_same_grads(cell, net)


@pytest.mark.parametrize("variant", RECURRENT)
def test_weights_from_pytorch_compute_what_pytorch_computes(variant):
    """PyTorch's own initialisation (both biases non-zero), read from its parameters as
    they are (tensors that require grad): the same outputs and final states; exported
    back, the weights are PyTorch's and each bias pair has the same sum."""
    torch = pytest.importorskip("torch")
    T, B, D, H = 4, 2, 3, 5
    layer = make(variant, D, H).astype(np.float64)
    name, kwargs = torch_module_args(layer)
    torch.manual_seed(0)
    net = getattr(torch.nn, name)(**kwargs).double()
    load_torch_state_dict(layer, dict(net.named_parameters()))
    X = np.random.default_rng(0).standard_normal((T, B, D))
    Hs, state_T = layer.forward(X)
    with torch.no_grad():
        out, sT = net(torch.from_numpy(X))
    sT = sT if isinstance(sT, tuple) else (sT,)
    np.testing.assert_allclose(Hs, out.numpy(), **TOL)
    for ours, theirs in zip(state_T, sT):
        np.testing.assert_allclose(ours, theirs.numpy(), **TOL)
    back, theirs = to_torch_state_dict(layer), {k: v.numpy() for k, v in net.state_dict().items()}
    for k in ("weight_ih_l0", "weight_hh_l0"):
        np.testing.assert_array_equal(back[k], theirs[k])
    np.testing.assert_allclose(back["bias_ih_l0"] + back["bias_hh_l0"],
                               theirs["bias_ih_l0"] + theirs["bias_hh_l0"], rtol=1e-15)


# ----------------------------------------------------------------- models equal PyTorch
def torch_lm(torch, model):
    """The torch model with RNNLM's children (embedding, rnn, output), loaded through the
    interchange: ``forward(X (B, T), state) -> (logits (B, T, V), state)``."""
    nn = torch.nn
    V, H, E = model.vocab_size, model.num_hiddens, model.embed_dim
    name, kwargs = torch_module_args(model.rnn)

    class TorchRNNLM(nn.Module):
        def __init__(self):
            super().__init__()
            if E is not None:
                self.embedding = nn.Embedding(V, E)
            self.rnn = getattr(nn, name)(**kwargs)
            self.output = nn.Linear(H, V)
            if model.tie_weights:
                self.output.weight = self.embedding.weight

        def forward(self, X, state):
            ids = X.T                                        # (T, B), time-major as the rnn
            inputs = (self.embedding(ids) if E is not None
                      else nn.functional.one_hot(ids, V).double())
            Y, state = self.rnn(inputs, state)
            return self.output(Y).transpose(0, 1), state

    net = TorchRNNLM().double()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_state_dict(model).items()})
    return net


LMS = {"onehot": {}, "embedding": {"embed_dim": 3}, "tied": {"embed_dim": 5, "tie_weights": True}}


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("inputs", LMS)
def test_rnnlm_equals_a_torch_model(inputs, cell):
    torch = pytest.importorskip("torch")
    V, H, B, T = 7, 5, 3, 4
    model = rnnlm(cell, vocab_size=V, num_hiddens=H, **LMS[inputs])
    randomized(model.astype(np.float64), 0)
    net = torch_lm(torch, model)
    if model.tie_weights:
        assert net.output.weight is net.embedding.weight
    rng = np.random.default_rng(1)
    X = rng.integers(0, V, size=(B, T))
    state0 = tuple(rng.standard_normal(s.shape) for s in model.begin_state(B))
    dlogits = rng.standard_normal((B, T, V))
    dstate_T = tuple(rng.standard_normal(s.shape) for s in state0)

    logits, state_T = model.forward(X, state0)
    dstate0 = model.backward(dlogits, dstate_T)

    lstm = len(state0) == 2
    s0, s0_arg = torch_state(torch, state0, lstm)
    out, sT = net(torch.from_numpy(X), s0_arg)
    sT = sT if lstm else (sT,)
    upstream_loss(torch, [out, *sT], [dlogits, *dstate_T]).backward()

    np.testing.assert_allclose(logits, out.detach().numpy(), **TOL)
    for ours, theirs in zip(state_T, sT):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), **TOL)
    for ours, theirs in zip(dstate0, s0):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), **TOL)
    assert_same_grads(model, net)


def test_mlp_equals_torch_sequential():
    torch = pytest.importorskip("torch")
    mlp = randomized(MLP(4, 6, 2).astype(np.float64), 0)
    nn = torch.nn
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)).double()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_state_dict(mlp).items()})
    rng = np.random.default_rng(1)
    x, dout = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    y, _ = mlp.forward(x)
    dx = mlp.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    out = net(xt)
    upstream_loss(torch, [out], [dout]).backward()
    np.testing.assert_allclose(y, out.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)
    assert_same_grads(mlp, net)


# ------------------------------------------------ snapshots and non-finite values
def test_a_tied_models_state_dict_is_a_snapshot_not_a_live_view():
    """With tied weights, ``output.weight`` is the embedding's transpose of a transpose:
    it was returned as the model's own array, so a saved snapshot drifted with training
    and writing into the dict changed the model."""
    model = RNNLM(10, 8, embed_dim=8, tie_weights=True, seed=0)
    model.grads["embedding.W"][...] = 1.0
    for which in ("params", "grads"):
        sd = to_torch_state_dict(model, which)
        own = [*model.params.values(), *model.grads.values()]
        shared = [k for k, v in sd.items() if any(np.shares_memory(v, p) for p in own)]
        assert shared == [], (which, shared)
        before = {k: v.copy() for k, v in sd.items()}
        model.params["embedding.W"] += 1.0                      # training goes on
        model.grads["embedding.W"] += 1.0
        assert all(np.array_equal(sd[k], before[k]) for k in sd), which
        sd["output.weight"][...] = 7.0                          # writing into the dict
        assert not np.any(model.params["embedding.W"] == 7.0)
        assert not np.any(model.grads["embedding.W"] == 7.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e39])
def test_load_torch_state_dict_refuses_non_finite_values(bad):
    """NaN, inf, and float64 values that overflow float32 (1e39 became inf with only a
    RuntimeWarning): refused naming the key, nothing changed."""
    model = RNNLM(10, 8, seed=0)
    before = {k: v.copy() for k, v in model.params.items()}
    sd = {k: v.astype(np.float64) for k, v in to_torch_state_dict(model).items()}
    sd["rnn.weight_hh_l0"][2, 3] = bad
    with warnings.catch_warnings():
        warnings.simplefilter("error")                          # no RuntimeWarning either
        with pytest.raises(ValueError, match=r"parameter 'rnn.weight_hh_l0' holds 1 "
                                             r"non-finite value \(NaN or inf\)"):
            load_torch_state_dict(model, sd)
    assert all(np.array_equal(model.params[k], before[k]) for k in before)
