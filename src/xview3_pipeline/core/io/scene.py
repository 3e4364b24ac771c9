"""The one scene handle: where a scene's rasters and ancillary files live.

A :class:`Scene` is built from a scene-index row (:meth:`Scene.from_index_row`, paths
relative to the raw root or absolute), from a scene folder (:meth:`Scene.from_folder`, which
checks the rasters and reads the size), or located without touching the rasters
(:meth:`Scene.locate`, what discovery returns). Its size, when not given, and its CRS and
affine transform are read lazily, once, from the VH raster's header.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import rasterio
from affine import Affine
from rasterio.crs import CRS

from xview3_pipeline.core.constants import ANCILLARY_FILES, SHORELINE_DIR, VH_FILE, VV_FILE
from xview3_pipeline.core.io.ancillary import find_shoreline_file
from xview3_pipeline.core.io.layout import validate_scene_id

__all__ = ["Scene"]

_REQUIRED = ("scene_id", "vh_path", "vv_path", "height", "width")


def _field(row: Any, name: str) -> Any:
    """``row[name]`` of a mapping or ``row.name`` of a namedtuple; ``None`` when absent."""
    if isinstance(row, Mapping):
        return row.get(name)
    return getattr(row, name, None)


def _missing(value: Any) -> bool:
    """None, NaN (pandas' missing value) or an empty string."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value == ""


def _resolve(value: Any, raw_root: Path) -> Path | None:
    """``raw_root / value`` for a relative path, the path itself when absolute."""
    if _missing(value):
        return None
    path = Path(str(value))
    return path if path.is_absolute() else raw_root / path


@dataclass(frozen=True)
class Scene:
    """One SAR scene: its rasters, size, ancillary folder and shoreline file.

    Attributes:
        scene_id: Plain scene identifier (validated).
        vh_path: ``VH_dB.tif``.
        vv_path: ``VV_dB.tif``.
        ancillary_dir: Folder holding ``owiMask.tif`` and the other 500 m rasters
            (normally the scene folder), or ``None``.
        shoreline_path: ``<scene_id>_shoreline.npy``, or ``None`` when there is none.
        split: ``train``, ``validation``, ``public`` or ``None`` (a prediction folder).
        shape: ``(height, width)`` of the SAR rasters (pixels) when known (a scene-index
            row, :meth:`from_folder`); ``None`` reads it from the VH header on first use of
            :attr:`height` or :attr:`width`. Not part of equality: the paths name the scene.
    """

    scene_id: str
    vh_path: Path
    vv_path: Path
    ancillary_dir: Path | None = None
    shoreline_path: Path | None = None
    split: str | None = None
    shape: tuple[int, int] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        validate_scene_id(self.scene_id, where=f"scene handle of {self.vh_path}")
        if self.shape is not None and (self.shape[0] < 1 or self.shape[1] < 1):
            raise ValueError(
                f"Scene {self.scene_id}: size {self.shape[0]} x {self.shape[1]} must be positive."
            )

    # cached_property stores into the instance __dict__ directly (no __setattr__), so it
    # works on a frozen dataclass; the cached value is not a field (equality and hashing
    # use the fields only).
    @cached_property
    def _header(self) -> tuple[tuple[int, int], CRS | None, Affine]:
        with rasterio.open(self.vh_path) as src:
            return (int(src.height), int(src.width)), src.crs, src.transform

    @property
    def scene_dir(self) -> Path:
        """The folder holding the SAR rasters."""
        return self.vh_path.parent

    @property
    def height(self) -> int:
        """Rows of the SAR rasters (pixels)."""
        return (self.shape or self._header[0])[0]

    @property
    def width(self) -> int:
        """Columns of the SAR rasters (pixels)."""
        return (self.shape or self._header[0])[1]

    @property
    def crs(self) -> CRS | None:
        """CRS of the SAR rasters (read once from the VH header)."""
        return self._header[1]

    @property
    def transform(self) -> Affine:
        """Affine pixel → CRS transform of the SAR rasters (read once from the VH header)."""
        return self._header[2]

    @property
    def owi_mask_path(self) -> Path | None:
        """``owiMask.tif`` in the ancillary folder, when it exists."""
        if self.ancillary_dir is None:
            return None
        path = self.ancillary_dir / ANCILLARY_FILES["owi_mask"]
        return path if path.is_file() else None

    @classmethod
    def from_index_row(cls, row: Any, raw_root: str | Path) -> Scene:
        """The scene of a scene-index row.

        Path columns (``vh_path``, ``vv_path``, ``scene_dir``, ``shoreline_path``) may be
        relative to ``raw_root`` (resolved as ``raw_root / value``) or absolute. When the
        row has no ``shoreline_path``, ``<raw_root>/shoreline/`` and its split subfolders
        are searched for ``<scene_id>_shoreline.npy``.

        Args:
            row: A namedtuple (``itertuples``) or mapping with ``scene_id``, ``vh_path``,
                ``vv_path``, ``height``, ``width`` and optionally ``scene_dir``,
                ``shoreline_path``, ``split``.
            raw_root: Root the relative paths are relative to.

        Returns:
            The scene.

        Raises:
            ValueError: If a required column is missing or empty.
        """
        root = Path(raw_root)
        absent = [name for name in _REQUIRED if _missing(_field(row, name))]
        if absent:
            raise ValueError(
                f"Scene-index row {_field(row, 'scene_id')!r} lacks {absent}; "
                f"required columns are {list(_REQUIRED)}."
            )
        scene_id = validate_scene_id(str(_field(row, "scene_id")), where="scene index")
        vh_path = _resolve(_field(row, "vh_path"), root)
        scene_dir = _resolve(_field(row, "scene_dir"), root)
        shoreline = _resolve(_field(row, "shoreline_path"), root)
        if shoreline is None and (root / SHORELINE_DIR).is_dir():
            shoreline = find_shoreline_file(root / SHORELINE_DIR, scene_id)
        split = _field(row, "split")
        return cls(
            scene_id=scene_id,
            vh_path=vh_path,  # type: ignore[arg-type]
            vv_path=_resolve(_field(row, "vv_path"), root),  # type: ignore[arg-type]
            shape=(int(_field(row, "height")), int(_field(row, "width"))),
            ancillary_dir=scene_dir if scene_dir is not None else vh_path.parent,  # type: ignore[union-attr]
            shoreline_path=shoreline,
            split=None if _missing(split) else str(split),
        )

    @classmethod
    def locate(
        cls,
        folder: str | Path,
        *,
        scene_id: str | None = None,
        shoreline_path: str | Path | None = None,
        split: str | None = None,
    ) -> Scene:
        """The scene of a folder, without opening or even checking its rasters.

        Args:
            folder: The scene folder (also its ancillary folder).
            scene_id: Identifier; the folder name by default.
            shoreline_path: The scene's shoreline file, if any.
            split: The split, if known.

        Returns:
            The scene; its size is read from the VH header on first use.

        Raises:
            InvalidSceneIdError: If the identifier is not a plain scene id.
        """
        folder = Path(folder)
        return cls(
            scene_id=scene_id or folder.name,
            vh_path=folder / VH_FILE,
            vv_path=folder / VV_FILE,
            ancillary_dir=folder,
            shoreline_path=Path(shoreline_path) if shoreline_path is not None else None,
            split=split,
        )

    def checked(self) -> Scene:
        """This scene once both SAR rasters exist, with its size read from the VH header.

        Returns:
            The scene with :attr:`shape` set.

        Raises:
            FileNotFoundError: If a SAR raster is missing (names the folder and the files).
        """
        missing = [p.name for p in (self.vh_path, self.vv_path) if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                f"Scene folder {self.scene_dir} lacks {missing}; expected {VH_FILE} and {VV_FILE}."
            )
        with rasterio.open(self.vh_path) as src:
            shape = (int(src.height), int(src.width))
        return replace(self, shape=shape)

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        *,
        scene_id: str | None = None,
        shoreline_path: str | Path | None = None,
        split: str | None = None,
    ) -> Scene:
        """The scene of a folder holding ``VH_dB.tif`` and ``VV_dB.tif`` (size from VH).

        Args:
            folder: The scene folder (also its ancillary folder).
            scene_id: Identifier; the folder name by default.
            shoreline_path: The scene's shoreline file, if any.
            split: The split, if known.

        Returns:
            The scene.

        Raises:
            FileNotFoundError: If a SAR raster is missing.
        """
        located = cls.locate(folder, scene_id=scene_id, shoreline_path=shoreline_path, split=split)
        return located.checked()
