"""Localization and damage target masks rasterised from xBD post labels.

As the winner's ``convert_masks.py`` (the official baseline's conversion), both masks come
from the *post* label: its polygons are drawn with :func:`rasterio.features.rasterize`
(pixel-centre rule, ``all_touched=False``) in file order, so a later polygon overwrites an
earlier one where they overlap. Damage values are ``0`` background, ``1`` no-damage (and
``un-classified``, counted as no damage as the winner did), ``2`` minor, ``3`` major and
``4`` destroyed; the localization mask is ``damage > 0``. The pre label is validated at
ingestion but not drawn (in xBD its polygons are those of the post label).

Files follow the names the xView2 scorer reads,
``<split>/<split>_{localization,damage}_<mask id>_target.png`` (8-bit grey PNG), one
folder per split so that ``<folder>/test`` and ``<folder>/hold`` can be scored as they
are. The scorer splits names on ``_``, so the mask id is the pair id with ``_`` replaced
by ``-`` (:func:`mask_id`).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from PIL import Image
from rasterio.features import rasterize

from xview3_pipeline.core.xview2.ingestion import label_for, read_pair_label
from xview3_pipeline.core.xview2.labels import OUTSIDE_TOLERANCE_PX, load_label_json, parse_label

logger = logging.getLogger(__name__)

#: Damage mask value of each post subtype.
DAMAGE_VALUES: Final[dict[str, int]] = {
    "no-damage": 1, "minor-damage": 2, "major-damage": 3, "destroyed": 4, "un-classified": 1,
}  # fmt: skip


def mask_id(pair_id: str) -> str:
    """The id of a pair in mask file names: ``_`` replaced by ``-`` (the scorer splits on ``_``)."""
    return pair_id.replace("_", "-")


def target_name(split: str, kind: str, pair_id: str) -> str:
    """``<split>/<split>_<kind>_<mask id>_target`` (a partition id; add ``.png`` for a file).

    Args:
        split: Split of the pair.
        kind: ``localization`` or ``damage``.
        pair_id: The pair.
    """
    return f"{split}/{split}_{kind}_{mask_id(pair_id)}_target"


def rasterize_pair(
    label_json: Mapping[str, Any] | str | Path,
    height: int,
    width: int,
    *,
    tolerance_px: float = OUTSIDE_TOLERANCE_PX,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """The target masks of one pair from its post label.

    Features that fail validation (malformed WKT, unknown subtype, outside the image; see
    :mod:`xview3_pipeline.core.xview2.labels`) are left out with a warning.

    Args:
        label_json: The post label document, or the path of its file.
        height: Image height, pixels.
        width: Image width, pixels.
        tolerance_px: How far a polygon may reach outside the image.

    Returns:
        ``(localization, damage)``, each ``(height, width)`` uint8: localization 0/1,
        damage 0..4 (later polygons over earlier ones).

    Raises:
        LabelValidationError: The file is not valid JSON or has no ``features.xy`` list.
    """
    doc: Mapping[str, Any]
    if isinstance(label_json, str | Path):
        source, doc = str(label_json), load_label_json(Path(label_json))
    else:
        source, doc = "<label document>", label_json
    parsed = parse_label(
        doc, source=source, post=True, height=height, width=width, tolerance_px=tolerance_px
    )
    for reject in parsed.rejects:
        logger.warning(
            "%s features.xy[%s] %r left out: %s",
            source, reject["feature"], reject["value"], reject["reason"],
        )  # fmt: skip
    return _draw(parsed.buildings, height, width)


def _draw(
    buildings: list[Any], height: int, width: int
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    shapes = [(b.geometry, DAMAGE_VALUES[b.subtype]) for b in buildings]
    if shapes:
        damage = rasterize(shapes, out_shape=(height, width), fill=0, dtype="uint8")
    else:
        damage = np.zeros((height, width), dtype=np.uint8)
    return (damage > 0).astype(np.uint8), damage.astype(np.uint8)


class _LazyPair:
    """The two masks of a pair, rasterised on first use (once for both)."""

    def __init__(self, path: Path, height: int, width: int, tolerance_px: float) -> None:
        self._args = (path, height, width, tolerance_px)
        self._masks: tuple[NDArray[np.uint8], NDArray[np.uint8]] | None = None

    def _get(self) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
        if self._masks is None:
            path, height, width, tolerance_px = self._args
            parsed = read_pair_label(
                path, source=str(path), post=True, height=height, width=width,
                tolerance_px=tolerance_px,
            )  # fmt: skip
            self._masks = _draw(parsed.buildings, height, width)
        return self._masks

    def localization(self) -> NDArray[np.uint8]:
        return self._get()[0]

    def damage(self) -> NDArray[np.uint8]:
        return self._get()[1]


def _as_image(load: Callable[[], NDArray[np.uint8]]) -> Image.Image:
    return Image.fromarray(load())


def iter_target_masks(
    index: pd.DataFrame,
    raw_root: str | Path,
    truth_root: str | Path | None = None,
    *,
    tolerance_px: float = OUTSIDE_TOLERANCE_PX,
) -> Iterator[tuple[str, str, Callable[[], NDArray[np.uint8]]]]:
    """Lazy masks of every pair with a post label.

    Labels are read from the raw root (the index's ``post_label``) or, for pairs without
    one, from ``<truth_root>/<split>/labels/`` when present; pairs with neither are
    skipped (logged).

    Args:
        index: The pair index (``pair_id``, ``split``, ``post_label``, ``height``,
            ``width``).
        raw_root: The raw root the index describes.
        truth_root: Root of the withheld labels, or None.
        tolerance_px: How far a polygon may reach outside the image.

    Yields:
        ``(partition id, kind, load)`` per mask, localization before damage; ``load()``
        rasterises the pair (once for both masks of a pair).
    """
    raw = Path(raw_root)
    truth = Path(truth_root) if truth_root is not None else None
    skipped = 0
    for row in index.itertuples(index=False):
        split, pair_id = str(row.split), str(row.pair_id)
        path = label_for(
            raw, truth, split=split, post_label=str(row.post_label), pair_id=pair_id, phase="post"
        )
        if path is None:
            skipped += 1
            continue
        pair = _LazyPair(path, int(row.height), int(row.width), tolerance_px)
        yield target_name(split, "localization", pair_id), "localization", pair.localization
        yield target_name(split, "damage", pair_id), "damage", pair.damage
    if skipped:
        logger.info("%d pair(s) have no post label in either root; no masks for them.", skipped)


def target_mask_partitions(
    index: pd.DataFrame,
    raw_root: str | Path,
    truth_root: str | Path | None = None,
    *,
    tolerance_px: float = OUTSIDE_TOLERANCE_PX,
) -> dict[str, Callable[[], Image.Image]]:
    """The masks as lazy grey PIL images keyed by partition id (for a partitioned dataset).

    Args:
        index: The pair index.
        raw_root: The raw root.
        truth_root: Root of the withheld labels, or None.
        tolerance_px: How far a polygon may reach outside the image.

    Returns:
        ``{"<split>/<split>_<kind>_<mask id>_target": load}``; ``load()`` gives an ``L``
        image.
    """
    out: dict[str, Callable[[], Image.Image]] = {}
    for name, _, load in iter_target_masks(index, raw_root, truth_root, tolerance_px=tolerance_px):
        out[name] = functools.partial(_as_image, load)
    return out


def write_target_masks(
    index: pd.DataFrame,
    raw_root: str | Path,
    folder: str | Path,
    truth_root: str | Path | None = None,
    *,
    tolerance_px: float = OUTSIDE_TOLERANCE_PX,
) -> list[Path]:
    """Write the masks of every labelled pair into ``folder``, replacing it atomically.

    The PNGs are written into a hidden sibling folder that then replaces ``folder`` (two
    renames), so a reader sees the previous set or the new one, never a part.

    Args:
        index: The pair index.
        raw_root: The raw root.
        folder: Target folder (``<folder>/<split>/<split>_<kind>_<mask id>_target.png``).
        truth_root: Root of the withheld labels, or None.
        tolerance_px: How far a polygon may reach outside the image.

    Returns:
        The paths written, in ``folder``.
    """
    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    staging = target.with_name(f".{target.name}.staging-{tag}")
    old = target.with_name(f".{target.name}.old-{tag}")
    names = []
    try:
        for name, _, load in iter_target_masks(
            index, raw_root, truth_root, tolerance_px=tolerance_px
        ):
            path = staging / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(load()).save(path, format="PNG")
            names.append(f"{name}.png")
        staging.mkdir(exist_ok=True)
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    logger.info("Wrote %d target masks to %s.", len(names), target)
    return [target / name for name in names]
