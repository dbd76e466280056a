"""Files that survive crashes and folders that belong to one command.

- Atomic output: write to a temporary file in the same folder, then rename. A crash or Ctrl-C
  mid-write leaves the previous file intact, never a truncated one.
- :func:`folder_lock`: an advisory lock on a folder for the life of a command, so that two
  commands never write into one folder at once; the second stops at once, naming the first.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

try:  # POSIX advisory locks; elsewhere folder_lock only records the holder
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

#: The lock file :func:`folder_lock` keeps in a folder (it names the holding process).
LOCK_FILE = ".elbolab.lock"
# folders this process holds: resolved path → (open lock file, nesting depth)
_HELD: dict[str, list] = {}


class FolderBusy(RuntimeError):
    """Another process holds the folder's lock."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file ordinary permissions
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(
    path: str | os.PathLike[str], writer: Callable[[IO[Any]], None], *, binary: bool = False
) -> Path:
    """Call ``writer(file)`` on a temporary file and rename it onto ``path``."""
    mode, encoding = ("wb", None) if binary else ("w", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding) as f:
        writer(f)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda f: f.write(text))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold an advisory lock on ``folder`` (created if missing) while the block runs: an
    exclusive ``flock`` on its :data:`LOCK_FILE`, which names this process, its command line
    and when it started. If another process holds it, raise :class:`FolderBusy` at once with
    that holder's line. Re-entrant within a process; released when the block ends or the
    process dies (the kernel drops the lock, so a killed command never leaves it stuck). A
    folder this made and the block left empty is removed again (a command refused before it
    wrote anything leaves nothing behind)."""
    path = Path(folder)
    made = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    key = str(path.resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield path
        finally:
            _HELD[key][1] -= 1
        return
    f = open(path / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 (held past this block)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                raise FolderBusy(f"{path} is in use by {holder}: wait for it to finish, or "
                                 "use another folder") from None
        f.seek(0)
        f.truncate()
        f.write(f"process {os.getpid()} ({' '.join(sys.argv) or sys.executable}), started "
                f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        f.flush()
        _HELD[key] = [f, 1]
        try:
            yield path
        finally:
            del _HELD[key]
            if made and [p.name for p in path.iterdir()] == [LOCK_FILE]:
                (path / LOCK_FILE).unlink()  # still held: no one else can be writing here
                for p in made:  # innermost first; rmdir refuses a folder something filled
                    with contextlib.suppress(OSError):
                        p.rmdir()
    finally:
        f.close()  # closing the file releases the lock


__all__ = ["LOCK_FILE", "FolderBusy", "atomic_path", "atomic_write", "atomic_write_json",
           "atomic_write_text", "folder_lock"]
