"""Tuned thresholds that may not exist yet.

:class:`ThresholdsDataset` is a versioned JSON file of tuned thresholds whose ``load``
returns ``None`` while no version exists: ``predict`` on a project that never tuned a
detector then falls back to default thresholds (with a warning) instead of failing, and
the submission step stops with a message that says to run the tuning first.
"""

from __future__ import annotations

import glob
import json
import logging
import os
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import (
    AbstractVersionedDataset,
    Version,
    VersionNotFoundError,
    get_filepath_str,
)

logger = logging.getLogger(__name__)


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
