"""Label rows of synthetic scenes in the official xView3 format, and their noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from xview3_pipeline.core.constants import LABEL_COLUMNS
from xview3_pipeline.core.synthetic.config import LabelNoiseConfig
from xview3_pipeline.core.synthetic.render import coastline_xy
from xview3_pipeline.core.synthetic.scenario import ScenePlan

#: Columns of the noise record of a scene's labels, one row per true object
#: (see :func:`noisy_labels`).
NOISE_COLUMNS = (
    "labelled",
    "vessel_flipped",
    "fishing_flipped",
    "vessel_blank",
    "fishing_blank",
    "length_blank",
    "position_error_px",
    "length_error_rel",
)
#: Columns of the train truth table: the official columns (true values), the object's
#: kind and contrast, and its noise record.
TRAIN_TRUTH_COLUMNS = (*LABEL_COLUMNS, "kind", "contrast_db", *NOISE_COLUMNS)


def _lat_lon(plan: ScenePlan, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = plan.pixel_to_xy(rows + 0.5, cols + 0.5)
    to_wgs = Transformer.from_crs(plan.location.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform(x, y)
    return np.round(lat, 6), np.round(lon, 6)


def truth_table(plan: ScenePlan) -> pd.DataFrame:
    """Every object of a scene that lies in valid data, as clean official label rows.

    Confidence follows contrast: objects less than 6 dB above the local VV sea clutter
    (with its texture; calibration offsets move both alike) are often LOW, bright ones
    rarely. Ghosts and land scatterers are not objects.

    Args:
        plan: The scene.

    Returns:
        A frame with the official columns plus ``kind`` and ``contrast_db``.
    """
    rng = np.random.default_rng([plan.seed, 3])
    objs = plan.objects
    rows_f, cols_f = plan.xy_to_pixel(objs["x"].to_numpy(float), objs["y"].to_numpy(float))
    # The swath mask is rendered at pixel centres: keep objects whose pixel is valid data.
    keep = plan.valid(np.floor(rows_f) + 0.5, np.floor(cols_f) + 0.5)
    objs = objs.loc[keep].reset_index(drop=True)
    rows = np.floor(rows_f[keep]).astype(np.int64)
    cols = np.floor(cols_f[keep]).astype(np.int64)
    x, y = objs["x"].to_numpy(float), objs["y"].to_numpy(float)
    rf = plan.range_fraction(rows_f[keep], cols_f[keep])
    clutter_db = 10 * np.log10(plan.sea_sigma0(x, y, rf)[0])
    contrast = objs["vv_db"].to_numpy(float) - clutter_db
    p_low = np.where(contrast < 6.0, 0.6, np.where(contrast < 12.0, 0.3, 0.08))
    u = rng.random(len(objs))
    confidence = np.where(
        u < p_low, "LOW", np.where(u < p_low + (1 - p_low) * 0.42, "MEDIUM", "HIGH")
    )
    distance_km = shapely.distance(shapely.points(x, y), coastline_xy(plan)) / 1000.0
    lat, lon = _lat_lon(plan, rows, cols)
    n = len(objs)
    return pd.DataFrame(
        {
            "detect_lat": lat,
            "detect_lon": lon,
            "vessel_length_m": np.round(objs["length_m"].to_numpy(float), 3),
            "source": "manual",
            "detect_scene_row": rows,
            "detect_scene_column": cols,
            "is_vessel": objs["is_vessel"].to_numpy(bool),
            "is_fishing": objs["is_fishing"].to_numpy(bool),
            "distance_from_shore_km": np.round(distance_km, 4),
            "scene_id": plan.scene_id,
            "confidence": confidence,
            "top": np.nan,
            "left": np.nan,
            "bottom": np.nan,
            "right": np.nan,
            "detect_id": [f"{plan.scene_id}_{i}" for i in range(n)],
            "kind": objs["kind"].to_numpy(str),
            "contrast_db": np.round(contrast, 2),
        }
    )


def noisy_labels(
    truth: pd.DataFrame, plan: ScenePlan, noise: LabelNoiseConfig, split: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply a split's label noise to the truth of a scene, and record what it did.

    Args:
        truth: Output of :func:`truth_table`.
        plan: The scene (for positions and seeds).
        noise: Noise rates of the split.
        split: ``train``, ``validation`` or ``public`` (sets the label ``source``).

    Returns:
        ``(labels, record)``. ``labels``: label rows in the official column order, each
        with the ``detect_id`` of its truth row; ``is_vessel`` / ``is_fishing`` are objects
        holding True, False or None (blank in the CSV). ``record``: one row per row of
        ``truth`` (same order and index) with :data:`NOISE_COLUMNS`, see
        :func:`noise_record`.
    """
    rng = np.random.default_rng([plan.seed, 4])
    n = len(truth)
    small = truth["vessel_length_m"].to_numpy(float) < 40.0
    infra = truth["kind"].isin(["turbine", "platform"]).to_numpy()
    p_miss = np.where(small & ~infra, noise.miss_small, noise.miss_large)
    labelled = rng.random(n) >= p_miss
    kept = truth.loc[labelled].reset_index(drop=True)
    m = len(kept)
    out = kept.copy()

    vessel = kept["is_vessel"].to_numpy(bool) ^ (rng.random(m) < noise.flip_vessel)
    fishing = kept["is_fishing"].to_numpy(bool) ^ (rng.random(m) < noise.flip_fishing)
    fishing &= vessel | (rng.random(m) < 0.02)
    low = (kept["confidence"] == "LOW").to_numpy()
    vessel_nan = rng.random(m) < np.where(
        low, min(1.0, noise.nan_vessel * 3 + 0.05), noise.nan_vessel
    )
    fishing_nan = (
        np.where(vessel, rng.random(m) < noise.nan_fishing, rng.random(m) < 0.7) | vessel_nan
    )
    kept_infra = kept["kind"].isin(["turbine", "platform"]).to_numpy()
    length_nan = rng.random(m) < np.where(kept_infra, 0.5, noise.nan_length)
    out["is_vessel"] = pd.array(np.where(vessel_nan, None, vessel), dtype=object)
    out["is_fishing"] = pd.array(np.where(fishing_nan, None, fishing), dtype=object)
    length = kept["vessel_length_m"].to_numpy(float) * (
        1.0 + rng.normal(0.0, noise.length_error, m)
    )
    out["vessel_length_m"] = np.where(length_nan, np.nan, np.round(np.maximum(length, 1.0), 3))

    if noise.jitter_px > 0 and m:
        rows = kept["detect_scene_row"].to_numpy() + np.round(
            rng.normal(0, noise.jitter_px, m)
        ).astype(np.int64)
        cols = kept["detect_scene_column"].to_numpy() + np.round(
            rng.normal(0, noise.jitter_px, m)
        ).astype(np.int64)
        rows = np.clip(rows, 0, plan.height - 1)
        cols = np.clip(cols, 0, plan.width - 1)
        out["detect_scene_row"], out["detect_scene_column"] = rows, cols
        out["detect_lat"], out["detect_lon"] = _lat_lon(
            plan, rows.astype(float), cols.astype(float)
        )

    if split == "train":
        out["source"] = np.where(rng.random(m) < 0.75, "ais", "ais/manual")
    else:
        out["source"] = np.where(rng.random(m) < 0.7, "manual", "ais/manual")
    labels = out.loc[:, list(LABEL_COLUMNS)]
    return labels, noise_record(truth, labelled, labels)


def noise_record(truth: pd.DataFrame, labelled: np.ndarray, labels: pd.DataFrame) -> pd.DataFrame:
    """How each true object's label departs from it.

    Args:
        truth: Output of :func:`truth_table`, ``n`` rows.
        labelled: Bool array of shape ``(n,)``: whether the object has a label row.
        labels: The label rows of the labelled objects, in truth order.

    Returns:
        ``n`` rows (index of ``truth``) with :data:`NOISE_COLUMNS`: ``labelled``;
        ``vessel_flipped`` / ``fishing_flipped``, True when the label holds a known value
        that differs from the truth; ``vessel_blank`` / ``fishing_blank`` /
        ``length_blank``, True when the label leaves the field blank (all four False for an
        unlabelled object); ``position_error_px``, the label-to-truth distance in pixels,
        and ``length_error_rel``, ``(labelled - true) / true`` length, both NaN when not
        labelled (the latter also when the labelled length is blank).
    """
    n = len(truth)
    idx = np.flatnonzero(labelled)
    record = {name: np.zeros(n, dtype=bool) for name in NOISE_COLUMNS[:6]}
    record["labelled"][idx] = True
    for field, flipped, blank in (
        ("is_vessel", "vessel_flipped", "vessel_blank"),
        ("is_fishing", "fishing_flipped", "fishing_blank"),
    ):
        values = labels[field]
        is_blank = values.isna().to_numpy()
        known = np.equal(values.to_numpy(object), True).astype(bool)
        record[blank][idx] = is_blank
        record[flipped][idx] = ~is_blank & (known != truth[field].to_numpy(bool)[idx])
    length = labels["vessel_length_m"].to_numpy(float)
    record["length_blank"][idx] = np.isnan(length)
    position = np.full(n, np.nan)
    position[idx] = np.hypot(
        labels["detect_scene_row"].to_numpy(float) - truth["detect_scene_row"].to_numpy(float)[idx],
        labels["detect_scene_column"].to_numpy(float)
        - truth["detect_scene_column"].to_numpy(float)[idx],
    )
    true_length = truth["vessel_length_m"].to_numpy(float)[idx]
    length_error = np.full(n, np.nan)
    length_error[idx] = (length - true_length) / true_length
    return pd.DataFrame(
        record | {"position_error_px": position, "length_error_rel": length_error},
        index=truth.index,
    ).loc[:, list(NOISE_COLUMNS)]
