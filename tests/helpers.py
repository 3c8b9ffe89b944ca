"""Helpers several test files share: what a layer or model holds before a call that must
fail, and the check that the failed call changed none of it."""
import numpy as np


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
