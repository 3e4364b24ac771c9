"""Picture crops of cleaned labels against the truth (PNG-ready matplotlib figures).

Three steps keep the drawing pure: :func:`select_examples` picks windows around cleaned rows
of each state, :func:`read_example_crops` reads exactly those windows of the VV rasters
(rasterio windows through :class:`~xview3_pipeline.core.data.scene_reader.MultiSceneReader`,
never a whole scene), and :func:`cleaning_examples` draws each crop with the cleaned rows
marked by state and the true objects marked by what happened to their label.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from xview3_pipeline.core.cleaning.config import CleaningConfig
from xview3_pipeline.core.cleaning.report import TRUTH_COLUMNS, truth_flag
from xview3_pipeline.core.cleaning.tables import LABEL_STATES, finite_positions, require_columns
from xview3_pipeline.core.constants import PIX_TO_M
from xview3_pipeline.core.data.scene_reader import CHANNELS, MultiSceneReader
from xview3_pipeline.core.io.scene import Scene

__all__ = [
    "EXAMPLE_COLUMNS",
    "STATE_MARKERS",
    "TRUTH_MARKERS",
    "cleaning_examples",
    "read_example_crops",
    "scene_cleaning_examples",
    "select_examples",
    "truth_object_status",
]

#: Columns of the example window table.
EXAMPLE_COLUMNS: tuple[str, ...] = (
    "example",
    "cleaning_round",
    "centre",
    "detect_id",
    "scene_id",
    "row0",
    "col0",
    "size",
)
#: Marker, colour and legend text of each cleaned state.
STATE_MARKERS: Mapping[str, tuple[str, str, str]] = {
    "confirmed": ("o", "#2ecc40", "confirmed"),
    "label_only": ("s", "#ff851b", "label only"),
    "prediction_only": ("^", "#39cccc", "prediction only"),
}
#: Marker, colour and legend text of each truth status of a true object.
TRUTH_MARKERS: Mapping[str, tuple[str, str, str]] = {
    "label_right": ("+", "#ffdc00", "truth: label right"),
    "label_wrong": ("x", "#ff4136", "truth: label wrong"),
    "unlabelled": ("*", "#f012be", "truth: unlabelled"),
}


def _pick(
    centre: str,
    frame: pd.DataFrame,
    rc: np.ndarray,
    candidates: np.ndarray,
    *,
    rng: np.random.Generator,
    per_state: int,
    crop_size: int,
    cleaning_round: int,
) -> list[dict[str, object]]:
    """Windows around up to ``per_state`` random rows of ``frame`` among ``candidates``."""
    chosen = rng.permutation(candidates)[:per_state]
    corners = rc[chosen].astype(np.int64) - crop_size // 2
    return [
        {
            "example": f"{centre}_{i}",
            "cleaning_round": cleaning_round,
            "centre": centre,
            "detect_id": str(frame["detect_id"].iloc[p]),
            "scene_id": str(frame["scene_id"].iloc[p]),
            "row0": int(corner[0]),
            "col0": int(corner[1]),
            "size": int(crop_size),
        }
        for i, (p, corner) in enumerate(zip(chosen, corners, strict=True))
    ]


def select_examples(
    cleaned: pd.DataFrame,
    truth: pd.DataFrame | None = None,
    *,
    per_state: int = 4,
    crop_size: int = 128,
    cleaning_round: int | None = None,
    seed: int = 0,
    config: CleaningConfig | None = None,
) -> pd.DataFrame:
    """Windows centred on random cleaned rows of each state and on mislabelled true objects.

    Up to ``per_state`` windows are centred on cleaned rows of each label state
    (``confirmed``, ``label_only``, ``prediction_only``) and, when ``truth`` is given, on
    true objects of the cleaned scenes whose label is wrong (``truth_label_wrong``) or
    missing (``truth_unlabelled``), per :func:`truth_object_status`.

    Args:
        cleaned: Output of :func:`~xview3_pipeline.core.cleaning.clean_labels`.
        truth: ``synthetic_train_truth`` (None or empty: no truth-centred windows).
        per_state: Windows drawn per kind of centre (fewer when there are fewer).
        crop_size: Side of each square window, pixels (>= 8).
        cleaning_round: Round to draw from (default: the last one).
        seed: Random seed of the draw.
        config: The tolerances of the truth status (defaults: :class:`CleaningConfig`'s).

    Returns:
        :data:`EXAMPLE_COLUMNS`: ``example`` (``"<centre>_<i>"``, a file name stem), the
        round, ``centre`` (the state or truth status the window is centred on), the centre
        row's ``detect_id`` and scene, and the window ``row0``, ``col0`` (pixels, may be
        negative near an edge) and ``size``.

    Raises:
        ValueError: On a missing column, ``per_state < 1``, ``crop_size < 8`` or a round
            that is not in the table.
    """
    require_columns(
        cleaned,
        ("scene_id", "detect_id", "detect_scene_row", "detect_scene_column", "label_state"),
        what="select_examples: cleaned",
    )
    require_columns(cleaned, ("cleaning_round",), what="select_examples: cleaned")
    if per_state < 1 or crop_size < 8:
        raise ValueError(
            f"select_examples: per_state must be >= 1 and crop_size >= 8 pixels, got "
            f"per_state={per_state}, crop_size={crop_size}."
        )
    rounds = sorted(pd.unique(cleaned["cleaning_round"]).tolist())
    if cleaning_round is None and rounds:
        cleaning_round = rounds[-1]
    if rounds and cleaning_round not in rounds:
        raise ValueError(
            f"select_examples: cleaning_round {cleaning_round} is not in the table (rounds "
            f"{rounds})."
        )
    rows = cleaned[cleaned["cleaning_round"] == cleaning_round]
    rc = finite_positions(rows, what="select_examples: cleaned", describe="detect_id")
    pick = partial(
        _pick,
        rng=np.random.default_rng(seed),
        per_state=per_state,
        crop_size=crop_size,
        cleaning_round=int(cleaning_round or 0),
    )
    state = rows["label_state"].astype(object).to_numpy()
    picked = []
    for name in LABEL_STATES:
        picked += pick(name, rows, rc, np.flatnonzero(state == name))
    if truth is not None and len(truth):
        truth = truth[truth["scene_id"].astype(object).isin(rows["scene_id"].astype(object))]
        status = truth_object_status(truth, config)
        trc = finite_positions(truth, what="select_examples: truth", describe="detect_id")
        for name in ("label_wrong", "unlabelled"):
            picked += pick(f"truth_{name}", truth, trc, np.flatnonzero(status == name))
    return pd.DataFrame.from_records(picked, columns=list(EXAMPLE_COLUMNS))


def read_example_crops(
    windows: pd.DataFrame, scene_index: pd.DataFrame, raw_root: str
) -> dict[str, np.ndarray]:
    """Read the VV window of each example (windowed reads; outside the scene is NaN).

    Args:
        windows: Output of :func:`select_examples`.
        scene_index: The ingestion scene index (``scene_id``, ``vh_path``, ``vv_path``,
            ``height``, ``width``; paths absolute or relative to ``raw_root``).
        raw_root: Root the relative paths of the scene index are relative to.

    Returns:
        ``example`` -> ``(size, size)`` float32 VV backscatter, dB (NaN for nodata).

    Raises:
        ValueError: If a window's scene is not in the scene index.
    """
    needed = pd.unique(windows["scene_id"].astype(object))
    index = scene_index[scene_index["scene_id"].astype(object).isin(needed)]
    scenes = {
        s.scene_id: s for s in (Scene.from_index_row(r, raw_root) for r in index.itertuples())
    }
    absent = [s for s in needed if s not in scenes]
    if absent:
        raise ValueError(
            f"read_example_crops: scenes {absent[:5]} are not in the scene index "
            f"({len(scene_index)} scenes)."
        )
    vv = CHANNELS.index("vv")
    reader = MultiSceneReader({k: (s.vh_path, s.vv_path) for k, s in scenes.items()}, max_open=4)
    try:
        return {
            str(w.example): reader.read(w.scene_id, w.row0, w.col0, w.size, w.size)[vv]
            for w in windows.itertuples(index=False)
        }
    finally:
        reader.close()


def truth_object_status(truth: pd.DataFrame, config: CleaningConfig | None = None) -> np.ndarray:
    """What happened to each true object's label: ``unlabelled``, ``label_wrong`` or right.

    A label is wrong when its known vessel or fishing value is flipped, it lies at or beyond
    ``tolerance_m`` from the object (``position_error_px``) or its known length is off by
    more than ``length_tolerance_rel`` (``length_error_rel``).

    Args:
        truth: ``synthetic_train_truth`` rows (:data:`TRUTH_COLUMNS` and
            ``position_error_px``).
        config: The tolerances (defaults: :class:`CleaningConfig`'s).

    Returns:
        ``(n,)`` object array of ``"unlabelled"``, ``"label_wrong"``, ``"label_right"``.
    """
    config = config or CleaningConfig()
    require_columns(truth, (*TRUTH_COLUMNS, "position_error_px"), what="truth")
    moved = pd.to_numeric(truth["position_error_px"]).to_numpy(float, na_value=np.nan) * PIX_TO_M
    length = pd.to_numeric(truth["length_error_rel"]).to_numpy(float, na_value=np.nan)
    wrong = (
        truth_flag(truth["vessel_flipped"])
        | truth_flag(truth["fishing_flipped"])
        | (moved >= config.tolerance_m)
        | (np.abs(length) > config.length_tolerance_rel)
    )
    status = np.where(wrong, "label_wrong", "label_right").astype(object)
    status[~truth_flag(truth["labelled"])] = "unlabelled"
    return status


def _in_window(rc: np.ndarray, row0: int, col0: int, size: int) -> np.ndarray:
    return (
        (rc[:, 0] >= row0)
        & (rc[:, 0] < row0 + size)
        & (rc[:, 1] >= col0)
        & (rc[:, 1] < col0 + size)
    )


def _mark(ax: Axes, rc: np.ndarray, marker: str, colour: str, *, hollow: bool) -> None:
    """Markers at pixel centres (pixel (r, c) spans [c, c + 1) x [r, r + 1))."""
    style: dict[str, Any] = (
        {"facecolors": "none", "edgecolors": colour} if hollow else {"c": colour}
    )
    ax.scatter(
        rc[:, 1] + 0.5,
        rc[:, 0] + 0.5,
        s=90 if hollow else 45,
        marker=marker,
        linewidths=1.2,
        **style,
    )


def _example_figure(
    window: pd.Series,
    crop: np.ndarray,
    rows: pd.DataFrame,
    truth: pd.DataFrame | None,
    status: np.ndarray | None,
) -> Figure:
    """One crop with its cleaned rows (by state) and true objects (by status)."""
    size, row0, col0 = int(window["size"]), int(window["row0"]), int(window["col0"])
    fig = Figure(figsize=(4.2, 4.8), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    finite = crop[np.isfinite(crop)]
    vmin, vmax = np.percentile(finite, [2, 98]) if finite.size else (-30.0, 0.0)
    ax.imshow(crop, cmap="gray", vmin=vmin, vmax=vmax, extent=(0, size, size, 0))
    handles: list[Line2D] = []
    truth_handles: list[Line2D] = []
    if truth is not None and status is not None:
        trc = finite_positions(truth, what="cleaning_examples: truth", describe="detect_id")
        t_inside = _in_window(trc, row0, col0, size)
        for name, (marker, colour, text) in TRUTH_MARKERS.items():
            sel = t_inside & (status == name)
            _mark(ax, trc[sel] - [row0, col0], marker, colour, hollow=False)
            truth_handles.append(
                Line2D([], [], ls="", marker=marker, color=colour, label=f"{text} ({sel.sum()})")
            )
    rc = finite_positions(rows, what="cleaning_examples: cleaned", describe="detect_id")
    inside = _in_window(rc, row0, col0, size)
    state = rows["label_state"].astype(object).to_numpy()
    for name, (marker, colour, text) in STATE_MARKERS.items():
        sel = inside & (state == name)
        _mark(ax, rc[sel] - [row0, col0], marker, colour, hollow=True)
        handles.append(
            Line2D(
                [], [], ls="", marker=marker, mfc="none", mec=colour, label=f"{text} ({sel.sum()})"
            )
        )
    handles.extend(truth_handles)
    ax.set_xlim(0, size)
    ax.set_ylim(size, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("#3d2b1f")  # nodata (NaN) shows brown
    ax.set_title(
        f"{window['centre']}: {window['detect_id']}\n"
        f"scene {window['scene_id']}, rows {row0}+{size}, cols {col0}+{size}, round "
        f"{int(window['cleaning_round'])}",
        fontsize=8,
    )
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.subplots_adjust(left=0.04, right=0.96, bottom=0.17, top=0.89)
    return fig


def cleaning_examples(
    windows: pd.DataFrame,
    crops: Mapping[str, np.ndarray],
    cleaned: pd.DataFrame,
    truth: pd.DataFrame | None = None,
    *,
    config: CleaningConfig | None = None,
) -> dict[str, Figure]:
    """Figures of VV crops with the cleaned rows and the true objects marked.

    Cleaned rows of the window's round are marked by state (hollow: circle ``confirmed``,
    square ``label_only``, triangle ``prediction_only``); true objects, when ``truth`` is
    given, by :func:`truth_object_status` (``+`` label right, ``x`` label wrong, ``*``
    unlabelled). The legend counts the markers inside the crop.

    Args:
        windows: Output of :func:`select_examples`.
        crops: ``example`` -> ``(size, size)`` VV backscatter in dB (NaN nodata), e.g. from
            :func:`read_example_crops`.
        cleaned: Output of :func:`~xview3_pipeline.core.cleaning.clean_labels`.
        truth: ``synthetic_train_truth`` (None or empty: no truth markers).
        config: The tolerances of the truth status (defaults: :class:`CleaningConfig`'s).

    Returns:
        ``example`` -> figure (one per window, in window order).

    Raises:
        ValueError: If a crop is missing or its shape is not ``(size, size)``.
    """
    require_columns(windows, EXAMPLE_COLUMNS, what="cleaning_examples: windows")
    use_truth = truth is not None and len(truth) > 0
    status = truth_object_status(truth, config) if use_truth else None
    figures = {}
    for _, window in windows.iterrows():
        name = str(window["example"])
        crop = crops.get(name)
        size = int(window["size"])
        if crop is None or np.shape(crop) != (size, size):
            raise ValueError(
                f"cleaning_examples: example {name!r} needs a ({size}, {size}) crop, got "
                f"{None if crop is None else np.shape(crop)}."
            )
        scene = window["scene_id"]
        rows = cleaned[
            (cleaned["scene_id"].astype(object) == scene)
            & (cleaned["cleaning_round"] == window["cleaning_round"])
        ]
        t_rows, t_status = None, None
        if use_truth:
            in_scene = (truth["scene_id"].astype(object) == scene).to_numpy()  # type: ignore[index]
            t_rows, t_status = truth[in_scene], status[in_scene]  # type: ignore[index]
        figures[name] = _example_figure(
            window, np.asarray(crop, dtype=float), rows, t_rows, t_status
        )
    return figures


def scene_cleaning_examples(
    cleaned: pd.DataFrame,
    truth: pd.DataFrame | None,
    scene_index: pd.DataFrame,
    raw_root: str,
    *,
    per_state: int = 4,
    crop_size: int = 128,
    seed: int = 0,
    config: CleaningConfig | None = None,
) -> dict[str, Figure]:
    """Select, read and draw the examples of the last round in one call (for a pipeline node).

    :func:`select_examples`, then :func:`read_example_crops` (windowed reads only), then
    :func:`cleaning_examples`; see those for the arguments.

    Returns:
        ``example`` -> figure; empty when ``cleaned`` is empty.
    """
    windows = select_examples(
        cleaned, truth, per_state=per_state, crop_size=crop_size, seed=seed, config=config
    )
    if len(windows) == 0:
        return {}
    crops = read_example_crops(windows, scene_index, raw_root)
    return cleaning_examples(windows, crops, cleaned, truth, config=config)
