"""A CSV dataset that writes nothing for an empty table (an output that may not apply)."""

from __future__ import annotations

import os

import pandas as pd
from kedro.io.core import get_filepath_str

from xview3_pipeline.datasets.optional_csv import OptionalCSVDataset


class SkipEmptyCSVDataset(OptionalCSVDataset):
    """A CSV file written only when the table has rows.

    Some outputs exist only in some configurations: the comparison of the tuning methods
    is a table only when more than one method runs. The node returns an empty frame
    then, and this dataset writes no file and removes the file of an earlier run (so a
    stale comparison is never left where this run's would go). Loading a missing file
    gives an empty frame with ``columns``.

    A table with rows is written to a temporary name in the same folder and renamed into
    place, so a reader never sees a half-written file.

    Arguments, loading and description are those of :class:`OptionalCSVDataset`.
    """

    def save(self, data: pd.DataFrame) -> None:
        """Write the table, or remove an earlier file when the table has no rows."""
        path = get_filepath_str(self._filepath, self._protocol)
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
