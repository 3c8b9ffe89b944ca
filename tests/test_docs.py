"""The docs pages' numbers that are cheap to compute, held to what the code computes."""
from pathlib import Path

import numpy as np

from minirnn.layers import Linear
from minirnn.models import MLP
from minirnn.sequence import k_step_ahead, prediction_mse, sine_series, train_regressor, window_series

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def table_row(page: str, label: str) -> list[float]:
    """The numbers of the table row of ``docs/<page>`` that starts with ``| label |``."""
    text = (DOCS / page).read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
    return [float(cell.replace(",", "")) for cell in row.split("|")[2:-1]]


def test_sequence_page_k_step_errors_are_what_the_code_gives():
    """docs/sequence-models.md's k-step table (examples/sequence.py, seed 0): the book's
    MLP with Adam and the 1.0 book's linear regression with SGD, 5 epochs each."""
    x = sine_series(1000, seed=0)[1]
    w = window_series(x, 4, 600)
    for label, net, optimizer in [
            ("validation MSE, MLP, tau = 4", MLP(4, 10, 1, seed=0), "adam"),
            ("validation MSE, linear regression (the 1.0 book), tau = 4",
             Linear(4, 1, seed=0, init="normal", sigma=0.01), "sgd")]:
        train_regressor(net, *w.train, num_epochs=5, lr=0.01, batch_size=16, seed=0,
                        progress=False, optimizer=optimizer)
        errors = [prediction_mse(p, x, w.val_start) for p in k_step_ahead(net, x, 4, (1, 4, 16, 64)).values()]
        np.testing.assert_allclose(errors, table_row("sequence-models.md", label), atol=5e-4,
                                   err_msg=label)
