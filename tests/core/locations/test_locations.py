"""Tests of the automatic location clustering."""

import io
import logging
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from shapely.geometry import MultiPolygon, Polygon, box
from sklearn.metrics import adjusted_rand_score

from xview3_pipeline.core.locations import (
    LOCATION_COLUMNS,
    LocationConfig,
    cluster_locations,
    plot_locations,
)

KM_PER_DEG = 111.2


def _box_km(lon: float, lat: float, width_km: float, height_km: float | None = None) -> Polygon:
    """Box centred on (lon, lat) with sides in km."""
    height_km = width_km if height_km is None else height_km
    dlat = height_km / KM_PER_DEG / 2
    dlon = width_km / (KM_PER_DEG * math.cos(math.radians(lat))) / 2
    return box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)


def _index(rows: list[tuple[str, str, Polygon | None]]) -> gpd.GeoDataFrame:
    """Scene index with centroids taken from the footprints (NaN when empty)."""
    geoms = [Polygon() if r[2] is None else r[2] for r in rows]
    lon = [g.centroid.x if not g.is_empty else np.nan for g in geoms]
    lat = [g.centroid.y if not g.is_empty else np.nan for g in geoms]
    return gpd.GeoDataFrame(
        {
            "scene_id": [r[0] for r in rows],
            "split": [r[1] for r in rows],
            "centroid_lon": lon,
            "centroid_lat": lat,
            "footprint_area_km2": [0.0] * len(rows),
        },
        geometry=geoms,
        crs="EPSG:4326",
    )


def _synthetic_layout() -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    """Four coastal locations and one open-sea location, 3–5 shifted ~10 km boxes each."""
    centres = {
        "A": (-20.0, 10.0, 3),
        "B": (5.0, 55.0, 5),
        "C": (40.0, -30.0, 4),
        "D": (120.0, 20.0, 4),
        "sea": (-150.0, 0.0, 3),
    }
    rows, truth = [], {}
    splits = ("train", "validation", "public")
    for name, (lon, lat, n) in centres.items():
        for k in range(n):
            sid = f"{name}{k}"
            # shifts of ~2–4 km: boxes overlap heavily
            rows.append((sid, splits[k % 3], _box_km(lon + 0.03 * k, lat - 0.02 * k, 10.0)))
            truth[sid] = name
    return _index(rows), truth


def _labels_by_scene(result: pd.DataFrame) -> dict[str, str]:
    return dict(zip(result["scene_id"], result["location_id"], strict=True))


def test_synthetic_layout_recovers_locations():
    index, truth = _synthetic_layout()
    result = cluster_locations(index, LocationConfig())
    assert tuple(result.columns) == LOCATION_COLUMNS
    assert len(result) == len(index)
    pred = _labels_by_scene(result)
    ids = sorted(truth)
    assert adjusted_rand_score([truth[s] for s in ids], [pred[s] for s in ids]) == 1.0
    assert result["location_id"].nunique() == 5
    sizes = result.groupby("location_id")["scene_id"].transform("size")
    assert (sizes == result["n_scenes_in_location"]).all()


def test_location_ids_numbered_by_smallest_scene_id():
    index, _ = _synthetic_layout()
    result = cluster_locations(index)
    first = result.groupby("location_id")["scene_id"].min().sort_values()
    assert list(first.index) == [f"loc_{k:03d}" for k in range(len(first))]
    assert result.set_index("scene_id").loc["A0", "location_id"] == "loc_000"


def test_deterministic_under_row_shuffle():
    index, _ = _synthetic_layout()
    expected = cluster_locations(index)
    for seed in range(3):
        shuffled = index.sample(frac=1.0, random_state=seed)
        pd.testing.assert_frame_equal(cluster_locations(shuffled), expected)


def test_thin_overlap_of_adjacent_frames_not_merged():
    # two 100 km frames of one pass sharing a 3 km strip: 3 % overlap, centroids 97 km apart
    frame1 = _box_km(0.0, 0.0, 100.0)
    frame2 = _box_km(97.0 / KM_PER_DEG, 0.0, 100.0)
    index = _index([("f1", "train", frame1), ("f2", "train", frame2)])
    result = cluster_locations(index, LocationConfig(min_overlap_fraction=0.1))
    assert result["location_id"].nunique() == 2
    merged = cluster_locations(index, LocationConfig(min_overlap_fraction=0.02))
    assert merged["location_id"].nunique() == 1


def test_large_overlapping_scenes_merge_despite_distant_centroids():
    # two 300 km scenes shifted by 150 km: centroids far beyond 50 km, 50 % overlap
    s1 = _box_km(10.0, 40.0, 300.0)
    s2 = _box_km(10.0 + 150.0 / (KM_PER_DEG * math.cos(math.radians(40))), 40.0, 300.0)
    index = _index([("s1", "train", s1), ("s2", "validation", s2)])
    result = cluster_locations(index, LocationConfig(max_centroid_distance_km=50.0))
    assert result["location_id"].nunique() == 1


def test_touching_footprints_do_not_merge_even_with_zero_fraction():
    a = box(0.0, 0.0, 1.0, 1.0)
    b = box(1.0, 0.0, 2.0, 1.0)
    index = _index([("a", "train", a), ("b", "train", b)])
    result = cluster_locations(
        index, LocationConfig(max_centroid_distance_km=0.0, min_overlap_fraction=0.0)
    )
    assert result["location_id"].nunique() == 2


def test_centroid_rule_merges_close_non_overlapping_scenes():
    a = _box_km(0.0, 0.0, 5.0)
    b = _box_km(20.0 / KM_PER_DEG, 0.0, 5.0)  # 20 km east, no overlap
    index = _index([("a", "train", a), ("b", "train", b)])
    assert (
        cluster_locations(index, LocationConfig(max_centroid_distance_km=25.0))[
            "location_id"
        ].nunique()
        == 1
    )
    assert (
        cluster_locations(index, LocationConfig(max_centroid_distance_km=15.0))[
            "location_id"
        ].nunique()
        == 2
    )


def test_empty_footprint_uses_centroid_and_missing_both_is_isolated(caplog):
    index, _ = _synthetic_layout()
    extra = gpd.GeoDataFrame(
        {
            "scene_id": ["E_near_A", "E_nowhere"],
            "split": ["public", "public"],
            "centroid_lon": [-20.1, np.nan],
            "centroid_lat": [10.0, np.nan],
            "footprint_area_km2": [0.0, 0.0],
        },
        geometry=[Polygon(), None],
        crs="EPSG:4326",
    )
    index = pd.concat([index, extra], ignore_index=True)
    with caplog.at_level(logging.WARNING, logger="xview3_pipeline.core.locations"):
        result = cluster_locations(index)
    loc = result.set_index("scene_id")["location_id"]
    assert loc["E_near_A"] == loc["A0"]
    assert (loc == loc["E_nowhere"]).sum() == 1
    assert "E_nowhere" in caplog.text


def test_missing_centroid_filled_from_footprint():
    index = _index([("a", "train", _box_km(3.0, 4.0, 10.0))])
    index["centroid_lon"] = np.nan
    result = cluster_locations(index)
    assert result.loc[0, "centroid_lon"] == pytest.approx(3.0, abs=1e-6)
    assert result.loc[0, "centroid_lat"] == pytest.approx(4.0, abs=1e-3)


def test_other_crs_is_reprojected():
    index, truth = _synthetic_layout()
    result = cluster_locations(index.to_crs("EPSG:3857"))
    pred = _labels_by_scene(result)
    ids = sorted(truth)
    assert adjusted_rand_score([truth[s] for s in ids], [pred[s] for s in ids]) == 1.0


def test_empty_index():
    index = _index([])
    result = cluster_locations(index)
    assert len(result) == 0
    assert tuple(result.columns) == LOCATION_COLUMNS


def test_duplicate_scene_ids_rejected():
    index = _index([("a", "train", box(0, 0, 1, 1)), ("a", "train", box(0, 0, 1, 1))])
    with pytest.raises(ValueError, match="duplicate"):
        cluster_locations(index)


def test_missing_columns_rejected():
    index, _ = _synthetic_layout()
    with pytest.raises(ValueError, match="centroid_lat"):
        cluster_locations(index.drop(columns="centroid_lat"))


def test_config_from_dict():
    cfg = LocationConfig.from_dict({"max_centroid_distance_km": 10, "min_overlap_fraction": 0.5})
    assert cfg == LocationConfig(10.0, 0.5)
    assert LocationConfig.from_dict(None) == LocationConfig()
    with pytest.raises(ValueError, match="max_centroid_distance_km") as err:
        LocationConfig.from_dict({"max_distance": 3})
    assert "max_distance" in str(err.value)
    with pytest.raises(ValueError, match="non-negative"):
        LocationConfig(max_centroid_distance_km=-1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        LocationConfig(min_overlap_fraction=1.5)
    with pytest.raises(ValueError, match="number"):
        LocationConfig(min_overlap_fraction="0.1")  # type: ignore[arg-type]


def _render(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_plot_locations_returns_renderable_figure():
    index, _ = _synthetic_layout()
    result = cluster_locations(index)
    fig = plot_locations(index, result)
    assert isinstance(fig, Figure)
    overview = fig.axes[0]
    texts = [t.get_text() for t in overview.texts]
    assert any(t.startswith("loc_000 (3 scenes)") for t in texts)
    assert _render(fig)[:4] == b"\x89PNG"


def test_plot_locations_one_zoomed_panel_per_location():
    index, _ = _synthetic_layout()
    result = cluster_locations(index)
    fig = plot_locations(index, result)
    n_locations = result["location_id"].nunique()
    assert len(fig.axes) == 1 + n_locations
    sizes = result.groupby("location_id")["scene_id"].size()
    overview_labels = {t.get_text() for t in fig.axes[0].texts}
    for ax in fig.axes[1:]:
        title = ax.get_title()
        location_id = title.split(":")[0]
        assert location_id in sizes.index
        assert f"{sizes[location_id]} scenes" in title
        assert "km" in title
        assert f"{location_id} ({sizes[location_id]} scenes)" in overview_labels
        # every footprint is drawn (one path per scene of the location)
        (collection,) = ax.collections
        assert len(collection.get_paths()) == sizes[location_id]
        # the view contains the footprints and is zoomed on them (boxes are ~10 km)
        x0, x1 = ax.get_xlim()
        y0, y1 = ax.get_ylim()
        bounds = index[
            index["scene_id"].isin(result.loc[result["location_id"] == location_id, "scene_id"])
        ].total_bounds
        assert x0 <= bounds[0] and bounds[2] <= x1 and y0 <= bounds[1] and bounds[3] <= y1
        assert (y1 - y0) * KM_PER_DEG < 100
    shown = {ax.get_title().split(":")[0] for ax in fig.axes[1:]}
    assert shown == set(sizes.index)
    assert "not shown" not in fig.get_suptitle()


def test_plot_locations_panel_cap_keeps_largest_and_says_how_many_are_hidden():
    index, _ = _synthetic_layout()
    result = cluster_locations(index)
    # sizes: loc_001 (B) 5, loc_002 (C) 4, loc_003 (D) 4, loc_000 (A) 3, loc_004 (sea) 3
    fig = plot_locations(index, result, max_panels=2)
    assert len(fig.axes) == 3
    assert [ax.get_title().split(":")[0] for ax in fig.axes[1:]] == ["loc_001", "loc_002"]
    assert "3 not shown" in fig.get_suptitle()
    assert len(plot_locations(index, result, max_panels=0).axes) == 1
    # above max_legend_entries only the zoomed locations are labelled on the overview
    fig = plot_locations(index, result, max_panels=2, max_legend_entries=3)
    labels = sorted(t.get_text() for t in fig.axes[0].texts)
    assert labels == ["loc_001 (5 scenes)", "loc_002 (4 scenes)"]


def test_plot_locations_aspect_corrected_for_latitude():
    index, _ = _synthetic_layout()
    result = cluster_locations(index)
    fig = plot_locations(index, result)
    lat = result.groupby("location_id")["centroid_lat"].mean()
    for ax in fig.axes[1:]:
        location_id = ax.get_title().split(":")[0]
        expected = 1.0 / math.cos(math.radians(lat[location_id]))
        assert ax.get_aspect() == pytest.approx(expected, rel=1e-3)


def test_plot_locations_handles_empty_multi_and_missing_footprints():
    index, _ = _synthetic_layout()
    extra = gpd.GeoDataFrame(
        {
            "scene_id": ["E_near_A", "E_nowhere", "M_multi"],
            "split": ["public", "public", "other"],
            "centroid_lon": [-20.1, np.nan, np.nan],
            "centroid_lat": [10.0, np.nan, np.nan],
            "footprint_area_km2": [0.0, 0.0, 0.0],
        },
        geometry=[
            Polygon(),
            None,
            MultiPolygon([_box_km(60.0, -10.0, 8.0), _box_km(60.1, -10.0, 8.0)]),
        ],
        crs="EPSG:4326",
    )
    index = pd.concat([index, extra], ignore_index=True)
    result = cluster_locations(index)
    fig = plot_locations(index, result)
    assert len(fig.axes) == 1 + result["location_id"].nunique()
    titles = {ax.get_title().split(":")[0]: ax.get_title() for ax in fig.axes[1:]}
    loc = result.set_index("scene_id")["location_id"]
    assert "1 without footprint" in titles[loc["A0"]]
    assert "no position" in titles[loc["E_nowhere"]]
    multi_ax = next(ax for ax in fig.axes[1:] if ax.get_title().startswith(loc["M_multi"]))
    (collection,) = multi_ax.collections
    assert len(collection.get_paths()) == 1
    assert collection.get_paths()[0].codes.tolist().count(1) == 2  # two MOVETOs: two parts
    assert _render(fig)[:4] == b"\x89PNG"


def test_plot_locations_accepts_csv_strings_and_colour_by_scene():
    index, _ = _synthetic_layout()
    result = cluster_locations(index)
    as_read = pd.read_csv(io.StringIO(result.to_csv(index=False)), dtype=str)
    fig = plot_locations(index, as_read, colour_by="scene")
    assert len(fig.axes) == 1 + result["location_id"].nunique()
    assert _render(fig)[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="colour_by"):
        plot_locations(index, result, colour_by="location")
    with pytest.raises(ValueError, match="max_panels"):
        plot_locations(index, result, max_panels=-1)
    with pytest.raises(ValueError, match="location_id"):
        plot_locations(index, result.drop(columns="location_id"))


def test_plot_locations_empty_input():
    index = _index([])
    fig = plot_locations(index, cluster_locations(index))
    assert len(fig.axes) == 1
    assert "0 scenes" in fig.get_suptitle()
    assert _render(fig)[:4] == b"\x89PNG"
