"""The training work folder: which checkpoint a run resumes from, atomic writes, markers."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import pytest
import torch

from tests.conftest import CreatesFile, overwrite_member
from xview3_pipeline.core.errors import ModelFileError
from xview3_pipeline.core.training.checkpoints import (
    AtomicCheckpointIO,
    FinishedRun,
    clear_work_dir,
    read_checkpoint,
    read_finished,
    remove_partial_writes,
    resumable_checkpoint,
    write_finished,
)


def checkpoint(value: float = 1.0) -> dict[str, object]:
    """A Lightning-shaped checkpoint; callback states may legitimately hold infinities."""
    return {
        "epoch": 0,
        "global_step": 2,
        "state_dict": {"model.w": torch.full((2048,), value)},
        "optimizer_states": [{"state": {0: {"exp_avg": torch.zeros(2048)}}}],
        "callbacks": {"ModelCheckpoint": {"kth_value": torch.tensor(float("inf"))}},
    }


def write(folder: Path, name: str, obj: object, age_s: float) -> Path:
    path = folder / name
    torch.save(obj, path)
    stamp = 1_700_000_000 - age_s
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "cpu_small" / "fold_0"
    folder.mkdir(parents=True)
    write(folder, "best.ckpt", checkpoint(), age_s=30)
    write(folder, "last.ckpt", checkpoint(), age_s=20)
    write(folder, "step.ckpt", checkpoint(), age_s=10)
    return folder


def _skips_newest(work: Path, caplog: pytest.LogCaptureFixture) -> str:
    with caplog.at_level(logging.WARNING):
        assert resumable_checkpoint(work) == work / "last.ckpt"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(work / "step.ckpt") in warnings[0]
    assert "weights_only" not in warnings[0]
    return warnings[0]


def test_newest_readable_checkpoint_is_chosen(work: Path) -> None:
    assert resumable_checkpoint(work) == work / "step.ckpt"
    assert resumable_checkpoint(work / "missing") is None
    assert read_checkpoint(work / "step.ckpt")["global_step"] == 2


def test_truncated_newest_falls_back(work: Path, caplog: pytest.LogCaptureFixture) -> None:
    step = work / "step.ckpt"
    step.write_bytes(step.read_bytes()[:3000])
    os.utime(step, (1_700_000_000, 1_700_000_000))
    assert "truncated" in _skips_newest(work, caplog)


def test_corrupt_newest_falls_back(work: Path, caplog: pytest.LogCaptureFixture) -> None:
    overwrite_member(work / "step.ckpt", "data/0", n_bytes=4096)
    os.utime(work / "step.ckpt", (1_700_000_000, 1_700_000_000))
    assert "CRC-32" in _skips_newest(work, caplog)


def test_non_finite_weights_fall_back(work: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(work, "step.ckpt", checkpoint(float("nan")), age_s=0)
    assert "'state_dict.model.w'" in _skips_newest(work, caplog)


def test_code_in_newest_never_runs(
    work: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "pwned"
    write(work, "step.ckpt", {**checkpoint(), "x": CreatesFile(marker)}, age_s=0)
    assert "could run code" in _skips_newest(work, caplog)
    assert not marker.exists()


def test_none_readable_starts_from_scratch(work: Path, caplog: pytest.LogCaptureFixture) -> None:
    for path in work.glob("*.ckpt"):
        path.write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        assert resumable_checkpoint(work) is None
    assert "starts from scratch" in caplog.records[-1].getMessage()


def test_atomic_checkpoint_io(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint(checkpoint(), path)
    assert io.load_checkpoint(path)["epoch"] == 0

    def dies_while_writing(obj: object, f: Path) -> None:
        Path(f).write_bytes(b"half a checkpoint")
        raise OSError("killed")

    monkeypatch.setattr(torch, "save", dies_while_writing)
    with pytest.raises(OSError, match="killed"):
        io.save_checkpoint(checkpoint(2.0), path)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
    assert float(io.load_checkpoint(path)["state_dict"]["model.w"][0]) == 1.0
    (tmp_path / ".last.ckpt.tmp-123").mkdir()  # left by a process killed mid-write
    remove_partial_writes(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
    with pytest.raises(ModelFileError):
        read_checkpoint(tmp_path / "missing.ckpt")


def test_finished_record(work: Path, caplog: pytest.LogCaptureFixture) -> None:
    run = FinishedRun("best.ckpt", float("nan"), 1, [{"epoch": 0.0}], "abc")
    write_finished(work, run)
    again = read_finished(work, "abc")
    assert again is not None and math.isnan(again.best_score)
    assert (again.weights, again.best_epoch, again.history) == ("best.ckpt", 1, run.history)
    with caplog.at_level(logging.WARNING):
        assert read_finished(work, "other parameters") is None
    assert "parameters changed" in caplog.records[-1].getMessage()
    (work / "best.ckpt").unlink()
    assert read_finished(work, "abc") is None
    assert clear_work_dir(work) and not work.exists() and not clear_work_dir(work)
