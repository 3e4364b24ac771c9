"""Reading and validating one xBD label file (``features.xy``, ``metadata``).

A file that is not a JSON object with a ``features.xy`` list is an error that stops
(:class:`~xview3_pipeline.core.errors.LabelValidationError`). A feature that cannot be
used is *rejected*: it is left out of the counts and the masks and recorded as one row of
:data:`REJECT_COLUMNS` naming the file, the feature, the value and the reason. Reasons:

* ``malformed_wkt``: ``wkt`` is missing, does not parse, is not a (multi)polygon, or is
  empty or invalid (self-intersecting);
* ``unknown_subtype``: a post feature whose ``properties.subtype`` is not one of
  :data:`~xview3_pipeline.core.xview2.synthetic.xbd.SUBTYPES` (pre features carry none and
  are not checked);
* ``outside_image``: the polygon's bounds reach further than ``tolerance_px`` pixels
  outside ``[0, width] x [0, height]`` (pixel-corner coordinates; a polygon within the
  tolerance is kept and clipped by the rasterisation).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import shapely
import shapely.wkt
from shapely.errors import ShapelyError
from shapely.geometry.base import BaseGeometry

from xview3_pipeline.core.errors import LabelValidationError
from xview3_pipeline.core.xview2.synthetic.xbd import SUBTYPES

#: Columns of the reject table.
REJECT_COLUMNS: Final[tuple[str, ...]] = (
    "pair_id", "split", "phase", "file", "feature", "uid", "value", "reason",
)  # fmt: skip
#: Default distance (pixels) a polygon may reach outside the image before it is rejected.
OUTSIDE_TOLERANCE_PX: Final[float] = 1.0


@dataclass(frozen=True)
class Building:
    """One usable feature of a label file.

    Attributes:
        index: Position of the feature in ``features.xy`` (0-based).
        uid: ``properties.uid`` ("" when absent).
        subtype: ``properties.subtype`` (post labels) or "" (pre labels).
        geometry: The polygon in pixel coordinates (x = column, y = row).
    """

    index: int
    uid: str
    subtype: str
    geometry: BaseGeometry


@dataclass(frozen=True)
class ParsedLabel:
    """A validated label file.

    Attributes:
        metadata: The ``metadata`` object ({} when absent).
        buildings: Usable features, in file order.
        rejects: One mapping per rejected feature, keys :data:`REJECT_COLUMNS` except
            ``pair_id``, ``split`` and ``phase`` (filled by the caller).
    """

    metadata: dict[str, Any]
    buildings: list[Building]
    rejects: list[dict[str, Any]] = field(default_factory=list)


def load_label_json(path: Path) -> dict[str, Any]:
    """Read a label file as a JSON object.

    Args:
        path: The ``.json`` file.

    Returns:
        The parsed document.

    Raises:
        LabelValidationError: Not valid JSON (names the file, line and column), or not a
            JSON object.
    """
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise LabelValidationError(
            f"Label file {path} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}."
        ) from exc
    except UnicodeDecodeError as exc:
        raise LabelValidationError(f"Label file {path} is not UTF-8 text: {exc}.") from exc
    if not isinstance(doc, dict):
        raise LabelValidationError(
            f"Label file {path}: expected a JSON object, got {type(doc).__name__}."
        )
    return doc


def _reject(source: str, index: int, uid: str, value: Any, reason: str) -> dict[str, Any]:
    text = value if isinstance(value, str) else repr(value)
    return {"file": source, "feature": index, "uid": uid, "value": text[:200], "reason": reason}


def _geometry(wkt: Any) -> tuple[BaseGeometry | None, str]:
    """The polygon of a ``wkt`` value, or None and why not."""
    if not isinstance(wkt, str):
        return None, "not a WKT string"
    try:
        geom = shapely.wkt.loads(wkt)
    except (ShapelyError, ValueError, TypeError) as exc:
        return None, f"does not parse ({exc})"
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return None, f"is a {geom.geom_type}, not a polygon"
    if geom.is_empty or not geom.is_valid:
        return None, f"is {'empty' if geom.is_empty else shapely.is_valid_reason(geom)}"
    return geom, ""


def parse_label(
    doc: Mapping[str, Any],
    *,
    source: str,
    post: bool,
    height: int,
    width: int,
    tolerance_px: float = OUTSIDE_TOLERANCE_PX,
) -> ParsedLabel:
    """Validate the ``features.xy`` of a label document against its image size.

    Args:
        doc: The label document (see :func:`load_label_json`).
        source: Name of the file in messages and reject rows (e.g. its relative path).
        post: Whether this is a post label (``subtype`` is required and checked).
        height: Image height, pixels.
        width: Image width, pixels.
        tolerance_px: How far (pixels) a polygon may reach outside the image.

    Returns:
        The metadata, the usable buildings and the rejected features.

    Raises:
        LabelValidationError: ``features.xy`` is missing or not a list, or a feature is
            not an object.
    """
    features = doc.get("features")
    xy = features.get("xy") if isinstance(features, Mapping) else None
    if not isinstance(xy, list):
        raise LabelValidationError(
            f"Label file {source}: expected a list at features.xy, got {type(xy).__name__}."
        )
    meta = doc.get("metadata")
    buildings: list[Building] = []
    rejects: list[dict[str, Any]] = []
    lo_x, lo_y, hi_x, hi_y = (
        -tolerance_px,
        -tolerance_px,
        width + tolerance_px,
        height + tolerance_px,
    )
    for i, feature in enumerate(xy):
        if not isinstance(feature, Mapping):
            raise LabelValidationError(
                f"Label file {source}: features.xy[{i}] is {type(feature).__name__}, "
                "expected an object with 'properties' and 'wkt'."
            )
        props = feature.get("properties")
        props = props if isinstance(props, Mapping) else {}
        uid = str(props.get("uid", ""))
        geom, why = _geometry(feature.get("wkt"))
        if geom is None:
            rejects.append(_reject(source, i, uid, feature.get("wkt"), f"malformed_wkt: {why}"))
            continue
        subtype = props.get("subtype", "") if post else ""
        if post and subtype not in SUBTYPES:
            rejects.append(_reject(source, i, uid, subtype, f"unknown_subtype: not in {SUBTYPES}"))
            continue
        x0, y0, x1, y1 = geom.bounds
        if x0 < lo_x or y0 < lo_y or x1 > hi_x or y1 > hi_y:
            bounds = f"bounds ({x0:g}, {y0:g}, {x1:g}, {y1:g})"
            rejects.append(
                _reject(
                    source,
                    i,
                    uid,
                    bounds,
                    f"outside_image: beyond {width}x{height} px by more than {tolerance_px:g} px",
                )
            )
            continue
        buildings.append(Building(index=i, uid=uid, subtype=str(subtype), geometry=geom))
    return ParsedLabel(
        metadata=dict(meta) if isinstance(meta, Mapping) else {},
        buildings=buildings,
        rejects=rejects,
    )
