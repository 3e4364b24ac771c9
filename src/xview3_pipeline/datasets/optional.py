"""Outputs that a run may legitimately not produce, and inputs that may not exist yet.

* :class:`OptionalDataset` wraps any dataset. A node returns :data:`NOT_PRODUCED` for an
  output it has nothing to write (e.g. the method comparison when one tuning method ran);
  the wrapper then writes nothing and removes the file an earlier run left there, so the
  catalog never shows an earlier run's result as this run's. (Kedro refuses to save
  ``None``, hence the sentinel.)
* :class:`ThresholdsDataset` is a versioned JSON file of tuned thresholds whose ``load``
  returns ``None`` while no version exists: ``predict`` on a project that never tuned a
  detector then falls back to default thresholds (with a warning) instead of failing.
"""

from __future__ import annotations

import glob
import json
import logging
import os
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import (
    AbstractDataset,
    AbstractVersionedDataset,
    DatasetError,
    Version,
    VersionNotFoundError,
    get_filepath_str,
    parse_dataset_definition,
)

logger = logging.getLogger(__name__)


class _NotProduced:
    """Type of :data:`NOT_PRODUCED`."""

    _instance: _NotProduced | None = None

    def __new__(cls) -> _NotProduced:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_PRODUCED"

    def __reduce__(self) -> str:
        return "NOT_PRODUCED"


#: Returned by a node for an output it does not produce in this run.
NOT_PRODUCED = _NotProduced()


class OptionalDataset(AbstractDataset[Any, Any]):
    """A dataset that may be skipped by the node that produces it.

    Example catalog entry::

        "{detector}.tuning_comparison":
          type: xview3_pipeline.datasets.OptionalDataset
          dataset:
            type: pandas.CSVDataset
            filepath: data/08_reporting/{detector}/tuning/comparison.csv

    Args:
        dataset: The wrapped dataset's configuration (``type`` and its arguments); it
            must be unversioned and have a ``filepath`` on the local file system.
        metadata: Free-form metadata shown by kedro-viz.
    """

    def __init__(self, *, dataset: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        config = dict(dataset)
        if "filepath" not in config:
            raise DatasetError(f"OptionalDataset needs a 'filepath' in its dataset: {config}.")
        if config.get("versioned"):
            raise DatasetError("OptionalDataset wraps unversioned datasets only.")
        cls, args = parse_dataset_definition(config)
        self._filepath = Path(str(config["filepath"]))
        self._dataset = cls(**args)
        self.metadata = metadata

    def load(self) -> Any:
        """The wrapped dataset's data."""
        return self._dataset.load()

    def save(self, data: Any) -> None:
        """Save ``data``, or remove an earlier run's file when it is :data:`NOT_PRODUCED`."""
        if data is NOT_PRODUCED:
            if self._filepath.exists():
                self._filepath.unlink()
                logger.info("Not produced in this run; removed the earlier %s", self._filepath)
            return
        self._dataset.save(data)

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._dataset._describe(), "filepath": str(self._filepath)}


class ThresholdsDataset(AbstractVersionedDataset[dict[str, Any], dict[str, Any] | None]):
    """Versioned JSON of tuned thresholds; loads ``None`` while none was tuned.

    Example catalog entry::

        "{detector}.best_thresholds":
          type: xview3_pipeline.datasets.ThresholdsDataset
          filepath: data/06_models/thresholds/{detector}/best_thresholds.json
          versioned: true

    Args:
        filepath: Path of the JSON file (local).
        version: Kedro version to load or save.
        metadata: Free-form metadata shown by kedro-viz.
    """

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(filepath),
            version=version,
            exists_function=os.path.exists,
            glob_function=glob.glob,
        )

    def load(self) -> dict[str, Any] | None:
        """The newest (or requested) thresholds, or None when none were saved."""
        try:
            path = get_filepath_str(self._get_load_path(), "file")
        except VersionNotFoundError:
            logger.info("No tuned thresholds at %s yet.", self._filepath)
            return None
        if not os.path.exists(path):
            return None
        result: dict[str, Any] = json.loads(Path(path).read_text())
        return result

    def save(self, data: dict[str, Any]) -> None:
        """Write the thresholds (temporary name, then rename)."""
        path = Path(get_filepath_str(self._get_save_path(), "file"))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            tmp.write_text(json.dumps(data, indent=2, sort_keys=False))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _exists(self) -> bool:
        try:
            return os.path.exists(get_filepath_str(self._get_load_path(), "file"))
        except VersionNotFoundError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "version": self._version}
