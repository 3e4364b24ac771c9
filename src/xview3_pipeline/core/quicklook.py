"""Quicklook images of scenes: VV/VH false colour at reduced resolution, labels drawn."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from rasterio.enums import Resampling

from xview3_pipeline.core.constants import LABEL_FILES, NODATA, VH_FILE, VV_FILE
from xview3_pipeline.core.data.normalization import sigmoid_normalize
from xview3_pipeline.core.io.layout import label_file, scene_dir


def read_decimated(path: str | Path, max_side: int) -> tuple[np.ndarray, float]:
    """Read a raster with its longer side reduced to at most ``max_side`` pixels.

    Uses internal overviews when the file has them; nodata becomes NaN.

    Args:
        path: A single-band raster.
        max_side: Largest output side, pixels.

    Returns:
        The float32 array and the decimation factor (input pixels per output pixel).
    """
    with rasterio.open(path) as src:
        factor = max(1.0, max(src.height, src.width) / max_side)
        shape = (max(1, round(src.height / factor)), max(1, round(src.width / factor)))
        data = src.read(1, out_shape=shape, resampling=Resampling.nearest).astype(np.float32)
        nodata = src.nodata if src.nodata is not None else NODATA
    data[(data == nodata) | ~np.isfinite(data)] = np.nan
    return data, factor


def false_colour(vv_db: np.ndarray, vh_db: np.ndarray) -> np.ndarray:
    """RGB image from VV and VH in dB: R = VV, G = VH (sigmoid-normalised), B = VV - VH.

    Args:
        vv_db: VV in dB, ``(H, W)``, NaN for nodata.
        vh_db: VH in dB, same shape.

    Returns:
        ``(H, W, 3)`` float RGB in [0, 1]; nodata is black.
    """
    red = sigmoid_normalize(vv_db)
    green = sigmoid_normalize(vh_db, midpoint=-27.0)
    blue = np.clip((vv_db - vh_db - 2.0) / 14.0, 0.0, 1.0)
    rgb = np.stack([red, green, blue], axis=-1)
    return np.nan_to_num(rgb, nan=0.0)


_CLASS_STYLE = {
    "fishing vessel": "#ff9f1c",
    "other vessel": "#2ec4f6",
    "non-vessel": "#ff4fd8",
    "vessel, fishing unknown": "#ffffff",
    "unknown": "#9a9a9a",
}


def _label_class(labels: pd.DataFrame) -> pd.Series:
    vessel = labels["is_vessel"].astype("boolean")
    fishing = labels["is_fishing"].astype("boolean")
    out = pd.Series("unknown", index=labels.index)
    out[vessel.eq(False).fillna(False)] = "non-vessel"
    out[vessel.eq(True).fillna(False)] = "vessel, fishing unknown"
    out[(vessel.eq(True) & fishing.eq(True)).fillna(False)] = "fishing vessel"
    out[(vessel.eq(True) & fishing.eq(False)).fillna(False)] = "other vessel"
    return out


def render_quicklook(
    vv_path: str | Path,
    vh_path: str | Path,
    labels: pd.DataFrame | None = None,
    *,
    title: str = "",
    max_side: int = 1024,
) -> Figure:
    """Quicklook of one scene with its labels.

    Args:
        vv_path: ``VV_dB.tif`` of the scene.
        vh_path: ``VH_dB.tif`` of the scene.
        labels: Label rows of the scene (official columns), or None.
        title: Figure title.
        max_side: Longest side of the image read, pixels; bounds the memory used.

    Returns:
        A figure with the false-colour image; labels are circles coloured by class,
        dashed for LOW confidence.
    """
    vv, factor = read_decimated(vv_path, max_side)
    vh, _ = read_decimated(vh_path, max_side)
    fig = Figure(figsize=(8, 8 * vv.shape[0] / vv.shape[1] + 0.6), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(false_colour(vv, vh), interpolation="nearest")
    handles = []
    if labels is not None and len(labels):
        classes = _label_class(labels)
        low = labels["confidence"].astype(str).eq("LOW").to_numpy()
        x = (labels["detect_scene_column"].to_numpy(float) + 0.5) / factor - 0.5
        y = (labels["detect_scene_row"].to_numpy(float) + 0.5) / factor - 0.5
        size = max(40.0, 2000.0 / math.sqrt(max(vv.shape)))
        for name, colour in _CLASS_STYLE.items():
            sel = (classes == name).to_numpy()
            if not sel.any():
                continue
            for dashed in (False, True):
                part = sel & (low == dashed)
                if part.any():
                    ax.scatter(
                        x[part], y[part], s=size, facecolors="none", edgecolors=colour,
                        linewidths=1.2, linestyles="--" if dashed else "-",
                    )  # fmt: skip
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="o",
                    color=colour,
                    markerfacecolor="none",
                    linestyle="",
                    label=f"{name} ({int(sel.sum())})",
                )
            )
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                color="k",
                markerfacecolor="none",
                linestyle="--",
                label="dashed: LOW confidence",
            )
        )
        ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.6)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    fig.tight_layout()
    return fig


def scene_quicklooks(
    raw_root: str | Path,
    scenes: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    max_side: int = 1024,
) -> dict[str, Callable[[], Figure]]:
    """Lazy quicklooks of many scenes, one figure at a time.

    Args:
        raw_root: Root of the xView3 layout.
        scenes: Columns ``scene_id`` and ``split``.
        labels: Label rows (official columns) of any of these scenes.
        max_side: Longest side of each image read, pixels.

    Returns:
        ``"<split>_<scene_id>"`` mapped to a function that renders that scene's figure,
        so that a caller (Kedro's ``PartitionedDataset``) renders and writes them one by
        one and never holds more than one image.
    """
    by_scene = dict(tuple(labels.groupby("scene_id", sort=False))) if len(labels) else {}
    out: dict[str, Callable[[], Figure]] = {}
    for scene_id, split in zip(scenes["scene_id"], scenes["split"], strict=True):
        folder = scene_dir(raw_root, split, scene_id)
        out[f"{split}_{scene_id}"] = partial(
            render_quicklook,
            folder / VV_FILE,
            folder / VH_FILE,
            by_scene.get(scene_id),
            title=f"{split} {scene_id}",
            max_side=max_side,
        )
    return out


def dataset_quicklooks(
    raw_root: str | Path,
    scenes: pd.DataFrame,
    extra_labels: pd.DataFrame | None = None,
    *,
    max_side: int = 1024,
) -> dict[str, Callable[[], Figure]]:
    """Lazy quicklooks of the scenes of a raw root, with the labels of its label files.

    Args:
        raw_root: Root of the xView3 layout.
        scenes: Columns ``scene_id`` and ``split``.
        extra_labels: More label rows (e.g. the truth of test scenes), or None.
        max_side: Longest side of each image read, pixels.

    Returns:
        See :func:`scene_quicklooks`.
    """
    frames = [
        pd.read_csv(label_file(raw_root, split))
        for split in LABEL_FILES
        if label_file(raw_root, split).is_file()
    ]
    if extra_labels is not None and len(extra_labels):
        frames.append(extra_labels)
    labels = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return scene_quicklooks(raw_root, scenes, labels, max_side=max_side)
