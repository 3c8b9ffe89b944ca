"""PyTorch state dicts from and to minirnn layers and models, in NumPy only.

minirnn keeps the book's names and its row-vector convention, ``Y = X @ W + b`` with a
weight ``(in, out)``; PyTorch computes ``y = x W^T + b`` with ``weight (out, in)``, fuses
a recurrent layer's gates in its own order, and gives each recurrent layer two biases.
This module is the boundary between the two.  It never imports torch: it returns NumPy
arrays, and it reads anything ``np.asarray`` accepts (torch tensors too, duck-typed).

    to_torch_state_dict(obj, which="params")  -> {PyTorch name: new np.ndarray}
    load_torch_state_dict(obj, state_dict)    -> obj, its parameters overwritten in place
    torch_module_args(layer)                  -> ("LSTM", {...}): the matching torch.nn class

A round trip through PyTorch (``torch`` imported by you, not by minirnn)::

    name, kwargs = torch_module_args(lstm)                 # ("LSTM", {"input_size": 3, ...})
    net = getattr(torch.nn, name)(**kwargs)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_state_dict(lstm).items()})
    ...                                                    # train in PyTorch
    load_torch_state_dict(lstm, net.state_dict())          # and back

Dimension letters: D input features, D_k the input size of layer k (D for k = 0, then
H * num_directions), H hidden units, G gates (RNN 1, GRU 3, LSTM 4), V vocabulary,
E embedding size, k the layer.

The mapping.  A recurrent layer ``l{k}`` has the suffix ``_l{k}`` in PyTorch, and
``_l{k}_reverse`` for its backward direction (minirnn: the prefixes ``l{k}.`` and
``l{k}_reverse.``; a layer of one layer and one direction has no prefix, ``W_xh``).  The
cells (``RNNCell``, ``GRUCell``, ``LSTMCell``) map to ``nn.RNNCell`` and friends, whose
names have no suffix (``weight_ih``).

    minirnn              layout     PyTorch              layout    transform
    -------------------  ---------  -------------------  --------- --------------------------
    Linear     W         (in, out)  weight               (out, in) weight = W^T
               b         (out,)     bias                 (out,)    bias = b
    Embedding  W         (V, E)     weight               (V, E)    weight = W
    Additive-  W_q       (Dq, h)    W_q.weight           (h, Dq)   weight = W_q^T
    Attention  W_k       (Dk, h)    W_k.weight           (h, Dk)   weight = W_k^T
               w_v       (h,)       w_v.weight           (1, h)    weight = w_v as a row
    RNN        W_xh      (D_k, H)   weight_ih_l{k}       (H, D_k)  weight_ih = W_xh^T
               W_hh      (H, H)     weight_hh_l{k}       (H, H)    weight_hh = W_hh^T
               b_h       (H,)       bias_ih_l{k}         (H,)      bias_ih = b_h
                                    bias_hh_l{k}         (H,)      bias_hh = 0
    GRU *      W_x       (D_k, 3H)  weight_ih_l{k}       (3H, D_k) weight_ih = W_x^T
               W_h       (H, 3H)    weight_hh_l{k}       (3H, H)   weight_hh = W_h^T
               b         (3H,)      bias_ih_l{k}         (3H,)     bias_ih = b
               b_hn      (H,)       bias_hh_l{k}         (3H,)     bias_hh = [0 | 0 | b_hn]
    LSTM       W_x       (D_k, 4H)  weight_ih_l{k}       (4H, D_k) weight_ih = P(W_x)^T
               W_h       (H, 4H)    weight_hh_l{k}       (4H, H)   weight_hh = P(W_h)^T
               b         (4H,)      bias_ih_l{k}         (4H,)     bias_ih = P(b)
                                    bias_hh_l{k}         (4H,)     bias_hh = 0

    * GRU(reset_after=True) only: the book's GRU has no PyTorch counterpart (below).

Gate orders (each gate a block of H rows in PyTorch, of H columns in minirnn):

    GRU   minirnn r, z, h    PyTorch r, z, n    (n is the candidate, minirnn's h): the same
    LSTM  minirnn i, f, o, c PyTorch i, f, g, o (g is the input node, minirnn's c)

so ``P`` reorders the LSTM's blocks ``[i | f | o | c] -> [i | f | c | o]`` (it swaps the
last two; swapping again undoes it); the RNN and GRU need no reordering.

Reading back (``load_torch_state_dict``) inverts each line: ``W_x = P^-1(weight_ih^T)``,
and PyTorch's two biases, which it always adds, sum into minirnn's one:
``b = P^-1(bias_ih + bias_hh)``.  The GRU's candidate is the exception: its bias inside
the reset product stays apart, ``b_h = bias_ih[2H:3H]``, ``b_hn = bias_hh[2H:3H]``, while
its r and z blocks sum (``b_r = bias_ih[0:H] + bias_hh[0:H]``, likewise z).  So
minirnn -> PyTorch -> minirnn gives back every array exactly; PyTorch -> minirnn ->
PyTorch gives back the same function, its summed biases all in ``bias_ih``.

Gradients (``which="grads"``) go through the same transforms, except that a summed bias
has its whole gradient in *both* of PyTorch's: with ``b = bias_ih + bias_hh``,
``dL/dbias_ih = dL/dbias_hh = dL/db`` (the GRU's n block: ``dL/db_h`` and ``dL/db_hn``).
So the exported gradients equal PyTorch's ``.grad`` entry for entry.

Which PyTorch module: ``RNN(nonlinearity='relu')`` is ``nn.RNN(nonlinearity='relu')``; a
state dict has the same keys for tanh and relu, so ask ``torch_module_args``, which names
it.  ``GRU(reset_after=True)`` is ``nn.GRU``; the book's GRU (``reset_after=False``)
applies the reset gate before the product, a different function that no PyTorch module
computes, and is refused.  ``LSTM`` is ``nn.LSTM``.  Stacks and directions are
``num_layers`` and ``bidirectional``; the states have PyTorch's shape already,
``(num_layers * num_directions, B, H)``, and the layers are time-major as PyTorch's
default (``batch_first=False``).

Models: the keys are prefixed by the child names, as in a ``torch.nn.Module`` with the
same children.  ``RNNLM`` gives ``embedding.weight`` (a learned embedding only; one-hot
inputs have no parameters), ``rnn.weight_ih_l0`` ..., ``output.weight``, ``output.bias``:
the state dict of

    class TorchRNNLM(nn.Module):              # RNNLM(V, H, embed_dim=E) in PyTorch
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(V, E)   # one-hot: F.one_hot(ids, V).float() instead
            self.rnn = nn.RNN(E, H)
            self.output = nn.Linear(H, V)
        def forward(self, X, state=None):        # X (B, T) ids, as RNNLM's
            Y, state = self.rnn(self.embedding(X.T), state)
            return self.output(Y).transpose(0, 1), state

``MLP`` (a ``Sequential``) gives ``0.weight``, ``0.bias``, ``2.weight``, ``2.bias``, as
``nn.Sequential(nn.Linear, nn.ReLU, nn.Linear)``.  Tied weights (``RNNLM(...,
tie_weights=True)``): minirnn lists the shared matrix once (``embedding.W``; ``output.W``
is its transpose); a tied PyTorch model holds one tensor under both names, so export
writes ``output.weight`` equal to ``embedding.weight``, and import requires the two equal.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._checks import check_finite_params
from .layers import (GRU, LSTM, RNN, AdditiveAttention, Embedding, GRUCell, Layer, Linear,
                     LSTMCell, Module, RecurrentLayer, RNNCell, storage)

__all__ = ["to_torch_state_dict", "load_torch_state_dict", "torch_module_args",
           "GATE_ORDER", "TORCH_GATE_ORDER"]

#: The gate blocks of minirnn's fused arrays, in order, per cell kind.
GATE_ORDER = {"rnn": ("h",), "gru": ("r", "z", "h"), "lstm": ("i", "f", "o", "c")}
#: PyTorch's gate blocks in minirnn's letters (PyTorch's GRU n is h, its LSTM g is c).
TORCH_GATE_ORDER = {"rnn": ("h",), "gru": ("r", "z", "h"), "lstm": ("i", "f", "c", "o")}

#: minirnn's names of one direction of one layer: input weight, hidden weight, bias.
_PARAM_NAMES = {"rnn": ("W_xh", "W_hh", "b_h"), "gru": ("W_x", "W_h", "b"),
                "lstm": ("W_x", "W_h", "b")}
_TORCH_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
_TORCH_CLASS = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}

_BOOK_GRU = ("GRU(reset_after=False) is the book's GRU, which has no exact PyTorch "
             "counterpart (nn.GRU resets after the product: n = tanh(W_in x + b_in + "
             "r * (W_hn h + b_hn))); use GRU(..., reset_after=True) to exchange weights")


# --------------------------------------------------------------------------- what a layer is
def _recurrent_kind(layer) -> str | None:
    """'rnn', 'gru' or 'lstm' for a recurrent layer or cell, None for anything else."""
    if isinstance(layer, (RNN, RNNCell)):
        return "rnn"
    if isinstance(layer, (GRU, GRUCell)):
        return "gru"
    if isinstance(layer, (LSTM, LSTMCell)):
        return "lstm"
    return None


def _is_cell(layer) -> bool:
    """A one-step cell (``RNNCell``, ...), not a layer (``RNN`` is an ``RNNCell`` run over time)."""
    return isinstance(layer, (RNNCell, GRUCell, LSTMCell)) and not isinstance(layer, RecurrentLayer)


def _directions(layer) -> list[tuple[str, str, Layer]]:
    """``(minirnn prefix, PyTorch suffix, one-layer copy)`` for every layer k and direction
    of a recurrent layer: ``("", "_l0", layer)`` for one layer and one direction,
    ``("l1_reverse.", "_l1_reverse", layer.layers[1][1])`` in a stack; a cell is
    ``("", "", cell)`` (``nn.RNNCell``'s names have no suffix)."""
    if _is_cell(layer):
        return [("", "", layer)]
    if layer.num_layers == 1 and layer.num_directions == 1:
        return [("", "_l0", layer)]
    return [(f"l{k}{rev}.", f"_l{k}{rev}", layer.layers[k][d])
            for k in range(layer.num_layers)
            for d, rev in enumerate(("", "_reverse")[:layer.num_directions])]


def _check_recurrent(layer, where: str) -> str:
    """The layer's kind, after refusing the book's GRU and checking the parameter names."""
    kind = _recurrent_kind(layer)
    copies = _directions(layer)
    if kind == "gru" and not all(one.reset_after for _, _, one in copies):
        raise ValueError(f"{where}: {_BOOK_GRU}" if where else _BOOK_GRU)
    expected = [prefix + n for prefix, _, one in copies for n in _PARAM_NAMES[kind]]
    if kind == "gru":
        expected += [prefix + "b_hn" for prefix, _, _ in copies]
    if set(expected) != set(layer.params):
        raise TypeError(f"{where or type(layer).__name__}: cannot map {type(layer).__name__} to "
                        f"PyTorch: expected parameters {sorted(expected)}, it has "
                        f"{sorted(layer.params)}")
    return kind


def _leaves(obj, prefix: str = ""):
    """``(dotted prefix, layer)`` for every layer inside ``obj`` that is not a ``Module``,
    in the order of ``obj.params`` (``("rnn.", model.rnn)``; ``("", obj)`` for a layer)."""
    if isinstance(obj, Module):
        for name, child in obj.children.items():
            yield from _leaves(child, f"{prefix}{name}.")
    else:
        yield prefix, obj


def _check_obj(obj) -> None:
    if not isinstance(obj, Layer):
        raise TypeError(f"obj must be a minirnn layer or model, got {type(obj).__name__}")


# --------------------------------------------------------------------------- the transforms
def _reorder(a: np.ndarray, src: tuple, dst: tuple, H: int) -> np.ndarray:
    """A new array: the gate blocks of ``a``'s last axis (H entries each) taken from order
    ``src`` into order ``dst`` (the LSTM: [i | f | o | c] -> [i | f | c | o])."""
    return np.concatenate([a[..., src.index(g) * H:(src.index(g) + 1) * H] for g in dst],
                          axis=-1)


def _recurrent_to_torch(layer, kind: str, arrays: dict, which: str) -> dict:
    """One recurrent layer's ``params`` (or ``grads``) under PyTorch's names and layouts."""
    out = {}
    for prefix, suffix, one in _directions(layer):
        H = one.hidden_size
        W_x, W_h, b = (arrays[prefix + n] for n in _PARAM_NAMES[kind])
        src, dst = GATE_ORDER[kind], TORCH_GATE_ORDER[kind]
        weight_ih = _reorder(W_x, src, dst, H).T          # (G*H, D_k)
        weight_hh = _reorder(W_h, src, dst, H).T          # (G*H, H)
        bias_ih = _reorder(b, src, dst, H)                # (G*H,)
        # params: PyTorch adds the two biases, so bias_hh = 0 keeps the sum b.
        # grads: d(bias_ih + bias_hh)/dbias_hh = 1, so bias_hh's gradient is b's too.
        bias_hh = np.zeros_like(bias_ih) if which == "params" else bias_ih.copy()
        if kind == "gru":
            bias_hh[2 * H:] = arrays[prefix + "b_hn"]     # the n block: inside r * (...)
        for name, value in zip(_TORCH_NAMES, (weight_ih, weight_hh, bias_ih, bias_hh)):
            out[name + suffix] = np.ascontiguousarray(value)
    return out


def _recurrent_from_torch(layer, kind: str, tensors: dict) -> dict:
    """The inverse of ``_recurrent_to_torch`` (``which="params"``): minirnn's parameters
    (new arrays, keyed like ``layer.params``) from PyTorch's arrays (keyed like its state dict)."""
    out = {}
    for prefix, suffix, one in _directions(layer):
        H = one.hidden_size
        weight_ih, weight_hh, bias_ih, bias_hh = (tensors[n + suffix] for n in _TORCH_NAMES)
        src, dst = TORCH_GATE_ORDER[kind], GATE_ORDER[kind]
        b = bias_ih + bias_hh                             # PyTorch adds them: one bias
        if kind == "gru":
            b[2 * H:] = bias_ih[2 * H:]                   # the n block: b_h outside r * (...)
            out[prefix + "b_hn"] = bias_hh[2 * H:].copy()  # and b_hn inside it
        W_x = _reorder(weight_ih.T, src, dst, H)          # (D_k, G*H)
        W_h = _reorder(weight_hh.T, src, dst, H)          # (H, G*H)
        out.update(zip((prefix + n for n in _PARAM_NAMES[kind]),
                       (W_x, W_h, _reorder(b, src, dst, H))))
    return out


def _layer_to_torch(layer, which: str, where: str) -> dict:
    """One layer (not a Module) under PyTorch's names, without the model's prefix."""
    arrays = layer.params if which == "params" else layer.grads
    if _recurrent_kind(layer):
        return _recurrent_to_torch(layer, _check_recurrent(layer, where), arrays, which)
    if isinstance(layer, Linear):                        # y = x W + b = x weight^T + bias
        return {"weight": np.ascontiguousarray(arrays["W"].T),  # (out, in)
                "bias": arrays["b"].copy()}                      # (out,)
    if isinstance(layer, Embedding):                     # the same table: W[id] = weight[id]
        return {"weight": arrays["W"].copy()}                    # (V, E)
    if isinstance(layer, AdditiveAttention):             # the book's three Linear(bias=False)
        return {"W_q.weight": np.ascontiguousarray(arrays["W_q"].T),   # (h, Dq)
                "W_k.weight": np.ascontiguousarray(arrays["W_k"].T),   # (h, Dk)
                "w_v.weight": arrays["w_v"][None, :].copy()}           # (1, h)
    if not layer.params:                                 # OneHot, ReLU, Tanh, Dropout
        return {}
    raise TypeError(f"{where or 'obj'}: no PyTorch mapping for {type(layer).__name__}")


def _layer_from_torch(layer, tensors: dict) -> dict:
    """The inverse of ``_layer_to_torch``: new arrays keyed like ``layer.params``."""
    kind = _recurrent_kind(layer)
    if kind:
        return _recurrent_from_torch(layer, kind, tensors)
    if isinstance(layer, Linear):
        return {"W": tensors["weight"].T, "b": tensors["bias"]}
    if isinstance(layer, Embedding):
        return {"W": tensors["weight"]}
    if isinstance(layer, AdditiveAttention):
        return {"W_q": tensors["W_q.weight"].T, "W_k": tensors["W_k.weight"].T,
                "w_v": tensors["w_v.weight"][0]}
    return {}


# --------------------------------------------------------------------------- the public API
def to_torch_state_dict(obj, which: str = "params") -> dict[str, np.ndarray]:
    """``obj``'s parameters (``which="params"``) or gradients (``"grads"``) under PyTorch's
    names and layouts (the module docstring has the table), as new NumPy arrays of the
    layer's dtype: ``torch_module.load_state_dict({k: torch.from_numpy(v) for k, v in
    to_torch_state_dict(obj).items()})`` takes them as they are.

    obj: a layer (``RNN``, ``GRU(reset_after=True)``, ``LSTM``, their cells, ``Linear``,
    ``Embedding``) or a model (``RNNLM``, ``MLP``, any ``Module`` of those), whose keys are
    prefixed by the child names (``rnn.weight_ih_l0``).  The book's GRU is refused.
    """
    _check_obj(obj)
    if which not in ("params", "grads"):
        raise ValueError(f"which must be 'params' or 'grads', got {which!r}")
    out = {}
    own = [*obj.params.values(), *obj.grads.values()]
    for prefix, layer in _leaves(obj):
        for key, value in _layer_to_torch(layer, which, prefix[:-1]).items():
            if any(np.may_share_memory(value, p) for p in own):   # a tied weight's view:
                value = value.copy()                              # a snapshot, never live
            out[prefix + key] = value
    return out


def _as_numpy(value) -> np.ndarray:
    """``value`` as a NumPy array; a torch tensor (duck-typed, never imported) through
    ``.detach().cpu().numpy()``, so one that requires grad or lives on a GPU works too."""
    if not isinstance(value, np.ndarray):
        for method in ("detach", "cpu", "numpy"):
            if callable(getattr(value, method, None)):
                value = getattr(value, method)()
    return np.asarray(value)


def _tied_weights(obj) -> list[tuple[str, str]]:
    """``(PyTorch key of a second use, PyTorch key of the first use)`` for every parameter
    that ``obj`` uses twice (weight tying: ``("output.weight", "embedding.weight")``).

    A ``Module`` lists a shared array once, under its first name; a child parameter it does
    not list is a second use of the listed one with the same memory."""
    if not isinstance(obj, Module):
        return []
    listed = obj.params
    first_use = {id(storage(p)): name for name, p in listed.items()}
    torch_key, shared = {}, []
    for prefix, layer in _leaves(obj):
        for name, p in layer.params.items():
            torch_key[prefix + name] = (prefix + "weight"
                                        if isinstance(layer, (Linear, Embedding)) and name == "W"
                                        else None)
            if prefix + name not in listed:
                shared.append((prefix + name, first_use[id(storage(p))]))
    pairs = []
    for second, first in shared:
        if torch_key[second] is None or torch_key[first] is None:
            raise TypeError(f"{second} shares its array with {first}: only tied Linear and "
                            f"Embedding weights have a PyTorch counterpart here")
        pairs.append((torch_key[second], torch_key[first]))
    return pairs


def load_torch_state_dict(obj, state_dict: Mapping):
    """Overwrite ``obj``'s parameters, in place, with a PyTorch state dict (the inverse of
    ``to_torch_state_dict``; the module docstring has the table) and return ``obj``.

    state_dict: PyTorch name -> array: NumPy arrays, or anything ``np.asarray`` takes;
    torch tensors as they are (``net.state_dict()``).  Every key and shape is checked
    first, and on any error nothing changes: a ``ValueError`` lists the missing and
    unexpected keys and each wrong shape (``weight_ih_l0: expected shape (16, 3), got
    (3, 16)``); a value that is not an array of real numbers is a ``TypeError``.  Tied
    weights must arrive equal.  Values are cast to the layer's dtype; the arrays stay the
    same objects (an optimizer built on them keeps working); gradients are left alone.
    """
    _check_obj(obj)
    expected = to_torch_state_dict(obj)                  # keys and shapes; refuses the book's GRU
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of PyTorch names to arrays, got "
                        f"{type(state_dict).__name__}")
    given = {}
    for key in expected:
        if key not in state_dict:
            continue
        try:
            value = _as_numpy(state_dict[key])
        except Exception as err:                         # noqa: BLE001  (whatever asarray raises)
            raise TypeError(f"{key} must be an array of real numbers, got "
                            f"{type(state_dict[key]).__name__} ({err})") from None
        if value.dtype.kind not in "fiu":
            raise TypeError(f"{key} must be an array of real numbers, got dtype {value.dtype}")
        given[key] = value
    missing = [k for k in expected if k not in state_dict]
    unexpected = [str(k) for k in state_dict if k not in expected]
    problems = [f"{k}: expected shape {expected[k].shape}, got {v.shape}"
                for k, v in given.items() if v.shape != expected[k].shape]
    if missing:
        problems.append(f"missing key(s): {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected key(s): {', '.join(unexpected)}")
    if problems:
        raise ValueError(f"state_dict does not fit {type(obj).__name__} (nothing was "
                         f"changed):\n  " + "\n  ".join(problems))
    dtype = next(iter(obj.params.values())).dtype if obj.params else np.float32
    with np.errstate(over="ignore", invalid="ignore"):   # NaN, inf, or beyond the dtype's range
        cast = {key: value.astype(dtype) for key, value in given.items()}
    check_finite_params(cast, f"state_dict (as {dtype}, whose largest value is "
                              f"{np.finfo(dtype).max:.3g}; nothing was changed)")
    for second, first in _tied_weights(obj):
        if not np.array_equal(given[second], given[first]):
            diff = np.abs(given[second].astype(float) - given[first]).max()
            raise ValueError(f"{second} must equal {first}: the model ties them (one array), "
                             f"but they differ by up to {diff:.3g} (nothing was changed)")
    new = {}                                             # minirnn name -> new value, every use
    for prefix, layer in _leaves(obj):
        mine = {k[len(prefix):]: v for k, v in given.items() if k.startswith(prefix)}
        for name, value in _layer_from_torch(layer, mine).items():
            new[prefix + name] = value
    targets = obj.params                                 # each array once: a tied one written once
    for name, target in targets.items():                 # (cannot fail once the keys fit; but
        if new[name].shape != target.shape:              # a half-written model would be worse)
            raise RuntimeError(f"{name}: computed shape {new[name].shape}, parameter "
                               f"{target.shape} (nothing was changed)")
    for name, target in targets.items():
        target[...] = new[name]                          # in place, cast to the layer's dtype
    return obj


def torch_module_args(layer) -> tuple[str, dict]:
    """The ``torch.nn`` class name and constructor arguments of the module that computes
    what ``layer`` computes, with the same state dict keys:
    ``name, kwargs = torch_module_args(layer); net = getattr(torch.nn, name)(**kwargs)``.

    ``RNN(3, 4, nonlinearity='relu')`` -> ``("RNN", {"input_size": 3, "hidden_size": 4,
    "num_layers": 1, "bidirectional": False, "nonlinearity": "relu"})`` (the state dict of
    a relu RNN looks like a tanh one's: this names the difference); a cell ->
    ``("RNNCell", {...})``.  The book's GRU is refused.  Dropout between layers is not a
    weight: pass it yourself (``dropout=...``) if you train in PyTorch.
    """
    kind = _recurrent_kind(layer)
    if kind is None:
        raise TypeError(f"layer must be a recurrent layer or cell (RNN, GRU, LSTM, RNNCell, "
                        f"GRUCell, LSTMCell), got {type(layer).__name__}")
    _check_recurrent(layer, "")
    name = _TORCH_CLASS[kind]
    kwargs = {"input_size": layer.input_size, "hidden_size": layer.hidden_size}
    if _is_cell(layer):
        name += "Cell"
    else:
        kwargs.update(num_layers=layer.num_layers, bidirectional=layer.num_directions == 2)
    if kind == "rnn":
        kwargs["nonlinearity"] = _directions(layer)[0][2].nonlinearity
    return name, kwargs
