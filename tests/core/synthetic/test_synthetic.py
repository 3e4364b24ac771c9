"""The synthetic xView3 generator: layout, rasters, physics, labels, safety and config."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from pyproj import Transformer
from scipy.stats import spearmanr

from xview3_pipeline.core import constants
from xview3_pipeline.core.errors import DatasetLayoutError
from xview3_pipeline.core.io import layout
from xview3_pipeline.core.synthetic import (
    MARKER_FILE,
    LabelNoiseConfig,
    SyntheticConfig,
    generate_dataset,
)
from xview3_pipeline.core.synthetic import generator as generator_module
from xview3_pipeline.core.synthetic.labels import truth_table
from xview3_pipeline.core.synthetic.scenario import plan_dataset

SPLITS3 = ("validation", "train", "public")
CONFIG = SyntheticConfig(seed=21, n_locations=2, revisit_splits=SPLITS3, height=256, width=256)
#: A tiny configuration for the tests that generate several times.
TINY = SyntheticConfig(
    seed=7, n_locations=1, revisit_splits=("train", "validation"), height=64, width=64
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic") / "raw"
    return generate_dataset(CONFIG, root)


@pytest.fixture(scope="module")
def labels(dataset) -> pd.DataFrame:
    """All label rows (train.csv, validation.csv and the public truth) with their split."""
    frames = []
    for split in ("train", "validation"):
        frame = pd.read_csv(layout.label_file(dataset.root, split))
        frames.append(frame.assign(split=split))
    frames.append(dataset.test_truth.assign(split="public"))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def rasters(dataset) -> dict[str, dict]:
    """VV, VH and the georeferencing of every scene, by scene id."""
    out = {}
    for row in dataset.manifest.itertuples():
        folder = layout.scene_dir(dataset.root, row.split, row.scene_id)
        with (
            rasterio.open(folder / constants.VV_FILE) as vv,
            rasterio.open(folder / constants.VH_FILE) as vh,
        ):
            out[row.scene_id] = {
                "vv": vv.read(1),
                "vh": vh.read(1),
                "transform": vv.transform,
                "crs": vv.crs,
            }
    return out


def _valid(img: np.ndarray) -> np.ndarray:
    return img != constants.NODATA


def _tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root``."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _siblings_with(root: Path, fragment: str) -> list[str]:
    return [p.name for p in root.parent.iterdir() if fragment in p.name]


# --------------------------------------------------------------------------- layout
def test_manifest_covers_every_location_and_revisit(dataset):
    m = dataset.manifest
    assert len(m) == CONFIG.n_locations * len(SPLITS3)
    assert m["scene_id"].is_unique
    for _, group in m.groupby("location_id"):
        assert list(group.sort_values("revisit")["split"]) == list(SPLITS3)
    suffix = {"train": "t", "validation": "v", "public": "p"}
    for row in m.itertuples():
        assert re.fullmatch(r"[0-9a-f]{16}[tvp]", row.scene_id)
        assert row.scene_id[-1] == suffix[row.split]
    assert m["coastal"].any() and not m["coastal"].all()


def test_scene_folders_hold_sar_and_ancillary_files(dataset):
    expected = {constants.VV_FILE, constants.VH_FILE, *constants.ANCILLARY_FILES.values()}
    assert len(expected) == 7
    for row in dataset.manifest.itertuples():
        folder = dataset.root / row.split / row.scene_id
        assert folder == layout.scene_dir(dataset.root, row.split, row.scene_id)
        assert {p.name for p in folder.iterdir()} == expected
    assert (dataset.root / MARKER_FILE).is_file()


def test_label_csvs_have_official_columns_and_no_public_scenes(dataset):
    m = dataset.manifest
    public_ids = set(m.loc[m["split"] == "public", "scene_id"])
    assert public_ids
    for split in ("train", "validation"):
        path = layout.label_file(dataset.root, split)
        with path.open(newline="") as f:
            header = next(csv.reader(f))
        assert tuple(header) == constants.LABEL_COLUMNS
        frame = pd.read_csv(path)
        assert not public_ids & set(frame["scene_id"])
        assert set(frame["scene_id"]) <= set(m.loc[m["split"] == split, "scene_id"])
    assert not list(dataset.root.glob("public*.csv"))
    truth = dataset.test_truth
    assert tuple(truth.columns) == constants.LABEL_COLUMNS
    assert set(truth["scene_id"]) == public_ids


def test_manifest_label_counts_match_files(dataset, labels):
    counts = labels.groupby("scene_id").size()
    for row in dataset.manifest.itertuples():
        assert counts.get(row.scene_id, 0) == row.n_labels


def test_shoreline_files(dataset):
    non_empty_coastal = 0
    for row in dataset.manifest.itertuples():
        path = layout.shoreline_file(dataset.root, row.split, row.scene_id)
        contours = np.load(path, allow_pickle=True)
        assert contours.dtype == object
        assert contours.ndim == 1
        if not row.coastal:
            assert contours.size == 0
            continue
        non_empty_coastal += contours.size > 0
        for item in contours:
            piece = np.asarray(item)
            assert piece.ndim == 2 and piece.shape[1] == 2 and len(piece) >= 2
            assert np.issubdtype(piece.dtype, np.floating)
            assert piece[:, 0].min() >= 0.0 and piece[:, 0].max() <= row.height
            assert piece[:, 1].min() >= 0.0 and piece[:, 1].max() <= row.width
    assert non_empty_coastal >= 1


def test_shoreline_separates_land_from_sea(dataset):
    """Land (owiMask = 1) exists only in coastal scenes with a shoreline."""
    for row in dataset.manifest.itertuples():
        folder = layout.scene_dir(dataset.root, row.split, row.scene_id)
        with rasterio.open(folder / constants.ANCILLARY_FILES["owi_mask"]) as src:
            mask = src.read(1)
        values = set(np.unique(mask[mask != constants.NODATA]).tolist())
        assert values <= {0.0, 1.0}
        contours = np.load(
            layout.shoreline_file(dataset.root, row.split, row.scene_id), allow_pickle=True
        )
        if contours.size == 0:
            assert 1.0 not in values


# --------------------------------------------------------------------------- rasters
def test_sar_raster_georeferencing(dataset):
    for row in dataset.manifest.itertuples():
        folder = layout.scene_dir(dataset.root, row.split, row.scene_id)
        with (
            rasterio.open(folder / constants.VV_FILE) as vv,
            rasterio.open(folder / constants.VH_FILE) as vh,
        ):
            for src in (vv, vh):
                assert src.count == 1
                assert src.dtypes[0] == "float32"
                assert src.nodata == constants.NODATA
                epsg = src.crs.to_epsg()
                assert epsg == row.epsg
                assert 32601 <= epsg <= 32660 or 32701 <= epsg <= 32760
                t = src.transform
                assert (t.a, t.b, t.d, t.e) == (10.0, 0.0, 0.0, -10.0)
                assert (src.height, src.width) == (row.height, row.width) == (256, 256)
            assert vv.transform == vh.transform
            assert vv.crs == vh.crs
    # The hemisphere of the EPSG code follows the latitude of the location.
    m = dataset.manifest
    assert ((m["epsg"] >= 32700) == (m["centre_lat"] < 0)).all()


def test_every_site_gets_its_utm_zone():
    """All 12 sites (one south of the equator) map to the UTM zone of their longitude."""
    cfg = SyntheticConfig(n_locations=12, coastal_fraction=7 / 12, revisit_splits=("train",))
    locations = {p.location.location_id: p.location for p in plan_dataset(cfg)}
    assert len(locations) == 12
    assert any(loc.lat < 0 for loc in locations.values())
    for loc in locations.values():
        zone = int((loc.lon + 180.0) // 6.0) + 1
        assert loc.epsg == (32700 if loc.lat < 0 else 32600) + zone, loc.name


def test_swath_nodata_geometry_and_value_range(rasters):
    for scene in rasters.values():
        for key in ("vv", "vh"):
            img = scene[key]
            valid = _valid(img)
            share = 1.0 - valid.mean()
            assert 0.15 <= share <= 0.5, share
            for r, c in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
                assert not valid[r, c]
            h, w = img.shape
            assert valid[h // 2 - 16 : h // 2 + 16, w // 2 - 16 : w // 2 + 16].all()
            values = img[valid]
            assert np.isfinite(values).all()
            assert values.min() >= constants.DB_FLOOR
        assert np.array_equal(_valid(scene["vv"]), _valid(scene["vh"]))


def test_ancillary_rasters_cover_the_scene_on_500m_grid(dataset, rasters):
    for row in dataset.manifest.itertuples():
        folder = layout.scene_dir(dataset.root, row.split, row.scene_id)
        sar_t = rasters[row.scene_id]["transform"]
        for name in constants.ANCILLARY_FILES.values():
            with rasterio.open(folder / name) as src:
                t = src.transform
                assert (t.a, t.b, t.d, t.e) == (500.0, 0.0, 0.0, -500.0)
                assert (t.c, t.f) == (sar_t.c, sar_t.f)
                assert src.height == math.ceil(row.height * 10 / 500)
                assert src.width == math.ceil(row.width * 10 / 500)
                assert src.crs.to_epsg() == row.epsg
                assert src.nodata == constants.NODATA
                assert src.dtypes[0] == "float32"
                data = src.read(1)
            assert np.isfinite(data).all()
            if name == constants.ANCILLARY_FILES["bathymetry"]:
                assert (data != constants.NODATA).all()
                if not row.coastal:
                    assert (data < 0).all()
            if name == constants.ANCILLARY_FILES["owi_wind_speed"]:
                speed = data[data != constants.NODATA]
                assert speed.size
                # The local wind is the scene mean modulated by +-12 % x a unit field.
                assert 0.55 < float(np.mean(speed)) / row.wind_speed_ms < 1.45


# --------------------------------------------------------------------------- statistics
def test_scene_statistics_within_physical_ranges(rasters):
    for scene_id, scene in rasters.items():
        valid = _valid(scene["vv"])
        vv, vh = scene["vv"][valid], scene["vh"][valid]
        mean_vv, mean_vh = float(vv.mean()), float(vh.mean())
        assert -24.0 <= mean_vv <= -8.0, (scene_id, mean_vv)
        assert -31.0 <= mean_vh <= -18.0, (scene_id, mean_vh)
        assert mean_vh < mean_vv - 3.0
        # Bright vessels: the maximum stands far above the clutter.
        assert float(vv.max()) > mean_vv + 20.0
        assert float(vv.max()) > 5.0


def test_speckle_spread_over_open_water(dataset, rasters, labels):
    """Gamma(4.4) speckle gives about 2.2 dB of spread over homogeneous sea.

    The spread is measured in 16 x 16 blocks of open water (fully valid, no label within
    20 px), small enough for the incidence and wind gradients to be negligible; the
    median over blocks ignores the odd unlabelled ghost or sidelobe.
    """
    m = dataset.manifest
    block = 16
    for row in m[~m["coastal"]].itertuples():
        img = rasters[row.scene_id]["vv"]
        group = labels[labels["scene_id"] == row.scene_id]
        obj_r = group["detect_scene_row"].to_numpy()
        obj_c = group["detect_scene_column"].to_numpy()
        spreads = []
        for r0 in range(0, img.shape[0] - block + 1, block):
            for c0 in range(0, img.shape[1] - block + 1, block):
                window = img[r0 : r0 + block, c0 : c0 + block]
                near = (
                    (obj_r >= r0 - 20)
                    & (obj_r < r0 + block + 20)
                    & (obj_c >= c0 - 20)
                    & (obj_c < c0 + block + 20)
                )
                if _valid(window).all() and not near.any():
                    spreads.append(float(window.std()))
        assert len(spreads) >= 4, row.scene_id
        spread = float(np.median(spreads))
        assert 1.6 <= spread <= 3.2, (row.scene_id, spread)


# --------------------------------------------------------------------------- labels
def test_label_positions_are_pixel_centres_in_wgs84(dataset, labels, rasters):
    epsg = dict(zip(dataset.manifest["scene_id"], dataset.manifest["epsg"], strict=True))
    for scene_id, group in labels.groupby("scene_id"):
        scene = rasters[scene_id]
        rows = group["detect_scene_row"].to_numpy()
        cols = group["detect_scene_column"].to_numpy()
        assert np.issubdtype(rows.dtype, np.integer)
        h, w = scene["vv"].shape
        assert ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).all()
        t = scene["transform"]
        x = t.c + t.a * (cols + 0.5)
        y = t.f + t.e * (rows + 0.5)
        to_wgs = Transformer.from_crs(f"EPSG:{epsg[scene_id]}", "EPSG:4326", always_xy=True)
        lon, lat = to_wgs.transform(x, y)
        np.testing.assert_allclose(group["detect_lat"], lat, atol=2e-6)
        np.testing.assert_allclose(group["detect_lon"], lon, atol=2e-6)
        if group["split"].iloc[0] != "train":  # train labels are jittered by a pixel or two
            assert _valid(scene["vv"])[rows, cols].all()


def test_every_truth_object_lies_on_a_valid_pixel():
    """An object counts, and is labelled, only if its pixel is valid data (not nodata).

    The swath mask of the rasters is evaluated at pixel centres; seed 42 has a vessel
    whose exact position is inside the swath but whose pixel centre is not.
    """
    checked = 0
    for seed in (40, 41, 42, 43):
        for plan in plan_dataset(dataclasses.replace(CONFIG, seed=seed)):
            truth = truth_table(plan)
            rows = truth["detect_scene_row"].to_numpy()
            cols = truth["detect_scene_column"].to_numpy()
            assert plan.valid(rows + 0.5, cols + 0.5).all(), plan.scene_id
            checked += len(truth)
    assert checked > 500


def test_label_categorical_values(dataset, labels):
    for split in ("train", "validation"):
        with layout.label_file(dataset.root, split).open(newline="") as f:
            rows = list(csv.DictReader(f))
        assert rows
        for r in rows:
            assert r["is_vessel"] in {"True", "False", ""}
            assert r["is_fishing"] in {"True", "False", ""}
            assert r["confidence"] in constants.CONFIDENCE_LEVELS
            # A blank is_vessel leaves is_fishing blank too.
            if r["is_vessel"] == "":
                assert r["is_fishing"] == ""
    truth = dataset.test_truth
    assert set(truth["is_vessel"].dropna()) <= {True, False}
    assert set(truth["is_fishing"].dropna()) <= {True, False}
    assert set(labels["confidence"]) == set(constants.CONFIDENCE_LEVELS)
    assert labels["detect_id"].is_unique
    lengths = labels["vessel_length_m"].dropna()
    assert len(lengths) and (lengths > 0).all()


def test_validation_cleaner_than_train(dataset, labels):
    m = dataset.manifest
    val = labels[labels["split"] == "validation"]
    train = labels[labels["split"] == "train"]
    val_known = val["is_vessel"].notna().mean()
    train_known = train["is_vessel"].notna().mean()
    assert val_known > 0.9
    assert train_known < val_known
    # Validation labels every object in valid data; train misses some (dark vessels).
    val_scenes = m[m["split"] == "validation"]
    train_scenes = m[m["split"] == "train"]
    assert (val_scenes["n_labels"] == val_scenes["n_objects"]).all()
    assert (train_scenes["n_labels"] <= train_scenes["n_objects"]).all()
    assert train_scenes["n_labels"].sum() < train_scenes["n_objects"].sum()
    assert set(train["source"]) <= {"ais", "ais/manual"}


def test_distance_from_shore(dataset, labels):
    coastal = dict(zip(dataset.manifest["scene_id"], dataset.manifest["coastal"], strict=True))
    dist = labels["distance_from_shore_km"]
    assert dist.notna().all() and (dist >= 0).all()
    is_coastal = labels["scene_id"].map(coastal)
    assert (dist[is_coastal] < 10.0).any()
    assert (dist[~is_coastal] > 20.0).all()
    for scene_id, group in labels[is_coastal].groupby("scene_id"):
        assert group["distance_from_shore_km"].min() < 10.0, scene_id


# --------------------------------------------------------------------------- objects
def test_brightness_rises_with_length(labels, rasters):
    """Vessels are brighter the longer they are (peak VV in a 3 x 3 window)."""
    rows = labels[(labels["split"] != "train") & labels["vessel_length_m"].notna()]
    peaks = []
    for r in rows.itertuples():
        img = rasters[r.scene_id]["vv"]
        window = img[
            max(r.detect_scene_row - 1, 0) : r.detect_scene_row + 2,
            max(r.detect_scene_column - 1, 0) : r.detect_scene_column + 2,
        ]
        peaks.append(float(window[_valid(window)].max()))
    peaks = np.asarray(peaks)
    length = rows["vessel_length_m"].to_numpy(float)
    long_, short = peaks[length > 100.0], peaks[length < 30.0]
    assert len(long_) >= 3 and len(short) >= 3
    assert long_.mean() > short.mean() + 8.0
    rho = spearmanr(length, peaks).statistic
    assert rho > 0.5, rho


def test_infrastructure_fixed_across_revisits(dataset, labels, rasters):
    """Turbines/platforms are labelled at the same place in every revisit that sees them.

    Train labels are jittered and may miss objects, so the check uses the clean splits.
    """
    plans = plan_dataset(CONFIG)
    by_location: dict[str, list] = {}
    for plan in plans:
        by_location.setdefault(plan.location.location_id, []).append(plan)
    infra_locations = [
        (loc, ps)
        for loc, ps in by_location.items()
        if len(ps[0].location.infrastructure) and len(ps) >= 2
    ]
    assert infra_locations, "the test config must have a location with infrastructure"
    seen_twice = 0
    for _, ps in infra_locations:
        infra = ps[0].location.infrastructure
        assert set(infra["kind"]) <= {"turbine", "platform"}
        matches: dict[int, list[tuple[float, float]]] = {}
        for plan in ps:
            if plan.split == "train":
                continue
            scene = rasters[plan.scene_id]
            valid = _valid(scene["vv"])
            to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{plan.location.epsg}", always_xy=True)
            group = labels[labels["scene_id"] == plan.scene_id]
            lx, ly = to_utm.transform(
                group["detect_lon"].to_numpy(), group["detect_lat"].to_numpy()
            )
            t = scene["transform"]
            for i, obj in enumerate(infra.itertuples()):
                col, row = (obj.x - t.c) / t.a, (obj.y - t.f) / t.e
                r, c = math.floor(row), math.floor(col)
                if not (1 <= r < valid.shape[0] - 1 and 1 <= c < valid.shape[1] - 1):
                    continue
                if not valid[r - 1 : r + 2, c - 1 : c + 2].all():
                    continue
                d = np.hypot(lx - obj.x, ly - obj.y)
                j = int(np.argmin(d))
                assert d[j] <= 10.0, (plan.scene_id, obj.x, obj.y, d[j])
                assert group["is_vessel"].iloc[j] in (False, None) or pd.isna(
                    group["is_vessel"].iloc[j]
                )
                matches.setdefault(i, []).append(
                    (group["detect_lat"].iloc[j], group["detect_lon"].iloc[j])
                )
        for positions in matches.values():
            if len(positions) >= 2:
                seen_twice += 1
                lat, lon = np.asarray(positions).T
                assert np.ptp(lat) < 1e-4 and np.ptp(lon) < 1.5e-4
    assert seen_twice >= 1


# --------------------------------------------------------------------------- determinism
def test_same_config_gives_identical_files(dataset, rasters, tmp_path):
    again = generate_dataset(CONFIG, tmp_path / "raw")
    pd.testing.assert_frame_equal(again.manifest, dataset.manifest)
    pd.testing.assert_frame_equal(again.test_truth, dataset.test_truth)
    for row in again.manifest.itertuples():
        folder = layout.scene_dir(again.root, row.split, row.scene_id)
        with rasterio.open(folder / constants.VV_FILE) as src:
            assert np.array_equal(src.read(1), rasters[row.scene_id]["vv"])
        with rasterio.open(folder / constants.VH_FILE) as src:
            assert np.array_equal(src.read(1), rasters[row.scene_id]["vh"])
    for filename in constants.LABEL_FILES.values():
        assert (again.root / filename).read_bytes() == (dataset.root / filename).read_bytes()
    assert _tree(again.root) == _tree(dataset.root)


def test_different_seed_gives_different_scenes():
    a = {p.scene_id for p in plan_dataset(CONFIG)}
    b = {p.scene_id for p in plan_dataset(dataclasses.replace(CONFIG, seed=CONFIG.seed + 1))}
    assert len(a) == len(b) == 6
    assert not a & b


# --------------------------------------------------------------------------- safety
def test_refuses_non_empty_folder_without_marker(tmp_path):
    root = tmp_path / "raw"
    (root / "train" / "real_scene").mkdir(parents=True)
    (root / "train.csv").write_text("real labels\n")
    (root / "train" / "real_scene" / "VV_dB.tif").write_bytes(b"\x00\x01real")
    before = _tree(root)
    with pytest.raises(DatasetLayoutError, match=MARKER_FILE):
        generate_dataset(TINY, root)
    assert _tree(root) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_refuses_a_file_as_root(tmp_path):
    root = tmp_path / "raw"
    root.write_text("not a folder")
    with pytest.raises(DatasetLayoutError):
        generate_dataset(TINY, root)
    assert root.read_text() == "not a folder"


def test_empty_existing_folder_is_accepted(tmp_path):
    root = tmp_path / "raw"
    root.mkdir()
    ds = generate_dataset(TINY, root)
    assert (root / MARKER_FILE).is_file()
    assert len(ds.manifest) == 2


def test_regenerating_replaces_previous_dataset(tmp_path):
    root = tmp_path / "raw"
    first = generate_dataset(TINY, root)
    (root / "stray.txt").write_text("left by a user")
    second = generate_dataset(dataclasses.replace(TINY, seed=TINY.seed + 1), root)
    old_ids, new_ids = set(first.manifest["scene_id"]), set(second.manifest["scene_id"])
    assert not old_ids & new_ids
    assert not (root / "stray.txt").exists()
    for row in first.manifest.itertuples():
        assert not layout.scene_dir(root, row.split, row.scene_id).exists()
        assert not layout.shoreline_file(root, row.split, row.scene_id).exists()
    for row in second.manifest.itertuples():
        assert (layout.scene_dir(root, row.split, row.scene_id) / constants.VV_FILE).is_file()
    frame = pd.read_csv(root / "train.csv")
    assert set(frame["scene_id"]) <= new_ids
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def _fail_on_second_ancillary(monkeypatch):
    calls = {"n": 0}
    original = generator_module.write_ancillary

    def flaky(plan, folder):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full (simulated)")
        return original(plan, folder)

    monkeypatch.setattr(generator_module, "write_ancillary", flaky)
    return calls


def test_failure_leaves_no_root_and_no_partial_folder(tmp_path, monkeypatch):
    root = tmp_path / "raw"
    calls = _fail_on_second_ancillary(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_dataset(TINY, root)
    assert calls["n"] == 2
    assert not root.exists()
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_previous_dataset(tmp_path, monkeypatch):
    root = tmp_path / "raw"
    generate_dataset(TINY, root)
    before = _tree(root)
    assert before
    calls = _fail_on_second_ancillary(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_dataset(dataclasses.replace(TINY, seed=TINY.seed + 1), root)
    assert calls["n"] == 2
    assert _tree(root) == before
    assert _siblings_with(root, ".partial-") == []
    assert _siblings_with(root, ".old-") == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


# --------------------------------------------------------------------------- config
def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="n_locatoins") as info:
        SyntheticConfig.from_dict({"n_locatoins": 3})
    message = str(info.value)
    for f in dataclasses.fields(SyntheticConfig):
        assert f.name in message
    with pytest.raises(ValueError, match="jitter_px"):
        SyntheticConfig.from_dict({"label_noise": {"train": {"jiter_px": 1.0}}})
    with pytest.raises(ValueError, match="split"):
        SyntheticConfig.from_dict({"label_noise": {"test": {"miss_small": 0.1}}})


@pytest.mark.parametrize(
    "values",
    [
        {"n_locations": 0},
        {"height": 32},
        {"width": 63},
        {"coastal_fraction": 1.5},
        {"fishing_share": -0.1},
        {"non_vessel_share": 2.0},
        {"infrastructure_probability": 1.1},
        {"footprint_shift": 0.6},
        {"objects_per_scene": -1.0},
        {"domain": {"wind_speed_ms": [12.0, 5.0]}},
        {"domain": {"wind_speed_ms": [0.5, 5.0]}},
        {"revisit_splits": []},
        {"revisit_splits": ["train", "test"]},
        {"label_noise": {"train": {"miss_small": 1.5}}},
        {"label_noise": {"validation": {"jitter_px": -1.0}}},
    ],
)
def test_from_dict_rejects_out_of_range_values(values):
    with pytest.raises(ValueError):
        SyntheticConfig.from_dict(values)


def test_from_dict_merges_label_noise_over_defaults():
    default = SyntheticConfig()
    cfg = SyntheticConfig.from_dict(
        {
            "seed": 3,
            "revisit_splits": ["train", "public"],
            "label_noise": {"train": {"miss_small": 0.0}},
        }
    )
    assert cfg.seed == 3
    assert cfg.revisit_splits == ("train", "public")
    train = cfg.label_noise["train"]
    assert train.miss_small == 0.0
    expected = dataclasses.replace(default.label_noise["train"], miss_small=0.0)
    assert train == expected
    assert train.jitter_px == default.label_noise["train"].jitter_px > 0
    assert cfg.label_noise["validation"] == default.label_noise["validation"] == LabelNoiseConfig()
    assert cfg.label_noise["public"] == default.label_noise["public"]
    assert SyntheticConfig.from_dict({}) == default


def test_default_dataset_is_shaped_like_the_real_split():
    """3 validation, 9 train and 2 public scenes per location, in code and parameters."""
    splits = SyntheticConfig().revisit_splits
    assert (splits.count("validation"), splits.count("train"), splits.count("public")) == (3, 9, 2)
    assert splits.count("train") >= 3 * splits.count("validation")
    params = Path(__file__).resolve().parents[3] / "conf" / "base" / "parameters_synthetic_data.yml"
    generator = yaml.safe_load(params.read_text())["synthetic_data"]["generator"]
    assert tuple(generator["revisit_splits"]) == splits
