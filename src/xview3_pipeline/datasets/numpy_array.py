"""A Kedro dataset for one NumPy array in a ``.npy`` file, without pickle.

``save`` writes with ``numpy.save(allow_pickle=False)`` to a temporary name in the same
folder and renames it into place; ``load`` reads with ``allow_pickle=False``, so an
object array (which would unpickle code) is refused. Used for the per-pair class
probabilities of the xView2 models, one partition per image pair::

    "xview2.{architecture}.oof_probabilities":
      type: xview3_pipeline.datasets.AtomicPartitionedDataset
      path: data/07_model_output/xview2/{architecture}/oof
      dataset: {type: xview3_pipeline.datasets.NpyDataset}
      filename_suffix: .npy
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io.core import AbstractDataset, DatasetError
from numpy.typing import NDArray


class NpyDataset(AbstractDataset[NDArray[Any], NDArray[Any]]):
    """Save and load one array as ``.npy`` (no pickle).

    Args:
        filepath: Local path of the file.
        metadata: Free-form metadata shown by kedro-viz.
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath.removeprefix("file://"))
        self.metadata = metadata

    def load(self) -> NDArray[Any]:
        """The stored array.

        Raises:
            DatasetError: If the file is missing, truncated or holds an object array
                (named).
        """
        try:
            return np.load(self._filepath, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise DatasetError(f"Cannot read the array {self._filepath}: {exc}") from None

    def save(self, data: NDArray[Any]) -> None:
        """Write ``data`` atomically (temporary file, then rename).

        Raises:
            DatasetError: If ``data`` is not a numeric or boolean array.
        """
        array = np.asarray(data)
        if array.dtype.kind not in "biuf":
            raise DatasetError(
                f"NpyDataset stores numeric arrays; got dtype {array.dtype} for {self._filepath}."
            )
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._filepath.with_name(f".{self._filepath.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            with tmp.open("wb") as f:
                np.save(f, array, allow_pickle=False)
            os.replace(tmp, self._filepath)
        finally:
            tmp.unlink(missing_ok=True)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
