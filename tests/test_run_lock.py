"""One run at a time per project, tested with a second real process holding the lock."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, make_project, run_kedro
from xview3_pipeline.core.synthetic import SyntheticConfig, generate_dataset
from xview3_pipeline.run_lock import LOCK_FILE, LockHolder, RunLock, RunLockError

#: A process that takes the project's lock, says so, holds it for argv[2] seconds and
#: releases it (a negative time holds it until killed).
HOLDER = textwrap.dedent(
    """
    import sys, time
    from xview3_pipeline.run_lock import LockHolder, RunLock
    lock = RunLock(sys.argv[1], LockHolder.this_process(run_id="holder", pipelines=["training"]))
    lock.acquire()
    print("locked", flush=True)
    hold = float(sys.argv[2])
    time.sleep(hold if hold >= 0 else 3600)
    lock.release()
    print("released", flush=True)
    """
)


@pytest.fixture(scope="module")
def raw_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("lock") / "raw"
    generate_dataset(
        SyntheticConfig(
            n_locations=1,
            revisit_splits=("validation", "train"),
            height=64,
            width=64,
            objects_per_scene=4,
        ),
        raw,
    )
    return raw


def _start_holder(data_dir: Path, hold_s: float) -> subprocess.Popen[str]:
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir), str(hold_s)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "locked"
    return process


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = make_project(tmp_path / "project")
    monkeypatch.chdir(root)
    yield root


def test_second_run_stops_naming_the_holder(project: Path, raw_root: Path) -> None:
    holder = _start_holder(project / "data", hold_s=-1)
    try:
        with pytest.raises(RunLockError) as info:
            run_kedro(project, ["ingestion"], {"raw_root": str(raw_root)})
        message = str(info.value)
        assert f"pid {holder.pid} on host {socket.gethostname()}, started 20" in message
        assert "run holder, pipelines training" in message
        assert "run_lock.wait_s" in message
        assert sorted(p.name for p in (project / "data").iterdir()) == [LOCK_FILE]
    finally:
        holder.kill()
        holder.wait()


def test_second_run_waits_for_the_first(project: Path, raw_root: Path) -> None:
    holder = _start_holder(project / "data", hold_s=1.5)
    try:
        start = time.monotonic()
        params = {"raw_root": str(raw_root), "run_lock": {"wait_s": 60, "poll_s": 0.1}}
        run_kedro(project, ["ingestion"], params)
        assert time.monotonic() - start >= 1.0
        assert holder.wait(timeout=30) == 0
    finally:
        holder.kill()
    assert (project / "data/02_intermediate/scene_index.parquet").is_file()
    assert not (project / "data" / LOCK_FILE).exists()


def test_lock_of_a_killed_run_is_taken_over(
    project: Path, raw_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    holder = _start_holder(project / "data", hold_s=-1)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert "holder" in (project / "data" / LOCK_FILE).read_text()  # the dead run's file
    caplog.set_level(logging.WARNING)
    run_kedro(project, ["ingestion"], {"raw_root": str(raw_root)})
    assert any(
        "Taking over the lock" in r.getMessage() and f"pid {holder.pid}" in r.getMessage()
        for r in caplog.records
    )
    assert (project / "data/02_intermediate/labels.parquet").is_file()
    assert not (project / "data" / LOCK_FILE).exists()


def test_failed_run_releases_the_lock(project: Path, raw_root: Path) -> None:
    with pytest.raises(FileNotFoundError):
        run_kedro(project, ["ingestion"], {"raw_root": str(raw_root / "absent")})
    assert not (project / "data" / LOCK_FILE).exists()
    with RunLock(project / "data", LockHolder.this_process()) as lock:
        assert lock.held


def test_lock_in_one_process_is_exclusive(tmp_path: Path) -> None:
    first = RunLock(tmp_path, LockHolder.this_process(run_id="a"))
    first.acquire()
    second = RunLock(tmp_path, LockHolder.this_process(run_id="b"), wait_s=0.2, poll_s=0.05)
    with pytest.raises(RunLockError, match=r"run a,"):
        second.acquire()
    first.release()
    second.acquire()
    assert LockHolder.parse((tmp_path / LOCK_FILE).read_text()).run_id == "b"
    second.release()
    with pytest.raises(ValueError, match=r"run_lock\.wait_s"):
        RunLock(tmp_path, LockHolder.this_process(), wait_s=-1)
