"""A CSV dataset that writes nothing for an empty table (an output that may not apply)."""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from typing import Any

import fsspec
import pandas as pd
from kedro.io.core import AbstractDataset, get_filepath_str, get_protocol_and_path


class SkipEmptyCSVDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """A CSV file written only when the table has rows.

    Some outputs exist only in some configurations: the comparison of the tuning methods
    is a table only when more than one method runs. The node returns an empty frame
    then, and this dataset writes no file and removes the file of an earlier run (so a
    stale comparison is never left where this run's would go). Loading a missing file
    gives an empty frame with ``columns``.

    A table with rows is written to a temporary name in the same folder and renamed into
    place, so a reader never sees a half-written file.

    Args:
        filepath: Path of the CSV.
        columns: Columns of the empty frame returned when the file does not exist.
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

    def _path(self) -> str:
        return get_filepath_str(self._filepath, self._protocol)

    def load(self) -> pd.DataFrame:
        """The table, or an empty frame with ``columns`` when no file was written."""
        path = self._path()
        if not self._fs.exists(path):
            return pd.DataFrame(columns=self._columns)
        with self._fs.open(path, "r") as f:
            return pd.read_csv(f, **self._load_args)

    def save(self, data: pd.DataFrame) -> None:
        """Write the table, or remove an earlier file when the table has no rows."""
        path = self._path()
        if data.empty:
            if self._fs.exists(path):
                self._fs.rm(path)
            return
        self._fs.makedirs(str(self._filepath.parent), exist_ok=True)
        temporary = f"{path}.tmp-{os.getpid()}"
        try:
            with self._fs.open(temporary, "w") as f:
                data.to_csv(f, **self._save_args)
            self._fs.mv(temporary, path)
        finally:
            if self._fs.exists(temporary):
                self._fs.rm(temporary)

    def _exists(self) -> bool:
        return self._fs.exists(self._path())

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "columns": self._columns}
