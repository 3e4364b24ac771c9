"""Catalog-ready tables of the encoding stage: encoded objects per scene, previews."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from xview3_pipeline.core.encoding.config import CoderConfig
from xview3_pipeline.core.encoding.preview import encoding_preview
from xview3_pipeline.core.encoding.roundtrip import roundtrip_f1
from xview3_pipeline.core.encoding.targets import (
    encode_targets,
    labels_to_objects,
    object_targets,
)

#: Columns of an encoded object table.
ENCODED_OBJECT_COLUMNS = (
    "detect_id",
    "stride",
    "cell_x",
    "cell_y",
    "offset_x",
    "offset_y",
    "objectness",
    "vessel",
    "fishing",
    "length_log",
)


def encoded_objects(
    scene_labels: pd.DataFrame, image_shape: tuple[int, int], config: CoderConfig
) -> pd.DataFrame:
    """The targets of every object of one scene, in stride coordinates.

    Args:
        scene_labels: Validated label rows of one scene.
        image_shape: ``(H, W)`` of the scene, pixels.
        config: The coder configuration.

    Returns:
        One row per encoded object (drawing order): ``detect_id``, ``stride``, peak cell
        ``cell_x``/``cell_y``, sub-cell ``offset_x``/``offset_y``, ``objectness``
        (``peak``, or ``ignore`` for ``ignore`` rows and LOW objects when those are
        ignored), ``vessel`` and
        ``fishing`` (0, 1 or 255 = unknown) and ``length_log`` (``log(1 + length_px)``,
        0 when unknown). Dense scene maps are never built.
    """
    t = object_targets(labels_to_objects(scene_labels), image_shape, config)
    ignore = t.ignore_region(config)
    return pd.DataFrame(
        {
            "detect_id": scene_labels["detect_id"].to_numpy(dtype=str)[t.index],
            "stride": config.stride,
            "cell_x": t.cells[:, 0],
            "cell_y": t.cells[:, 1],
            "offset_x": t.offsets[:, 0],
            "offset_y": t.offsets[:, 1],
            "objectness": np.where(ignore, "ignore", "peak"),
            "vessel": t.vessel.astype(np.int16),
            "fishing": t.fishing.astype(np.int16),
            "length_log": t.length,
        }
    )


def densest_crop(
    scene_labels: pd.DataFrame, image_shape: tuple[int, int], size: int
) -> tuple[int, int]:
    """Top-left ``(row0, col0)`` of the ``size``-pixel crop holding the most objects.

    Candidates are crops centred on each object; the search is ``O(n^2)`` in the number
    of objects of one scene, which is small next to reading pixels.
    """
    height, width = image_shape
    rows = scene_labels["detect_scene_row"].to_numpy(dtype=np.int64)
    cols = scene_labels["detect_scene_column"].to_numpy(dtype=np.int64)
    if rows.size == 0:
        return max(0, (height - size) // 2), max(0, (width - size) // 2)
    r0 = np.clip(rows - size // 2, 0, max(0, height - size))
    c0 = np.clip(cols - size // 2, 0, max(0, width - size))
    inside = (
        (rows[None, :] >= r0[:, None])
        & (rows[None, :] < r0[:, None] + size)
        & (cols[None, :] >= c0[:, None])
        & (cols[None, :] < c0[:, None] + size)
    )
    best = int(np.argmax(inside.sum(axis=1)))
    return int(r0[best]), int(c0[best])


def crop_preview(
    image_db: np.ndarray, crop_labels: pd.DataFrame, config: CoderConfig, title: str = ""
) -> Figure:
    """Preview of the targets of one crop.

    Args:
        image_db: ``(2, S, S)`` [VH, VV] crop in dB (NaN for nodata).
        crop_labels: Label rows with ``detect_scene_row``/``column`` relative to the crop.
        config: The coder configuration.
        title: Figure title.

    Returns:
        The figure of :func:`~xview3_pipeline.core.encoding.preview.encoding_preview`.
    """
    objects = labels_to_objects(crop_labels)
    targets = encode_targets(objects, image_db.shape[1:], config)
    return encoding_preview(image_db, targets, objects, config.stride, title=title)


def lazy_crop_preview(
    read: Callable[[int, int, int, int], np.ndarray],
    scene_labels: pd.DataFrame,
    image_shape: tuple[int, int],
    config: CoderConfig,
    *,
    size: int,
    title: str,
) -> Callable[[], Figure]:
    """A function that reads the densest crop of a scene and draws its target preview."""
    row0, col0 = densest_crop(scene_labels, image_shape, size)
    shifted = scene_labels.assign(
        detect_scene_row=scene_labels["detect_scene_row"] - row0,
        detect_scene_column=scene_labels["detect_scene_column"] - col0,
    )

    def render() -> Figure:
        return crop_preview(
            read(row0, col0, size, size), shifted, config, f"{title} rows {row0}+, cols {col0}+"
        )

    return partial(render)


def encode_scenes(
    labels: pd.DataFrame, scenes: pd.DataFrame, config: CoderConfig
) -> dict[str, pd.DataFrame]:
    """Encoded object tables of many scenes.

    Args:
        labels: Validated labels.
        scenes: ``scene_id``, ``height``, ``width`` of the scenes to encode.
        config: The coder configuration.

    Returns:
        ``scene_id -> encoded object table`` (:func:`encoded_objects`).
    """
    by_scene = dict(tuple(labels.groupby("scene_id", sort=False)))
    empty = labels.iloc[0:0]
    return {
        str(r.scene_id): encoded_objects(
            by_scene.get(r.scene_id, empty), (int(r.height), int(r.width)), config
        )
        for r in scenes.itertuples(index=False)
    }


def roundtrip_table(
    labels: pd.DataFrame,
    scenes: pd.DataFrame,
    config: CoderConfig,
    *,
    strides: tuple[int, ...] = (1, 2, 4, 8, 16),
    include_low: bool = False,
) -> pd.DataFrame:
    """Round-trip F1 per stride over scenes (encode the labels, decode them, match).

    Args:
        labels: Validated labels.
        scenes: ``scene_id``, ``height``, ``width`` of the scenes.
        config: The coder configuration (its stride is replaced by each of ``strides``).
        strides: Output strides to evaluate.
        include_low: Encode LOW objects as training does (see
            :func:`~xview3_pipeline.core.encoding.roundtrip.roundtrip_f1`).

    Returns:
        One row per stride: stride, f1, precision, recall, tp, fp, fn, n_objects.
    """
    shapes = {
        str(r.scene_id): (int(r.height), int(r.width)) for r in scenes.itertuples(index=False)
    }
    objects = {
        str(scene_id): labels_to_objects(rows)
        for scene_id, rows in labels[labels["scene_id"].isin(shapes)].groupby("scene_id", sort=True)
    }
    return roundtrip_f1(
        objects,
        {k: shapes[k] for k in objects},
        strides=strides,
        config=config,
        include_low=include_low,
    )


__all__ = (
    "ENCODED_OBJECT_COLUMNS",
    "crop_preview",
    "densest_crop",
    "encode_scenes",
    "encoded_objects",
    "lazy_crop_preview",
    "roundtrip_table",
)
