"""The settings schema (``minirnn.settings``): each setting's check, the parsers built
from it, the ``--out`` check, and every flag of every example whose parser the schema
builds (found on the parser itself, so an example built on the schema is covered as
soon as it is) given bad values, each refused in one line naming the flag, exit 2,
nothing written.  In-process: hundreds of values in seconds.
"""
import argparse
import contextlib
import io
import os
import runpy
import sys
from pathlib import Path

import pytest

import minirnn.settings
from minirnn.settings import (RUN_KEYS, SETTINGS, Setting, SettingError, SizeError,
                              check_config, check_memory, check_out_folder, defaults)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


# ------------------------------------------------------------------- the schema
def test_every_run_setting_has_one_definition_and_a_default_it_accepts():
    for key in RUN_KEYS:
        s = SETTINGS[key]
        assert s.key == key and s.check(s.default) == s.default, key
    flags = [s.flag for s in SETTINGS.values() if s.flag]
    assert len(flags) == len(set(flags))                       # one flag per setting
    for key, flag in [("num_hiddens", "--hidden"), ("embed_dim", "--embed-dim"),
                      ("num_steps", "--steps"), ("batch_size", "--batch"), ("num_epochs",
                      "--epochs"), ("lr", "--lr"), ("clip", "--clip"), ("seed", "--seed"),
                      ("out", "--out"), ("no_progress", "--no-progress")]:
        assert SETTINGS[key].flag == flag                      # one name per concept
    check_config(defaults())


@pytest.mark.parametrize("key, value, error, message", [
    ("num_hiddens", 0, SettingError, "num_hiddens must be an integer in [1, 65536], got 0"),
    ("num_hiddens", 10 ** 23, SettingError, "got 100000000000000000000000"),
    ("num_hiddens", 3.0, TypeError, "num_hiddens must be an integer"),
    ("num_hiddens", True, TypeError, "num_hiddens must be an integer"),
    ("lr", float("inf"), SettingError, "lr must be a finite number > 0, got inf"),
    ("lr", 10 ** 400, SettingError, "lr must be a finite number > 0"),
    ("clip", -1.0, SettingError, "clip must be a finite number > 0 or 'none', got -1.0"),
    ("cell", "transformer", SettingError, "cell must be one of rnn, gru, lstm"),
    ("bidirectional", "no", TypeError, "bidirectional must be true or false"),
    ("dropout", 1.0, SettingError, "dropout must be a finite number in [0, 1)"),
])
def test_a_setting_names_the_argument_in_python(key, value, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        SETTINGS[key].check(value)


def test_the_command_line_value_is_named_by_its_flag():
    assert SETTINGS["clip"].parse("none") is None and SETTINGS["clip"].parse("2") == 2.0
    with pytest.raises(SettingError, match=r"^--hidden must be an integer in \[1, 65536\], "
                                           r"got '1e23'$"):
        SETTINGS["num_hiddens"].parse("1e23")


def test_a_config_is_checked_entry_by_entry():
    with pytest.raises(SettingError, match="run config must be a JSON object of settings, got list"):
        check_config([], "run config")
    with pytest.raises(SettingError, match="lacks the entry cell"):
        check_config({k: v for k, v in defaults().items() if k != "cell"})
    with pytest.raises(SettingError, match=r"config entry 'num_epochs' must be an integer"):
        check_config({**defaults(), "num_epochs": 2.7})


def test_check_memory_refuses_before_allocating_naming_the_flags():
    with pytest.raises(SizeError, match=r"the model would take 2.0 TB, more than this "
                                        r"machine's 1.0 GB of memory; lower --hidden"):
        check_memory(2 * 10 ** 12, "the model", "--hidden", limit=10 ** 9)
    check_memory(10 ** 6, "the model", "--hidden", limit=10 ** 9)


def test_out_is_checked_without_creating_anything(tmp_path):
    (tmp_path / "file").write_text("x")
    assert check_out_folder(str(tmp_path / "new" / "deeper")) == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()
    for bad, message in [("", "--out must name a folder, got ''"),
                         (tmp_path / "file", "is a file, not a folder"),
                         (tmp_path / "file" / "x", "cannot be created: .* is a file")]:
        with pytest.raises(SettingError, match=message):
            check_out_folder(str(bad))


# ------------------------------------------------------ every example's flags, fuzzed
class _Parsed(Exception):
    """Raised in place of parsing, carrying the parser an example built."""


def example_main(script: str):
    """The example's ``main(argv)``, or None if it has none (or runs on import)."""
    try:
        return runpy.run_path(str(EXAMPLES / script), run_name="example").get("main")
    except SystemExit:                                         # parsed sys.argv on import
        return None


def parser_of(script: str):
    """The parser the example's ``main`` builds (caught as it parses), or None."""
    main = example_main(script)
    if main is None:
        return None
    original = argparse.ArgumentParser.parse_args

    def capture(self, *args, **kwargs):                        # any parser: never run the
        raise _Parsed(self)                                    # example itself
    argparse.ArgumentParser.parse_args = capture
    try:
        main([])
    except _Parsed as parsed:
        parser = parsed.args[0]
        return parser if isinstance(parser, minirnn.settings.Parser) else None
    except SystemExit:
        return None
    finally:
        argparse.ArgumentParser.parse_args = original
    return None


def bad_values(setting: Setting, world: Path) -> list:
    if isinstance(setting.type, tuple):
        return ["no-such-choice", ""]
    if setting.type is Path:
        return ["", str(world / "file.txt"), str(world / "file.txt" / "below")]
    if setting.type not in (int, float):
        return []
    values = ["abc", "", "nan", "inf", "-inf", "1e400"]
    if setting.type is int:
        values += ["1.5", "1e21", "10**18"]
    if setting.low is not None:
        values.append(str(setting.low if setting.open_low else setting.low - 1))
    if setting.high is not None:
        values.append(str(setting.high if setting.open_high else setting.high * 10 + 1))
    return [v for v in values if not (setting.none and v == setting.none)]


SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_flag_of_an_example_refuses_bad_values_in_one_line(script, tmp_path,
                                                                 monkeypatch):
    parser = parser_of(script)
    if parser is None:
        pytest.skip(f"{script}: its parser is not built by minirnn.settings yet")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("not a folder")
    main = example_main(script)
    tried = []
    for action in parser._actions:
        setting = getattr(action.type, "setting", None)
        for value in bad_values(setting, tmp_path) if setting else []:
            tried.append((action.option_strings[0], value))
    tried.append(("--no-such-flag", "1"))
    before = sorted(os.listdir(tmp_path))
    for flag, value in tried:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            with pytest.raises(SystemExit) as exit_:
                main([flag, value])
        lines = err.getvalue().strip().splitlines()
        assert exit_.value.code == 2, (script, flag, value)
        assert len(lines) == 1 and ": error: " in lines[0] and flag in lines[0], (flag, value, lines)
        assert sorted(os.listdir(tmp_path)) == before, (flag, value)   # nothing written
    print(f"{script}: {len(tried)} bad values tried, all held")


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_example_has_help(script, capsys):
    main = example_main(script)
    if main is None:
        pytest.skip(f"{script}: no main(argv) to call with --help")
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0 and "usage:" in capsys.readouterr().out


# ------------------------------------------------------------- run_example's one line
def test_an_example_without_its_corpus_is_one_line(tmp_path):
    """No corpus anywhere and every download refused at once: one line, exit 1."""
    import subprocess
    import sys
    (tmp_path / "empty").mkdir()
    env = dict(os.environ, PYTHONPATH=str(EXAMPLES.parent), MINIRNN_DATA=str(tmp_path / "empty"),
               http_proxy="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9", MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(EXAMPLES / "rnn_concise.py")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("rnn_concise.py: error: timemachine.txt is not in $MINIRNN_DATA")
    assert "set MINIRNN_DATA" in lines[0]


def test_an_example_on_a_full_disk_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch,
                                                                       capsys):
    """Examples wrote their files in place: a full disk left a 0-byte file where the last
    run's results were, and a traceback.  Now: the old file, no temporary, one line, exit 1."""
    import errno

    import minirnn._files
    if not os.environ.get("MINIRNN_DATA"):
        pytest.skip("MINIRNN_DATA not set: the example needs The Time Machine")
    out = tmp_path / "figs"
    out.mkdir()
    (out / "text_preprocessing.png").write_bytes(b"the last run's figure")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(minirnn._files.os, "fsync", full)
    main = example_main("text_preprocessing.py")
    assert minirnn.settings.run_example(main, ["--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(f"cannot write {out / 'text_preprocessing.png'}: "
                                             f"No space left on device"), err
    assert os.listdir(out) == ["text_preprocessing.png"]
    assert (out / "text_preprocessing.png").read_bytes() == b"the last run's figure"


@pytest.mark.parametrize("raised, code, line", [
    (KeyboardInterrupt(), 130, "interrupted"),                 # (sequence.py printed 34 lines)
    (BrokenPipeError(32, "Broken pipe"), 141, None),           # '| head': quietly
    (SizeError("the model would take 2.0 TB; lower --hidden"), 2, "error: the model would take"),
    (MemoryError(), 1, "error: ran out of memory (no details); lower the sizes"),
    (FloatingPointError("loss became nan ... or clip the gradients (clip=1.0)."), 1,
     "error: loss became nan ... or clip the gradients (--clip 1.0)."),   # in the flags' words
])
def test_run_example_ends_an_example_in_one_line_or_quietly(raised, code, line, capsys):
    def main(argv=None):
        raise raised
    assert minirnn.settings.run_example(main, []) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [] if line is None else (len(err) == 1 and line in err[0]), err


def test_a_diverging_example_names_the_flag_the_user_typed(tmp_path, capsys):
    """A real run that diverges (a huge --lr, no clipping): one line naming --clip, not the
    Python argument clip=, exit 1, nothing saved."""
    if not os.environ.get("MINIRNN_DATA"):
        pytest.skip("MINIRNN_DATA not set: the example needs The Time Machine")
    main = example_main("segment_words.py")
    argv = ["--epochs", "1", "--hidden", "8", "--embed-dim", "4", "--max-chars", "12000",
            "--lr", "1e9", "--clip", "none", "--no-progress", "--out", str(tmp_path / "out")]
    assert minirnn.settings.run_example(main, argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ": error: loss became" in err[0], err          # prog: sys.argv[0]
    assert err[0].endswith("clip the gradients (--clip none).") and "clip=" not in err[0]
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_as_flags_puts_a_python_message_in_the_command_lines_words():
    """What the CLI prints: the flags the user typed, not the Python arguments."""
    from minirnn.settings import as_flags
    assert as_flags("Lower the learning rate or clip the gradients (clip=None).") == \
        "Lower the learning rate or clip the gradients (--clip none)."
    assert as_flags("num_epochs=1 is fewer than 2; reset_after=True, bidirectional=False") == \
        "--epochs 1 is fewer than 2; --reset-after, no --bidirectional"
    assert as_flags("name_or_path='x.txt' is neither a known corpus") == \
        "--corpus 'x.txt' is neither a known corpus"
    assert as_flags("vocab_size=28 and my_lr=3") == "vocab_size=28 and my_lr=3"   # untouched


def test_every_preset_is_a_config_the_schema_accepts():
    from minirnn.presets import DEFAULT_CONFIG, PRESETS, preset_config
    assert DEFAULT_CONFIG == defaults()
    for name in PRESETS:
        assert set(PRESETS[name]) <= set(RUN_KEYS), name
        check_config(preset_config(name), f"preset {name}")
    with pytest.raises(SettingError, match=r"num_hiddens must be an integer in \[1, 65536\], got 0"):
        preset_config("default", num_hiddens=0)


def test_run_script_exits_with_the_code_and_runs_the_defaults_in_a_notebook(monkeypatch):
    """An example's ``__main__``: as a script ``sys.exit(run_example(main))``; in a notebook
    kernel (whose argv is not the example's) ``main([])``, and no SystemExit."""
    calls = []

    def main(argv=None):
        calls.append(argv)
        raise KeyboardInterrupt
    with pytest.raises(SystemExit) as exit_:
        minirnn.settings.run_script(main)
    assert exit_.value.code == minirnn.settings.EXIT_INTERRUPTED and calls == [None]
    monkeypatch.setitem(sys.modules, "ipykernel", object())
    calls.clear()
    with pytest.raises(KeyboardInterrupt):                 # in a kernel: the notebook shows it
        minirnn.settings.run_script(main)
    assert calls == [[]]
