"""Tests of the classical CFAR ship detector (``xview3_pipeline.core.detection.cfar``)."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from affine import Affine
from rasterio.transform import array_bounds
from rasterio.warp import Resampling, calculate_default_transform, reproject
from scipy.ndimage import gaussian_filter

from tests.core.rasters import ORIGIN, write_raster
from xview3_pipeline.core.constants import NODATA
from xview3_pipeline.core.detection import Scene
from xview3_pipeline.core.detection.cfar import (
    CFAR_COLUMNS,
    CfarConfig,
    detect_array,
    detect_scene,
    estimate_effective_looks,
    gamma_pfa,
    gamma_threshold,
    gaussian_threshold,
)
from xview3_pipeline.core.encoding import DETECTION_COLUMNS
from xview3_pipeline.core.io.ancillary import Shoreline, load_shoreline
from xview3_pipeline.core.metric.matching import match_points

logger = logging.getLogger(__name__)

ENL = 4.4
PSF_SIGMA = 2.0 / 2.355  # the generator's 2 px FWHM point-spread function
CLUTTER_DB = -26.0

#: Settings that count raw false alarms: no merging, no gating, no suppression.
RAW = {
    "merge_distance_px": 0.0,
    "min_length_m": 0.0,
    "max_length_m": 1e9,
    "ghost_contrast_db": None,
    "sidelobe_contrast_db": None,
}


# -- helpers ------------------------------------------------------------------------------


def clutter_sigma0(shape: tuple[int, int], level_db: float = CLUTTER_DB) -> np.ndarray:
    """Smooth sea clutter (linear): ±1.5 dB gradients over the image, like wind fields."""
    rows, cols = np.indices(shape, dtype=np.float64)
    db = level_db + 1.5 * np.sin(rows / 97.0) + 1.0 * np.cos(cols / 131.0)
    return 10.0 ** (db / 10.0)


def plant_segment(
    sigma0: np.ndarray,
    row: float,
    col: float,
    length_px: float,
    angle_deg: float,
    *,
    gain_db: float,
) -> None:
    """Add a 1 px wide uniform segment ``gain_db`` above the local clutter, in place."""
    theta = math.radians(angle_deg)
    steps = np.linspace(-0.5, 0.5, max(2, int(length_px * 10)))
    rr = row + steps * length_px * math.sin(theta)
    cc = col + steps * length_px * math.cos(theta)
    ri, ci = np.floor(rr).astype(int), np.floor(cc).astype(int)
    weight = np.zeros_like(sigma0)
    np.add.at(weight, (ri, ci), length_px / len(steps))
    local = sigma0[int(row), int(col)]
    sigma0 += np.minimum(weight, 1.0) * local * 10.0 ** (gain_db / 10.0)


def render_db(sigma0: np.ndarray, seed: int, *, speckle_blur: float = 0.0) -> np.ndarray:
    """Image a sigma0 field like the generator: PSF blur, then Gamma(4.4) speckle, in dB.

    ``speckle_blur`` > 0 correlates the speckle of neighbouring pixels (real GRD pixels),
    keeping it unit-mean.
    """
    rng = np.random.default_rng(seed)
    blurred = gaussian_filter(sigma0, PSF_SIGMA, mode="nearest")
    if speckle_blur > 0:
        speckle = gaussian_filter(rng.gamma(1.0, 1.0, sigma0.shape), speckle_blur, mode="wrap")
        speckle /= speckle.mean()
    else:
        speckle = rng.gamma(ENL, 1.0 / ENL, sigma0.shape)
    return (10.0 * np.log10(blurred * speckle + 1e-5)).astype(np.float32)


def nearest(frame: pd.DataFrame, row: float, col: float) -> tuple[pd.Series, float]:
    """The detection closest to ``(row, col)`` and its distance in pixels."""
    d = np.hypot(frame["detect_scene_row"] - row, frame["detect_scene_column"] - col)
    i = int(np.argmin(d))
    return frame.iloc[i], float(d.iloc[i])


# -- thresholds and configuration ---------------------------------------------------------


def test_gamma_threshold_matches_reference_values() -> None:
    # "True 10^-6 needs 5.0x the local mean (+7.0 dB); 10^-8 needs 6.25x (+8.0 dB)."
    t6 = gamma_threshold(1e-6, ENL)
    assert round(t6, 1) == 5.0
    assert round(10 * math.log10(t6), 1) == 7.0
    t8 = gamma_threshold(1e-8, ENL)
    assert t8 == pytest.approx(6.25, abs=0.01)
    assert round(10 * math.log10(t8), 1) == 8.0
    # In units of the clutter std (sigma = mu / sqrt(L)): t = 8.5 and 11.
    assert (t6 - 1) * math.sqrt(ENL) == pytest.approx(8.5, abs=0.05)
    assert (t8 - 1) * math.sqrt(ENL) == pytest.approx(11.0, abs=0.05)
    assert gamma_pfa(t6, ENL) == pytest.approx(1e-6, rel=1e-6)
    # n independent pixels: the mean is Gamma(nL, 1/(nL)) -> lower ratio threshold.
    assert gamma_threshold(1e-6, 4 * ENL) < t6


def test_gaussian_threshold_is_snaps_value() -> None:
    t = gaussian_threshold(10**-6.5)
    assert round(t, 2) == 4.98
    # ... which on Gamma(4.4) speckle really gives a per-pixel Pfa of 4.3e-4.
    assert gamma_pfa(1 + t / math.sqrt(ENL), ENL) == pytest.approx(4.3e-4, rel=0.02)


def test_config_from_dict_and_validation() -> None:
    cfg = CfarConfig.from_dict({"pfa": 1e-8, "land_codes": [1, 5, 2, 6], "target_window": 2})
    assert cfg.land_codes == (1, 5, 2, 6)
    assert cfg.looks == pytest.approx(4 * ENL)
    assert cfg.threshold == pytest.approx(gamma_threshold(1e-8, 4 * ENL))
    assert CfarConfig.from_dict(None) == CfarConfig()
    assert CfarConfig(effective_looks=9.0).looks == 9.0
    assert CfarConfig(mode="gaussian", pfa=10**-6.5).threshold == pytest.approx(4.98, abs=0.005)
    with pytest.raises(ValueError, match="valid keys"):
        CfarConfig.from_dict({"pfa_typo": 1e-7})
    for bad in (
        {"guard_window": 40},
        {"target_window": 50},
        {"pfa": 0.0},
        {"pfa": 1.0},
        {"pfa": -1e-7},
        {"channels": "vv"},
        {"mode": "weibull"},
        {"max_nodata_fraction": 1.5},
        {"min_length_m": 700.0},
    ):
        with pytest.raises(ValueError, match=rf"cfar\.{next(iter(bad))}"):
            CfarConfig.from_dict(bad)
    with pytest.raises(ValueError, match=r"cfar\.pfa=1\.5: pfa must be in \(0, 0\.5\)"):
        CfarConfig.from_dict({"pfa": 1.5})


# -- false-alarm rate ---------------------------------------------------------------------


@pytest.mark.parametrize("target_window", [1, 2])
def test_false_alarm_rate_on_pure_clutter(target_window: int) -> None:
    db = render_db(clutter_sigma0((1024, 1024)), seed=1)
    pfa = 1e-4
    cfg = CfarConfig(pfa=pfa, target_window=target_window, **RAW)
    frame = detect_array(db, cfg)
    n_tests = (1024 - cfg.background_window) ** 2  # pixels with a fully valid background
    expected = pfa * n_tests
    flagged = int(frame["n_pixels"].sum())
    logger.info(
        "n=%d: %d detections, %d flagged px, expected %.0f", target_window, len(frame), flagged,
        expected,
    )  # fmt: skip
    assert expected / 5 <= len(frame) <= 5 * expected
    assert expected / 5 <= flagged <= 5 * expected
    # The default pfa (1e-7) gives essentially nothing on 1 Mpx of clutter.
    assert len(detect_array(db, CfarConfig(**RAW))) <= 3


def test_effective_looks_estimate_and_correlated_speckle() -> None:
    sigma0 = clutter_sigma0((768, 768))
    independent = render_db(sigma0, seed=2)
    assert estimate_effective_looks(independent) == pytest.approx(ENL, rel=0.1)
    assert estimate_effective_looks(independent, CfarConfig(target_window=2)) == pytest.approx(
        4 * ENL, rel=0.1
    )
    # Correlated speckle (as real GRD pixels): a 2 x 2 mean has far fewer than 4 L looks.
    correlated = render_db(sigma0, seed=3, speckle_blur=0.7)
    looks_1 = estimate_effective_looks(correlated)
    looks_2 = estimate_effective_looks(correlated, CfarConfig(target_window=2))
    assert looks_2 < 0.7 * 4 * looks_1
    pfa = 1e-4
    expected = pfa * (768 - 81) ** 2
    naive = CfarConfig(pfa=pfa, target_window=2, enl=looks_1, **RAW)
    fitted = CfarConfig(pfa=pfa, target_window=2, effective_looks=looks_2, **RAW)
    n_naive = int(detect_array(correlated, naive)["n_pixels"].sum())
    n_fitted = int(detect_array(correlated, fitted)["n_pixels"].sum())
    logger.info(
        "correlated speckle: L1=%.1f L2=%.1f, naive %d, fitted %d, expected %.0f",
        looks_1, looks_2, n_naive, n_fitted, expected,
    )  # fmt: skip
    assert expected / 5 <= n_fitted <= 5 * expected
    assert n_naive > 5 * expected


# -- planted targets ----------------------------------------------------------------------

#: (row, col, length_px, angle_deg) of the planted targets.
TARGETS = [
    (80, 80, 2, 0),
    (80, 250, 3, 45),
    (80, 420, 5, 90),
    (250, 80, 8, 30),
    (250, 250, 12, 120),
    (250, 420, 20, 10),
    (420, 80, 15, 75),
    (420, 250, 6, 160),
    (420, 420, 10, 0),
]


def test_planted_targets_found_at_the_right_pixel_with_length() -> None:
    sigma0 = clutter_sigma0((512, 512))
    for row, col, length, angle in TARGETS:
        plant_segment(sigma0, row, col, length, angle, gain_db=15.0)
    frame = detect_array(render_db(sigma0, seed=4), CfarConfig(), scene_id="s1")
    assert len(frame) == len(TARGETS), frame
    for row, col, length, _ in TARGETS:
        det, dist = nearest(frame, row, col)
        # The peak lies on the planted segment (its half length plus the blur).
        assert dist <= length / 2 + 1.5, (row, col, det)
        true_m = length * 10.0
        assert 0.5 * true_m <= det["vessel_length_m"] <= 1.5 * true_m, (length, det)
        assert det["snr_db"] > 7.5


def test_output_format_and_scores() -> None:
    sigma0 = clutter_sigma0((512, 512))
    for (row, col, length, angle), gain in zip(TARGETS, np.linspace(8, 25, 9), strict=True):
        plant_segment(sigma0, row, col, length, angle, gain_db=float(gain))
    frame = detect_array(render_db(sigma0, seed=5), CfarConfig(), scene_id="scene_a")
    assert tuple(frame.columns) == CFAR_COLUMNS
    assert CFAR_COLUMNS[: len(DETECTION_COLUMNS)] == DETECTION_COLUMNS
    assert len(frame) >= 7
    assert (frame["scene_id"] == "scene_a").all()
    for c in ("detect_scene_row", "detect_scene_column", "n_pixels"):
        assert frame[c].dtype == np.int64
    np.testing.assert_array_equal(frame["x"], frame["detect_scene_column"] + 0.5)
    np.testing.assert_array_equal(frame["y"], frame["detect_scene_row"] + 0.5)
    p = frame["objectness_p"].to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    assert (np.diff(p) <= 0).all()  # sorted by objectness
    # gamma mode: objectness is monotone in SNR
    order = np.argsort(frame["snr_db"].to_numpy())
    assert (np.diff(p[order]) >= 0).all()
    assert (frame["vessel_p"] == 1.0).all()
    lengths = frame["vessel_length_m"].to_numpy()
    assert ((lengths >= 10) & (lengths <= 500)).all()
    fishing = frame["fishing_p"].to_numpy()[np.argsort(lengths)]
    assert (np.diff(fishing) <= 1e-12).all()  # shorter -> more likely fishing
    const = detect_array(
        render_db(sigma0, seed=5),
        CfarConfig(fishing_mode="constant", fishing_p=0.3, vessel_p=0.9),
    )
    assert (const["fishing_p"] == 0.3).all() and (const["vessel_p"] == 0.9).all()


def test_empty_result_has_the_columns() -> None:
    frame = detect_array(render_db(clutter_sigma0((200, 200)), seed=6), CfarConfig(pfa=1e-12))
    assert frame.empty
    assert tuple(frame.columns) == CFAR_COLUMNS
    assert frame["detect_scene_row"].dtype == np.int64


def test_clusters_closer_than_merge_distance_merge() -> None:
    sigma0 = clutter_sigma0((256, 256))
    plant_segment(sigma0, 128, 120, 2, 0, gain_db=15.0)
    plant_segment(sigma0, 128, 127, 2, 0, gain_db=15.0)  # 7 px apart: two clusters
    db = render_db(sigma0, seed=7)
    apart = detect_array(db, CfarConfig(merge_distance_px=3.0))
    assert len(apart) == 2
    merged = detect_array(db, CfarConfig(merge_distance_px=10.0))
    assert len(merged) == 1
    assert merged["n_pixels"].iloc[0] == apart["n_pixels"].sum()
    # The merged cluster spans both targets: ~9 px instead of ~2.
    assert merged["vessel_length_m"].iloc[0] > 2 * apart["vessel_length_m"].max()


# -- band processing ----------------------------------------------------------------------


def test_band_processing_equals_whole_image_exactly() -> None:
    sigma0 = clutter_sigma0((300, 256))
    # Targets across the boundaries of 64-row bands, one elongated across two bands.
    for row, col, length, angle in [
        (63.5, 40, 3, 0),
        (64.2, 120, 2, 45),
        (128.0, 200, 20, 90),
        (191.6, 60, 6, 80),
        (255.5, 150, 4, 30),
    ]:
        plant_segment(sigma0, row, col, length, angle, gain_db=14.0)
    db = render_db(sigma0, seed=8)
    whole = detect_array(db, CfarConfig(band_rows=1000, pfa=1e-5))
    assert len(whole) >= 5
    for band_rows in (64, 37, 1):
        banded = detect_array(db, CfarConfig(band_rows=band_rows, pfa=1e-5))
        pd.testing.assert_frame_equal(banded, whole, check_exact=True)
    # The elongated target is one detection, not two halves.
    det, _ = nearest(whole, 128, 200)
    assert det["vessel_length_m"] > 150


# -- land and nodata ----------------------------------------------------------------------


def _write_pair(folder: Path, db: np.ndarray, transform: Affine) -> tuple[Path, Path]:
    data = np.where(np.isfinite(db), db, NODATA).astype(np.float32)
    vh = write_raster(folder / "VH_dB.tif", data, transform=transform)
    vv = write_raster(folder / "VV_dB.tif", data + 8.0 * (data != NODATA), transform=transform)
    return vh, vv


def test_owi_mask_and_shoreline_reject_land(tmp_path: Path) -> None:
    h, w = 400, 400
    transform = Affine(10.0, 0.0, ORIGIN[0], 0.0, -10.0, ORIGIN[1])
    sigma0 = clutter_sigma0((h, w))
    sigma0[:, :100] *= 10.0  # land: 10 dB brighter
    targets = {"land": (200, 50), "buffer": (120, 130), "sea": (300, 300)}
    for row, col in targets.values():
        plant_segment(sigma0, row, col, 4, 0, gain_db=15.0)
    vh, vv = _write_pair(tmp_path, render_db(sigma0, seed=9), transform)
    owi = np.zeros((h // 50, w // 50), np.float32)
    owi[:, :2] = 1.0  # land cells cover columns 0-99
    owi[0, -1] = NODATA
    owi_transform = Affine(500.0, 0.0, ORIGIN[0], 0.0, -500.0, ORIGIN[1])
    owi_path = write_raster(tmp_path / "owiMask.tif", owi, transform=owi_transform)

    def found(frame: pd.DataFrame) -> set[str]:
        return {k for k, (r, c) in targets.items() if len(frame) and nearest(frame, r, c)[1] <= 3}

    cfg = CfarConfig(land_buffer_m=500.0)
    scene = Scene.from_folder(tmp_path, scene_id="a")
    assert scene.owi_mask_path == owi_path and (scene.vh_path, scene.vv_path) == (vh, vv)
    without_owi = dataclasses.replace(scene, ancillary_dir=tmp_path / "elsewhere")
    unmasked = detect_scene(without_owi, cfg)
    assert found(unmasked) == {"land", "buffer", "sea"}
    masked = detect_scene(scene, cfg)
    assert found(masked) == {"sea"}
    assert (masked["detect_scene_column"] >= 150).all()
    # Shoreline only: a contour along column 100 masks +-50 px, not the land beyond.
    contour = np.stack([np.arange(h, dtype=float), np.full(h, 100.0)], axis=1)
    shore = Shoreline(np.array([contour, contour[:10]], dtype=object), scene_id="a")
    by_shore = detect_scene(without_owi, cfg, shoreline=shore)
    assert found(by_shore) == {"land", "sea"}
    assert not ((by_shore["detect_scene_column"] - 100).abs() <= 50).any()
    # The owiMask wins over the shoreline when both exist.
    pd.testing.assert_frame_equal(detect_scene(scene, cfg, shoreline=shore), masked)
    # An owiMask in another CRS (WGS84 degrees) is reprojected onto the scene grid.
    geo = tmp_path / "geo"
    geo.mkdir()
    dst_transform, width, height = calculate_default_transform(
        "EPSG:32631", "EPSG:4326", w // 50, h // 50, *array_bounds(h // 50, w // 50, owi_transform),
        resolution=0.0005,
    )  # fmt: skip
    owi_wgs = np.zeros((height, width), np.float32)
    reproject(
        owi, owi_wgs, src_transform=owi_transform, src_crs="EPSG:32631",
        dst_transform=dst_transform, dst_crs="EPSG:4326", resampling=Resampling.nearest,
    )  # fmt: skip
    write_raster(geo / "owiMask.tif", owi_wgs, transform=dst_transform, crs="EPSG:4326")
    reprojected = detect_scene(dataclasses.replace(scene, ancillary_dir=geo), cfg)
    assert found(reprojected) == {"sea"}


def test_nodata_edges_are_rejected() -> None:
    h, w = 300, 300
    sigma0 = clutter_sigma0((h, w))
    points = {"corner": (8, 108), "edge": (150, 103), "open": (200, 220)}
    for row, col in points.values():
        plant_segment(sigma0, row, col, 3, 0, gain_db=15.0)
    db = render_db(sigma0, seed=10)
    db[:, :100] = np.nan  # nodata strip on the left; the top is the scene edge
    db[:5] = NODATA

    def found(frame: pd.DataFrame) -> set[str]:
        return {k for k, (r, c) in points.items() if len(frame) and nearest(frame, r, c)[1] <= 3}

    # Default (max 50 % nodata in the background window): the corner goes, the edge stays.
    assert found(detect_array(db, CfarConfig())) == {"edge", "open"}
    # A GFW-like margin drops everything within ~20 px of the edge.
    assert found(detect_array(db, CfarConfig(max_nodata_fraction=0.25))) == {"open"}
    # Nothing is ever reported on nodata.
    frame = detect_array(db, CfarConfig(pfa=1e-3, **RAW))
    assert (frame["detect_scene_column"] >= 100).all() and (frame["detect_scene_row"] >= 5).all()


# -- ghosts and sidelobes -----------------------------------------------------------------


def test_azimuth_ghost_pairs_and_sidelobes_are_suppressed() -> None:
    sigma0 = clutter_sigma0((1100, 200))
    plant_segment(sigma0, 550, 100, 10, 90, gain_db=45.0)  # parent
    plant_segment(sigma0, 70, 108, 10, 90, gain_db=22.0)  # ghost pair, +-480 px
    plant_segment(sigma0, 1030, 92, 10, 90, gain_db=22.0)
    plant_segment(sigma0, 250, 100, 6, 0, gain_db=22.0)  # a vessel 300 px away: kept
    plant_segment(sigma0, 550, 120, 2, 0, gain_db=18.0)  # 20 px away, ~30 dB down: sidelobe
    db = render_db(sigma0, seed=11)
    raw = detect_array(db, CfarConfig(ghost_contrast_db=None, sidelobe_contrast_db=None))
    assert len(raw) == 5
    frame = detect_array(db, CfarConfig())
    assert len(frame) == 2
    assert nearest(frame, 550, 100)[1] <= 6 and nearest(frame, 250, 100)[1] <= 3
    # A single "ghost" without its mirror twin is kept (could be a vessel).
    sigma0 = clutter_sigma0((1100, 200))
    plant_segment(sigma0, 550, 100, 10, 90, gain_db=45.0)
    plant_segment(sigma0, 70, 108, 10, 90, gain_db=22.0)
    assert len(detect_array(render_db(sigma0, seed=12), CfarConfig())) == 2


# -- speed --------------------------------------------------------------------------------


def test_speed_1024() -> None:
    sigma0 = clutter_sigma0((1024, 1024))
    for row, col, length, angle in TARGETS:
        plant_segment(sigma0, row * 2, col * 2, length, angle, gain_db=15.0)
    db = np.stack([render_db(sigma0, seed=13), render_db(sigma0, seed=14) + 8.0])
    t0 = time.perf_counter()
    frame = detect_array(db, CfarConfig(channels="vh+vv"))
    elapsed = time.perf_counter() - t0
    logger.info("1024 x 1024 vh+vv: %.2f s, %d detections", elapsed, len(frame))
    assert len(frame) >= len(TARGETS)
    assert elapsed < 10.0  # ~0.5 s on 2 cores; generous for loaded CI machines


# -- synthetic generated scenes -----------------------------------------------------------


def test_recall_on_generated_public_scenes(tmp_path: Path) -> None:
    from xview3_pipeline.core.synthetic import LabelNoiseConfig, SyntheticConfig, generate_dataset

    config = SyntheticConfig(
        n_locations=2,
        revisit_splits=("public",),
        height=512,
        width=512,
        label_noise={"public": LabelNoiseConfig(nan_length=0.0)},
    )
    dataset = generate_dataset(config, tmp_path / "raw")
    truth = dataset.test_truth
    tp = fp = fn = big_found = big_total = 0
    for scene_id, gt in truth.groupby("scene_id"):
        scene = Scene.from_folder(tmp_path / "raw" / "public" / scene_id)
        pred = detect_scene(
            scene,
            CfarConfig(),
            shoreline=load_shoreline(tmp_path / "raw" / "shoreline", scene_id),
        )
        pi, gi = match_points(
            pred[["detect_scene_row", "detect_scene_column"]].to_numpy(),
            gt[["detect_scene_row", "detect_scene_column"]].to_numpy(),
        )
        matched = np.zeros(len(gt), bool)
        matched[gi] = True
        scored = (gt["confidence"] != "LOW").to_numpy()
        tp += int((matched & scored).sum())
        fn += int((~matched & scored).sum())
        # Predictions matched to LOW objects are neither TP nor FP (official LOW drop).
        fp += len(pred) - len(pi)
        big = scored & gt["is_vessel"].astype(bool).to_numpy()
        big &= gt["vessel_length_m"].to_numpy(float) > 50
        big_found += int((matched & big).sum())
        big_total += int(big.sum())
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    logger.info(
        "generated public scenes: precision %.2f, recall %.2f (TP %d, FP %d, FN %d), "
        "recall of HIGH/MEDIUM vessels > 50 m %d/%d",
        precision, recall, tp, fp, fn, big_found, big_total,
    )  # fmt: skip
    assert big_total >= 10
    assert big_found / big_total > 0.7
    assert recall > 0.5 and precision > 0.5
