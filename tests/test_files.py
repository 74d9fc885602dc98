"""tfsynth.utils.files.write_atomically: a file is replaced whole or not at all."""
import os
import stat

import pytest

from tfsynth.utils.files import write_atomically


def test_text_and_bytes_are_written_whole_into_a_new_folder(tmp_path):
    path = tmp_path / "new" / "folder" / "state.json"
    write_atomically(path, "{\"a\": 1}\n")
    assert path.read_bytes() == b"{\"a\": 1}\n"
    write_atomically(str(path), b"\x00\xff")
    assert path.read_bytes() == b"\x00\xff"
    assert sorted(os.listdir(path.parent)) == ["state.json"], "a temporary file was left behind"
    # The usual permissions of a new file (umask), not mkstemp's 0600.
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_a_failed_write_keeps_the_earlier_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "report.md"
    write_atomically(path, "earlier\n")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(path, "text that cannot be encoded \ud800")  # a lone surrogate: UTF-8 refuses it
    assert path.read_text() == "earlier\n"
    assert os.listdir(tmp_path) == ["report.md"]
