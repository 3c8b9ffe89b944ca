"""The README as the front door (short, its commands and example true, its links alive) and
the docs pages' numbers: every measured table says when, where and how it was measured, and
the numbers that are cheap to compute are held to what the code computes."""
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minirnn.linear_rnn import power_alignment, random_symmetric, spectral_radius_demo
from minirnn.models import MLP, LinearRegression
from minirnn.sequence import k_step_ahead, prediction_mse, sine_series, train_regressor, window_series

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
MACHINE = "2-core x86_64 (this project's CI machine), Python 3.11, NumPy 2.4.6"


def without_code(markdown: str) -> str:
    """The text outside fenced code blocks."""
    return re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# ------------------------------------------------------------------ the front door
def test_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines: the rest belongs in docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(page):
    """Every relative link (and image) of README.md and docs/*.md names a file that exists,
    and an anchor names a heading of the page it points to."""
    text = without_code(page.read_text(encoding="utf-8"))
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links or page.name != "README.md"
    for link in links:
        if re.match(r"[a-z]+:", link):                     # http:, https:, mailto:
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), f"{page.name}: {link} does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", without_code(target.read_text(encoding="utf-8")), re.M)
            assert anchor in {slug(h) for h in headings}, f"{page.name}: no heading for {link}"


def test_readme_keeps_the_two_setup_commands():
    """The main job and the tests, verbatim; CI (.ci/run) runs the second as written."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in ("pip install . && minirnn train", "pip install -e '.[test]' && python -m pytest"):
        assert f"```bash\n{command}\n```" in readme, command
    assert "pip install -e '.[test]' && python -m pytest" in (ROOT / ".ci" / "run").read_text()


def test_readme_api_example_runs_verbatim(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"## The API in ten lines\n.*?```python\n(.*?)```", readme, re.S).group(1)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_measured_table_says_when_where_and_how(page):
    """A table with a measured number (one with a decimal point) is introduced by a
    paragraph 'Measured <date> ... commit <hash> ... <machine> ... `<command>`'."""
    lines = without_code(page.read_text(encoding="utf-8")).splitlines()
    for i, line in enumerate(lines):
        starts_table = line.startswith("|") and (i == 0 or not lines[i - 1].startswith("|"))
        if not starts_table:
            continue
        end = next((j for j in range(i, len(lines)) if not lines[j].startswith("|")), len(lines))
        if not re.search(r"\d\.\d", " ".join(lines[i + 2:end])):
            continue
        last = next(j for j in range(i - 1, -1, -1) if lines[j].strip())
        first = next((j + 1 for j in range(last, -1, -1) if not lines[j].strip()), 0)
        before = " ".join(lines[first:last + 1])           # the paragraph just above the table
        where = f"{page.name}, the table at line {i + 1}"
        assert before.startswith("Measured "), f"{where} is not introduced by a 'Measured' paragraph"
        assert re.search(r"\b20\d\d-\d\d-\d\d\b", before), f"{where}: no date"
        assert re.search(r"\bcommits? [0-9a-f]{7}\b", before), f"{where}: no commit"
        assert MACHINE in before, f"{where}: no machine"
        assert re.search(r"`[^`]+`", before), f"{where}: no command"


# ------------------------------------------------------------------ the pages' numbers
def page_text(page: str) -> str:
    """``docs/<page>`` with every run of whitespace made one space (prose wraps anywhere)."""
    return " ".join((DOCS / page).read_text(encoding="utf-8").split())


def short(x: float) -> str:
    """Two digits as the pages write them: 1.02e-05 -> '1.0e-5', 4310.0 -> '4.3e3'."""
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


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
             LinearRegression(4, seed=0), "sgd")]:
        train_regressor(net, *w.train, num_epochs=5, lr=0.01, batch_size=16, seed=0,
                        progress=False, optimizer=optimizer)
        errors = [prediction_mse(p, x, w.val_start) for p in k_step_ahead(net, x, 4, (1, 4, 16, 64)).values()]
        np.testing.assert_allclose(errors, table_row("sequence-models.md", label), atol=5e-4,
                                   err_msg=label)


def test_bptt_page_linear_rnn_and_matrix_powers_are_what_the_code_gives():
    """docs/bptt.md's numbers from examples/bptt.py that need no training: the linear RNN's
    fitted rates at spectral radius 0.9 / 1.0 / 1.1 (16 hidden units, 100 steps, seed 0)
    and how powers of a random symmetric 8 x 8 matrix turn to its top eigenvector."""
    text = page_text("bptt.md")
    demo = spectral_radius_demo((0.9, 1.0, 1.1), num_hiddens=16, num_steps=100, seed=0)
    rates = " / ".join(f"{rate:.6f}" for _, rate in demo.values())
    assert f"in the linear RNN with a symmetric `W_hh` they are {rates}:" in text
    shrunk, grown = (short(flow.dh_norms[0] / flow.dh_norms[-1]) for flow, _ in (demo[0.9], demo[1.1]))
    assert f"after 99 steps the gradient has shrunk to {shrunk} or grown {grown} times" in text

    rng = np.random.default_rng(0)
    W = random_symmetric(8, rng)
    align = power_alignment(W, rng.standard_normal(8), 60)
    cos = f"{align.cos[0]:.3f}, {align.cos[5]:.4f}, {align.cos[10]:.5f}"
    assert f"(|cos| {cos} at k = 0, 5, 10)" in text
    ks = np.arange(30, 61)
    rate = np.exp(np.polyfit(ks, np.log(align.tan[ks]), 1)[0])
    lam = np.sort(np.abs(np.linalg.eigvalsh(W)))[::-1]
    assert f"shrinking by {rate:.4f} a power, its `|lambda_2 / lambda_1|`" in text
    assert f"{lam[1] / lam[0]:.4f}" == f"{rate:.4f}"


def test_bptt_page_full_bptt_refusal_is_what_the_command_prints(tmp_path):
    """docs/bptt.md quotes the error of a full-BPTT run over all of Tiny Shakespeare."""
    root = os.environ.get("MINIRNN_DATA")
    if not (root and (Path(root) / "tinyshakespeare.txt").is_file()):
        reason = f"tinyshakespeare.txt not found in MINIRNN_DATA={root!r}"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI needs the real corpus: {reason}")
        pytest.skip(reason)
    command, message = re.search(r"`(minirnn train [^`]*--bptt full)` stops with `([^`]*)`",
                                 page_text("bptt.md")).groups()
    out = subprocess.run([sys.executable, "-m", "minirnn", *shlex.split(command)[1:]], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 2 and message in out.stderr, out.stderr


def test_performance_page_nominal_memory_is_what_the_benchmark_computes():
    """docs/performance.md's nominal MB (parameters + gradients + BPTT caches + batch) are
    arithmetic on the shapes: both memory tables must give what benchmarks/throughput.py
    computes for each configuration."""
    spec = importlib.util.spec_from_file_location("throughput", ROOT / "benchmarks" / "throughput.py")
    throughput = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(throughput)
    text = (DOCS / "performance.md").read_text(encoding="utf-8")
    for cfg in throughput.CONFIGS:
        nominal = throughput.nominal_bytes(cfg, throughput.make_model(cfg))
        parts = " + ".join(f"{nominal[k] / 1e6:.2f}" for k in ("params", "grads", "caches", "batch"))
        cell = f"| {cfg.name} | {sum(nominal.values()) / 1e6:.2f} = {parts} |"
        assert text.count(cell) == 2, cell                   # the one- and the two-thread table


def test_the_test_command_prints_its_summary_and_why_tests_were_skipped(tmp_path):
    """setup.cfg's addopts: 'python -m pytest' (and with -q) ends with 'N passed, M skipped'
    and gives each skip's reason (-rs); a configured -q made a user's -q into -qq, silent."""
    (tmp_path / "test_x.py").write_text(
        "import pytest\n\ndef test_a():\n    pass\n\n"
        "def test_b():\n    pytest.skip('MINIRNN_DATA not set')\n")
    for quiet in ([], ["-q"]):
        out = subprocess.run([sys.executable, "-m", "pytest", *quiet, "-c", str(ROOT / "setup.cfg"),
                              "-p", "no:cacheprovider", str(tmp_path / "test_x.py")],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert "1 passed, 1 skipped" in out.stdout, out.stdout
        assert "SKIPPED [1]" in out.stdout and "MINIRNN_DATA not set" in out.stdout, out.stdout


def test_tasks_page_python_examples_run_verbatim(tmp_path):
    """docs/tasks.md's code (padded batches, the classifier) runs as printed."""
    page = (DOCS / "tasks.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", page, re.S)
    assert len(blocks) >= 2
    for code in blocks:
        out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert out.returncode == 0, out.stderr


def test_readme_command_line_block_runs_verbatim(tmp_path):
    """The README's quick run, its text and its export, line by line as a reader types
    them (each command must succeed and print something)."""
    if not os.environ.get("MINIRNN_DATA"):
        if os.environ.get("CI"):
            pytest.fail("MINIRNN_DATA must name the folder holding timemachine.txt in CI")
        pytest.skip("MINIRNN_DATA not set: the quick run needs The Time Machine")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## The command line\n.*?```bash\n(.*?)```", readme, re.S).group(1)
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(ROOT))
    for line in block.strip().splitlines():
        out = subprocess.run(line, shell=True, cwd=tmp_path, capture_output=True, text=True,
                             timeout=300, env=env)
        assert out.returncode == 0 and out.stdout.strip(), (line, out.stderr[-2000:])
    assert (tmp_path / "runs" / "quick" / "checkpoint.npz").exists()
