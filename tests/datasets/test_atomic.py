"""Atomic saves: a failing save leaves the previous file (or set of partitions) intact."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from kedro.io import DataCatalog
from kedro.io.core import DatasetError, Version
from kedro_datasets.pandas import CSVDataset

from tests.conftest import REPO
from xview3_pipeline.datasets import AtomicDataset, AtomicPartitionedDataset
from xview3_pipeline.datasets import atomic as atomic_module


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Unprintable:
    def __str__(self) -> str:
        raise ValueError("cannot format")


def _unwritable() -> pd.DataFrame:
    # to_csv fails on the second row, after it has opened (and truncated) the file.
    return pd.DataFrame({"a": [1, _Unprintable()]})


def test_plain_csv_save_failure_damages_the_file(tmp_path: Path) -> None:
    # Why the wrapper exists: the wrapped dataset writes in place.
    path = tmp_path / "table.csv"
    plain = CSVDataset(filepath=str(path))
    plain.save(pd.DataFrame({"a": [1, 2, 3]}))
    before = _digest(path)
    with pytest.raises(DatasetError):
        plain.save(_unwritable())
    assert not path.exists() or _digest(path) != before


def test_atomic_save_failure_keeps_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "table.csv"
    dataset = AtomicDataset(dataset={"type": "pandas.CSVDataset"}, filepath=str(path))
    assert not dataset.exists()
    dataset.save(pd.DataFrame({"a": [1, 2, 3]}))
    before = _digest(path)
    with pytest.raises(DatasetError):
        dataset.save(_unwritable())
    assert _digest(path) == before
    assert dataset.load()["a"].tolist() == [1, 2, 3]
    assert sorted(p.name for p in path.parent.iterdir()) == ["table.csv"]
    dataset.save(pd.DataFrame({"a": [7]}))
    assert dataset.load()["a"].tolist() == [7]


def test_atomic_dataset_from_catalog_config_figure_and_json(tmp_path: Path) -> None:
    catalog = DataCatalog.from_config(
        {
            "plot": {
                "type": "xview3_pipeline.datasets.AtomicDataset",
                "filepath": str(tmp_path / "plot.png"),
                "dataset": {"type": "matplotlib.MatplotlibDataset", "save_args": {"dpi": 20}},
            },
            "report": {
                "type": "xview3_pipeline.datasets.AtomicDataset",
                "filepath": str(tmp_path / "report.json"),
                "dataset": "json.JSONDataset",
            },
        }
    )
    figure = plt.figure(figsize=(2, 2))
    catalog.save("plot", figure)
    plt.close(figure)
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"
    catalog.save("report", {"scenes": 3})
    assert catalog.load("report") == {"scenes": 3}
    with pytest.raises(DatasetError):
        catalog.save("report", {"bad": object()})
    assert catalog.load("report") == {"scenes": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png", "report.json"]


def test_atomic_dataset_removes_leftovers_of_dead_writers(tmp_path: Path) -> None:
    dead = tmp_path / ".t.tmp-999999999-abc.csv"  # no such pid
    dead.write_text("half")
    alive = tmp_path / f".t.tmp-{os.getppid()}-abc.csv"
    alive.write_text("in progress")
    AtomicDataset(dataset="pandas.CSVDataset", filepath=str(tmp_path / "t.csv")).save(
        pd.DataFrame({"a": [1]})
    )
    assert not dead.exists() and alive.exists()


def test_atomic_dataset_rejects_remote_and_inner_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="local path"):
        AtomicDataset(dataset="pandas.CSVDataset", filepath="s3://bucket/t.csv")
    with pytest.raises(DatasetError, match="filepath"):
        AtomicDataset(
            dataset={"type": "pandas.CSVDataset", "filepath": "x.csv"},
            filepath=str(tmp_path / "t.csv"),
        )


def _partitioned(path: Path, overwrite: bool = True) -> AtomicPartitionedDataset:
    return AtomicPartitionedDataset(
        path=str(path),
        dataset={"type": "pandas.CSVDataset"},
        filename_suffix=".csv",
        overwrite=overwrite,
    )


def test_partitioned_failure_keeps_previous_set(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    dataset = _partitioned(folder)
    dataset.save({f"s{i}": pd.DataFrame({"i": [i]}) for i in range(3)})
    before = {p.name: _digest(p) for p in folder.iterdir()}

    def fails() -> pd.DataFrame:
        raise RuntimeError("scene 2 failed")

    # A lazy partition that fails after others were written (as a killed run would stop).
    new = {"s0": lambda: pd.DataFrame({"i": [10]}), "s1": fails, "s9": pd.DataFrame}
    with pytest.raises(DatasetError, match="scene 2 failed"):
        dataset.save(new)
    assert {p.name: _digest(p) for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]
    assert sorted(dataset.load()) == ["s0", "s1", "s2"]


def test_partitioned_overwrite_replaces_whole_set(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    dataset = _partitioned(folder)
    dataset.save({"a": pd.DataFrame({"i": [1]}), "b": pd.DataFrame({"i": [2]})})
    dataset.save({"c": lambda: pd.DataFrame({"i": [3]})})
    loaded = dataset.load()
    assert sorted(loaded) == ["c"] and loaded["c"]()["i"].tolist() == [3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]


def test_partitioned_without_overwrite_merges(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    dataset = _partitioned(folder, overwrite=False)
    dataset.save({"a": pd.DataFrame({"i": [1]})})
    dataset.save({"b": pd.DataFrame({"i": [2]}), "a": pd.DataFrame({"i": [5]})})
    loaded = dataset.load()
    assert sorted(loaded) == ["a", "b"] and loaded["a"]()["i"].tolist() == [5]


def test_partitioned_removes_staging_of_killed_run(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    stale = tmp_path / ".parts.staging-999999999-abc"
    stale.mkdir()
    (stale / "half.csv").write_text("i\n")
    _partitioned(folder).save({"a": pd.DataFrame({"i": [1]})})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]


def test_versioned_failure_leaves_latest_version_loadable(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.json"

    def dataset(save: str | None) -> AtomicDataset:
        return AtomicDataset(
            dataset="json.JSONDataset", filepath=str(path), version=Version(None, save)
        )

    dataset("2026-01-01T00.00.00.000Z").save({"objectness": 0.4})
    with pytest.raises(DatasetError):
        dataset("2026-01-02T00.00.00.000Z").save({"bad": object()})
    latest = dataset(None)
    assert latest.exists() and latest.load() == {"objectness": 0.4}
    assert (path / "2026-01-01T00.00.00.000Z" / "thresholds.json").is_file()
    assert sorted(p.name for p in path.iterdir()) == ["2026-01-01T00.00.00.000Z"]
    empty = AtomicDataset(
        dataset="json.JSONDataset",
        filepath=str(tmp_path / "none.json"),
        version=Version(None, None),
    )
    assert not empty.exists()


def test_partitioned_restores_set_of_a_swap_killed_midway(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    _partitioned(folder).save({"a": pd.DataFrame({"i": [1]})})
    # A run killed between "target -> old" and "staging -> target".
    folder.rename(tmp_path / ".parts.old-999999999-abc")
    loaded = _partitioned(folder).load()
    assert sorted(loaded) == ["a"] and loaded["a"]()["i"].tolist() == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]


# The module is loaded from its file: the datasets package imports torch for its model
# datasets, which would make this subprocess take many seconds to start.
KILLED_SAVE = """
import importlib.util, sys, time
import pandas as pd
spec = importlib.util.spec_from_file_location("atomic", sys.argv[2])
atomic = importlib.util.module_from_spec(spec)
spec.loader.exec_module(atomic)
AtomicPartitionedDataset = atomic.AtomicPartitionedDataset

def slow():
    print("first partitions written", flush=True)
    time.sleep(3600)

parts = AtomicPartitionedDataset(
    path=sys.argv[1], dataset={"type": "pandas.CSVDataset"}, filename_suffix=".csv",
    overwrite=True,
)
parts.save({"s0": pd.DataFrame({"i": [10]}), "s1": pd.DataFrame({"i": [11]}), "s2": slow})
"""


def test_killed_partitioned_save_leaves_previous_set(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    _partitioned(folder).save({"s0": pd.DataFrame({"i": [0]}), "s1": pd.DataFrame({"i": [1]})})
    before = {p.name: _digest(p) for p in folder.iterdir()}
    env = os.environ | {"PYTHONPATH": str(REPO / "src")}
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVE, str(folder), str(atomic_module.__file__)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "first partitions written"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    # The killed save wrote two of three partitions, but only into its staging folder.
    assert {p.name: _digest(p) for p in folder.iterdir()} == before
    staging = [p for p in tmp_path.iterdir() if p.name.startswith(".parts.staging-")]
    assert len(staging) == 1 and len(list(staging[0].iterdir())) == 2
    assert sorted(_partitioned(folder).load()) == ["s0", "s1"]
    _partitioned(folder).save({"s5": pd.DataFrame({"i": [5]})})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]
