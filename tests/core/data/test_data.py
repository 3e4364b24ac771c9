"""Tests of ``xview3_pipeline.core.data``: normalisation, reader, sampler, augmentation, datasets."""

from __future__ import annotations

import dataclasses
import pickle
import warnings
from pathlib import Path

import albumentations as A
import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.io import DatasetReader
from torch.utils.data import DataLoader

from xview3_pipeline.core.config import RenamedOptionWarning
from xview3_pipeline.core.constants import NODATA
from xview3_pipeline.core.data import (
    TARGET_KEYS,
    BalancedCropSampler,
    CircleNetCropDataset,
    CircleNetTileDataset,
    FloatGaussianBlur,
    FloatMedianBlur,
    MultiSceneReader,
    SamplerConfig,
    SceneEntry,
    SceneReader,
    SpikeElasticTransform,
    UnclippedGaussNoise,
    UnclippedRandomBrightnessContrast,
    balanced_class_weights,
    build_augmentations,
    build_normalization,
    capped_randnorm,
    contours_to_points,
    crowd_weights,
    fold_scenes,
    object_weights,
    sigmoid_normalize,
)
from xview3_pipeline.core.encoding import CircleNetCoder, CoderConfig
from xview3_pipeline.core.training.config import DataConfig
from xview3_pipeline.core.types import ObjectLabels

# --- tiny data --------------------------------------------------------------------------

HEIGHT, WIDTH = 96, 128


def _write(path: Path, array: np.ndarray, nodata: float | None = NODATA) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "height": array.shape[0],
        "width": array.shape[1],
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:32631",
        "transform": Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0),
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array.astype(np.float32), 1)


#: Objects of scene "a": (row, col, confidence, is_vessel, is_fishing, length_m, near_shore).
OBJECTS_A = [
    (20, 20, "HIGH", True, True, 30.0, True),
    (20, 60, "MEDIUM", True, False, 80.0, False),
    (50, 40, "HIGH", False, None, None, False),
    (70, 100, "HIGH", None, None, 120.0, False),
    (60, 80, "MEDIUM", True, None, None, False),
    (85, 10, "LOW", True, True, 20.0, True),
]
OBJECTS_B = [
    (30, 90, "HIGH", True, False, 50.0, False),
    (70, 110, "MEDIUM", True, True, 25.0, True),
]


def _labels(scene_id: str, objects: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(
        objects,
        columns=[
            "detect_scene_row",
            "detect_scene_column",
            "confidence",
            "is_vessel",
            "is_fishing",
            "vessel_length_m",
            "is_near_shore",
        ],
    )
    frame["is_vessel"] = frame["is_vessel"].astype("boolean")
    frame["is_fishing"] = frame["is_fishing"].astype("boolean")
    frame["vessel_length_m"] = frame["vessel_length_m"].astype(float)
    frame["confidence"] = pd.Categorical(
        frame["confidence"], categories=["LOW", "MEDIUM", "HIGH"], ordered=True
    )
    frame["scene_id"] = scene_id
    return frame


@pytest.fixture
def tiny(tmp_path: Path) -> dict:
    """Two 96 x 128 scenes with bright objects; scene b has a nodata block on the left."""
    rng = np.random.default_rng(0)
    out = {"scenes": [], "arrays": {}}
    for scene_id, objects in (("a", OBJECTS_A), ("b", OBJECTS_B)):
        vh = (-27 + rng.normal(0, 1, (HEIGHT, WIDTH))).astype(np.float32)
        vv = (-17 + rng.normal(0, 1, (HEIGHT, WIDTH))).astype(np.float32)
        for row, col, *_ in objects:
            vh[row, col], vv[row, col] = 0.0, 5.0
        if scene_id == "b":
            vh[:, :24] = NODATA
            vv[:, :24] = NODATA
        folder = tmp_path / "validation" / scene_id
        _write(folder / "VH_dB.tif", vh)
        _write(folder / "VV_dB.tif", vv)
        out["arrays"][scene_id] = (vh, vv)
        out["scenes"].append(
            {
                "scene_id": scene_id,
                "split": "validation",
                "vh_path": str(folder / "VH_dB.tif"),
                "vv_path": str(folder / "VV_dB.tif"),
                "width": WIDTH,
                "height": HEIGHT,
                "sample_weight": 1.0 if scene_id == "a" else 0.25,
            }
        )
    out["scenes"] = pd.DataFrame(out["scenes"])
    out["labels"] = pd.concat([_labels("a", OBJECTS_A), _labels("b", OBJECTS_B)], ignore_index=True)
    # One shoreline contour along row 5 of scene a, (row, col) points.
    contour = np.stack([np.full(50, 5.0), np.linspace(0, 127, 50)], axis=1)
    contours = np.empty(1, dtype=object)  # as in the .npy files: an object array of contours
    contours[0] = contour
    out["shorelines"] = {"a": contours, "b": np.array([], dtype=object)}
    return out


def _coder() -> CircleNetCoder:
    return CircleNetCoder(CoderConfig(stride=2))


# --- normalisation ----------------------------------------------------------------------


def test_sigmoid_reference_values():
    norm = build_normalization("sigmoid")
    db = np.array([-40.0, -30.0, -20.0, -10.0, 0.0, np.nan], dtype=np.float32)
    out = norm(db)
    np.testing.assert_allclose(out[:5], [0.027, 0.142, 0.5, 0.858, 0.973], atol=1e-3)
    assert np.isnan(out[5]) and out.dtype == np.float32
    torch_out = norm(torch.from_numpy(db))
    np.testing.assert_allclose(torch_out.numpy()[:5], out[:5], rtol=1e-6)
    assert sigmoid_normalize(np.float32(-20.0)) == pytest.approx(0.5)


def test_centred_normalization_reads_contrast_to_each_images_background():
    rng = np.random.default_rng(0)
    sea = np.stack([rng.normal(-27, 2, (64, 64)), rng.normal(-17, 2, (64, 64))]).astype(np.float32)
    sea[:, 30:33, 30:33] += 20.0  # a target
    sea[:, :8, :8] = np.nan  # nodata
    norm = build_normalization("centred")
    out = norm(sea)
    assert out.shape == sea.shape and out.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(out), np.isnan(sea))
    # A calibration offset per channel, or a sea level of another wind, changes nothing.
    shifted = sea + np.array([3.5, 4.0], np.float32)[:, None, None]
    np.testing.assert_allclose(norm(shifted), out, atol=1e-6)
    # Both channels' sea sits near sigmoid(-3 * 0.18) = 0.37; the target far above.
    np.testing.assert_allclose(np.nanmedian(out, axis=(1, 2)), 0.368, atol=0.02)
    assert (out[:, 31, 31] > 0.9).all()
    # Each tile of a (B, 2, T, T) batch is centred on its own background, in torch too.
    batch = np.stack([sea, sea - 6.0])
    np.testing.assert_allclose(norm(batch)[1], out, atol=1e-6)
    torch_out = norm(torch.from_numpy(batch)).numpy()
    finite = np.isfinite(out)
    np.testing.assert_allclose(torch_out[0][finite], out[finite], atol=1e-6)
    # Exact on a grid the subsample reads whole: the background is the median.
    flat = np.full((2, 8, 8), -20.0, np.float32)
    np.testing.assert_allclose(
        build_normalization("centred", subsample=1, midpoint=0.0)(flat), 0.5, atol=1e-7
    )
    assert np.isnan(norm(np.full((2, 8, 8), np.nan, np.float32))).all()
    with pytest.raises(ValueError, match=r"needs images \(\.\.\., H, W\)"):
        norm(np.zeros(5, np.float32))


def test_other_normalizations_and_registry_errors():
    assert build_normalization("divide")(np.float32(-25.0)) == pytest.approx(-0.5)
    linear = build_normalization("linear")
    np.testing.assert_allclose(linear(np.array([-40.0, -25.0])), [0.0, 1.0])
    assert build_normalization("linear", offset=30, scale=10)(np.float32(-20)) == pytest.approx(1.0)
    with pytest.raises(KeyError, match="available"):
        build_normalization("zscore")
    with pytest.raises(ValueError, match="midpoint"):
        build_normalization("divide", midpoint=3)
    assert pickle.loads(pickle.dumps(build_normalization())) == build_normalization()


# --- scene reader -----------------------------------------------------------------------


def test_window_read_pads_nan_and_always_passes_window(tiny, monkeypatch):
    calls = []
    original = DatasetReader.read

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("window"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DatasetReader, "read", spy)
    row = tiny["scenes"].iloc[1]
    vh, vv = tiny["arrays"]["b"]
    reader = SceneReader(row.vh_path, row.vv_path)
    assert not reader.is_open  # lazy: nothing opened in __init__
    out = reader.read(-10, 100, 40, 40)
    assert out.shape == (2, 40, 40) and out.dtype == np.float32
    assert np.isnan(out[:, :10]).all()  # above the scene
    assert np.isnan(out[:, :, 28:]).all()  # right of the scene
    np.testing.assert_array_equal(out[0, 10:, :28], vh[:30, 100:])
    np.testing.assert_array_equal(out[1, 10:, :28], vv[:30, 100:])
    nodata = reader.read(0, 0, 8, 30)
    assert np.isnan(nodata[:, :, :24]).all() and np.isfinite(nodata[:, :, 24:]).all()
    outside = reader.read(500, 500, 4, 4)
    assert np.isnan(outside).all()
    assert calls and all(window is not None for window in calls)
    # Windows never exceed the scene: the read covers the overlap only.
    assert all(w.width <= WIDTH and w.height <= HEIGHT for w in calls)
    reader.close()
    assert not reader.is_open


def test_reader_is_picklable_and_reopens(tiny):
    row = tiny["scenes"].iloc[0]
    reader = SceneReader(row.vh_path, row.vv_path)
    first = reader.read(0, 0, 8, 8)
    assert reader.is_open
    clone = pickle.loads(pickle.dumps(reader))
    assert not clone.is_open
    np.testing.assert_array_equal(clone.read(0, 0, 8, 8), first)
    multi = MultiSceneReader(
        {r.scene_id: (r.vh_path, r.vv_path) for r in tiny["scenes"].itertuples()}, max_open=1
    )
    multi.read("a", 0, 0, 4, 4)
    multi.read("b", 0, 0, 4, 4)
    assert list(multi._readers) == ["b"]  # LRU bound
    with pytest.raises(KeyError, match="Unknown scene"):
        multi.read("zzz", 0, 0, 4, 4)
    multi.close()


def test_contours_to_points():
    contours = np.empty(2, dtype=object)
    contours[0] = np.zeros((3, 2))
    contours[1] = np.ones((2, 2))
    assert contours_to_points(contours).shape == (5, 2)
    assert contours_to_points(np.array([], dtype=object)).shape == (0, 2)
    assert contours_to_points(None).shape == (0, 2)
    stacked = np.array([np.zeros((3, 2)), np.ones((3, 2))], dtype=object)  # (2, 3, 2) object
    assert contours_to_points(stacked).shape == (6, 2)


# --- sampler ----------------------------------------------------------------------------


def _objects(centers, vessel=None, fishing=None, shore=None) -> ObjectLabels:
    centers = np.asarray(centers, np.float32).reshape(-1, 2)
    n = len(centers)
    nan = np.full(n, np.nan, np.float32)
    return ObjectLabels(
        centers=centers,
        is_vessel=nan if vessel is None else np.asarray(vessel, np.float32),
        is_fishing=nan.copy() if fishing is None else np.asarray(fishing, np.float32),
        length_px=nan.copy(),
        confidence=np.full(n, 2, np.int8),
        near_shore=np.zeros(n, bool) if shore is None else np.asarray(shore, bool),
    )


def _grid_scene(scene_id="s", size=1000, n_side=6, **attrs) -> SceneEntry:
    xs = np.linspace(50, size - 50, n_side)
    centers = np.array([(x, y) for y in xs for x in xs])
    return SceneEntry(
        scene_id, size, size, _objects(centers, **attrs), np.zeros((0, 2), np.float32)
    )


def test_sampler_is_deterministic_per_seed_epoch_index():
    scenes = [_grid_scene("s1"), _grid_scene("s2")]
    a = BalancedCropSampler(scenes, 128, seed=1)
    b = BalancedCropSampler(scenes, 128, seed=1)
    c = BalancedCropSampler(scenes, 128, seed=2)
    crops_a = [a.sample(i) for i in range(50)]
    assert crops_a == [b.sample(i) for i in range(50)]
    assert crops_a != [c.sample(i) for i in range(50)]
    # Order-independent (worker-safe): item 7 alone is item 7.
    assert BalancedCropSampler(scenes, 128, seed=1).sample(7) == crops_a[7]
    a.set_epoch(1)
    assert crops_a != [a.sample(i) for i in range(50)]


def test_object_crop_share_is_p_and_jitter_is_capped():
    scene = _grid_scene()
    sampler = BalancedCropSampler(
        [scene], 128, SamplerConfig(object_crop_p=0.8, clamp_to_scene=False), seed=3
    )
    specs = [sampler.sample(i) for i in range(3000)]
    share = np.mean([s.kind == "object" for s in specs])
    assert share == pytest.approx(0.8, abs=0.03)
    centers = scene.objects.centers
    for spec in specs:
        if spec.kind != "object":
            continue
        cx, cy = spec.col0 + 64, spec.row0 + 64
        d = np.abs(centers - [cx, cy]).max(axis=1).min()
        assert d <= 128 / 4 + 1  # jitter capped at crop/4
    draws = capped_randnorm(np.random.default_rng(0), -192, 192, size=10000)
    assert np.abs(draws).max() <= 192
    assert np.std(draws) == pytest.approx(np.sqrt(384), rel=0.1)


def test_shore_and_random_crops_and_clamping():
    shore = np.array([[500.0, 10.0]], np.float32)  # (row, col)
    scene = SceneEntry("s", 1000, 1000, ObjectLabels.empty(), shore)
    sampler = BalancedCropSampler([scene], 128, SamplerConfig(shore_crop_p=0.5), seed=0)
    specs = [sampler.sample(i) for i in range(1000)]
    kinds = pd.Series([s.kind for s in specs]).value_counts(normalize=True)
    assert kinds["shore"] == pytest.approx(0.5, abs=0.05)
    for s in specs:
        assert 0 <= s.row0 <= 1000 - 128 and 0 <= s.col0 <= 1000 - 128  # clamped
        if s.kind == "shore":
            assert s.col0 == 0 and abs(s.row0 + 64 - 500) <= 33


def test_balanced_weighting_raises_rare_class_share():
    n_side = 7  # 49 spread-out objects; 4 fishing near-shore, the rest non-fishing off-shore
    fishing = np.zeros(n_side**2)
    fishing[[0, 10, 20, 30]] = 1
    scene = _grid_scene(
        n_side=n_side, size=3000, vessel=np.ones(n_side**2), fishing=fishing, shore=fishing
    )
    rare = fishing.astype(bool)
    shares = {}
    for mode in ("uniform", "winner", "balanced"):
        p = object_weights(scene.objects, 128, mode)
        assert p.sum() == pytest.approx(1.0)
        shares[mode] = p[rare].sum()
    assert shares["uniform"] == pytest.approx(4 / 49)
    # (1 + shore / sum + crowd / sum) / 2: nearly uniform; the rare class holds half the shore mass.
    assert shares["winner"] == pytest.approx((4 + 0.5 + 4 / 49) / (49 + 2))
    assert shares["balanced"] == pytest.approx(0.5)  # half the mass of fishing and of shore
    assert (
        object_weights(scene.objects, 128, "balanced", "product")[rare].sum() > shares["balanced"]
    )
    sampler = BalancedCropSampler(
        [scene], 128, SamplerConfig(object_crop_p=1.0, object_weighting="balanced"), seed=0
    )
    hits = 0
    rare_centres = scene.objects.centers[rare]
    for i in range(1000):
        s = sampler.sample(i)
        cx, cy = s.col0 + 64, s.row0 + 64
        hits += np.abs(rare_centres - [cx, cy]).max(axis=1).min() <= 33
    assert hits / 1000 > 2 * shares["uniform"]
    with pytest.raises(ValueError, match="object_weighting"):
        SamplerConfig(object_weighting="fancy")


def test_ignored_objects_are_never_crop_centres():
    scene = _grid_scene(n_side=4, vessel=np.ones(16), fishing=np.r_[np.ones(4), np.zeros(12)])
    ignore = np.zeros(16, bool)
    ignore[[0, 1, 5]] = True
    flagged = dataclasses.replace(scene.objects, ignore=ignore)
    for mode in ("uniform", "winner", "balanced"):
        p = object_weights(flagged, 128, mode)
        assert p.sum() == pytest.approx(1.0) and (p[ignore] == 0).all()
        # The others are weighted as if the ignored objects were not there.
        np.testing.assert_allclose(p[~ignore], object_weights(flagged.subset(~ignore), 128, mode))
    all_ignored = dataclasses.replace(scene.objects, ignore=np.ones(16, bool))
    assert (object_weights(all_ignored, 128) == 0).all()
    sampler = BalancedCropSampler(
        [dataclasses.replace(scene, objects=all_ignored)], 128, SamplerConfig(object_crop_p=1.0)
    )
    assert {sampler.sample(i).kind for i in range(50)} == {"random"}


def test_crowd_and_class_weights():
    centers = np.array([[0, 0], [10, 10], [100, 100]])
    np.testing.assert_allclose(crowd_weights(centers, 20), [0.5, 0.5, 1.0])
    np.testing.assert_allclose(balanced_class_weights(np.array([0, 0, 0, 1])), [2 / 3] * 3 + [2.0])


def test_nodata_crops_are_rejected():
    # Left 100 of 128 columns are nodata: most random 32-px crops are > 80 % nodata.
    scene = SceneEntry("s", 96, 128, ObjectLabels.empty(), np.zeros((0, 2), np.float32))

    def fraction(spec):
        cols = np.arange(spec.col0, spec.col0 + spec.size)
        return float(np.mean(cols < 100))

    cfg = SamplerConfig(max_attempts=60)
    sampler = BalancedCropSampler([scene], 32, cfg, seed=0)
    plain = [fraction(sampler.sample(i)) for i in range(200)]
    assert max(plain) > 0.8
    kept = [sampler.sample(i, fraction) for i in range(200)]
    assert all(fraction(s) <= 0.8 for s in kept)
    assert any(s.attempt > 0 for s in kept)
    # Bounded: an all-nodata scene still returns a crop after max_attempts.
    spec = BalancedCropSampler([scene], 32, SamplerConfig(max_attempts=3)).sample(0, lambda s: 1.0)
    assert spec.attempt == 2


# --- augmentations ----------------------------------------------------------------------


def _blob_image(size: int, points: np.ndarray) -> np.ndarray:
    image = np.zeros((2, size, size), np.float32)
    rows, cols = np.indices((size, size))
    for x, y in points:
        image += np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / 2.0)[None]
    return image


def _only(transform: A.BasicTransform):
    from xview3_pipeline.core.data.augmentations import SarAugmentation

    compose = A.Compose(
        [transform],
        keypoint_params=A.KeypointParams(format="xys", label_fields=["object_index"]),
    )
    return SarAugmentation(None, compose)


@pytest.mark.parametrize(
    "transform",
    [
        A.HorizontalFlip(p=1),
        A.VerticalFlip(p=1),
        A.Affine(scale=(0.9, 1.1), rotate=(-15, 15), translate_percent=(-0.06, 0.06), p=1),
        A.RandomGridShuffle(grid=(3, 3), p=1),
        SpikeElasticTransform(magnitude=(50, 200), p=1),  # displacements of 4-7 px
    ],
    ids=["hflip", "vflip", "affine", "grid", "elastic"],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_keypoints_follow_the_bright_pixel(transform, seed):
    size = 66  # not a multiple of the 3 x 3 grid
    points = np.array([[12.0, 20.0], [45.5, 30.0], [30.0, 52.0]], np.float32)
    aug = _only(transform)
    moved = 0.0
    for k, point in enumerate(points):
        image = _blob_image(size, point[None])
        out = aug.apply_joint(image, point[None], np.array([20.0]), seed)
        if len(out.index) == 0:
            continue  # left the image
        assert out.index.tolist() == [0]
        y, x = np.unravel_index(np.nanargmax(out.image[0]), out.image[0].shape)
        kx, ky = out.centers[0]
        assert abs(kx - x) <= 1.5 and abs(ky - y) <= 1.5, (k, (kx, ky), (x, y))
        moved = max(moved, float(np.abs(out.centers[0] - point).max()))
    assert moved > 1.0  # the transform did move the points


def test_winner_augmentations_fill_nan_and_drop_keypoints_with_labels():
    aug = build_augmentations("winner", affine_p=1.0, rotate_limit=15, shift_limit=0.2)
    image = np.full((2, 64, 64), 0.5, np.float32)
    centers = np.array([[1.0, 1.0], [32.0, 32.0], [62.0, 1.0], [1.0, 62.0]], np.float32)
    lengths = np.array([10.0, np.nan, 30.0, 40.0], np.float32)
    saw_nan = saw_drop = False
    for seed in range(20):
        out = aug.apply_joint(image, centers, lengths, seed)
        saw_nan |= bool(np.isnan(out.image).any())
        saw_drop |= len(out.index) < 4
        assert len(out.centers) == len(out.length_px) == len(out.index)
        assert ((out.centers >= 0) & (out.centers < 64)).all()
        np.testing.assert_array_equal(np.isnan(out.length_px), np.isnan(lengths[out.index]))
        finite = np.isfinite(out.length_px)
        ratio = out.length_px[finite] / lengths[out.index][finite]
        assert ((ratio > 0.85) & (ratio < 1.15)).all()  # rescaled by the zoom only
    assert saw_nan and saw_drop


def test_unclipped_transforms_preserve_nan_and_do_not_clip():
    image = np.linspace(-3, 3, 2 * 16 * 16, dtype=np.float32).reshape(16, 16, 2)
    image[0, 0] = np.nan
    bc = A.Compose([UnclippedRandomBrightnessContrast(1.0, 0.1, per_channel=True, p=1)], seed=0)
    out = bc(image=image)["image"]
    assert np.isnan(out[0, 0]).all() and out.dtype == np.float32
    alpha_beta = [np.polyfit(image[1:, :, c].ravel(), out[1:, :, c].ravel(), 1) for c in (0, 1)]
    assert not np.allclose(alpha_beta[0], alpha_beta[1])  # independent per channel
    noise = A.Compose([UnclippedGaussNoise((1e-4, 5e-3), p=1)], seed=0)(image=image)["image"]
    assert np.isnan(noise[0, 0]).all()
    assert 0 < np.nanstd(noise - image) < 0.1
    for blur in (FloatMedianBlur(p=1), FloatGaussianBlur(p=1)):
        blurred = A.Compose([blur], seed=0)(image=image)["image"]
        assert np.nanmin(blurred) < -2 and np.nanmax(blurred) > 2  # A.*Blur would clip to [0, 1]


def test_custom_transforms_serialise():
    for transform in (
        UnclippedRandomBrightnessContrast(0.01, 0.01, per_channel=True),
        UnclippedGaussNoise((1e-4, 5e-3)),
        SpikeElasticTransform(),
        FloatMedianBlur(),
        FloatGaussianBlur(),
    ):
        clone = A.from_dict(A.to_dict(transform))
        assert type(clone) is type(transform)
        for name in transform.get_transform_init_args_names():
            assert getattr(clone, name) == getattr(transform, name)


def test_build_augmentations_presets_and_errors():
    assert build_augmentations("none").joint is None
    assert build_augmentations("light").joint is not None
    with pytest.raises(KeyError, match="available"):
        build_augmentations("heavy")
    with pytest.raises(ValueError, match="rotate_limt"):
        build_augmentations("winner", rotate_limt=5)
    aug = build_augmentations("winner")
    image = np.random.default_rng(0).normal(-20, 3, (2, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(aug.apply_raw(image, 5), aug.apply_raw(image, 5))


def test_renamed_augmentation_preset_warns_and_builds_the_winner():
    with pytest.warns(RenamedOptionWarning, match="'seed' is deprecated.*use 'winner'"):
        old = build_augmentations("seed")
    assert old.name == "winner"
    image = np.random.default_rng(1).normal(-20, 3, (2, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(
        old.apply_raw(image, 3), build_augmentations("winner").apply_raw(image, 3)
    )


def test_renamed_object_weighting_warns_and_weights_as_the_winner():
    shore = (np.arange(9) % 3 == 0).astype(float)
    scene = _grid_scene(n_side=3, size=600, vessel=np.ones(9), fishing=np.zeros(9), shore=shore)
    with pytest.warns(RenamedOptionWarning, match="object_weighting: 'seed_code'"):
        old = object_weights(scene.objects, 128, "seed_code")
    np.testing.assert_array_equal(old, object_weights(scene.objects, 128, "winner"))
    with pytest.warns(RenamedOptionWarning):
        assert SamplerConfig(object_weighting="seed_code").object_weighting == "winner"


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [("augmentations", "seed", "winner"), ("object_weighting", "seed_code", "winner")],
)
def test_training_data_config_accepts_old_spellings(name: str, old: str, new: str):
    with pytest.warns(RenamedOptionWarning, match=f"training.data.{name}: {old!r}"):
        config = DataConfig(**{name: old})
    assert getattr(config, name) == new
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert getattr(DataConfig(**{name: new}), name) == new


# --- datasets ---------------------------------------------------------------------------


def _dataset(tiny, **kwargs) -> CircleNetCropDataset:
    params = {
        "shorelines": tiny["shorelines"],
        "sampler": SamplerConfig(object_crop_p=0.8),
        "coder": _coder(),
        "augmentations": None,
        "crop_size": 32,
        "length": 24,
        "seed": 0,
    }
    params.update(kwargs)
    labels = params.pop("labels", tiny["labels"])
    return CircleNetCropDataset(tiny["scenes"], labels, **params)


def _expected_peaks(labels: pd.DataFrame, sample: dict, size: int) -> int:
    rows = labels[labels["scene_id"] == sample["scene_id"]]
    inside = (
        rows["detect_scene_row"].between(sample["row0"], sample["row0"] + size - 1)
        & rows["detect_scene_column"].between(sample["col0"], sample["col0"] + size - 1)
        & rows["confidence"].astype(str).isin(["HIGH", "MEDIUM"])
    )
    return int(inside.sum())


def test_crop_dataset_item(tiny):
    ds = _dataset(tiny)
    n_peaks = 0
    for i in range(len(ds)):
        sample = ds[i]
        assert sample["image"].shape == (2, 32, 32) and sample["image"].dtype == torch.float32
        assert torch.isfinite(sample["image"]).all()
        for key in ("objectness", "vessel", "fishing", "length"):
            assert sample[key].shape == (1, 16, 16) and sample[key].dtype == torch.float32
        assert sample["offset"].shape == (2, 16, 16)
        assert sample["sample_weight"].dtype == torch.float32 and sample["sample_weight"].ndim == 0
        assert float(sample["sample_weight"]) == (1.0 if sample["scene_id"] == "a" else 0.25)
        peaks = int((sample["objectness"] == 1.0).sum())
        assert peaks == _expected_peaks(tiny["labels"], sample, 32)
        n_peaks += peaks
    assert n_peaks > 0
    again = ds[3]
    assert all(torch.equal(again[k], ds[3][k]) for k in (*TARGET_KEYS, "image"))


def test_crop_dataset_image_is_normalised_crop(tiny):
    ds = _dataset(tiny)
    sample = ds[0]
    vh, vv = tiny["arrays"][sample["scene_id"]]
    r, c = sample["row0"], sample["col0"]
    expected = np.zeros((2, 32, 32), np.float32)
    rr, cc = slice(max(r, 0), min(r + 32, HEIGHT)), slice(max(c, 0), min(c + 32, WIDTH))
    window = np.stack([vh[rr, cc], vv[rr, cc]])
    window = np.where(window == NODATA, np.nan, window)
    expected[:, rr.start - r : rr.stop - r, cc.start - c : cc.stop - c] = sigmoid_normalize(window)
    np.testing.assert_allclose(sample["image"].numpy(), np.nan_to_num(expected), atol=1e-6)


def test_crop_dataset_with_winner_augmentations_is_finite_and_deterministic(tiny):
    ds = _dataset(tiny, augmentations=build_augmentations("winner", affine_p=1.0))
    for i in range(8):
        sample = ds[i]
        assert torch.isfinite(sample["image"]).all()
        assert int((sample["objectness"] == 1.0).sum()) <= len(tiny["labels"])
    other = _dataset(tiny, augmentations=build_augmentations("winner", affine_p=1.0))
    assert torch.equal(ds[5]["image"], other[5]["image"])


def test_margin_draws_kernels_of_objects_just_outside(tiny):
    labels = _labels("a", [(10, 34, "HIGH", True, False, 50.0, False)])  # 2 px right of tile 0
    ds = CircleNetTileDataset(tiny["scenes"].iloc[:1], labels, _coder(), tile_size=32)
    tile0, tile1 = ds[0], ds[1]
    assert (tile0["col0"], tile1["col0"]) == (0, 32)
    assert int((tile0["objectness"] == 1).sum()) == 0 and tile0["objectness"][0, 5, 15] > 0.2
    assert int((tile1["objectness"] == 1).sum()) == 1
    no_margin = CircleNetTileDataset(
        tiny["scenes"].iloc[:1], labels, _coder(), tile_size=32, margin=0
    )
    assert float(no_margin[0]["objectness"].max()) == 0.0


def test_datasets_draw_ignore_rows_as_ignore_discs(tiny):
    labels = tiny["labels"].assign(ignore=False)
    flagged = (labels["scene_id"] == "a") & (labels["detect_scene_row"] == 20)
    flagged &= labels["detect_scene_column"] == 60  # the MEDIUM vessel at (row 20, col 60)
    labels.loc[flagged, "ignore"] = True
    tiles = CircleNetTileDataset(tiny["scenes"].iloc[:1], labels, _coder(), tile_size=32)
    tile = next(
        tiles[i] for i in range(len(tiles)) if (tiles[i]["row0"], tiles[i]["col0"]) == (0, 32)
    )
    cell = (10, (60 - 32) // 2)  # (row, col) at stride 2
    assert tile["objectness"][0][cell] == 255 and tile["vessel"][0][cell] == 255
    assert tile["fishing"][0][cell] == 255 and tile["length"][0][cell] == 0
    assert int((tile["objectness"] == 1).sum()) == 0
    plain = CircleNetTileDataset(tiny["scenes"].iloc[:1], tiny["labels"], _coder(), tile_size=32)
    assert plain[tiles.tiles.index(("a", 0, 32))]["objectness"][0][cell] == 1
    crops = _dataset(tiny, labels=labels, sampler=SamplerConfig(object_crop_p=1.0), length=40)
    for i in range(len(crops)):
        assert int((crops[i]["objectness"] == 1).sum()) == _expected_peaks(
            labels[~labels["ignore"]], crops[i], 32
        )


def test_tile_dataset_covers_scenes_with_padded_partial_tiles(tiny):
    ds = CircleNetTileDataset(tiny["scenes"], tiny["labels"], _coder(), tile_size=64)
    assert len(ds) == 2 * CircleNetTileDataset.tiles_per_scene(HEIGHT, WIDTH, 64) == 8
    origins = [(ds[i]["scene_id"], ds[i]["row0"], ds[i]["col0"]) for i in range(len(ds))]
    assert origins[:4] == [("a", 0, 0), ("a", 0, 64), ("a", 64, 0), ("a", 64, 64)]
    last = ds[3]
    assert last["image"].shape == (2, 64, 64)
    assert (last["image"][:, HEIGHT - 64 :] == 0).all()  # padding below the scene
    total = sum(int((ds[i]["objectness"] == 1).sum()) for i in range(len(ds)))
    assert total == int(tiny["labels"]["confidence"].astype(str).ne("LOW").sum())
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_dataset_pickles_and_loads_with_workers(tiny):
    ds = _dataset(tiny, augmentations="winner", length=8)
    ds[0]  # opens files in this process
    clone = pickle.loads(pickle.dumps(ds))
    assert torch.equal(clone[2]["image"], ds[2]["image"])
    loader = DataLoader(ds, batch_size=4, num_workers=2)
    batches = list(loader)
    assert len(batches) == 2
    assert batches[0]["image"].shape == (4, 2, 32, 32)
    assert batches[0]["sample_weight"].shape == (4,)
    assert len(batches[0]["scene_id"]) == 4
    assert torch.equal(batches[1]["image"][0], ds[4]["image"])  # worker-independent


def test_fold_scenes_and_validation(tiny):
    folds = pd.DataFrame({"scene_id": ["a", "b"], "fold": [0, 1], "sample_weight": [1.0, 0.25]})
    scenes = tiny["scenes"].drop(columns="sample_weight")
    train = fold_scenes(scenes, folds, 1, "train")
    assert train["scene_id"].tolist() == ["a"] and train["sample_weight"].tolist() == [1.0]
    assert fold_scenes(scenes, folds, 1, "valid")["scene_id"].tolist() == ["b"]
    with pytest.raises(ValueError, match="multiple of the stride"):
        _dataset(tiny, crop_size=33)
    with pytest.raises(ValueError, match="lacks columns"):
        CircleNetCropDataset(scenes.drop(columns="vh_path"), tiny["labels"], coder=_coder())
