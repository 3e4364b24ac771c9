"""A versioned Kedro dataset for the exported inference ensemble (``torch.export``)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version, get_filepath_str
from torch import nn

from xview3_pipeline.core.detection.cnn.ensemble import export_ensemble, load_exported


class ExportedEnsembleDataset(AbstractVersionedDataset[nn.Module, nn.Module]):
    """Save a CircleNet ensemble as one ``torch.export`` archive; load it back as a module.

    ``save`` exports the module for inputs of shape ``module.export_shape`` (``(B, 2, T, T)``,
    dynamic batch) into a temporary file renamed into place; a failed export leaves no
    partial file and no empty version folder. ``load`` checks the archive's integrity
    (every member's CRC), that it holds no pickled objects and that its weights are
    finite, and returns the exported module: inference then needs neither the model code
    nor the fold checkpoints. Every refusal names the file. Local paths only.

    Args:
        filepath: Path of the ``.pt2`` archive.
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
        fs = fsspec.filesystem("file")
        super().__init__(
            filepath=PurePosixPath(filepath),
            version=version,
            exists_function=fs.exists,
            glob_function=fs.glob,
        )

    def load(self) -> nn.Module:
        """The exported ensemble of the newest (or requested) version.

        Raises:
            ModelFileError: If the archive is truncated, corrupt, unsafe or has a
                non-finite weight (the message names the file).
        """
        return load_exported(get_filepath_str(self._get_load_path(), "file"))

    def save(self, data: nn.Module) -> None:
        """Export ``data`` for inputs of shape ``data.export_shape``.

        Raises:
            DatasetError: If the module has no ``export_shape``.
            ValueError: If a weight of the module is not finite (named).
        """
        shape = getattr(data, "export_shape", None)
        if shape is None:
            raise DatasetError(
                "ExportedEnsembleDataset.save needs a module with an 'export_shape' (B, C, H, W)."
            )
        export_ensemble(data, shape, Path(get_filepath_str(self._get_save_path(), "file")))

    def _exists(self) -> bool:
        try:
            return Path(get_filepath_str(self._get_load_path(), "file")).exists()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "version": self._version}
