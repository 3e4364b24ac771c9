"""The xBD dataset layout and label vocabulary that the generator writes.

The layout is the one of the released xBD data (and of the xView2 challenge)::

    <root>/<split>/images/<disaster>_<id>_pre_disaster.png     RGB, 1024 x 1024
    <root>/<split>/images/<disaster>_<id>_post_disaster.png
    <root>/<split>/labels/<disaster>_<id>_{pre,post}_disaster.json

where ``<id>`` is an 8-digit number. A label file holds ``features.xy`` (polygons in
pixel coordinates of its image, x = column, y = row, origin at the top-left corner of the
top-left pixel), ``features.lng_lat`` (the same polygons in WGS84 longitude/latitude) and
``metadata``. Each feature has ``properties.feature_type`` (``building``) and
``properties.uid`` (shared by the pre and post feature of a building); post features also
have ``properties.subtype``, one of :data:`SUBTYPES`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

#: Damage subtypes of post-disaster features, in the order of the xView2 mask values
#: 1-4 (``un-classified`` is scored as ``no-damage`` by the official mask conversion).
SUBTYPES: Final[tuple[str, ...]] = (
    "no-damage",
    "minor-damage",
    "major-damage",
    "destroyed",
    "un-classified",
)
#: Splits of the synthetic dataset: ``test`` is written without labels (its truth goes to
#: a separate folder) and ``hold`` is a labelled holdout, as in xBD.
XVIEW2_SPLITS: Final[tuple[str, ...]] = ("train", "test", "hold")
#: The ``metadata.disaster_type`` values the generator draws, as spelled in xBD.
DISASTER_TYPES: Final[tuple[str, ...]] = ("flooding", "wind", "fire", "earthquake")
#: Keys of ``metadata`` in the real xBD label files, in their order.
METADATA_KEYS: Final[tuple[str, ...]] = (
    "sensor",
    "provider_asset_type",
    "gsd",
    "capture_date",
    "off_nadir_angle",
    "pan_resolution",
    "sun_azimuth",
    "sun_elevation",
    "target_azimuth",
    "disaster",
    "disaster_type",
    "catalog_id",
    "original_width",
    "original_height",
    "width",
    "height",
    "id",
    "img_name",
)
#: Image file suffix per ``image_format``.
IMAGE_SUFFIX: Final[dict[str, str]] = {"png": ".png", "geotiff": ".tif"}

Phase = Literal["pre", "post"]


def image_name(image_id: str, phase: Phase, suffix: str = ".png") -> str:
    """File name of one image of a pair.

    Args:
        image_id: ``<disaster>_<8-digit id>``, e.g. ``hurricane-harvey_00000123``.
        phase: ``pre`` or ``post``.
        suffix: ``.png`` (xBD) or ``.tif`` (GeoTIFF).

    Returns:
        ``<image_id>_<phase>_disaster<suffix>``.
    """
    return f"{image_id}_{phase}_disaster{suffix}"


def image_path(root: Path, split: str, image_id: str, phase: Phase, suffix: str = ".png") -> Path:
    """``<root>/<split>/images/<image_id>_<phase>_disaster<suffix>``."""
    return root / split / "images" / image_name(image_id, phase, suffix)


def label_path(root: Path, split: str, image_id: str, phase: Phase) -> Path:
    """``<root>/<split>/labels/<image_id>_<phase>_disaster.json``."""
    return root / split / "labels" / image_name(image_id, phase, ".json")
