"""examples/step_through_backprop.py: it prints every quantity, checks its gradients, and
prints a pdb command that stops in the backward time loop, as a reader runs it: after an
editable install (the clone's sources) and after a plain, non-editable one."""
import ast
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from minirnn.layers import LSTM, RNN, LSTMCell, RNNCell

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "step_through_backprop.py"


def run(*args, cwd, env=None, stdin=None):
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                         env=dict(os.environ, MPLBACKEND="Agg", **(env or {})), input=stdin,
                         timeout=180)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return out.stdout


def printed_command(stdout: str) -> list:
    line = next(line for line in stdout.splitlines() if " -m pdb " in line)
    return shlex.split(line.strip())


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_it_prints_and_checks_every_gradient(cell, tmp_path):
    stdout = run(str(SCRIPT), "--cell", cell, cwd=tmp_path)
    errors = [float(e) for e in re.findall(r"max relative error (\S+)", stdout)]
    assert len(errors) == 5 and max(errors) < 1e-6
    assert ("dL/drnn.W_hh (3, 3)" if cell == "rnn" else "dL/drnn.W_h (3, 12)") in stdout


def test_help_runs_nothing(tmp_path):
    stdout = run(str(SCRIPT), "--help", cwd=tmp_path)
    assert "--cell {rnn,lstm}" in stdout and "gradient check" not in stdout


def stop_in_the_loop(stdout: str, cwd, env, commands: str) -> str:
    """Run the printed pdb command with ``commands`` at the prompt; -> pdb's output."""
    command = printed_command(stdout)
    assert command[1:3] == ["-m", "pdb"] and command[3] == "-c" and command[5:7] == ["-c", "c"]
    out = subprocess.run([sys.executable, *command[1:]], input=commands, capture_output=True,
                         text=True, cwd=cwd, env=dict(os.environ, MPLBACKEND="Agg", **env),
                         timeout=180)
    return out.stdout


def check_the_rnn_stop(stdout: str, cwd, env, package: Path):
    file, line = re.search(r"-c 'b (\S+):(\d+)'", stdout).groups()
    assert Path(file) == (package / "layers" / "recurrent.py").resolve(), file
    assert "self.step_grad(" in Path(file).read_text().splitlines()[int(line) - 1]
    out = stop_in_the_loop(stdout, cwd, env, "p t, n\np dh.shape\nn\np dZ[t].shape\nu\nq\n")
    assert f"recurrent.py({line})backward()" in out, out[-2000:]
    assert "(2, 1)" in out and "(1, 3)" in out              # t = T-1, n = B; dL/dH_t (n, H)
    assert re.search(r"models\S*\.py\(\d+\)backward\(\)", out), out[-1500:]   # u: the model's


def test_the_printed_command_stops_in_rnn_backward_with_an_editable_install(tmp_path):
    """The venv's install of these sources; run from a folder of the reader's own."""
    stdout = run(str(SCRIPT), cwd=tmp_path)
    import minirnn
    check_the_rnn_stop(stdout, tmp_path, {}, Path(minirnn.__file__).parent)


def test_the_printed_command_stops_in_rnn_backward_after_a_plain_install(tmp_path):
    """``pip install .`` copies minirnn into site-packages: the breakpoint must name that
    copy, the one Python imports, not the clone's sources (run from the clone's root)."""
    target = tmp_path / "site"
    # a real build of the clone (setuptools and wheel come with the test extra)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    assert not (target / "minirnn" / "layers" / "recurrent.py").is_symlink()
    env = {"PYTHONPATH": str(target)}
    stdout = run("examples/step_through_backprop.py", cwd=ROOT, env=env)
    check_the_rnn_stop(stdout, ROOT, env, target / "minirnn")


def test_the_printed_command_stops_in_lstm_backward_and_steps_into_the_forget_gate(tmp_path):
    stdout = run(str(SCRIPT), "--cell", "lstm", cwd=tmp_path)
    file, line = re.search(r"-c 'b (\S+):(\d+)'", stdout).groups()
    assert file.endswith("lstm.py") and "self.step_grad(" in Path(file).read_text().splitlines()[int(line) - 1]
    out = stop_in_the_loop(stdout, tmp_path, {}, "p t, n\np dh.shape, dc.shape\ns\nn\nn\nn\nn\n"
                           "n\np F.shape\np bool(abs(dc * F).max() >= 0)\nr\nn\nu\nq\n")
    assert f"lstm.py({line})backward()" in out, out[-2000:]
    assert "step_grad()" in out and "((1, 3), (1, 3))" in out, out[-2000:]
    assert "(1, 3)\n(Pdb) True" in out, out[-2000:]                 # F_t, and dC_t * F_t
    assert re.search(r"models\S*\.py\(\d+\)backward\(\)", out), out[-1500:]


def test_every_hint_and_every_name_on_the_debugging_page_exists_in_the_code():
    """docs/debugging.md's table names variables of the stops; each must be a local of
    ``RNN.backward`` / ``LSTM.backward`` (the loop) or of the cell's ``step_grad``."""
    page = (ROOT / "docs" / "debugging.md").read_text()
    first_cells = re.findall(r"^\| (`[^|]*)\|", page, re.M)   # a table row's first cell
    names = {n for cell in first_cells for n in re.findall(r"`([A-Za-z_][A-Za-z_0-9]*)`", cell)}
    assert len(names) >= 8, names
    local = set()
    for f in (RNN.backward, LSTM.backward, RNNCell.step_grad, LSTMCell.step_grad):
        local |= set(f.__code__.co_varnames)
    assert names <= local, f"not in the code: {sorted(names - local)}"
    source = SCRIPT.read_text()
    hints = ast.literal_eval(source[source.index("HINTS = {") + len("HINTS = "):
                                    source.index("\n}\n", source.index("HINTS = {")) + 2])
    for cell, f, step in (("rnn", RNN.backward, RNNCell.step_grad),
                          ("lstm", LSTM.backward, LSTMCell.step_grad)):
        known = set(f.__code__.co_varnames) | set(step.__code__.co_varnames)
        for command, _ in hints[cell]:
            if command.startswith("p "):
                used = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", command[2:]))
                assert used <= known, (cell, command, used - known)


def test_the_debugging_page_names_no_line_number():
    """docs/debugging.md shows the command's form; the line comes from the script's output
    (computed from the source), never from the page, where it would go stale."""
    page = (ROOT / "docs" / "debugging.md").read_text()
    assert "python -m pdb -c 'b /path/to/minirnn/layers/recurrent.py:LINE' -c c" in page
    assert not re.search(r"\.py:\d+", page), "a line number in the page goes stale"
