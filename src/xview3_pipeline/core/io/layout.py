"""Paths of the xView3 on-disk layout, with scene ids validated before they touch a path.

The layout (identical for the real data and the synthetic generator)::

    <root>/<split>/<scene_id>/VV_dB.tif, VH_dB.tif, bathymetry.tif, owi*.tif
    <root>/train.csv, <root>/validation.csv
    <root>/shoreline/<split>/<scene_id>_shoreline.npy
"""

import re
from pathlib import Path

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
