"""Shared fixtures: a throw-away copy of the Kedro project and tiny synthetic data."""

from __future__ import annotations

import logging
import os
import shutil
import struct
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# Runs are untracked (no MLflow import, no store) except in the tests of tracking itself,
# which turn it on for their own runs (and the subprocesses and Dask workers inherit it).
os.environ.setdefault("XVIEW3_TRACKING", "0")

REPO = Path(__file__).resolve().parents[1]

#: Runtime parameters for tiny synthetic data: 2 locations x 5 revisits of 128 x 128 px, plus
#: one out-of-distribution public scene per location.
TINY_SYNTHETIC: dict[str, Any] = {
    "synthetic_data": {
        "generator": {
            "n_locations": 2,
            "revisit_splits": ["validation", "validation", "validation", "train", "public"],
            "height": 128,
            "width": 128,
            "objects_per_scene": 25,
            # One out-of-distribution public scene per location (the default is 2).
            "ood": {"scenes_per_location": 1},
        },
        "quicklook": {"max_side": 128},
    }
}


#: Runtime parameters for a one-epoch fold training on 64-pixel crops.
TINY_TRAINING: dict[str, Any] = {
    "training": {
        "data": {
            "crop_size": 64,
            "batch_size": 2,
            "epoch_samples": 4,
            "num_workers": 0,
            "val_tile_size": 128,
        },
        "trainer": {"max_epochs": 1, "progress_bar": False},
    }
}


def make_project(root: Path) -> Path:
    """Copy the project's configuration into ``root`` (without conf/local contents).

    Catalog paths are relative, so a run with ``root`` as working directory writes every
    artefact under ``root/data`` and never into the repository.
    """
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(REPO / "conf" / "base", root / "conf" / "base")
    shutil.copy(REPO / "conf" / "logging.yml", root / "conf" / "logging.yml")
    (root / "conf" / "local").mkdir()
    (root / "data").mkdir()
    (root / "src").mkdir()  # the package itself is installed
    return root


def run_kedro(
    project: Path, pipelines: list[str] | None = None, runtime_params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run pipelines of a project copy through a Kedro session (cwd must be ``project``)."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=runtime_params) as session:
        return session.run(pipeline_names=pipelines)


@pytest.fixture
def kedro_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh project copy in a temporary folder, made the working directory."""
    project = make_project(tmp_path / "project")
    monkeypatch.chdir(project)
    yield project


@pytest.fixture
def kedro_runner() -> Callable[..., dict[str, Any]]:
    """The :func:`run_kedro` helper."""
    return run_kedro


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    """A ``LocalCluster`` of 2 worker processes (1 thread each) for one test module.

    Yields:
        Its scheduler address, for ``dask.address``. The workers inherit this process's
        environment and ``sys.path``, so they import the project and the tests.
    """
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.WARNING,
    ) as cluster:
        yield cluster.scheduler_address


class CreatesFile:
    """A pickle payload that would create ``path`` when unpickled (it must never run)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def overwrite_member(path: Path, member_suffix: str, n_bytes: int = 4096) -> str:
    """Overwrite up to ``n_bytes`` with 0xFF in the middle of a zip member, in place.

    The member is the largest whose name ends with ``member_suffix``; it must be stored
    uncompressed (as torch writes them), so its CRC no longer matches. 0xFF bytes read
    as NaN in float tensors.

    Returns:
        The member's name.
    """
    with zipfile.ZipFile(path) as archive:
        infos = [i for i in archive.infolist() if i.filename.endswith(member_suffix)]
    info = max(infos, key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    start = info.header_offset + 30 + name_len + extra_len
    size = min(n_bytes, info.file_size)
    start += (info.file_size - size) // 2
    data[start : start + size] = b"\xff" * size
    path.write_bytes(bytes(data))
    return info.filename
