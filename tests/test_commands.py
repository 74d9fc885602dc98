"""The tests' command runner: a command past its timeout fails the test at once, children and all."""
import os
import sys
import time

import pytest

from tests.commands import _kill_group, run_command, run_python

# The command starts a child that inherits its output pipes and outlives it, as a generation pool's workers do.
_PARENT_AND_CHILD = ("import subprocess, sys, time; child = subprocess.Popen([sys.executable, '-c', "
                     "'import time; time.sleep(120)']); open(sys.argv[1], 'w').write(str(child.pid)); time.sleep(120)")


def _alive(pid_file) -> bool:
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child whose parent died is reaped by init; until then it is a zombie, which is not alive either.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:  # reaped in between
        return False


def test_a_command_past_its_timeout_is_killed_with_its_children(tmp_path):
    marker = tmp_path / "child.pid"
    start = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match="ran past 2 s and was killed"):
        run_python(_PARENT_AND_CHILD, str(marker), timeout=2)
    assert time.monotonic() - start < 60
    assert not _alive(marker), "the child outlived the timeout"


def test_a_descendant_that_left_the_group_with_the_pipes_does_not_hang_the_kill(tmp_path):
    # It starts its own session, so the group's SIGKILL misses it, and it holds the command's output pipes open.
    import signal
    import subprocess
    marker = tmp_path / "escaped.pid"
    code = ("import subprocess, sys, time; child = subprocess.Popen([sys.executable, '-c', "
            "'import time; time.sleep(120)'], start_new_session=True); "
            "open(sys.argv[1], 'w').write(str(child.pid)); print('started', flush=True); time.sleep(120)")
    process = subprocess.Popen([sys.executable, "-c", code, str(marker)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    started = time.monotonic()
    try:
        while not marker.exists() or not marker.read_text():
            assert process.poll() is None and time.monotonic() - started < 60, "the command never started its child"
            time.sleep(0.05)
        begun = time.monotonic()
        stdout, _ = _kill_group(process, grace=2)
        assert time.monotonic() - begun < 10
        assert process.returncode == -signal.SIGKILL
        assert "started" in stdout
    finally:
        if marker.exists() and marker.read_text():
            os.kill(int(marker.read_text()), signal.SIGKILL)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_output_and_exit_status_come_back():
    result = run_python("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)")
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")


def test_a_failed_comparison_of_large_values_is_reported_at_once(tmp_path):
    # pytest's own report of this failure is a difflib diff of two megabyte-long values, which runs for hours.
    test_file = tmp_path / "test_large.py"
    test_file.write_text("def test_large():\n"
                         "    assert {'ckpt.data': bytes(3_000_000)} == {'ckpt.data': bytes(2_999_999) + b'1'}\n")
    start = time.monotonic()
    result = run_command([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                          "--rootdir", str(tmp_path), str(test_file)], timeout=120)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "1 values differ, at keys ['ckpt.data']" in result.stdout, result.stdout[-2000:]
    assert time.monotonic() - start < 100
