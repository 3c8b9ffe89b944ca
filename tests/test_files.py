"""Writing files all or nothing (``minirnn._files``): a failed write names the file asked
for, never the temporary, and leaves the old file and no temporary behind."""
import errno

import pytest
from helpers import full_disk, leftovers

import minirnn._files






def test_a_failed_write_names_the_file_asked_for_never_the_temporary(tmp_path, monkeypatch):
    from minirnn._files import WriteError, atomic_write_text
    (tmp_path / "a.json").write_text("old")
    with pytest.raises(WriteError, match=f"^cannot write {tmp_path}: it is a folder"):
        atomic_write_text(tmp_path, "x")
    monkeypatch.setattr(minirnn._files.os, "fsync", lambda fd: full_disk(after=0)())
    with pytest.raises(WriteError) as err:
        atomic_write_text(tmp_path / "a.json", "new")
    assert str(err.value) == f"cannot write {tmp_path / 'a.json'}: No space left on device"
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(tmp_path / "a.json")
    assert (tmp_path / "a.json").read_text() == "old" and leftovers(tmp_path) == []
