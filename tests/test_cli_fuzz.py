"""The command line, fuzzed: hypothesis draws a bad value for one option of ``minirnn
train`` or ``minirnn generate`` (or a bad combination); every draw must exit 2 with one
line on stderr, no traceback, and nothing written (no run folder, the files of existing
runs untouched).  In-process (``minirnn.cli.main``) so that hundreds of draws take seconds.
"""
import contextlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirnn.cli import main

TEXT = ("the time traveller for so it will be convenient to speak of him was expounding "
        "a recondite matter to us his grey eyes shone and twinkled ") * 8
TINY = ["--preset", "d2l-1.0", "--num-train", "200", "--num-val", "40", "--batch", "50",
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
        assert main(["train", "--corpus", str(corpus), *TINY, "--out", str(run)]) == 0
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
    argv = ["train", "--corpus", str(world["corpus"]), *TINY, "--out",
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
    exits_2_with_one_line(world, ["train", "--corpus", str(world["corpus"]), *TINY, "--out",
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
