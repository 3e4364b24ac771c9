"""Tests of ``xview3_pipeline.core.data.augmentations.sar`` and the ``sar`` preset."""

from __future__ import annotations

from pathlib import Path

import albumentations as A
import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
from affine import Affine

from xview3_pipeline.core.data import (
    BackgroundContrast,
    CalibrationOffset,
    CircleNetCropDataset,
    IncidenceGradient,
    NoiseFloor,
    PointSpread,
    SamplerConfig,
    SpeckleResample,
    build_augmentations,
)
from xview3_pipeline.core.data.augmentations.sar import db_to_power, power_to_db
from xview3_pipeline.core.encoding import CircleNetCoder, CoderConfig
from xview3_pipeline.core.losses import CircleNetLoss
from xview3_pipeline.core.models import build_model
from xview3_pipeline.core.training.config import DataConfig
from xview3_pipeline.core.training.system import batch_targets

SIZE = 128


def _run(transform: A.BasicTransform, image: np.ndarray, seed: int = 0) -> np.ndarray:
    return A.Compose([transform], seed=seed)(image=image)["image"]


def _flat(db: float, size: int = SIZE, channels: int = 2) -> np.ndarray:
    return np.full((size, size, channels), db, np.float32)


def _sea(seed: int = 0) -> np.ndarray:
    """VH/VV-like dB image with a NaN block (nodata) and a pixel at the -50 dB floor."""
    rng = np.random.default_rng(seed)
    image = np.stack(
        [rng.normal(-27, 2, (SIZE, SIZE)), rng.normal(-17, 2, (SIZE, SIZE))], axis=-1
    ).astype(np.float32)
    image[:10, :20] = np.nan
    image[50, 50] = -50.0
    return image


ALL = [
    SpeckleResample(p=1),
    SpeckleResample(correlation_px=(0.85, 0.85), p=1),
    IncidenceGradient(direction="random", p=1),
    NoiseFloor(scallop_db=(0.0, 3.0), per_channel=True, p=1),
    CalibrationOffset(per_channel=True, p=1),
    BackgroundContrast(p=1),
    PointSpread(p=1),
]
IDS = [
    "speckle",
    "speckle_correlated",
    "gradient",
    "noise_floor",
    "calibration",
    "contrast",
    "point_spread",
]


@pytest.mark.parametrize("transform", ALL, ids=IDS)
def test_nan_dtype_shape_and_determinism(transform):
    image = _sea()
    out = _run(transform, image, seed=3)
    assert out.dtype == np.float32 and out.shape == image.shape
    np.testing.assert_array_equal(np.isnan(out), np.isnan(image))
    assert not np.allclose(out[10:], image[10:])
    np.testing.assert_array_equal(out, _run(transform, image, seed=3))
    assert not np.array_equal(out[10:], _run(transform, image, seed=4)[10:])
    single = _run(transform, image[..., 0], seed=3)  # (H, W) images too
    assert single.shape == image.shape[:2] and single.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(single), np.isnan(image[..., 0]))


@pytest.mark.parametrize("transform", ALL, ids=IDS)
def test_transforms_serialise(transform):
    clone = A.from_dict(A.to_dict(transform))
    assert type(clone) is type(transform)
    for name in transform.get_transform_init_args_names():
        assert getattr(clone, name) == getattr(transform, name)


def test_db_power_round_trip_keeps_the_floor_convention():
    db = np.array([-50.0, -30.0, 0.0, 25.0, np.nan], np.float32)
    np.testing.assert_allclose(power_to_db(db_to_power(db)), db, atol=1e-3)
    assert db_to_power(db)[0] == 0.0  # -50 dB is zero power, not negative
    assert power_to_db(np.zeros(1, np.float32))[0] == pytest.approx(-50.0)


@pytest.mark.parametrize("correlation", [0.0, 1.0])
def test_speckle_keeps_mean_power_and_has_variance_one_over_looks(correlation):
    image = _flat(-20.0, size=256)
    image[0, 0] = -50.0
    gain = db_to_power(_run(SpeckleResample((4.0, 4.0), (correlation,) * 2, p=1), image))
    gain /= db_to_power(np.float32(-20.0))
    body = gain[8:-8, 8:-8]
    assert body.mean() == pytest.approx(1.0, abs=0.03)
    assert body.var() == pytest.approx(1 / 4, rel=0.15)
    assert (body > 0).all() and (gain[0, 0] == 0).all()  # the -50 dB floor stays
    lag = np.corrcoef(body[:, :-1, 0].ravel(), body[:, 1:, 0].ravel())[0, 1]
    assert (lag > 0.3) if correlation else (abs(lag) < 0.02)
    channels = np.corrcoef(body[..., 0].ravel(), body[..., 1].ravel())[0, 1]
    assert abs(channels) < 0.05  # independent fields per channel
    out = _run(SpeckleResample(p=1), _sea())
    assert out[50, 50, 0] == pytest.approx(-50.0)  # zero power stays at the floor


def _moments(power: np.ndarray) -> tuple[float, float]:
    """Total and mean squared radius (px²) of a 2-D power map about its centroid."""
    rows, cols = np.indices(power.shape)
    total = float(power.sum())
    r0, c0 = (power * rows).sum() / total, (power * cols).sum() / total
    return total, float((power * ((rows - r0) ** 2 + (cols - c0) ** 2)).sum() / total)


def test_point_spread_widens_targets_and_keeps_the_speckle_level():
    # Sea with the data's speckle: ENL 4.4, correlated over 0.85 px.
    sea = _run(SpeckleResample((4.4, 4.4), (0.85, 0.85), p=1), _flat(-20.0, size=256))
    wider = _run(PointSpread((1.0, 1.0), (4.4, 4.4), p=1), sea, seed=1)
    before = db_to_power(sea)[8:-8, 8:-8, 0]
    after = db_to_power(wider)[8:-8, 8:-8, 0]
    assert after.mean() == pytest.approx(before.mean(), rel=0.03)
    assert after.var() / after.mean() ** 2 == pytest.approx(
        before.var() / before.mean() ** 2, rel=0.2
    )

    def lag(x: np.ndarray, k: int) -> float:
        return float(np.corrcoef(x[:, :-k].ravel(), x[:, k:].ravel())[0, 1])

    assert lag(after, 2) > lag(before, 2) + 0.1  # coarser grains
    # A point target (Gaussian of 0.85 px on an empty sea) spreads by about sigma² per axis.
    rows, cols = np.indices((65, 65)) - 32
    target = 1e3 * np.exp(-(rows**2 + cols**2) / (2 * 0.85**2))
    image = np.repeat(power_to_db(target.astype(np.float32))[..., None], 2, axis=-1)
    spread = db_to_power(_run(PointSpread((1.0, 1.0), p=1), image, seed=2))[..., 0]
    (e0, m0), (e1, m1) = _moments(target), _moments(spread)
    assert e1 == pytest.approx(e0, rel=0.3)
    assert m1 - m0 == pytest.approx(2 * 1.0**2, rel=0.35)  # two axes, sigma 1 px
    assert spread.max() < 0.7 * target.max()
    with pytest.raises(ValueError, match="PointSpread sigma_px must satisfy"):
        PointSpread((0.0, 1.0))


def test_incidence_gradient_slope_sign_and_magnitude():
    image = _sea()
    cols = np.arange(SIZE) - (SIZE - 1) / 2
    for slope in (1.5, -2.0):
        diff = _run(IncidenceGradient((slope, slope), "range", p=1), image) - image
        np.testing.assert_allclose(diff[20], np.stack([cols, cols], -1) * slope / 1000, atol=1e-5)
        np.testing.assert_allclose(diff[20], diff[100], atol=1e-6)  # constant along rows
        assert diff[10:].mean() == pytest.approx(0.0, abs=1e-5)  # zero at the centre
    diff = _run(IncidenceGradient((3.0, 3.0), "random", p=1), _flat(-20.0), seed=7)[..., 0] + 20
    gy, gx = np.gradient(diff.astype(np.float64))
    assert np.hypot(gx, gy).mean() == pytest.approx(3.0 / 1000, rel=1e-3)
    slopes = [
        _run(IncidenceGradient((-1.0, 1.0), per_channel=True, p=1), _flat(0.0), seed=s)
        for s in range(3)
    ]
    assert all(not np.allclose(g[..., 0], g[..., 1]) for g in slopes)


def test_noise_floor_raises_dark_pixels_and_leaves_bright_ones():
    image = _sea()
    image[100, :, 1] = 10.0  # a bright line (vessels, land)
    out = _run(NoiseFloor((-25.0, -25.0), p=1), image)
    assert out[50, 50, 0] == pytest.approx(10 * np.log10(10**-2.5 + 1e-5))  # floor rises
    np.testing.assert_allclose(out[100, :, 1], 10.0, atol=0.01)
    valid = ~np.isnan(image)
    assert (out[valid] >= image[valid] - 1e-5).all()
    expected = power_to_db(db_to_power(image) + 10**-2.5)
    np.testing.assert_allclose(out[valid], expected[valid], atol=1e-4)
    scalloped = _run(NoiseFloor((-25.0, -25.0), (3.0, 3.0), (64.0, 64.0), p=1), _flat(-50.0))
    profile = scalloped[0, :, 0]
    assert profile.max() - profile.min() == pytest.approx(3.0, abs=0.05)
    np.testing.assert_allclose(scalloped[0], scalloped[-1])  # along range only


def test_calibration_offset_is_exact():
    image = _sea()
    transform = CalibrationOffset((0.7, 0.7), p=1)
    np.testing.assert_allclose(_run(transform, image), image + np.float32(0.7), rtol=0, atol=0)
    out = _run(CalibrationOffset(1.0, per_channel=True, p=1), image)
    offsets = np.nanmean(out - image, axis=(0, 1))
    np.testing.assert_allclose(np.nanstd(out - image, axis=(0, 1)), 0.0, atol=1e-4)
    assert np.all(np.abs(offsets) <= 1.0) and offsets[0] != pytest.approx(offsets[1])


def test_background_contrast_scales_contrast_and_keeps_the_background():
    image = _sea()
    image[64, 64] = [-5.0, 5.0]  # a bright target
    out = _run(BackgroundContrast((0.5, 0.5), p=1), image)
    background = np.nanmedian(image.reshape(-1, 2), axis=0)
    np.testing.assert_allclose(out, background + 0.5 * (image - background), atol=1e-5)
    np.testing.assert_allclose(np.nanmedian(out.reshape(-1, 2), axis=0), background, atol=1e-5)
    np.testing.assert_allclose(out[64, 64] - background, 0.5 * (image[64, 64] - background))
    empty = np.full((8, 8, 2), np.nan, np.float32)  # outside the swath: unchanged, quietly
    assert np.isnan(_run(BackgroundContrast(p=1), empty)).all()


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: SpeckleResample(looks=(8.0, 3.0)), "looks must satisfy"),
        (lambda: SpeckleResample(looks=(0.0, 3.0)), "looks must satisfy"),
        (lambda: SpeckleResample(correlation_px=(-1.0, 1.0)), "correlation_px"),
        (lambda: IncidenceGradient(direction="azimuth"), "direction"),
        (lambda: NoiseFloor(scallop_db=(-1.0, 1.0)), "scallop_db"),
        (lambda: NoiseFloor(scallop_period_px=(0.0, 10.0)), "scallop_period_px"),
        (lambda: CalibrationOffset(offset_db=(2.0, 1.0)), "offset_db"),
        (lambda: BackgroundContrast(gain=(0.0, 1.0)), "gain must satisfy"),
    ],
)
def test_bad_parameters_are_rejected_with_their_name(build, match):
    with pytest.raises(ValueError, match=match):
        build()


# --- the sar preset ----------------------------------------------------------------------


def _raw_names(name: str, **params) -> list[str]:
    raw = build_augmentations(name, **params).raw
    return [type(t).__name__ for t in raw.transforms] if raw is not None else []


def test_sar_preset_is_the_winner_plus_the_sar_transforms():
    sar = [
        "SpeckleResample",
        "IncidenceGradient",
        "NoiseFloor",
        "CalibrationOffset",
        "BackgroundContrast",
    ]
    winner = _raw_names("winner")
    assert winner == ["UnclippedRandomBrightnessContrast", "UnclippedGaussNoise"]
    assert _raw_names("sar") == sar + winner
    joint = [repr(t) for t in build_augmentations("sar").joint.transforms]
    assert joint == [repr(t) for t in build_augmentations("winner").joint.transforms]
    assert _raw_names("sar", speckle_p=0.0) == sar[1:] + winner
    aug = build_augmentations("sar", speckle_looks=[2, 3], gradient_direction="random")
    assert aug.raw.transforms[0].looks == (2.0, 3.0)  # YAML lists become ranges
    with pytest.raises(ValueError, match=r"'speckle_looks': \(8, 3\).*looks must satisfy"):
        build_augmentations("sar", speckle_looks=[8, 3])
    assert DataConfig(augmentations="sar").augmentations == "sar"


def test_sar_raw_stage_is_deterministic_and_keeps_nan():
    aug = build_augmentations("sar")
    image = np.moveaxis(_sea(), -1, 0)
    out = aug.apply_raw(image, 11)
    assert out.shape == image.shape and out.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(out), np.isnan(image))
    np.testing.assert_array_equal(out, aug.apply_raw(image, 11))
    changed = [
        not np.array_equal(aug.apply_raw(image, s), image, equal_nan=True) for s in range(40)
    ]
    assert sum(changed) >= 34  # all transforms skipped with probability ~3 %


def _write(path: Path, array: np.ndarray) -> str:
    profile = {
        "driver": "GTiff", "height": array.shape[0], "width": array.shape[1], "count": 1,
        "dtype": "float32", "crs": "EPSG:32631", "nodata": -32768.0,
        "transform": Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array.astype(np.float32), 1)
    return str(path)


def test_training_step_on_the_sar_preset(tmp_path: Path):
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(8, 88, 6), rng.integers(8, 88, 6)
    bands = {}
    for name, sea, peak in (("VH", -27.0, 0.0), ("VV", -17.0, 10.0)):
        band = rng.normal(sea, 2.0, (96, 96)).astype(np.float32)
        band[rows, cols] = peak
        bands[name] = _write(tmp_path / f"{name}_dB.tif", band)
    scenes = pd.DataFrame(
        [{"scene_id": "s", "vh_path": bands["VH"], "vv_path": bands["VV"], "width": 96,
          "height": 96}]
    )  # fmt: skip
    labels = pd.DataFrame(
        {
            "scene_id": "s", "detect_scene_row": rows, "detect_scene_column": cols,
            "confidence": pd.Categorical(["HIGH"] * 6, categories=["LOW", "MEDIUM", "HIGH"]),
            "is_vessel": pd.array([True] * 6, dtype="boolean"),
            "is_fishing": pd.array([False, True] * 3, dtype="boolean"),
            "vessel_length_m": 40.0, "is_near_shore": False,
        }
    )  # fmt: skip
    dataset = CircleNetCropDataset(
        scenes, labels, sampler=SamplerConfig(object_crop_p=1.0),
        coder=CircleNetCoder(CoderConfig(stride=2)), augmentations="sar",
        crop_size=64, length=2, seed=0,
    )  # fmt: skip
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=2)))
    assert torch.isfinite(batch["image"]).all()
    torch.manual_seed(0)
    model = build_model("cpu_small")
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    terms = CircleNetLoss()(model(batch["image"]), batch_targets(batch), batch["sample_weight"])
    terms["total"].backward()
    optimizer.step()
    assert torch.isfinite(terms["total"])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_transforms_of_a_stage_draw_independently():
    aug = build_augmentations("winner", affine_p=0.0, brightness_contrast_p=0.0, elastic_p=0.0,
                              grid_shuffle_p=0.0, median_blur_p=0.0, gaussian_blur_p=0.0)  # fmt: skip
    image = np.zeros((2, 8, 8), np.float32)
    image[:, 0, 1] = 1.0  # the bright pixel's position tells which flips were applied
    outcomes = set()
    for seed in range(40):
        out = aug.apply_joint(image, np.zeros((0, 2)), np.zeros(0), seed).image[0]
        row, col = np.unravel_index(np.argmax(out), out.shape)
        outcomes.add((int(row) == 7, int(col) == 6))
    assert outcomes == {(False, False), (False, True), (True, False), (True, True)}
