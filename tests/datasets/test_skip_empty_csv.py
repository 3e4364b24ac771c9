"""The CSV dataset that writes nothing for an empty table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from xview3_pipeline.datasets import SkipEmptyCSVDataset


def test_rows_are_written_and_an_empty_table_removes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tuning" / "comparison.csv"
    columns = ["method", "aggregate"]
    dataset = SkipEmptyCSVDataset(filepath=str(path), columns=columns)
    assert not dataset.exists()
    assert list(dataset.load().columns) == columns and dataset.load().empty
    table = pd.DataFrame({"method": ["optuna", "grid"], "aggregate": [0.5, 0.25]})
    dataset.save(table)
    assert dataset.exists() and sorted(p.name for p in path.parent.iterdir()) == [path.name]
    pd.testing.assert_frame_equal(dataset.load(), table)
    # A later single-method run: no table, and the earlier one is not left behind.
    dataset.save(pd.DataFrame(columns=columns))
    assert not path.exists() and not dataset.exists()
    assert list(path.parent.iterdir()) == []
    dataset.save(pd.DataFrame(columns=columns))  # nothing to remove: still fine
    assert not path.exists()
