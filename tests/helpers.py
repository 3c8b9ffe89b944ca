"""Helpers several test files share: what a layer or model holds before a call that must
fail, and the check that the failed call changed none of it; a refusal's one line; files
left behind; a disk that fills up; a layer ready for a gradient check."""
import errno
import os
from pathlib import Path

import numpy as np

from minirnn.gradcheck import randomize_params


def snapshot(model):
    """Copies of every parameter and gradient, to compare after an error."""
    params = {k: v.copy() for k, v in model.params.items()}
    grads = {k: v.copy() for k, v in model.grads.items()}
    return params, grads


def assert_unchanged(model, before, what):
    params, grads = before
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, params[k], err_msg=f"{what}: param {k} changed")
    for k, v in model.grads.items():
        np.testing.assert_array_equal(v, grads[k], err_msg=f"{what}: grad {k} changed")


def one_line(err: str) -> str:
    """The one line of a refusal (no traceback), for the tests of what the user sees."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def leftovers(folder: Path) -> list:
    """Temporary files (``.name.xxx.tmp``) left in a folder."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def full_disk(after: int):
    """A ``write`` for file objects that works ``after`` times, then fails as a full disk."""
    calls = {"n": 0}

    def fail():
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return fail


def prepared(layer, seed):
    """``layer`` (or a model) in float64 with parameters of order one (``randomize_params``),
    drawn from a stream independent of the test's inputs (which use ``default_rng(seed)``)."""
    layer.astype(np.float64)
    randomize_params(layer, np.random.default_rng([seed, 1]))
    return layer
