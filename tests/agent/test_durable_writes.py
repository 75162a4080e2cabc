"""agent/durable.py: a short write is finished or refused, never kept as if whole."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from agent.durable import atomic_write, write_all


def test_short_write_is_refused_and_the_old_file_kept(tmp_path: Path):
    """The kernel writes only up to the file-size limit and says so in the count (a short write); the
    next write fails. Writing only once would rename the truncated file over the good one."""
    target = tmp_path / "state.bin"
    atomic_write(target, b"old" * 10)
    script = textwrap.dedent(f"""
        import resource, signal, sys
        from pathlib import Path
        from agent.durable import atomic_write
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))
        try:
            atomic_write(Path({str(target)!r}), b"n" * 150_000)
        except OSError as exc:
            print("refused", exc.errno)
            sys.exit(0)
        print("kept")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("refused"), out.stdout
    assert target.read_bytes() == b"old" * 10


def test_write_all_finishes_a_write_the_pipe_took_in_parts(tmp_path: Path):
    """A pipe smaller than the data takes it in parts; every byte arrives, in order."""
    import os
    import threading

    r, w = os.pipe()
    data = bytes(range(256)) * 4096  # 1 MiB, 16x the default pipe buffer
    got = bytearray()

    def drain() -> None:
        while chunk := os.read(r, 70_000):
            got.extend(chunk)

    t = threading.Thread(target=drain)
    t.start()
    write_all(w, data)
    os.close(w)
    t.join(10)
    os.close(r)
    assert bytes(got) == data
