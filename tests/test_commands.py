"""The tests' command runner: a command past its timeout fails the test at once, children and all."""
import os
import time

import pytest

from tests.commands import run_python

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


def test_output_and_exit_status_come_back():
    result = run_python("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)")
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
