"""Label rows of synthetic scenes in the official xView3 format, and their noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from xview3_pipeline.core.constants import LABEL_COLUMNS
from xview3_pipeline.core.synthetic import physics
from xview3_pipeline.core.synthetic.config import LabelNoiseConfig
from xview3_pipeline.core.synthetic.render import coastline_xy
from xview3_pipeline.core.synthetic.scenario import ScenePlan


def _lat_lon(plan: ScenePlan, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = plan.pixel_to_xy(rows + 0.5, cols + 0.5)
    to_wgs = Transformer.from_crs(plan.location.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform(x, y)
    return np.round(lat, 6), np.round(lon, 6)


def truth_table(plan: ScenePlan) -> pd.DataFrame:
    """Every object of a scene that lies in valid data, as clean official label rows.

    Confidence follows contrast: objects less than 6 dB above the local VV clutter are
    often LOW, bright ones rarely. Ghosts and land scatterers are not objects.

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
    speed, wind_from = plan.wind(x, y)
    rf = plan.range_fraction(rows_f[keep], cols_f[keep])
    clutter_db = 10 * np.log10(
        physics.sea_vv(
            speed, physics.incidence_deg(rf), wind_from - plan.look_azimuth_deg() - 180.0
        )
    )
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
) -> pd.DataFrame:
    """Apply a split's label noise to the truth of a scene.

    Args:
        truth: Output of :func:`truth_table`.
        plan: The scene (for positions and seeds).
        noise: Noise rates of the split.
        split: ``train``, ``validation`` or ``public`` (sets the label ``source``).

    Returns:
        Label rows in the official column order; ``is_vessel`` / ``is_fishing`` are
        objects holding True, False or None (blank in the CSV).
    """
    rng = np.random.default_rng([plan.seed, 4])
    n = len(truth)
    small = truth["vessel_length_m"].to_numpy(float) < 40.0
    infra = truth["kind"].isin(["turbine", "platform"]).to_numpy()
    p_miss = np.where(small & ~infra, noise.miss_small, noise.miss_large)
    kept = truth.loc[rng.random(n) >= p_miss].reset_index(drop=True)
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
    return out.loc[:, list(LABEL_COLUMNS)]
