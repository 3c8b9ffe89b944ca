"""The speed benchmarks of issue #15 run on tiny settings and print their tables: the A/B
of two checkouts (ab_step.py), the limits (limits.py), throughput.py's speed-up of
minirnn's threads, and a step phase by phase (phases.py).  (Nothing is timed here: the scripts measure, the suite checks they run.)"""
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def run_script(name, *args, timeout=300):
    out = subprocess.run([sys.executable, str(BENCH / name), *args], capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_ab_step_compares_a_commit_with_this_checkout_in_one_table():
    out = run_script("ab_step.py", "--baseline", "HEAD", "--threads", "1", "2", "--shapes",
                     "concise", "--pairs", "2", "--steps", "1")
    assert "`python benchmarks/ab_step.py --baseline HEAD --shapes concise --pairs 2 --steps 1`" in out
    rows = [line for line in out.splitlines() if line.startswith("| 1 | concise") or
            line.startswith("| 2 | concise")]
    assert len(rows) == 2
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 8 and all(len(c.split(", ")) == 2 for c in cells[2:])


def test_ab_step_alone_prints_one_checkouts_step_time():
    out = run_script("ab_step.py", "concise", "--steps", "1")
    assert float(out.strip()) > 0


def test_phases_prints_every_phase_for_both_thread_counts_and_the_small_calls():
    out = run_script("phases.py", "--shape", "0.17", "--steps", "1", "--calls", "5")
    rows = {line.split("|")[1].strip(): line for line in out.splitlines()
            if line.startswith("| ") and not line.startswith("| phase") and
            not line.startswith("| call")}
    for phase in ("one-hot X", "RNN forward", "output forward", "loss forward", "loss backward",
                  "output backward", "RNN backward", "clip + SGD", "the step (sum of the medians)",
                  "np.add", "np.multiply", "np.matmul with (H, H)", "np.tanh"):
        cells = [c.strip() for c in rows[phase].strip().strip("|").split("|")]
        assert len(cells) in (4, 5) and cells[-1].endswith("x"), rows[phase]
        assert all(float(c.rstrip("x")) > 0 for c in cells[1:]), rows[phase]


def test_limits_prints_bandwidth_rates_and_floors():
    out = run_script("limits.py", "--threads", "1", "--repeats", "1")
    assert "| float32 arrays of 4 MB |" in out and "| float32 arrays of 64 MB |" in out
    assert "`exp`:" in out and "`tanh`:" in out
    row = next(line for line in out.splitlines() if line.startswith("| 1.0 scratch |"))
    assert len(row.strip("|").split("|")) == 9


def test_throughput_with_two_threads_times_minirnn_on_one_thread_too(tmp_path):
    out = run_script("throughput.py", "--tiny", "--no-torch", "--no-naive", "--threads", "2",
                     "--out", str(tmp_path))
    assert "minirnn with 2 threads against minirnn with one" in out
    table = out.split("minirnn with 2 threads against minirnn with one")[1]
    assert "| tiny one-hot |" in table and "| tiny deep LSTM |" in table
