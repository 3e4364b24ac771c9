"""A PNG-ready preview of the encoded targets of one crop."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure

from xview3_pipeline.core.quicklook import false_colour
from xview3_pipeline.core.types import CONFIDENCE_CODES, IGNORE_INDEX, EncodedTargets, ObjectLabels

__all__ = ["encoding_preview"]

#: Colours of label targets 0, 1 and 255 (ignore).
_LABEL_CMAP = ListedColormap(["#101010", "#2ec4f6", "#ff4fd8"])
_LABEL_NORM = BoundaryNorm([-0.5, 0.5, 1.5, 2.5], _LABEL_CMAP.N)
_IGNORE_COLOUR = "#ff4fd8"
_CONFIDENCE_MARKERS = {
    CONFIDENCE_CODES["LOW"]: ("x", "#ffbf00"),
    CONFIDENCE_CODES["MEDIUM"]: ("o", "#ffffff"),
    CONFIDENCE_CODES["HIGH"]: ("o", "#ff3b30"),
}


def _overlay_centres(ax: Axes, objects: ObjectLabels) -> None:
    for code, (marker, colour) in _CONFIDENCE_MARKERS.items():
        sel = objects.confidence == code
        if not sel.any():
            continue
        style: dict[str, Any] = (
            {"facecolors": "none", "edgecolors": colour} if marker == "o" else {"c": colour}
        )
        ax.scatter(  # pixel (i, j) spans [i, i + 1) x [j, j + 1): mark its middle
            objects.centers[sel, 0] + 0.5,
            objects.centers[sel, 1] + 0.5,
            s=30,
            marker=marker,
            linewidths=0.9,
            **style,
        )


def _label_classes(target: np.ndarray) -> np.ndarray:
    """0/1/255 target as class indices 0/1/2 for the categorical colour map."""
    return np.where(target == IGNORE_INDEX, 2, np.clip(target, 0, 1)).astype(np.int8)


def encoding_preview(
    image_db: np.ndarray | None,
    targets: EncodedTargets,
    objects: ObjectLabels,
    stride: int,
    *,
    title: str = "",
) -> Figure:
    """Figure of a crop and its targets, with the object centres overlaid on every panel.

    Panels: the crop (false colour from VH/VV dB, or blank), the objectness heatmap (LOW
    ignore discs in magenta), the vessel and fishing targets (0 black, 1 blue, 255 magenta),
    the length target ``log(1 + length_px)`` and the offset magnitude. Maps are drawn in
    input-pixel coordinates (one output pixel spans ``stride`` input pixels; input pixel
    ``i`` spans ``[i, i + 1)``). Centre
    markers: HIGH red circle, MEDIUM white circle, LOW amber cross.

    Args:
        image_db: ``(2, H, W)`` VH, VV in dB (NaN for nodata), or ``None``.
        targets: Targets of the crop, ``(C, h, w)`` at ``stride``.
        objects: The objects encoded, centres in crop pixels.
        stride: Output stride of ``targets``.
        title: Figure title.

    Returns:
        A :class:`matplotlib.figure.Figure` (no pyplot state), ready for ``savefig``.
    """
    objectness_t, vessel_t, fishing_t, length_t, offset_t = (np.asarray(t) for t in targets)
    _, h, w = objectness_t.shape
    extent = (0, w * stride, h * stride, 0)
    fig = Figure(figsize=(13, 8.5), dpi=100)
    axes = fig.subplots(2, 3).ravel()

    ax = axes[0]
    if image_db is not None:
        vh, vv = np.asarray(image_db, dtype=np.float32)[:2]
        height, width = vh.shape
        ax.imshow(false_colour(vv, vh), extent=(0, width, height, 0), interpolation="nearest")
    else:
        ax.imshow(np.zeros((h * stride, w * stride)), cmap="gray", vmin=0, vmax=1, extent=extent)
    ax.set_title("crop (R: VV, G: VH)", fontsize=9)

    objectness = objectness_t[0]
    ignored = objectness == IGNORE_INDEX
    ax = axes[1]
    im = ax.imshow(
        np.where(ignored, 0, objectness),
        cmap="viridis",
        vmin=0,
        vmax=1,
        extent=extent,
        interpolation="nearest",
    )
    ax.imshow(
        np.ma.masked_where(~ignored, np.ones_like(objectness)),
        cmap=ListedColormap([_IGNORE_COLOUR]),
        extent=extent,
        interpolation="nearest",
    )
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title("objectness (magenta: ignore 255)", fontsize=9)

    for ax, name, target in (
        (axes[2], "is_vessel", vessel_t[0]),
        (axes[3], "is_fishing", fishing_t[0]),
    ):
        ax.imshow(
            _label_classes(target),
            cmap=_LABEL_CMAP,
            norm=_LABEL_NORM,
            extent=extent,
            interpolation="nearest",
        )
        ax.set_title(f"{name} (black 0, blue 1, magenta 255)", fontsize=9)

    ax = axes[4]
    im = ax.imshow(length_t[0], cmap="magma", extent=extent, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title("length log(1 + px)", fontsize=9)

    ax = axes[5]
    im = ax.imshow(
        np.hypot(offset_t[0], offset_t[1]),
        cmap="cividis",
        vmin=0,
        vmax=np.sqrt(2),
        extent=extent,
        interpolation="nearest",
    )
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title("offset |(dx, dy)| at peaks", fontsize=9)

    for ax in axes:
        _overlay_centres(ax, objects)
        ax.set_xlim(0, w * stride)
        ax.set_ylim(h * stride, 0)
        ax.tick_params(labelsize=7)
    fig.suptitle(title or f"encoded targets, stride {stride}, {len(objects)} objects", fontsize=10)
    fig.tight_layout()
    return fig
