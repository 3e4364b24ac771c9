"""CandidateSetDataset with ``executor: dask`` on a LocalCluster of 2 worker processes:
the candidates of the local executor (CFAR, the exported ensemble, in-memory fold
models), a corrupt scene among three, all-or-nothing, and the resume cache."""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from distributed import Client
from torch import nn

from xview3_pipeline.core.constants import VH_FILE
from xview3_pipeline.core.detection import CfarDetector, CnnDetector, Scene
from xview3_pipeline.core.detection.cfar import CfarConfig
from xview3_pipeline.core.detection.cnn import InferenceConfig, build_ensemble, transport
from xview3_pipeline.core.io.scenes import discover_scenes
from xview3_pipeline.core.parallel import DaskConfig, ExecutorConfig
from xview3_pipeline.core.synthetic import SyntheticConfig, generate_dataset
from xview3_pipeline.datasets import CandidateJobs, CandidateSetDataset, ExportedEnsembleDataset
from xview3_pipeline.datasets import candidate_sets as candidate_sets_module
from xview3_pipeline.datasets.candidate_sets import SceneDetectionError
from xview3_pipeline.pipelines.evaluation.nodes import scene_jobs

LOCAL = ExecutorConfig()
INFERENCE = InferenceConfig(
    tile_size=64, step=32, batch_size=2, max_objects=32, progress=False, device="cpu"
)


class TinyNet(nn.Module):
    """Five maps at stride 2 from two convolutions (a fast stand-in for a CircleNet)."""

    output_stride = 2

    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.features = nn.Conv2d(2, 8, 3, padding=1)
        self.conv = nn.Conv2d(8, 6, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y = F.avg_pool2d(self.conv(self.features(x).relu()), 2)
        return y[:, :1], y[:, 1:2], y[:, 2:3], y[:, 3:4], y[:, 4:6].sigmoid()


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> list[Scene]:
    """Three synthetic 128 × 128 scenes."""
    root = tmp_path_factory.mktemp("raw") / "xview3"
    config = SyntheticConfig(
        n_locations=1,
        revisit_splits=("train", "train", "public"),
        height=128,
        width=128,
        objects_per_scene=10,
    )
    generate_dataset(config, root)
    return discover_scenes(root)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """The local reference runs torch with one thread, as a Dask worker does."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _on(address: str, **settings: Any) -> ExecutorConfig:
    return ExecutorConfig("dask", DaskConfig(address=address, **settings))


def _save(path: Path, jobs: CandidateJobs) -> tuple[CandidateSetDataset, dict[str, Any]]:
    dataset = CandidateSetDataset(path=str(path))
    dataset.save(jobs)
    return dataset, json.loads(dataset.manifest_path.read_text())


def _assert_same_sets(local: Path, remote: Path) -> int:
    """Same manifest entries and identical frames; returns the number of candidates."""
    a, b = CandidateSetDataset(path=str(local)).load(), CandidateSetDataset(path=str(remote)).load()
    assert list(a) == list(b) and a.fingerprints == b.fingerprints and not b.failed
    for scene_id in a:
        pd.testing.assert_frame_equal(a[scene_id](), b[scene_id](), check_exact=True)
    return sum(len(a[s]()) for s in a)


def test_cfar_candidates_equal_the_local_executor(
    scenes: list[Scene], dask_cluster: str, tmp_path: Path
) -> None:
    detector = CfarDetector(CfarConfig())
    policy = {"on_scene_error": "continue"}
    _save(tmp_path / "local", scene_jobs(detector, scenes, **policy, executor=LOCAL))
    _save(tmp_path / "dask", scene_jobs(detector, scenes, **policy, executor=_on(dask_cluster)))
    assert _assert_same_sets(tmp_path / "local", tmp_path / "dask") > 0


def _cache_size() -> int:
    return len(transport._CACHE)


def test_exported_ensemble_equals_local_and_is_loaded_once_per_worker(
    scenes: list[Scene], dask_cluster: str, tmp_path: Path, one_thread: None
) -> None:
    ensemble = build_ensemble([TinyNet(0), TinyNet(1)], INFERENCE)
    ensemble.export_shape = (2, 2, 64, 64)
    ExportedEnsembleDataset(filepath=str(tmp_path / "ensemble.pt2")).save(ensemble)
    detector = CnnDetector(
        ExportedEnsembleDataset(filepath=str(tmp_path / "ensemble.pt2")).load(), INFERENCE
    )
    # It travels as its file: a recipe of a few hundred bytes, loaded once per process.
    assert len(pickle.dumps(detector)) < 2000
    assert pickle.loads(pickle.dumps(detector)) is pickle.loads(pickle.dumps(detector))
    policy = {"on_scene_error": "raise"}
    _save(tmp_path / "local", scene_jobs(detector, scenes, **policy, executor=LOCAL))
    _save(tmp_path / "dask", scene_jobs(detector, scenes, **policy, executor=_on(dask_cluster)))
    assert _assert_same_sets(tmp_path / "local", tmp_path / "dask") > 0
    with Client(dask_cluster) as client:
        assert set(client.run(_cache_size).values()) <= {0, 1}


def test_in_memory_fold_models_equal_local(
    scenes: list[Scene], dask_cluster: str, tmp_path: Path, one_thread: None
) -> None:
    detectors = [
        CnnDetector(build_ensemble([TinyNet(k + 5)], INFERENCE), INFERENCE) for k in (0, 1)
    ]

    def out_of_fold(executor: ExecutorConfig) -> CandidateJobs:  # two folds, two models
        parts = [
            scene_jobs(d, s, on_scene_error="raise")
            for d, s in zip(detectors, (scenes[:2], scenes[2:]), strict=True)
        ]
        return CandidateJobs(
            (*parts[0].jobs, *parts[1].jobs),
            on_scene_error="raise",
            detector="cnn",
            executor=executor,
        )

    _save(tmp_path / "local", out_of_fold(LOCAL))
    _save(tmp_path / "dask", out_of_fold(_on(dask_cluster)))
    assert _assert_same_sets(tmp_path / "local", tmp_path / "dask") > 0
    fingerprints = CandidateSetDataset(path=str(tmp_path / "dask")).load().fingerprints
    assert len(set(fingerprints.values())) == 2


@pytest.fixture
def with_corrupt(scenes: list[Scene], tmp_path: Path) -> list[Scene]:
    """The first two scenes and a copy of the third whose VH raster is garbage."""
    bad = tmp_path / "raw" / "public" / "corrupt01"
    shutil.copytree(scenes[2].vh_path.parent, bad)
    (bad / VH_FILE).write_bytes(b"II*\x00" + b"\xff" * 512)
    return [*scenes[:2], Scene.locate(bad, split="public")]


def test_a_corrupt_scene_is_reported_and_the_others_saved(
    with_corrupt: list[Scene], dask_cluster: str, tmp_path: Path
) -> None:
    detector = CfarDetector(CfarConfig())
    executor = _on(dask_cluster, retries=1)
    jobs = scene_jobs(detector, with_corrupt, on_scene_error="continue", executor=executor)
    dataset, manifest = _save(tmp_path / "set", jobs)
    assert sorted(manifest["scenes"]) == sorted(s.scene_id for s in with_corrupt[:2])
    assert list(manifest["failed"]) == ["corrupt01"]
    failure = manifest["failed"]["corrupt01"]
    assert failure["source"] == str(with_corrupt[2].vh_path.parent)
    assert VH_FILE in failure["error"] or "not recognized" in failure["error"]
    assert dataset.load().failures_frame()["scene_id"].tolist() == ["corrupt01"]
    # raise: the error names the scene, and nothing is published
    jobs = scene_jobs(detector, with_corrupt, on_scene_error="raise", executor=executor)
    target = CandidateSetDataset(path=str(tmp_path / "strict"))
    with pytest.raises(
        SceneDetectionError, match=r"scene corrupt01 \(.*corrupt01\) after 1 retries"
    ):
        target.save(jobs)
    assert not target.manifest_path.exists()


def test_resume_submits_only_the_scenes_not_stored(
    scenes: list[Scene], dask_cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitted: list[list[str]] = []
    run_tasks = candidate_sets_module.run_tasks

    def recording(tasks: Any, *args: Any, **kwargs: Any) -> Any:
        submitted.append([t.name for t in tasks])
        return run_tasks(tasks, *args, **kwargs)

    monkeypatch.setattr(candidate_sets_module, "run_tasks", recording)
    jobs = scene_jobs(
        CfarDetector(CfarConfig()), scenes, on_scene_error="continue", executor=_on(dask_cluster)
    )
    dataset, manifest = _save(tmp_path / "set", jobs)
    files = {s: tmp_path / "set" / e["file"] for s, e in manifest["scenes"].items()}
    stamps = {s: f.stat().st_mtime_ns for s, f in files.items()}
    # Scenes are submitted in discovery order (split, then id): compare the sets.
    assert [sorted(names) for names in submitted] == [sorted(s.scene_id for s in scenes)]
    dataset.save(jobs)  # everything stored: nothing is submitted
    assert submitted[-1] == []
    first = sorted(files)[0]
    files[first].unlink()
    dataset.save(jobs)
    assert submitted[-1] == [first]
    assert all(files[s].stat().st_mtime_ns == stamps[s] for s in files if s != first)
    assert len(dataset.load()) == len(scenes)
