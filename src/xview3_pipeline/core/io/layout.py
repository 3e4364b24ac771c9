"""Paths of the xView3 on-disk layout, with scene ids validated before they touch a path.

The layout (identical for the real data and the synthetic generator)::

    <root>/<split>/<scene_id>/VV_dB.tif, VH_dB.tif, bathymetry.tif, owi*.tif
    <root>/train.csv, <root>/validation.csv
    <root>/shoreline/<split>/<scene_id>_shoreline.npy

The scene index stores its paths relative to the raw root (:func:`relative_to_root`), so a
project and raw root that are copied or moved still read their own scenes; consumers open
them through :func:`resolve_scene_paths`.
"""

import math
import re
from pathlib import Path

import pandas as pd

from xview3_pipeline.core.constants import (
    LABEL_FILES,
    SHORELINE_DIR,
    SHORELINE_SUFFIX,
    SPLITS,
)
from xview3_pipeline.core.errors import InvalidSceneIdError

_SCENE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def validate_scene_id(scene_id: object, *, where: str = "") -> str:
    """Check that a scene id is a plain identifier that is safe to join to a path.

    A plain identifier starts with a letter or digit and contains only letters, digits,
    ``_`` and ``-`` (at most 128 characters). Real xView3 ids are 16 hex digits followed by
    ``t`` or ``v``.

    Args:
        scene_id: The value to check.
        where: Where the value comes from, for the error message (e.g. ``"train.csv row 12"``).

    Returns:
        The scene id as a string.

    Raises:
        InvalidSceneIdError: If the value is not a string or not a plain identifier.
    """
    if not isinstance(scene_id, str) or not _SCENE_ID_RE.fullmatch(scene_id):
        origin = f" ({where})" if where else ""
        raise InvalidSceneIdError(
            f"Invalid scene id {scene_id!r}{origin}: expected a plain identifier of letters, "
            "digits, '_' and '-' (no path separators, no '..'), e.g. '0123456789abcdefv'."
        )
    return scene_id


def validate_split(split: str) -> str:
    """Check a split name against the xView3 splits.

    Args:
        split: ``"train"``, ``"validation"`` or ``"public"``.

    Returns:
        The split name.

    Raises:
        ValueError: If the split is unknown.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; expected one of {list(SPLITS)}.")
    return split


def scene_dir(root: str | Path, split: str, scene_id: str) -> Path:
    """Folder of one scene: ``<root>/<split>/<scene_id>``."""
    return Path(root) / validate_split(split) / validate_scene_id(scene_id)


def label_file(root: str | Path, split: str) -> Path:
    """Label CSV of a labelled split: ``<root>/train.csv`` or ``<root>/validation.csv``."""
    if split not in LABEL_FILES:
        raise ValueError(
            f"Split {split!r} has no label file; labelled splits: {list(LABEL_FILES)}."
        )
    return Path(root) / LABEL_FILES[split]


def shoreline_file(root: str | Path, split: str, scene_id: str) -> Path:
    """Shoreline contours of one scene: ``<root>/shoreline/<split>/<scene_id>_shoreline.npy``."""
    return (
        Path(root)
        / SHORELINE_DIR
        / validate_split(split)
        / f"{validate_scene_id(scene_id)}{SHORELINE_SUFFIX}"
    )


#: Scene-index columns that hold paths; ingestion stores them relative to the raw root.
INDEX_PATH_COLUMNS: tuple[str, ...] = ("scene_dir", "vv_path", "vh_path", "shoreline_path")


def relative_to_root(path: str | Path, root: str | Path | None) -> str:
    """A path as stored in the scene index: relative to ``root`` when it lies under it.

    Args:
        path: A file or folder of the raw root.
        root: The raw root, or None to store absolute paths (e.g. a folder of scenes that
            is not a raw root).

    Returns:
        A POSIX path, relative to ``root`` (``train/<scene_id>/VV_dB.tif``) when ``path``
        lies under it, absolute otherwise. Neither path is resolved through symlinks, so a
        raw root that is a link keeps its scenes relative.
    """
    absolute = Path(path).expanduser().absolute()
    if root is None:
        return absolute.as_posix()
    try:
        return absolute.relative_to(Path(root).expanduser().absolute()).as_posix()
    except ValueError:
        return absolute.as_posix()


def resolve_index_path(raw_root: str | Path, value: object) -> Path | None:
    """The file a scene-index path value names: ``Path(raw_root) / value``.

    Args:
        raw_root: The raw root the index was built from (or where it now lies).
        value: A stored path: relative (joined to ``raw_root``), absolute (kept, as in
            indexes written before paths were stored relative), or missing (None, NaN or
            ``""``, e.g. a scene without a shoreline file).

    Returns:
        The path, or None for a missing value.
    """
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    if not text:
        return None
    path = Path(text)
    return path if path.is_absolute() else Path(raw_root) / path


def resolve_scene_paths(scene_index: pd.DataFrame, raw_root: str | Path) -> pd.DataFrame:
    """A copy of a scene index whose path columns name files that can be opened.

    Args:
        scene_index: Scene index (any of :data:`INDEX_PATH_COLUMNS` may be present).
        raw_root: The raw root its relative paths are relative to.

    Returns:
        The same rows and columns; each path column holds POSIX path strings
        (``Path(raw_root) / value``; absolute values unchanged) or None where missing.
    """
    out = scene_index.copy()
    for column in INDEX_PATH_COLUMNS:
        if column in out.columns:
            resolved = [resolve_index_path(raw_root, v) for v in out[column].tolist()]
            out[column] = pd.Series(
                [p.as_posix() if p is not None else None for p in resolved],
                index=out.index,
                dtype=object,
            )
    return out
