"""The `seq2seq` command's process (process.py): freed memory is reused, and the fast exit keeps
what a normal exit does (exit handlers, flushed output, the exit code)."""

from __future__ import annotations

import ctypes
import platform
import subprocess
import sys

import pytest

from seq2seq.cli.main import main
from seq2seq.runtime import process


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# where a 65 MiB tensor's memory comes from (mmapped fresh from the kernel, or the heap; the size of
# a Transformer's (N, V) logits in bf16, above the highest mmap threshold glibc takes) and where it
# goes when freed (back to the kernel, or kept in the heap for the next allocation), as glibc's
# mallinfo2 counts them, in MiB
WHERE_MEMORY_GOES = """
import ctypes, sys, torch
from seq2seq.runtime import process
class MallInfo2(ctypes.Structure):
    names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    _fields_ = [(name, ctypes.c_size_t) for name in names.split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
changed = process.keep_freed_memory() if sys.argv[1] == "keep" else False
before = libc.mallinfo2().hblkhd
x = torch.ones(65 << 18)
mapped = libc.mallinfo2().hblkhd - before
del x
print(changed, mapped >> 20, libc.mallinfo2().fordblks >> 20)
"""


@pytest.mark.system
@pytest.mark.skipif(not GLIBC or not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="glibc >= 2.33")
def test_freed_memory_stays_in_the_heap_for_the_next_tensors():
    def run(mode: str) -> list[str]:
        p = subprocess.run(
            [sys.executable, "-c", WHERE_MEMORY_GOES, mode], capture_output=True, text=True, timeout=120
        )
        assert p.returncode == 0, p.stderr
        return p.stdout.split()

    changed, mapped, kept = run("keep")
    assert changed == "True" and int(mapped) == 0 and int(kept) >= 65
    changed, mapped, kept = run("default")  # fresh pages, given back when freed
    assert changed == "False" and int(mapped) == 65 and int(kept) < 65


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_malloc_settings_of_the_user_win(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    assert process.keep_freed_memory() is False


def test_leaving_runs_exit_handlers_flushes_output_and_keeps_the_code(tmp_path):
    marker = tmp_path / "handler-ran"
    p = _python(
        "import atexit, sys\n"
        "from seq2seq.runtime import process\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write('yes'))\n"
        "sys.stdout.write('x' * 100000)\n"  # no newline: still in the buffer
        "process.leave(3)\n"
    )
    assert p.returncode == 3
    assert p.stdout == "x" * 100000
    assert marker.read_text() == "yes"

    p = _python("from seq2seq.runtime import process\nprocess.leave('the reason')")
    assert (p.returncode, p.stderr) == (1, "the reason\n")
    p = _python("from seq2seq.runtime import process\nprocess.leave(None)")
    assert p.returncode == 0


def test_leaving_while_threads_run_waits_for_them(tmp_path):
    p = _python(
        "import threading, time\n"
        "from seq2seq.runtime import process\n"
        "threading.Thread(target=lambda: (time.sleep(0.5), print('thread done', flush=True))).start()\n"
        "process.leave(0)\n"
    )
    assert (p.returncode, p.stdout) == (0, "thread done\n")


@pytest.mark.system
def test_the_command_prints_what_main_prints_and_exits_as_it_does(model_file, capsys, restore_globals):
    args = ["translate", str(model_file), "ba ca da", "fe ge"]
    with pytest.raises(SystemExit) as exit:
        main(args)
    in_process = capsys.readouterr().out
    p = subprocess.run([sys.executable, "-m", "seq2seq", *args], capture_output=True, text=True, timeout=120)
    assert (p.returncode, p.stdout) == (exit.value.code, in_process) == (0, in_process)
    assert len(in_process.splitlines()) == 2

    p = subprocess.run(
        [sys.executable, "-m", "seq2seq", "translate", "no-such-model.pt", "ba"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2 and p.stdout == ""
    assert len(p.stderr.splitlines()) == 1 and p.stderr.startswith("seq2seq: error: ")
