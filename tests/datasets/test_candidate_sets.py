"""Candidate sets: resume by fingerprint, publish only when complete, isolate failing scenes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from kedro.io.core import DatasetError

from xview3_pipeline.datasets import CandidateJobs, CandidateSetDataset, SceneJob
from xview3_pipeline.datasets.candidate_sets import (
    IncompleteCandidateSetError,
    SceneDetectionError,
)
from xview3_pipeline.datasets.thresholds import ThresholdsDataset

FP_A = "a" * 64
FP_B = "b" * 64


def _frame(scene_id: str, n: int = 2) -> pd.DataFrame:
    return pd.DataFrame(
        {"scene_id": [scene_id] * n, "objectness_p": [0.5 + 0.1 * i for i in range(n)]}
    )


def _jobs(
    ids: list[str], fingerprint: str = FP_A, calls: list[str] | None = None, **kwargs: object
) -> CandidateJobs:
    def run(scene_id: str) -> pd.DataFrame:
        if calls is not None:
            calls.append(scene_id)
        return _frame(scene_id)

    jobs = tuple(SceneJob(s, fingerprint, f"raw/{s}", (lambda s=s: run(s))) for s in ids)
    return CandidateJobs(jobs, **kwargs)  # type: ignore[arg-type]


def _failing(scene_id: str) -> Callable[[], pd.DataFrame]:
    def run() -> pd.DataFrame:
        raise OSError(f"raw/{scene_id}/VH_dB.tif: not a TIFF")

    return run


def test_save_then_load_round_trip(tmp_path: Path) -> None:
    dataset = CandidateSetDataset(path=str(tmp_path / "set"))
    assert not dataset.exists()
    dataset.save(_jobs(["s1", "s2"], detector="cnn"))
    loaded = dataset.load()
    assert list(loaded) == ["s1", "s2"] and loaded.detector == "cnn"
    pd.testing.assert_frame_equal(loaded["s2"](), _frame("s2"))
    assert sorted(p.name for p in (tmp_path / "set" / FP_A[:16]).iterdir()) == [
        "s1.parquet",
        "s2.parquet",
    ]


def test_rerun_skips_finished_scenes_of_the_same_fingerprint(tmp_path: Path) -> None:
    dataset = CandidateSetDataset(path=str(tmp_path))
    calls: list[str] = []
    dataset.save(_jobs(["s1"], calls=calls))
    dataset.save(_jobs(["s1", "s2"], calls=calls))
    assert calls == ["s1", "s2"]
    dataset.save(_jobs(["s1", "s2"], fingerprint=FP_B, calls=calls))
    assert calls == ["s1", "s2", "s1", "s2"]  # another detector: nothing reused


def test_nothing_published_before_every_scene_ran(tmp_path: Path) -> None:
    dataset = CandidateSetDataset(path=str(tmp_path))
    dataset.save(_jobs(["s1", "s2"]))
    jobs = _jobs(["s1", "s2", "s3"], fingerprint=FP_B)
    broken = CandidateJobs(
        (*jobs.jobs[:2], SceneJob("s3", FP_B, "raw/s3", _failing("s3"))), on_scene_error="raise"
    )
    with pytest.raises(SceneDetectionError, match=r"s3 \(raw/s3\).*not a TIFF"):
        dataset.save(broken)
    published = dataset.load()
    assert list(published) == ["s1", "s2"] and set(published.fingerprints.values()) == {FP_A}
    # the finished scenes of the failed run stay as its resume cache
    assert (tmp_path / FP_B[:16] / "s2.parquet").is_file()


def test_failing_scene_is_isolated_and_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dataset = CandidateSetDataset(path=str(tmp_path))
    good = _jobs(["s1", "s3"]).jobs
    jobs = CandidateJobs((good[0], SceneJob("s2", FP_A, "raw/s2", _failing("s2")), good[1]))
    with caplog.at_level("ERROR"):
        dataset.save(jobs)
    assert "s2" in caplog.text and "raw/s2" in caplog.text
    loaded = dataset.load()
    assert list(loaded) == ["s1", "s3"]
    assert loaded.failed["s2"].source == "raw/s2" and "not a TIFF" in loaded.failed["s2"].error
    table = loaded.failures_frame(set="test")
    assert list(table.columns) == ["set", "scene_id", "source", "error"] and len(table) == 1
    loaded.require(["s1", "s2", "s3"], what="tuning")  # failed scenes are known, not missing
    with pytest.raises(IncompleteCandidateSetError, match=r"s2 \(failed: raw/s2"):
        loaded.require(["s1", "s2"], what="tuning", allow_failed=False)


def test_require_lists_missing_scenes(tmp_path: Path) -> None:
    dataset = CandidateSetDataset(path=str(tmp_path))
    dataset.save(_jobs(["s1"]))
    with pytest.raises(IncompleteCandidateSetError, match=r"cnn.oof: 2 of 3 .*\['s2', 's3'\]"):
        dataset.load().require(["s1", "s2", "s3"], what="cnn.oof")


def test_new_fingerprint_replaces_and_prunes_the_old_set(tmp_path: Path) -> None:
    dataset = CandidateSetDataset(path=str(tmp_path))
    dataset.save(_jobs(["s1", "s2"]))
    (tmp_path / FP_A[:16] / ".s3.parquet.tmp-99").write_text("partial")
    dataset.save(_jobs(["s1"], fingerprint=FP_B))
    assert not (tmp_path / FP_A[:16]).exists()
    assert list(dataset.load()) == ["s1"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["scenes"]["s1"]["fingerprint"] == FP_B


def test_load_without_a_published_set_says_so(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no manifest\.json"):
        CandidateSetDataset(path=str(tmp_path)).load()


@pytest.mark.parametrize(
    ("scene_id", "fingerprint", "message"),
    [("../x", FP_A, "cannot name a file"), ("s1", "xyz", "not a hex digest")],
)
def test_bad_jobs_are_refused(scene_id: str, fingerprint: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CandidateJobs((SceneJob(scene_id, fingerprint, "src", lambda: _frame("s")),))


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match=r"on_scene_error = 'skip'.*\['continue', 'raise'\]"):
        CandidateJobs((), on_scene_error="skip")


def test_thresholds_dataset_loads_none_until_saved(tmp_path: Path) -> None:
    from kedro.io.core import Version

    path = str(tmp_path / "best_thresholds.json")
    assert ThresholdsDataset(filepath=path, version=Version(None, None)).load() is None
    ThresholdsDataset(filepath=path, version=Version(None, "2026-01-01T00.00.00.000Z")).save(
        {"objectness": 0.4}
    )
    assert ThresholdsDataset(filepath=path, version=Version(None, None)).load() == {
        "objectness": 0.4
    }


def test_changed_inputs_are_detected_again(tmp_path: Path) -> None:
    dataset = CandidateSetDataset(path=str(tmp_path))
    calls: list[str] = []

    def jobs(inputs: str) -> CandidateJobs:
        return CandidateJobs(
            tuple(
                SceneJob(s, FP_A, f"raw/{s}", (lambda s=s: calls.append(s) or _frame(s)), inputs)
                for s in ("s1", "s2")
            )
        )

    dataset.save(jobs("sig-1"))
    dataset.save(jobs("sig-1"))
    assert calls == ["s1", "s2"]
    dataset.save(jobs("sig-2"))  # same detector, regenerated rasters
    assert calls == ["s1", "s2", "s1", "s2"]
