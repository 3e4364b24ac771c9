"""A CSV dataset that may legitimately be absent (e.g. test truth of real data)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import fsspec
import pandas as pd
from kedro.io.core import AbstractDataset, get_filepath_str, get_protocol_and_path


class OptionalCSVDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """A CSV file that loads as an empty frame (with known columns) when it does not exist.

    The synthetic dataset has truth for its test scenes and the real one does not; nodes
    that score test predictions take this dataset and report "no truth" for an empty frame
    instead of failing, so one pipeline serves both.

    Args:
        filepath: Path of the CSV.
        columns: Columns of the empty frame returned when the file is absent.
        load_args: Passed to ``pandas.read_csv``.
        save_args: Passed to ``DataFrame.to_csv`` (``index=False`` by default).
        metadata: Free-form metadata shown by kedro-viz.
    """

    def __init__(
        self,
        *,
        filepath: str,
        columns: list[str] | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(filepath)
        self._protocol = protocol
        self._filepath = PurePosixPath(path)
        self._fs = fsspec.filesystem(protocol)
        self._columns = list(columns or [])
        self._load_args = dict(load_args or {})
        self._save_args = {"index": False} | dict(save_args or {})
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        """The table, or an empty frame with ``columns`` when the file does not exist."""
        path = get_filepath_str(self._filepath, self._protocol)
        if not self._fs.exists(path):
            return pd.DataFrame(columns=self._columns)
        with self._fs.open(path, "r") as f:
            return pd.read_csv(f, **self._load_args)

    def save(self, data: pd.DataFrame) -> None:
        """Write the table."""
        path = get_filepath_str(self._filepath, self._protocol)
        self._fs.makedirs(str(self._filepath.parent), exist_ok=True)
        with self._fs.open(path, "w") as f:
            data.to_csv(f, **self._save_args)

    def _exists(self) -> bool:
        return self._fs.exists(get_filepath_str(self._filepath, self._protocol))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "columns": self._columns}
