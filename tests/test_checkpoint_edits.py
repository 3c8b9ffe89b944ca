"""Checkpoints edited entry by entry, as a careless or hostile user would: every entry of
``meta.json`` deleted or given a value of the wrong kind or range, every array dropped,
resized, retyped or made NaN.  ``minirnn train --resume`` and ``minirnn generate`` must
either work (an edit that changes nothing they use) or refuse with one line and exit 2,
never a traceback, and a refusal writes nothing.  In-process, so that hundreds of
edits take seconds; ``python tests/test_checkpoint_edits.py`` prints the counts.
"""
import contextlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import minirnn.runfolder
from minirnn.checkpoint import load, save, state_to_arrays
from minirnn.cli import main
from minirnn.models import build_model

TEXT = ("the time traveller for so it will be convenient to speak of him was expounding "
        "a recondite matter to us his grey eyes shone and twinkled ") * 8
TINY = ["--preset", "d2l-1.0", "--sampling", "sequential", "--batch", "4", "--steps", "8",
        "--hidden", "8", "--cell", "lstm", "--sample-every", "0", "--no-progress"]
VALUES = {"deleted": ..., "null": None, "a string": "x", "-1": -1, "1.5": 1.5, "a list": [],
          "huge": 99999, "true": True}


def mid_epoch_checkpoint(run: Path) -> Path:
    """The run's checkpoint as Ctrl-C two steps into epoch 2 leaves it (a position and the
    carried LSTM state (h, c)), written with ``minirnn.checkpoint.save``."""
    ck = load(run)
    model = build_model(ck.model["name"], ck.model["config"])
    for k, p in model.params.items():
        p[...] = ck.params[k]
    h = np.zeros((1, 4, 8), np.float32)
    position = {"step": 2, "loss_sum": 2.5 * 64, "tokens": 64, "train_s": 0.01, "elapsed_s": 0.01}
    return save(run / "checkpoint.npz", model, ck.vocab, ck.optimizer_state, ck.config, ck.epoch,
                ck.rng_state, history=ck.history, extra={"samples": [], "position": position},
                extra_arrays=state_to_arrays((h, h + 0.5)))


def read(path: Path):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(arrays.pop("meta.json").tobytes()), arrays


def write(path: Path, meta: dict, arrays: dict) -> None:
    with zipfile.ZipFile(path, "w") as zf:                     # as np.savez: stored, .npy
        for name, a in {**arrays, "meta.json": np.frombuffer(json.dumps(meta).encode(),
                                                             np.uint8)}.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(a), allow_pickle=False)
            zf.writestr(name + ".npy", buf.getvalue())


def edits(meta: dict, arrays: dict):
    """(label, meta, arrays) for every edit."""
    paths = [(k,) for k in meta]
    for top in ("model", "config", "optimizer", "rng_state", "extra"):
        paths += [(top, k) for k in meta[top]]
    paths += [("model", "config", k) for k in meta["model"]["config"]]
    paths += [("history", 0, k) for k in meta["history"][0]] + [("history", 0)]
    paths += [("extra", "position", k) for k in meta["extra"]["position"]]
    for path in paths:
        for label, value in VALUES.items():
            m = json.loads(json.dumps(meta))
            parent = m
            for key in path[:-1]:
                parent = parent[key]
            if value is ...:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
            yield f"{'.'.join(map(str, path))} {label}", m, arrays
    for name, a in arrays.items():
        resized = np.zeros(tuple(n + 1 for n in a.shape), a.dtype)
        nan = a.astype(np.float32).copy()
        nan.flat[0] = np.nan
        for label, new in (("dropped", None), ("resized", resized), ("int32", a.astype(np.int32)),
                           ("NaN", nan), ("float64", a.astype(np.float64))):
            b = {k: v for k, v in arrays.items() if k != name}
            if new is not None:
                b[name] = new
            yield f"{name} {label}", meta, b


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("edits")
    (root / "tiny.txt").write_text(TEXT)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", "--corpus", str(root / "tiny.txt"), *TINY, "--epochs", "1",
                     "--out", str(root / "run")]) == 0
    return root, mid_epoch_checkpoint(root / "run")


def run(argv):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return code, err.getvalue()


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_the_unedited_mid_epoch_checkpoint_resumes(base, tmp_path):
    root, ckpt = base
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    for name in ("checkpoint.npz", "config.json"):
        (run_dir / name).write_bytes((ckpt.parent / name).read_bytes())
    assert run(["train", "--resume", str(run_dir), "--epochs", "2", "--no-progress"])[0] == 0
    assert load(run_dir).epoch == 2


def try_every_edit(base, tmp_path):
    """Run both commands on every edit; return (tried, held, left) with the failures."""
    root, ckpt = base
    meta, arrays = read(ckpt)
    tried = held = used = 0
    left = []
    for i, (label, m, a) in enumerate(edits(meta, arrays)):
        folder = tmp_path / f"e{i}"
        folder.mkdir()
        write(folder / "checkpoint.npz", m, a)
        (folder / "config.json").write_bytes((ckpt.parent / "config.json").read_bytes())
        commands = [["train", "--resume", str(folder), "--epochs", "2", "--no-progress"]]
        if not label.startswith(("optimizer", "rng_state", "history", "extra")):
            commands.append(["generate", "--checkpoint", str(folder), "--num-preds", "5"])
        for argv in commands:                                  # (generate reads no more)
            before = snapshot(folder)
            tried += 1
            try:
                code, err = run(argv)
            except Exception as exc:                           # noqa: BLE001  (a traceback)
                left.append(f"{label}: {argv[0]}: {type(exc).__name__}: {exc}")
                continue
            lines = err.strip().splitlines()
            if code == 0 or (code == 2 and len(lines) == 1 and "Traceback" not in err
                             and snapshot(folder) == before):
                held += 1
                used += code == 0
            else:
                left.append(f"{label}: {argv[0]}: exit {code}: {err[-300:]}")
    return tried, held, used, left


def test_every_edit_is_used_or_refused_in_one_line(base, tmp_path, monkeypatch):
    monkeypatch.setattr(minirnn.runfolder, "plot_history",    # (the figure and the samples
                        lambda history, path, title=None: Path(path).write_bytes(b"png"))
    monkeypatch.setattr(minirnn.runfolder, "write_samples", lambda path, trainer: [])
    tried, held, used, left = try_every_edit(base, tmp_path)  # cost time, tell nothing)
    print(f"edited checkpoints: {tried} tried, {held} held ({used} used as edited, "
          f"{held - used} refused in one line), {len(left)} left")
    assert tried > 500 and not left, f"{len(left)} of {tried} left:\n" + "\n".join(left[:40])
