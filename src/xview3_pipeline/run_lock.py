"""One run at a time per project: an exclusive lock on the project's data folder.

Two runs that write the same catalog at once corrupt it (two concurrent ingestions of
different raw roots once left an unreadable ``scene_index.parquet``). A run therefore holds
``data/.run.lock`` while it runs: an ``flock`` on the file, which the kernel releases when the
holder exits, however it exits, so the lock of a killed run never blocks the next one (its
file, still naming the dead holder, is taken over with a warning). The file holds who has
the lock (pid, host, start time, run id, pipelines) for the message of a run that has to
wait or stop. It is removed when the holder releases it, so a run leaves ``data/`` as it
found it apart from its outputs.

``flock`` is reliable on local filesystems; on network filesystems that do not support it
the lock is advisory at best.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Name of the lock file in the data folder.
LOCK_FILE = ".run.lock"


class RunLockError(RuntimeError):
    """Another run holds the project's data folder."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) the lock.

    Attributes:
        pid: Process id.
        host: Host name.
        started: Start time, ISO 8601 UTC.
        run_id: Kedro run id.
        pipelines: Names of the pipelines the run runs.
    """

    pid: int
    host: str
    started: str
    run_id: str = ""
    pipelines: list[str] = field(default_factory=list)

    @classmethod
    def this_process(cls, run_id: str = "", pipelines: list[str] | None = None) -> LockHolder:
        """The current process, now."""
        return cls(
            pid=os.getpid(),
            host=socket.gethostname(),
            started=datetime.now(UTC).isoformat(timespec="seconds"),
            run_id=run_id,
            pipelines=list(pipelines or []),
        )

    @classmethod
    def parse(cls, text: str) -> LockHolder | None:
        """The holder written in a lock file, or None if the text is empty or unreadable."""
        try:
            values: dict[str, Any] = json.loads(text)
            return cls(
                pid=int(values["pid"]),
                host=str(values["host"]),
                started=str(values["started"]),
                run_id=str(values.get("run_id", "")),
                pipelines=[str(p) for p in values.get("pipelines", [])],
            )
        except (ValueError, KeyError, TypeError):
            return None

    def alive(self) -> bool | None:
        """Whether the process still runs (None when it ran on another host)."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def describe(self) -> str:
        """``pid 123 on host h, started 2026-01-01T00:00:00+00:00 (run r, pipelines a, b)``."""
        state = {True: "", False: ", process no longer running", None: ""}[self.alive()]
        pipelines = ", ".join(self.pipelines) or "__default__"
        return (
            f"pid {self.pid} on host {self.host}, started {self.started} "
            f"(run {self.run_id or '?'}, pipelines {pipelines}{state})"
        )


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


class RunLock:
    """An exclusive, non-reentrant lock on a project's data folder.

    Args:
        data_dir: The project's data folder (created if missing).
        holder: Who takes the lock (written into the lock file).
        wait_s: How long to wait for another run to finish before giving up (0: stop at once).
        poll_s: Interval between attempts while waiting.

    Raises:
        ValueError: On a negative ``wait_s`` or a non-positive ``poll_s``.
    """

    def __init__(
        self,
        data_dir: str | Path,
        holder: LockHolder,
        *,
        wait_s: float = 0.0,
        poll_s: float = 0.5,
    ) -> None:
        if wait_s < 0 or poll_s <= 0:
            raise ValueError(
                f"run_lock.wait_s={wait_s!r} must be >= 0 and run_lock.poll_s={poll_s!r} > 0 "
                "(seconds)."
            )
        self.path = Path(data_dir) / LOCK_FILE
        self.holder = holder
        self.wait_s = float(wait_s)
        self.poll_s = float(poll_s)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, waiting up to ``wait_s`` for the current holder.

        Raises:
            RunLockError: If another run still holds it after ``wait_s``; the message names
                the holder (pid, host, start time) and how to wait longer.
            RuntimeError: If this object already holds the lock.
        """
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this run.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.wait_s
        waiting_logged = False
        while True:
            fd = self._try_lock()
            if fd is not None:
                self._claim(fd)
                return
            other = self._current_holder()
            if time.monotonic() >= deadline:
                raise RunLockError(
                    f"Another run holds this project's data folder ({self.path}): "
                    f"{other.describe() if other else 'holder unknown'}. Wait for it to finish, "
                    f"or let this run wait up to N seconds with --params run_lock.wait_s=N "
                    f"(now {self.wait_s:g})."
                )
            if not waiting_logged:
                logger.warning(
                    "Waiting up to %.0f s for the run holding %s: %s",
                    self.wait_s,
                    self.path,
                    other.describe() if other else "holder unknown",
                )
                waiting_logged = True
            time.sleep(max(0.01, min(self.poll_s, deadline - time.monotonic())))

    def _try_lock(self) -> int | None:
        """An fd holding the flock of the file now at ``path``, or None if it is taken."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return None
            raise
        # The holder removes the file when it releases: a lock taken on a file that was
        # removed (or replaced) meanwhile locks nothing; try again on the current file.
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            os.close(fd)
            return self._try_lock()
        mine = os.fstat(fd)
        if (current.st_dev, current.st_ino) != (mine.st_dev, mine.st_ino):
            os.close(fd)
            return self._try_lock()
        return fd

    def _claim(self, fd: int) -> None:
        previous = LockHolder.parse(_read(fd))
        if previous is not None:
            logger.warning(
                "Taking over the lock %s left by a run that ended without releasing it: %s.",
                self.path,
                previous.describe(),
            )
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(asdict(self.holder)).encode())
        os.fsync(fd)
        self._fd = fd
        logger.info("Holding %s for %s.", self.path, self.holder.describe())

    def _current_holder(self) -> LockHolder | None:
        try:
            return LockHolder.parse(self.path.read_text())
        except OSError:
            return None

    def release(self) -> None:
        """Remove the lock file and release the lock (no-op if not held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        logger.info("Released %s.", self.path)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
