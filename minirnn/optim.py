"""Optimizers and gradient clipping.  They stay outside ``backward``: a gradient check
sees the raw gradients, and the trainer decides when to clip and step.

Every optimizer takes the ``params`` and ``grads`` dicts of a layer or model (the
arrays are updated in place, so the model sees the change) and has ``step()``,
``state_dict()`` and ``load_state_dict()`` (for checkpoints: the state dict holds
numbers and copies of arrays, never references to the optimizer's own buffers).
"""
from __future__ import annotations

import numpy as np

from ._checks import check_array, check_int, check_positive_number, check_probability

__all__ = ["grad_norm", "clip_grad_norm", "grad_clipping", "SGD", "Adam", "OPTIMIZERS", "make_optimizer",
           "WeightAverage"]


def _check_grads(grads, name: str = "grads") -> None:
    if not isinstance(grads, dict):
        raise TypeError(f"{name} must be a dict name -> numpy array, got {type(grads).__name__}")
    for k, g in grads.items():
        check_array(g, f"{name}[{k!r}]")                    # float32 or float64 (dtype policy)


def _check_dicts(params: dict, grads: dict) -> None:
    _check_grads(params, "params")
    _check_grads(grads, "grads")
    if set(params) != set(grads):
        raise ValueError(f"params and grads must have the same keys, got {sorted(params)} "
                         f"and {sorted(grads)}")
    for k in params:
        if params[k].shape != grads[k].shape:
            raise ValueError(f"grads[{k!r}] has shape {grads[k].shape}, params[{k!r}] {params[k].shape}")
        if params[k].dtype != grads[k].dtype:
            raise TypeError(f"grads[{k!r}] has dtype {grads[k].dtype}, params[{k!r}] "
                            f"{params[k].dtype}: the update is computed in the parameter's dtype")


def grad_norm(grads: dict) -> float:
    """The global norm of all gradients together: ``||g|| = sqrt(sum_k ||g_k||^2)``.

    Summed in float64 whatever the gradients' dtype; ``inf`` or ``nan`` if any entry is.
    """
    _check_grads(grads)
    total = 0.0
    for g in grads.values():
        g64 = g.astype(np.float64, copy=False).ravel()         # float32 squares would overflow at 1.8e19
        total += float(g64 @ g64)                              # ||g_k||^2
    return float(np.sqrt(total))


def clip_grad_norm(grads: dict, max_norm: float) -> float:
    """The book's ``grad_clipping``: rescale all gradients together so that their global
    norm ``||g|| = sqrt(sum_k ||g_k||^2)`` is at most ``max_norm``:

        g <- min(1, max_norm / ||g||) g

    Returns the global norm *before* clipping (useful to log).  In place.  A non-finite
    norm is returned as it is and nothing is scaled (the trainer stops on it).
    """
    max_norm = check_positive_number(max_norm, "max_norm")
    total = grad_norm(grads)
    if np.isfinite(total) and total > max_norm:
        scale = max_norm / total                                  # theta / ||g||  (< 1)
        for g in grads.values():
            g *= scale
    return total


def grad_clipping(net, theta: float) -> float:
    """The book's name and signature: ``grad_clipping(net, theta)`` clips the gradients
    of every parameter of ``net`` (a layer or model with a ``grads`` dict) together, to
    global norm at most ``theta``: ``clip_grad_norm(net.grads, theta)``.  Returns the
    norm before clipping."""
    return clip_grad_norm(net.grads, theta)


def _check_state_keys(state, keys, owner: str) -> None:
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict from {owner}.state_dict(), got {type(state).__name__}")
    if state.get("name") != owner.lower():
        raise ValueError(f"state is from optimizer {state.get('name')!r}, not {owner.lower()!r}: "
                         f"load it into the kind of optimizer that saved it")
    missing = [k for k in keys if k not in state]
    if missing:
        raise ValueError(f"state is missing {', '.join(map(repr, missing))}: not a "
                         f"{owner}.state_dict() for these parameters")


class SGD:
    """The book's plain minibatch SGD: ``param <- param - lr * grad``.

    The book's scratch trainer divides by the batch size inside ``sgd``; here the loss is
    already a mean over the tokens, so the update is just ``lr * grad``.
    """

    def __init__(self, params: dict, grads: dict, lr: float):
        _check_dicts(params, grads)
        self.params, self.grads = params, grads
        self.lr = check_positive_number(lr, "lr")

    def step(self) -> None:
        for k, p in self.params.items():
            p -= self.lr * self.grads[k]                          # theta <- theta - lr g

    def state_dict(self) -> dict:
        return {"name": "sgd", "lr": self.lr}

    def load_state_dict(self, state: dict) -> None:
        _check_state_keys(state, ["lr"], "SGD")
        self.lr = check_positive_number(state["lr"], "lr")

    def __repr__(self):
        return f"SGD(lr={self.lr:g}, {len(self.params)} arrays)"


def _check_betas(betas) -> tuple:
    """Adam's ``(b1, b2)``, each in [0, 1), as floats."""
    if np.ndim(betas) != 1 or len(betas) != 2 \
            or not all(isinstance(b, (int, float, np.integer, np.floating)) for b in betas):
        raise ValueError(f"betas must be a pair of numbers (b1, b2), got {betas!r}")
    b1, b2 = betas
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        raise ValueError(f"betas must be in [0, 1), got {betas}")
    return float(b1), float(b2)


class Adam:
    """Adam (Kingma and Ba, 2015), as in the book's optimization chapter:

        v <- b1 v + (1 - b1) g,   s <- b2 s + (1 - b2) g^2
        v_hat = v / (1 - b1^t),   s_hat = s / (1 - b2^t)
        param <- param - lr v_hat / (sqrt(s_hat) + eps)
    """

    def __init__(self, params: dict, grads: dict, lr: float = 0.001, betas=(0.9, 0.999),
                 eps: float = 1e-8):
        _check_dicts(params, grads)
        self.params, self.grads = params, grads
        self.lr = check_positive_number(lr, "lr")
        self.betas = _check_betas(betas)
        self.eps = check_positive_number(eps, "eps")
        self.t = 0
        self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.s = {k: np.zeros_like(p) for k, p in params.items()}

    def step(self) -> None:
        b1, b2 = self.betas
        self.t += 1
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t               # bias corrections
        for k, p in self.params.items():
            g, v, s = self.grads[k], self.v[k], self.s[k]
            v *= b1
            v += (1 - b1) * g                                    # v <- b1 v + (1 - b1) g
            s *= b2
            s += (1 - b2) * g * g                                # s <- b2 s + (1 - b2) g^2
            p -= self.lr * (v / c1) / (np.sqrt(s / c2) + self.eps)

    def state_dict(self) -> dict:
        state = {"name": "adam", "lr": self.lr, "betas": list(self.betas), "eps": self.eps,
                 "t": self.t}
        state.update({f"v.{k}": v.copy() for k, v in self.v.items()})
        state.update({f"s.{k}": s.copy() for k, s in self.s.items()})
        return state

    def load_state_dict(self, state: dict) -> None:
        keys = ["lr", "betas", "eps", "t"] + [f"{m}.{k}" for m in "vs" for k in self.params]
        _check_state_keys(state, keys, "Adam")
        for m, buffers in (("v", self.v), ("s", self.s)):
            for k, buf in buffers.items():
                if np.shape(state[f"{m}.{k}"]) != buf.shape:
                    raise ValueError(f"state[{m + '.' + k!r}] has shape {np.shape(state[f'{m}.{k}'])}, "
                                     f"the parameter {k!r} has {buf.shape}")
        lr, eps = check_positive_number(state["lr"], "lr"), check_positive_number(state["eps"], "eps")
        betas = _check_betas(state["betas"])
        t = check_int(state["t"], "state['t']", minimum=0, why="steps taken")
        for m, buffers in (("v", self.v), ("s", self.s)):      # validated: now change state
            for k, buf in buffers.items():
                buf[...] = state[f"{m}.{k}"]
        self.lr, self.eps, self.t, self.betas = lr, eps, t, betas

    def __repr__(self):
        return f"Adam(lr={self.lr:g}, betas={self.betas}, eps={self.eps:g}, t={self.t})"


class WeightAverage:
    """An exponential moving average of the parameters (Polyak averaging), kept beside
    training and used in place of the last weights for evaluation:

        a <- d a + (1 - d) param       after every update (a starts at 0)
        a_hat = a / (1 - d^t)          bias-corrected, as Adam's moments: at step t the
                                       weights of the last ~1 / (1 - d) updates, averaged

    The average of a noisy walk around a minimum sits nearer its centre than the last
    point does.  ``update()`` after each ``optimizer.step()``; ``averages()`` returns
    ``{name: a_hat}`` (new arrays); ``copy_to(params)`` writes them into the parameters.
    """

    def __init__(self, params: dict, decay: float = 0.999):
        _check_grads(params, "params")
        if not params:
            raise ValueError("params must hold at least one array, got an empty dict")
        decay = check_probability(decay, "decay", allow_zero=False, allow_one=False)
        self.params, self.decay, self.t = params, decay, 0
        self.a = {k: np.zeros_like(p) for k, p in params.items()}

    def _check_like_averages(self, params: dict) -> None:
        """``params`` has the averaged names, shapes and dtypes (before anything changes)."""
        _check_grads(params, "params")
        if set(params) != set(self.a):
            raise ValueError(f"params must have the averaged names {sorted(self.a)}, got "
                             f"{sorted(params)}")
        for k, p in params.items():
            if p.shape != self.a[k].shape:
                raise ValueError(f"params[{k!r}] has shape {p.shape}, its average {self.a[k].shape}")
            if p.dtype != self.a[k].dtype:
                raise TypeError(f"params[{k!r}] has dtype {p.dtype}, its average {self.a[k].dtype}: "
                                f"average a model of one dtype (a new WeightAverage after astype)")

    def update(self) -> None:
        self._check_like_averages(self.params)             # a parameter replaced since: refuse
        d = self.decay
        self.t += 1
        for k, p in self.params.items():
            a = self.a[k]
            a *= d
            a += (1 - d) * p                                     # a <- d a + (1 - d) param

    def averages(self) -> dict:
        """``{name: a / (1 - d^t)}``, the bias-corrected averages (new arrays)."""
        if self.t == 0:
            raise RuntimeError("WeightAverage.averages called before any update()")
        c = 1 - self.decay ** self.t                             # bias correction
        return {k: (a / c).astype(a.dtype) for k, a in self.a.items()}

    def copy_to(self, params: dict) -> None:
        """Write the averages into ``params`` (same names, shapes and dtypes, writeable), in
        place; nothing is written unless all of them fit."""
        averages = self.averages()
        self._check_like_averages(params)
        for k, p in params.items():
            if not p.flags.writeable:
                raise ValueError(f"params[{k!r}] is read-only: copy_to writes the averages in place")
        for k, p in params.items():                              # checked: now change them
            p[...] = averages[k]

    def __repr__(self):
        return f"WeightAverage(decay={self.decay:g}, t={self.t})"


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def make_optimizer(name: str, params: dict, grads: dict, lr: float):
    """``'sgd'`` or ``'adam'`` -> the optimizer over ``params``/``grads`` with rate ``lr``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))}, got {name!r}")
    return OPTIMIZERS[name](params, grads, lr=lr)
