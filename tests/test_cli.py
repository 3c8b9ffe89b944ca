"""Tests of the ``minirnn`` command line: smoke runs through subprocess on a tiny corpus,
Ctrl-C and resume, divergence, ``--help``, one-line errors (exit 2) for bad input, output
streams (a closed pipe, a full disk), and every option fuzzed (hypothesis)."""
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers import one_line

from minirnn.checkpoint import load
from minirnn.cli import main

TEXT = ("the time traveller for so it will be convenient to speak of him was expounding "
        "a recondite matter to us his grey eyes shone and twinkled and his usually pale "
        "face was flushed and animated the fire burned brightly ") * 8
TINY = ["--preset", "d2l-1.0", "--num-train", "300", "--num-val", "60", "--batch", "50",
        "--steps", "8", "--hidden", "16", "--optimizer", "adam", "--lr", "0.01"]


def minirnn(*args, cwd, check=True, timeout=60):
    proc = subprocess.run([sys.executable, "-m", "minirnn", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONWARNINGS": ""})
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny.txt"
    path.write_text(TEXT)
    return path


@pytest.fixture(scope="module")
def run(corpus, tmp_path_factory):
    """One tiny training run, shared by the tests that read its folder."""
    cwd = tmp_path_factory.mktemp("work")
    proc = minirnn("train", "--corpus", str(corpus), *TINY, "--epochs", "2", "--sample-every", "1",
                   "--num-preds", "10", "--no-progress", cwd=cwd)
    return cwd, proc


def test_train_writes_a_run_folder(run):
    cwd, proc = run
    folders = list((cwd / "runs").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("d2l-1.0-")
    out = folders[0]
    assert {p.name for p in out.iterdir()} >= {"checkpoint.npz", "config.json", "history.json",
                                               "perplexity.png", "samples.txt"}
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2]
    assert all(set(r) == {"epoch", "train_ppl", "val_ppl", "tokens_per_s", "wall_s"} for r in history)
    assert (out / "perplexity.png").read_bytes()[:4] == b"\x89PNG"
    assert load(out / "checkpoint.npz").epoch == 2
    assert json.loads((out / "config.json").read_text())["num_hiddens"] == 16
    samples = (out / "samples.txt").read_text()
    assert samples.startswith("greedy: time traveller") and "temperature 0.5" in samples
    # progress lines: a sample after each epoch, the final numbers and the samples
    assert "epoch 1: 'time traveller" in proc.stdout and "epoch 2: 'time traveller" in proc.stdout
    assert "validation perplexity" in proc.stdout and "greedy: time traveller" in proc.stdout


def test_generate_from_the_checkpoint(run):
    cwd, _ = run
    out = next((cwd / "runs").iterdir())
    greedy = minirnn("generate", "--checkpoint", str(out / "checkpoint.npz"), "--prefix", "the ",
                     "--num-preds", "20", cwd=cwd).stdout.strip()
    assert greedy.startswith("the ")
    again = minirnn("generate", "--checkpoint", str(out), "--prefix", "the ", "--num-preds", "20",
                    cwd=cwd).stdout.strip()
    assert again == greedy                                  # a run folder works too; greedy is fixed
    sampled = [minirnn("generate", "--checkpoint", str(out), "--prefix", "the ", "--num-preds", "40",
                       "--temperature", "1.5", "--seed", seed, cwd=cwd).stdout for seed in "112"]
    assert sampled[0] == sampled[1] != sampled[2]
    warned = minirnn("generate", "--checkpoint", str(out), "--prefix", "The", "--num-preds", "3",
                     cwd=cwd)
    assert warned.stderr.strip().splitlines() == [warned.stderr.strip()]
    assert "warning: prefix 'The'" in warned.stderr and "<unk>: 'T'" in warned.stderr
    assert warned.stdout.startswith("The")


def test_ctrl_c_saves_and_resume_finishes(corpus, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "minirnn", "train", "--corpus", str(corpus),
                             *TINY, "--epochs", "500", "--sample-every", "0", "--no-progress",
                             "--out", str(out)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while not (out / "history.json").exists() and time.time() < deadline:
            time.sleep(0.05)
        assert (out / "history.json").exists(), "no epoch finished within 30 s"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "minirnn train: interrupted at" in stderr and f"--resume {out}" in stderr
    done = load(out / "checkpoint.npz").epoch
    assert 1 <= done < 500
    minirnn("train", "--resume", str(out), "--epochs", str(done + 2), "--no-progress", cwd=tmp_path)
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history] == list(range(1, done + 3))
    resumed = load(out)
    assert resumed.epoch == done + 2
    straight = tmp_path / "straight"                      # the same run, never interrupted
    minirnn("train", "--corpus", str(corpus), *TINY, "--epochs", str(done + 2), "--sample-every",
            "0", "--no-progress", "--out", str(straight), cwd=tmp_path)
    uninterrupted = load(straight)
    for k, v in uninterrupted.params.items():
        assert np.array_equal(resumed.params[k], v), k
    assert json.loads((straight / "history.json").read_text())[-1]["train_ppl"] == history[-1]["train_ppl"]


def test_ctrl_c_in_an_epochs_last_step_resumes_as_the_run_never_interrupted(corpus, tmp_path,
                                                                             monkeypatch, capsys):
    """Ctrl-C during an epoch's last update: the checkpoint holds step n of n (every batch
    done, the epoch's checks not yet), and ``--resume`` finishes that epoch and the rest as a
    run never interrupted."""
    import minirnn.train
    step = minirnn.train.Trainer._step

    def interrupted_in_the_last_step(self, batch, state, epoch, i, n):
        result = step(self, batch, state, epoch, i, n)
        if epoch == 2 and i == n:
            self._interrupted = True                     # as the SIGINT handler sets it
        return result
    out, straight = tmp_path / "run", tmp_path / "straight"
    args = ["train", "--corpus", str(corpus), *TINY, "--sample-every", "0", "--no-progress"]
    with monkeypatch.context() as m:
        m.setattr(minirnn.train.Trainer, "_step", interrupted_in_the_last_step)
        assert main([*args, "--epochs", "3", "--out", str(out)]) == 130
    position = load(out / "checkpoint.npz").extra["position"]
    assert load(out / "checkpoint.npz").epoch == 1 and position["step"] == 6   # 300 / 50
    assert main(["train", "--resume", str(out), "--epochs", "3", "--no-progress"]) == 0
    assert main([*args, "--epochs", "3", "--out", str(straight)]) == 0
    resumed, uninterrupted = load(out / "checkpoint.npz"), load(straight / "checkpoint.npz")
    assert resumed.epoch == uninterrupted.epoch == 3
    for k, v in uninterrupted.params.items():
        assert np.array_equal(resumed.params[k], v), k
    capsys.readouterr()

def test_word_tokens_end_to_end(corpus, tmp_path):
    out = tmp_path / "words"
    minirnn("train", "--corpus", str(corpus), "--token", "word", "--preset", "d2l-0.17",
            "--batch", "4", "--steps", "5", "--hidden", "16", "--epochs", "2", "--prefix",
            "the time", "--sample-every", "1", "--num-preds", "3", "--no-progress", "--out",
            str(out), cwd=tmp_path)
    ckpt = load(out)
    assert ckpt.config["token"] == "word" and "traveller" in ckpt.vocab.idx_to_token
    minirnn("train", "--resume", str(out), "--epochs", "3", "--no-progress", cwd=tmp_path)
    assert load(out).epoch == 3
    text = minirnn("generate", "--checkpoint", str(out), "--prefix", "the time", "--num-preds", "4",
                   cwd=tmp_path).stdout.split()
    assert text[:2] == ["the", "time"] and len(text) == 6
    assert all(w in ckpt.vocab.idx_to_token for w in text[2:])


def test_a_diverging_run_exits_1_naming_epoch_and_step(corpus, tmp_path):
    proc = minirnn("train", "--corpus", str(corpus), *TINY[:-4], "--lr", "1e6", "--clip", "none",
                   "--epochs", "3", "--no-progress", "--out", str(tmp_path / "r"), cwd=tmp_path,
                   check=False)
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "minirnn train: error: loss became" in proc.stderr and "at epoch 1, step" in proc.stderr


@pytest.mark.parametrize("command", [[], ["train"], ["generate"], ["gradcheck"]])
def test_help_is_complete(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())        # undo argparse's line wrapping
    expected = {"train": ["--corpus", "--token", "--preset", "--hidden", "--embed-dim", "--steps",
                          "--batch", "--lr", "--epochs", "--clip", "--optimizer", "--seed", "--out",
                          "--resume", "--bptt", "--bptt-p", "--nonlinearity", "--init", "xavier",
                          "normal", "uniform", "d2l-0.17-random", "d2l-0.17-concise",
                          "d2l-1.0", "tinyshakespeare"],
                "generate": ["--checkpoint", "--prefix", "--num-preds", "--temperature", "--alpha",
                             "--seed", "<unk>"],
                "gradcheck": ["centered differences"]}.get(command[0] if command else "",
                                                             ["train", "generate", "gradcheck"])
    missing = [word for word in expected if word not in text]
    assert not missing, f"--help of {command} does not mention {missing}"


def test_version_and_a_bare_minirnn(capsys):
    from minirnn import __version__
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out == f"minirnn {__version__}\n"
    assert main([]) == 2                                       # usage with the three commands
    out = capsys.readouterr().out
    assert out.startswith("usage: minirnn") and all(
        re.search(rf"^    {c}\b", out, re.M) for c in ("train", "generate", "gradcheck")), out


def test_train_help_lists_each_preset_on_its_own_line_as_flags(capsys):
    """The presets' names ran into their values (``d2l-0.17-gru-concisemax_tokens=10000``):
    each name is now a line of its own, its settings the flags that set them."""
    from minirnn.presets import PRESETS
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    lines = capsys.readouterr().out.splitlines()
    for name in PRESETS:
        at = lines.index(f"  {name}")
        assert lines[at + 1].startswith("      --"), (name, lines[at + 1])
    assert "      --max-tokens 10000 --sampling sequential --batch 32 --steps 35 --hidden 256" \
        in lines


def test_gradcheck_still_runs(tmp_path):
    proc = minirnn("gradcheck", cwd=tmp_path)
    assert "all passed" in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["train", "--batch", "0"], "--batch must be an integer in [1, 16777216], got '0'"),
    (["train", "--steps", "-3"], "--steps must be an integer in [1, 16777216], got '-3'"),
    (["train", "--hidden", "many"], "--hidden must be an integer in [1, 65536], got 'many'"),
    (["train", "--lr", "0"], "--lr must be a finite number > 0, got '0'"),
    (["train", "--clip", "-1"], "--clip must be a finite number > 0 or 'none', got '-1'"),
    (["train", "--preset", "d2l-3"], "--preset must be one of default, d2l-0.17, d2l-0.17-random"),
    (["train", "--token", "byte"], "--token must be one of char, word, got 'byte'"),
    (["train", "--bptt-p", "1.5", "--bptt", "randomized"], "--bptt-p must be a finite number in (0, 1], got '1.5'"),
    (["train", "--bptt", "randomized"], "--bptt randomized needs --bptt-p"),
    (["train", "--corpus", "no/such/file.txt"], "'no/such/file.txt' is neither a known corpus"),
    (["train", "--corpus", "{tiny}", "--preset", "d2l-0.17", "--batch", "100"], "too short for one minibatch"),
    (["train", "--corpus", "{tiny}", "--steps", "5000", "--preset", "d2l-0.17"], "too short for one minibatch"),
    (["train", "--corpus", "{tiny}"], "too short: --num-train 150000 + --num-val 20000"),
    (["train", "--resume", "{tiny}"], "is not a minirnn checkpoint: not an .npz (zip) file"),
    (["train", "--resume", "nowhere.npz"], "no checkpoint at path='nowhere.npz'"),
    (["train", "--resume", "{rundir}", "--hidden", "8"],
     "--hidden 8 cannot change when resuming (the run has --hidden 16)"),
    (["generate", "--checkpoint", "nowhere.npz"], "no checkpoint at path='nowhere.npz'"),
    (["generate"], "the following arguments are required: --checkpoint"),
    (["generate", "--checkpoint", "{ckpt}", "--prefix", ""], "prefix must hold at least one char"),
    (["generate", "--checkpoint", "{ckpt}", "--temperature", "0"], "--temperature must be a finite number > 0, got '0'"),
    (["generate", "--checkpoint", "{ckpt}", "--temperature", "1", "--alpha", "2"], "not both"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["train", "--seed", "-1"], "--seed must be an integer >= 0, got '-1'"),
    (["generate", "--checkpoint", "{ckpt}", "--seed", "-1"], "--seed must be an integer >= 0, got '-1'"),
    (["train", "--corpus", "{tiny}", *TINY, "--prefix", ""], "prefix must hold at least one char"),
    (["train", "--corpus", "{tiny}", *TINY, "--token", "word", "--num-train", "100", "--num-val",
      "10", "--prefix", "   "],
     "prefix must hold at least one word"),
    (["train", "--corpus", "{folder}", *TINY], "cannot read"),
    (["train", "--corpus", "{tiny}", *TINY, "--out", "{file}"], "is a file, not a folder"),
    (["train", "--corpus", "{tiny}", *TINY, "--out", "{rundir}"], "already holds a run"),
    (["train", "--resume", "{npy}"], "holds a single .npy array"),
    (["generate", "--checkpoint", "{npy}"], "holds a single .npy array"),
    (["train", "--resume", "{api}"], "was not written by minirnn train (its config lacks"),
    (["train", "--preset", "d2l-0.17", "--num-train", "100"],
     "--num-train applies only to --sampling windowed (its training and validation windows), "
     "not to --sampling sequential"),
    (["train", "--sampling", "random", "--num-train", "100", "--num-val", "0"],
     "--num-train and --num-val apply only to --sampling windowed"),
    (["train", "--corpus", "{tiny}", *TINY, "--hidden", str(10**18)],
     "--hidden must be an integer in [1, 65536], got '1000000000000000000'"),
    (["train", "--corpus", "{tiny}", *TINY, "--hidden", "65536", "--layers", "1024"],
     "the model, its gradients and a batch would take"),
    (["train", "--corpus", "{tiny}", *TINY, "--layers", str(10**18)],
     "--layers must be an integer in [1, 1024], got '1000000000000000000'"),
    (["train", "--corpus", "{tiny}", *TINY, "--cell", "gru", "--resume", "{rundir}"],
     "--cell gru cannot change when resuming (the run has --cell rnn)"),
    (["train", "--corpus", "{tiny}", *TINY, "--out", "{file}/run"],
     "--out '{file}/run' cannot be created: '{file}' is a file, not a folder"),
])
def test_bad_arguments_exit_2_with_one_line(args, message, corpus, run, odd_files, capsys,
                                            tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rundir = next((run[0] / "runs").iterdir())
    ckpt = rundir / "checkpoint.npz"
    before = {f.name: f.read_bytes() for f in rundir.iterdir()}
    args = [a.format(tiny=corpus, ckpt=ckpt, rundir=rundir, **odd_files) for a in args]
    message = message.format(**odd_files)
    try:
        code = main(args)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"minirnn {args[0] if args[0] in ('train', 'generate') else ''}".rstrip())
    assert message in err
    assert not (tmp_path / "runs").exists()                 # nothing was started
    assert {f.name: f.read_bytes() for f in rundir.iterdir()} == before   # nor overwritten


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory, corpus):
    """Things that are not what an option expects: a folder, a plain file, a .npy named
    .npz, a checkpoint written by the Python API rather than by ``minirnn train``."""
    from minirnn.data import SeqDataLoader, build_corpus
    from minirnn.models import RNNLM
    from minirnn.train import Trainer
    root = tmp_path_factory.mktemp("odd")
    (root / "folder").mkdir()
    (root / "file.txt").write_text("not a folder")
    with open(root / "array.npz", "wb") as f:
        np.save(f, np.arange(3))
    ids, vocab = build_corpus(TEXT)
    Trainer(RNNLM(len(vocab), 4), SeqDataLoader(ids, 2, 5), vocab=vocab, sample_every=0,
            progress=False, checkpoint=root / "api.npz").fit(1)
    return {"folder": root / "folder", "file": root / "file.txt", "npy": root / "array.npz",
            "api": root / "api.npz"}


def test_resume_with_fewer_epochs_than_done_changes_nothing(run, tmp_path, capsys):
    rundir = next((run[0] / "runs").iterdir())             # 2 epochs done
    before = {f.name: f.read_bytes() for f in rundir.iterdir()}
    assert main(["train", "--resume", str(rundir), "--epochs", "1", "--no-progress"]) == 2
    assert "--epochs 1 is fewer than the 2 epochs" in capsys.readouterr().err
    assert {f.name: f.read_bytes() for f in rundir.iterdir()} == before
    assert main(["train", "--resume", str(rundir), "--epochs", "1", "--no-progress",
                 "--out", str(tmp_path / "new")]) == 2
    assert not (tmp_path / "new").exists()


def test_a_diverged_epoch_is_never_checkpointed_through_the_cli(corpus, tmp_path):
    """Full BPTT: one update per epoch, so the first update that blows up is the last of its
    epoch.  Nothing may be saved, and the error names where it happened."""
    out = tmp_path / "r"
    proc = minirnn("train", "--corpus", str(corpus), "--preset", "d2l-0.17", "--hidden", "32",
                   "--bptt", "full", "--lr", "1e6", "--clip", "none", "--epochs", "3",
                   "--sample-every", "0", "--no-progress", "--out", str(out), cwd=tmp_path,
                   check=False)
    assert proc.returncode == 1, proc.stderr
    assert "after the last update of epoch 1" in proc.stderr, proc.stderr
    assert "no checkpoint was saved" in proc.stderr
    assert not (out / "checkpoint.npz").exists()


def test_python_dash_m_and_the_console_script_agree(tmp_path):
    script = Path(sys.executable).with_name("minirnn")
    if not script.exists():
        pytest.skip("console script not installed next to this python")
    a = subprocess.run([str(script), "--help"], capture_output=True, text=True, cwd=tmp_path)
    b = minirnn("--help", cwd=tmp_path)
    assert a.returncode == 0 and a.stdout.replace("minirnn", "") == b.stdout.replace("minirnn", "")


def test_resume_never_overwrites_another_checkpoint(run, tmp_path, capsys):
    """A copy of a checkpoint kept inside a run folder (a snapshot) is not that run: resuming
    it must not write over the run's own, newer checkpoint."""
    import shutil
    rundir = tmp_path / "A"
    shutil.copytree(next((run[0] / "runs").iterdir()), rundir)
    shutil.copy(rundir / "checkpoint.npz", rundir / "snapshot.npz")
    before = (rundir / "checkpoint.npz").read_bytes()
    assert main(["train", "--resume", str(rundir / "snapshot.npz"), "--epochs", "3",
                 "--no-progress"]) == 2
    assert "resuming" in capsys.readouterr().err
    assert (rundir / "checkpoint.npz").read_bytes() == before
    assert main(["train", "--resume", str(rundir), "--preset", "default", "--no-progress"]) == 2
    assert "--preset default cannot change when resuming (the run has --preset d2l-1.0)" \
        in capsys.readouterr().err
    assert (rundir / "checkpoint.npz").read_bytes() == before


def test_resume_accepts_options_equal_to_the_runs(run, tmp_path, capsys):
    """``--resume`` with an option equal to the stored one (the run's own preset, cell and
    hidden size) continues the run; only a different value is refused."""
    import shutil
    rundir = tmp_path / "A"
    shutil.copytree(next((run[0] / "runs").iterdir()), rundir)
    assert main(["train", "--resume", str(rundir), "--preset", "d2l-1.0", "--cell", "rnn",
                 "--hidden", "16", "--epochs", "3", "--sample-every", "0", "--no-progress"]) == 0
    assert load(rundir).epoch == 3


def test_a_folder_without_a_checkpoint_can_take_a_new_run(corpus, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    from minirnn.presets import preset_config                # a run that stopped before epoch 1
    (out / "config.json").write_text(json.dumps(preset_config("d2l-1.0")))
    (out / ".checkpoint.npz.x1y2z3.tmp").write_bytes(b"half a checkpoint")   # killed saving
    minirnn("train", "--corpus", str(corpus), *TINY, "--epochs", "1", "--sample-every", "0",
            "--no-progress", "--out", str(out), cwd=tmp_path)
    assert load(out).epoch == 1
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]   # cleaned up


def test_a_relative_corpus_path_resumes_from_anywhere(corpus, tmp_path):
    import shutil
    (tmp_path / "txt").mkdir()
    shutil.copy(corpus, tmp_path / "txt" / "my.txt")
    out = tmp_path / "runs" / "rel"
    minirnn("train", "--corpus", "txt/my.txt", *TINY, "--epochs", "1", "--sample-every", "0",
            "--no-progress", "--out", str(out), cwd=tmp_path)
    assert json.loads((out / "config.json").read_text())["corpus"] == str(tmp_path / "txt" / "my.txt")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    minirnn("train", "--resume", str(out), "--epochs", "2", "--no-progress", cwd=elsewhere)
    assert load(out).epoch == 2


def test_train_warnings_are_one_line(corpus, tmp_path):
    proc = minirnn("train", "--corpus", str(corpus), *TINY, "--epochs", "1", "--sample-every", "1",
                   "--num-preds", "5", "--prefix", "Time", "--no-progress", "--out",
                   str(tmp_path / "r"), cwd=tmp_path)
    warned = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert warned and all(line.startswith("minirnn train: warning: prefix 'Time'") for line in warned)
    assert "UserWarning" not in proc.stderr and ".py:" not in proc.stderr


def test_running_out_of_memory_while_training_is_one_line(corpus, tmp_path, monkeypatch, capsys):
    from minirnn.train import Trainer

    def fit(self, num_epochs):
        raise MemoryError("Unable to allocate 41.7 GiB")

    monkeypatch.setattr(Trainer, "fit", fit)
    code = main(["train", "--corpus", str(corpus), *TINY, "--no-progress", "--out",
                 str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "ran out of memory while training (Unable to allocate 41.7 GiB); lower --hidden" in err
    assert main(["generate", "--checkpoint", str(tmp_path / "r")]) == 2   # its folder says why
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "holds no checkpoint: its run failed before saving one: ran out of memory" in err


def test_relu_from_the_command_line(corpus, tmp_path):
    out = tmp_path / "relu"
    minirnn("train", "--corpus", str(corpus), *TINY, "--nonlinearity", "relu", "--epochs", "1",
            "--sample-every", "0", "--no-progress", "--out", str(out), cwd=tmp_path)
    ckpt = load(out)
    assert ckpt.config["nonlinearity"] == "relu"
    from minirnn.checkpoint import build_model
    assert build_model(ckpt).rnn.nonlinearity == "relu"


def test_tie_weights_trains_saves_and_generates(corpus, tmp_path):
    out = tmp_path / "tied"
    minirnn("train", "--corpus", str(corpus), *TINY, "--embed-dim", "16", "--tie-weights",
            "--epochs", "1", "--sample-every", "0", "--no-progress", "--out", str(out), cwd=tmp_path)
    ck = load(out / "checkpoint.npz")
    assert ck.model["config"]["tie_weights"] is True
    assert "output.W" not in ck.params and ck.params["embedding.W"].shape[1] == 16   # one matrix
    proc = minirnn("generate", "--checkpoint", str(out), "--prefix", "the ", "--num-preds", "5",
                   cwd=tmp_path)
    assert proc.stdout.startswith("the ")
    bad = minirnn("train", "--corpus", str(corpus), *TINY, "--tie-weights", "--epochs", "1",
                  "--out", str(tmp_path / "bad"), cwd=tmp_path, check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "--tie-weights needs --embed-dim equal to --hidden, got no --embed-dim and --hidden 16" \
        in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_gated_stacked_bidirectional_run_and_its_generate_warning(corpus, tmp_path):
    out = tmp_path / "bilstm"
    proc = minirnn("train", "--corpus", str(corpus), *TINY, "--cell", "lstm", "--layers", "2",
                   "--bidirectional", "--dropout", "0.2", "--epochs", "1", "--sample-every", "0",
                   "--no-progress", "--out", str(out), cwd=tmp_path)
    assert "lstm, 2 layers, bidirectional, hidden 16" in proc.stdout
    ck = load(out / "checkpoint.npz")
    assert {k: ck.model["config"][k] for k in ("cell", "num_layers", "bidirectional", "dropout")} \
        == {"cell": "lstm", "num_layers": 2, "bidirectional": True, "dropout": 0.2}
    assert "rnn.l1_reverse.W_x" in ck.params and ck.params["output.W"].shape[0] == 32
    gen = minirnn("generate", "--checkpoint", str(out), "--prefix", "the ", "--num-preds", "8",
                  cwd=tmp_path)
    assert gen.stdout.startswith("the ") and len(gen.stdout.rstrip("\n")) == 12   # 8 characters more
    warning = gen.stderr.strip().splitlines()
    assert len(warning) == 1 and "bidirectional" in warning[0] and "not a next-token prediction" in warning[0]


@pytest.mark.parametrize("args, message", [
    (["--cell", "transformer"], "--cell must be one of rnn, gru, lstm, got 'transformer'"),
    (["--layers", "0"], "--layers must be an integer in [1, 1024], got '0'"),
    (["--dropout", "1.5"], "--dropout must be a finite number in [0, 1), got '1.5'"),
    (["--dropout", "half"], "--dropout must be a finite number in [0, 1), got 'half'"),
    (["--cell", "lstm", "--nonlinearity", "relu"], "--nonlinearity relu applies to --cell rnn only, not --cell lstm"),
    (["--reset-after"], "--reset-after applies to --cell gru only, not --cell rnn"),
])
def test_bad_model_options_are_one_line_and_write_nothing(corpus, tmp_path, args, message):
    out = tmp_path / "run"
    proc = minirnn("train", "--corpus", str(corpus), *TINY, *args, "--epochs", "1",
                   "--out", str(out), cwd=tmp_path, check=False)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr, proc.stderr
    assert not out.exists()


def test_dropout_with_one_layer_is_a_one_line_warning(corpus, tmp_path):
    proc = minirnn("train", "--corpus", str(corpus), *TINY, "--dropout", "0.3", "--epochs", "1",
                   "--sample-every", "0", "--no-progress", "--out", str(tmp_path / "r"), cwd=tmp_path)
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "--dropout 0.3 acts between layers and --layers 1" in warnings[0]


# ------------------------------------------------------------ output streams
class _FailingStdout:
    """A stdout whose writes fail with ``error`` after ``lines`` newline-ended writes."""

    def __init__(self, error, lines=0):
        self.error, self.lines, self.text = error, lines, ""

    def write(self, text):
        if self.text.count("\n") >= self.lines:
            raise self.error
        self.text += text

    def flush(self):
        if self.text.count("\n") > self.lines:
            raise self.error


def test_a_pipe_closed_after_the_first_line_keeps_the_epochs_work(corpus, tmp_path,
                                                                  monkeypatch, capsys):
    """``minirnn train ... | head -1``: the first epoch's line fails; the epoch's
    checkpoint is still written, then the run stops quietly (141)."""
    out = tmp_path / "r"
    monkeypatch.setattr(sys, "stdout", _FailingStdout(BrokenPipeError(32, "Broken pipe"), 1))
    code = main(["train", "--corpus", str(corpus), *TINY, "--epochs", "3", "--sample-every",
                 "0", "--out", str(out)])
    assert code == 141 and capsys.readouterr().err == ""
    assert load(out).epoch == 1 and [r["epoch"] for r in json.loads(
        (out / "history.json").read_text())] == [1]


def test_a_full_stdout_finishes_the_run_and_says_so_in_one_line(corpus, tmp_path, monkeypatch,
                                                                capsys):
    """``minirnn train ... > /dev/full``: the run is not lost to its printing."""
    out = tmp_path / "r"
    monkeypatch.setattr(sys, "stdout", _FailingStdout(OSError(28, "No space left on device")))
    code = main(["train", "--corpus", str(corpus), *TINY, "--epochs", "2", "--sample-every",
                 "0", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"cannot write to stdout (No space left on device); the run finished: {out}" in err
    assert load(out).epoch == 2 and (out / "samples.txt").exists()


def test_a_closed_stdout_finishes_the_run_without_a_traceback(corpus, tmp_path):
    out = tmp_path / "r"
    proc = subprocess.run(f"exec {sys.executable} -m minirnn train --corpus {corpus} "
                          f"{' '.join(TINY)} --epochs 1 --sample-every 0 --out {out} >&-",
                          shell=True, cwd=tmp_path, capture_output=False, timeout=120,
                          stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert load(out).epoch == 1


def test_generate_from_any_other_model_is_one_line(tmp_path, capsys):
    """Every registered model but the language model: one line naming the checkpoint and
    its model, exit 2 (it was a traceback for each)."""
    import inspect

    from minirnn.checkpoint import save
    from minirnn.data import Vocab
    from minirnn.models import MODELS
    vocab = Vocab(list("abcdefgh"))
    sizes = {"vocab_size": len(vocab), "src_vocab_size": len(vocab), "tgt_vocab_size": len(vocab)}
    others = [name for name in MODELS if name != "rnnlm"]
    assert len(others) >= 7
    for name in others:
        wanted = inspect.signature(MODELS[name]).parameters
        model = MODELS[name](**{k: v for k, v in sizes.items() if k in wanted})
        path = save(tmp_path / f"{name}.npz", model, vocab, {}, {}, 1, {})
        assert main(["generate", "--checkpoint", str(path)]) == 2, name
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert f"holds a {name!r} model, not a language model" in err, err


# ------------------------------------------------------ the command line, fuzzed
# hypothesis draws a bad value for one option of minirnn train or minirnn generate (or a
# bad combination); every draw must exit 2 with one line on stderr, no traceback, and
# nothing written (no run folder, the files of existing runs untouched).  In-process, so
# that hundreds of draws take seconds.
FUZZ_TINY = ["--preset", "d2l-1.0", "--num-train", "200", "--num-val", "40", "--batch", "50",
        "--steps", "8", "--hidden", "8", "--epochs", "1", "--sample-every", "0", "--no-progress"]
SIZES = ("--steps", "--hidden", "--embed-dim", "--num-train")    # (a huge --batch is one batch)


def parses(convert, text) -> bool:
    try:
        convert(text)
        return True
    except (ValueError, OverflowError):
        return False


texts = st.text(max_size=10)
not_an_int = texts.filter(lambda t: not parses(int, t))
not_a_number = texts.filter(lambda t: not parses(float, t))
nan_or_inf = st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
non_positive = st.integers(max_value=0).map(str)
negative = st.integers(max_value=-1).map(str)
huge = st.integers(min_value=10**18, max_value=10**30).map(str)     # no memory has this
positive_int = st.one_of(not_an_int, non_positive, st.floats(0.1, 9.9).map(str))
size = st.one_of(positive_int, huge)
non_negative_int = st.one_of(not_an_int, negative)
positive_number = st.one_of(not_a_number, nan_or_inf,
                            st.floats(max_value=0, allow_nan=False).map(str))


def not_one_of(*choices):
    return texts.filter(lambda t: t not in choices)


#: option -> strategy of bad values for it (minirnn train)
TRAIN_BAD = {
    "--preset": not_one_of("default", "d2l-0.17", "d2l-0.17-random", "d2l-0.17-concise", "d2l-1.0"),
    "--token": not_one_of("char", "word"),
    "--sampling": not_one_of("sequential", "random", "windowed"),
    "--nonlinearity": not_one_of("tanh", "relu"),
    "--init": not_one_of("normal", "uniform", "xavier"),
    "--optimizer": not_one_of("sgd", "adam"),
    "--bptt": not_one_of("truncated", "full", "randomized"),
    "--max-tokens": st.one_of(not_an_int.filter(lambda t: t.lower() != "all"), non_positive),
    "--num-val": non_negative_int, "--seed": non_negative_int, "--sample-every": non_negative_int,
    "--epochs": positive_int, "--num-preds": positive_int, "--batch": positive_int,
    "--lr": positive_number,
    "--clip": positive_number.filter(lambda t: t.lower() not in ("none", "off")),
    "--bptt-p": st.one_of(positive_number, st.floats(1.0, 1e300, exclude_min=True).map(str)),
    "--corpus": st.one_of(st.sampled_from(["", ".", "/dev/zero", "{empty}", "{digits}"]),
                          texts.map(lambda t: "no-such-folder/" + t)),
    "--prefix": st.sampled_from(["", " "]),                  # " ": no word (with --token word)
    "--out": st.sampled_from(["", "{file}", "{file}/x", "{run}", "{corpus}"]),
    **{option: size for option in SIZES},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny corpus, a finished run, and things that are not what options expect."""
    root = tmp_path_factory.mktemp("fuzz")
    corpus = root / "tiny.txt"
    corpus.write_text(TEXT)
    run = root / "run-with-a-checkpoint"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", "--corpus", str(corpus), *FUZZ_TINY, "--out", str(run)]) == 0
    (root / "file.txt").write_text("not a folder, not a checkpoint")
    (root / "empty").mkdir()
    (root / "digits.txt").write_text("1234 5678\n")          # no letter a-z: nothing left
    np.save(root / "array.npy", np.arange(3))
    return {"root": root, "corpus": corpus, "run": run, "file": root / "file.txt",
            "empty": root / "empty", "npy": root / "array.npy", "digits": root / "digits.txt"}


def resolve(value: str, world) -> str:
    """``{file}``, ``{run}``, ... in a drawn value: the world's paths."""
    for name, path in world.items():
        value = value.replace("{" + name + "}", str(path))
    return value


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def exits_2_with_one_line(world, argv):
    """Run ``minirnn argv`` in the world's folder: exit 2, one line, nothing written."""
    root = world["root"]
    before = snapshot(root)
    cwd = os.getcwd()
    err, out = io.StringIO(), io.StringIO()
    os.chdir(root)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = main(argv)
            except SystemExit as exit_:                      # argparse's errors
                code = exit_.code
    finally:
        os.chdir(cwd)
    message = err.getvalue()
    assert code == 2, (argv, code, message, out.getvalue()[-500:])
    assert len(message.strip().splitlines()) == 1 and "Traceback" not in message, (argv, message)
    assert message.startswith(f"minirnn {argv[0]}: error: "), (argv, message)
    assert snapshot(root) == before, argv                     # no run folder, nothing overwritten


@settings(max_examples=300)
@given(data=st.data())
def test_a_bad_value_for_any_train_option(world, data):
    option = data.draw(st.sampled_from(sorted(TRAIN_BAD)), label="option")
    value = data.draw(TRAIN_BAD[option], label="value")
    extra = ["--token", "word"] if option == "--prefix" and value == " " else []
    argv = ["train", "--corpus", str(world["corpus"]), *FUZZ_TINY, "--out",
            str(world["root"] / "new"), *extra, option, resolve(value, world)]
    exits_2_with_one_line(world, argv)


#: bad combinations of good values, and bad folders (minirnn train)
TRAIN_COMBOS = [
    ["--tie-weights"],                                     # without --embed-dim = --hidden
    ["--embed-dim", "4", "--tie-weights"],
    ["--bptt", "randomized"],                              # without --bptt-p
    ["--bptt-p", "0.5"],                                   # without --bptt randomized
    ["--sampling", "sequential", "--num-val", "3"],
    ["--sampling", "random", "--num-train", "3"],
    ["--steps", "5000"], ["--num-train", "100000"], ["--num-val", "100000"],
    ["--max-tokens", "20"],
]


@settings(max_examples=len(TRAIN_COMBOS) * 2)
@given(combo=st.sampled_from(TRAIN_COMBOS))
def test_a_bad_combination_for_train(world, combo):
    combo = [resolve(c, world) for c in combo]
    exits_2_with_one_line(world, ["train", "--corpus", str(world["corpus"]), *FUZZ_TINY, "--out",
                                  str(world["root"] / "new"), *combo])


@settings(max_examples=60)
@given(data=st.data())
def test_a_bad_resume(world, data):
    bad = data.draw(st.one_of(
        st.sampled_from(["{file}", "{empty}", "{npy}", "{corpus}", "nowhere.npz"]),
        texts.filter(lambda t: "run-with" not in t and "{" not in t)))
    changed = data.draw(st.sampled_from([[], ["--hidden", "9"], ["--preset", "default"],
                                         ["--epochs", "0"]]))
    resume = resolve(bad, world) if not changed else str(world["run"])
    exits_2_with_one_line(world, ["train", "--resume", resume, "--no-progress", *changed])


#: option -> strategy of bad values for it (minirnn generate)
GENERATE_BAD = {
    "--num-preds": non_negative_int, "--seed": non_negative_int,
    "--temperature": positive_number, "--alpha": positive_number,
    "--prefix": st.just(""),
    "--checkpoint": st.one_of(st.sampled_from(["{file}", "{empty}", "{npy}", "{corpus}"]),
                              texts.filter(lambda t: "run-with" not in t and "{" not in t)),
}


@settings(max_examples=150)
@given(data=st.data())
def test_a_bad_value_for_any_generate_option(world, data):
    option = data.draw(st.sampled_from(sorted(GENERATE_BAD)), label="option")
    value = data.draw(GENERATE_BAD[option], label="value")
    exits_2_with_one_line(world, ["generate", "--checkpoint", str(world["run"]), option,
                                  resolve(value, world)])


# ------------------------------------------------- pipes, Ctrl-C, corpora, small things
FAULT_TINY = [*TINY, "--sample-every", "0", "--no-progress"]
ROOT = Path(__file__).resolve().parents[1]


def train_into(corpus, out, *args):
    return main(["train", "--corpus", str(corpus), *FAULT_TINY, "--out", str(out), *args])




@pytest.fixture(scope="module")
def ckpt(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    assert train_into(corpus, out, "--epochs", "1") == 0
    return out


def minirnn_proc(*args, cwd):
    return subprocess.Popen([sys.executable, "-m", "minirnn", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))


@pytest.mark.parametrize("command, read", [
    (["gradcheck"], lambda out: out.readline()),                          # minirnn gradcheck | head -1
    (["generate", "--checkpoint", "{ckpt}", "--num-preds", "100000000"],  # generate | head -c 10
     lambda out: out.read(10))])
def test_a_pipe_closed_early_ends_quietly(command, read, ckpt, tmp_path):
    proc = minirnn_proc(*[a.format(ckpt=ckpt) for a in command], cwd=tmp_path)
    assert read(proc.stdout)
    proc.stdout.close()                                      # what head does after its lines
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == ""        # 128 + SIGPIPE, no traceback


def test_train_into_a_closed_pipe_stops_quietly_and_says_why(corpus, tmp_path):
    out = tmp_path / "r"                                     # minirnn train ... | head -1
    proc = minirnn_proc("train", "--corpus", str(corpus), *FAULT_TINY[:-3], "--sample-every", "1",
                        "--no-progress", "--epochs", "3", "--out", str(out), cwd=tmp_path)
    assert proc.stdout.readline().startswith(b"minirnn train: ")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == ""
    assert "its output was closed (a broken pipe)" in (out / "error.txt").read_text()


def test_generate_streams_and_ctrl_c_keeps_what_was_printed(ckpt, monkeypatch, capsys):
    """--num-preds 10^9 is fine: the text comes as it is generated, and Ctrl-C stops it."""
    from minirnn.models import RNNLM
    forward, calls = RNNLM.forward, {"n": 0}

    def forward_then_ctrl_c(self, X, state=None):
        calls["n"] += 1
        if calls["n"] == 501:                                # the 500th token was just printed
            raise KeyboardInterrupt
        return forward(self, X, state)

    monkeypatch.setattr(RNNLM, "forward", forward_then_ctrl_c)
    assert main(["generate", "--checkpoint", str(ckpt), "--prefix", "the ",
                 "--num-preds", "1000000000"]) == 130
    out, err = capsys.readouterr()
    assert out.startswith("the ") and out.endswith("\n") and len(out) == len("the ") + 500 + 1
    assert one_line(err) == "minirnn generate: interrupted"


def test_generate_memory_does_not_grow_with_num_preds(ckpt, monkeypatch):
    import tracemalloc

    class Sink:                                              # stdout that keeps nothing
        def write(self, text):
            return len(text)

        def flush(self):
            pass

    def peak(n):
        tracemalloc.start()
        try:
            assert main(["generate", "--checkpoint", str(ckpt), "--num-preds", str(n)]) == 0
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    monkeypatch.setattr(sys, "stdout", Sink())
    peak(10)                                                 # imports, caches: not counted
    small, large = peak(500), peak(5000)
    assert large < small + 20_000, (small, large)            # kept whole: 80 kB more


def test_ctrl_c_before_any_command_runs_is_quiet(monkeypatch, capsys):
    import minirnn.cli

    def importing_numpy():
        raise KeyboardInterrupt

    monkeypatch.setattr(minirnn.cli, "build_parser", importing_numpy)
    assert main(["gradcheck"]) == 130
    assert capsys.readouterr() == ("", "")


def test_ctrl_c_while_numpy_is_imported_prints_no_traceback(tmp_path):
    """``python -m minirnn gradcheck`` with Ctrl-C arriving while NumPy is being imported
    (an audit hook sends SIGINT at that moment: no timing to guess)."""
    code = ("import os, runpy, signal, sys\n"
            "def hook(event, args):\n"
            "    if event == 'import' and args[0] == 'numpy':\n"
            "        os.kill(os.getpid(), signal.SIGINT)\n"
            "sys.addaudithook(hook)\n"
            "sys.argv = ['minirnn', 'gradcheck']\n"
            "runpy.run_module('minirnn', run_name='__main__', alter_sys=True)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert (proc.returncode, proc.stdout, proc.stderr) == (130, "", "")


@pytest.mark.parametrize("make, message", [
    (lambda tmp: "/dev/zero", "is not a regular file but a character device"),
    (lambda tmp: (os.mkfifo(tmp / "fifo"), tmp / "fifo")[1], "is not a regular file but a FIFO"),
])
def test_a_corpus_that_is_not_a_regular_file_is_refused(make, message, tmp_path, capsys):
    code = main(["train", "--corpus", str(make(tmp_path)), *FAULT_TINY, "--out", str(tmp_path / "r")])
    assert code == 2 and message in one_line(capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


def test_a_corpus_beyond_the_size_limit_is_refused(corpus, tmp_path, monkeypatch, capsys):
    import minirnn.data.corpus
    monkeypatch.setattr(minirnn.data.corpus, "MAX_CORPUS_BYTES", 1000)
    assert train_into(corpus, tmp_path / "r") == 2
    assert "is larger than the limit of 1,000 bytes for a corpus" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


def offline_env(tmp_path):
    """No corpus anywhere, and every download refused at once."""
    (tmp_path / "empty").mkdir()
    return dict(os.environ, PYTHONPATH=str(ROOT), MINIRNN_DATA=str(tmp_path / "empty"),
                http_proxy="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9", MPLBACKEND="Agg")


def test_no_corpus_and_no_network_is_one_line_naming_the_places(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run([sys.executable, "-m", "minirnn", "train", "--no-progress"], cwd=work,
                          env=offline_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert f"timemachine.txt is not in $MINIRNN_DATA ({tmp_path / 'empty'}) or ../data " \
           f"({tmp_path / 'data'}) and downloading it failed" in line
    assert "set MINIRNN_DATA to the folder that holds it" in line


def test_a_count_of_one_is_singular(corpus, tmp_path, capsys):
    import warnings
    from minirnn.data import SeqDataLoader, Vocab
    from minirnn.generate import prefix_to_ids
    from minirnn.train import History
    assert train_into(corpus, tmp_path / "r", "--epochs", "1") == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.endswith(f", 1 epoch -> {tmp_path / 'r'}"), header
    assert repr(History([{"epoch": 1, "train_ppl": 5.0}])).startswith("History(1 epoch, ")
    with pytest.raises(ValueError, match="corpus has 1 token, too short"):
        SeqDataLoader(np.array([1]), 1, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prefix_to_ids("aZ", Vocab(list("ab")))
    assert "1 char token not in the vocabulary" in str(caught[0].message)
