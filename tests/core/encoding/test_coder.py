"""CircleNet target encoding, decoding and the encode → decode round trip."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from xview3_pipeline.core.encoding import (
    DETECTION_COLUMNS,
    ROUNDTRIP_COLUMNS,
    CircleNetCoder,
    CoderConfig,
    decode,
    detections_to_frame,
    encode_targets,
    labels_to_objects,
    output_shape,
    roundtrip_centers,
    roundtrip_f1,
)
from xview3_pipeline.core.encoding.functional import (
    disc_mask,
    draw_discs,
    draw_gaussians,
    gather_features,
    gaussian_kernel,
    heatmap_nms,
    topk_peaks,
    write_at_cells,
)
from xview3_pipeline.core.encoding.preview import encoding_preview
from xview3_pipeline.core.types import (
    CONFIDENCE_CODES,
    IGNORE_INDEX,
    CircleNetOutputs,
    EncodedTargets,
    ObjectLabels,
)

LOW, MEDIUM, HIGH = (CONFIDENCE_CODES[k] for k in ("LOW", "MEDIUM", "HIGH"))
NAN = float("nan")


def objs(
    centers: list[tuple[float, float]],
    *,
    vessel: list[float] | None = None,
    fishing: list[float] | None = None,
    length: list[float] | None = None,
    confidence: list[int] | None = None,
) -> ObjectLabels:
    n = len(centers)
    return ObjectLabels(
        centers=np.asarray(centers, np.float32).reshape(-1, 2),
        is_vessel=np.asarray(vessel if vessel is not None else [1.0] * n, np.float32),
        is_fishing=np.asarray(fishing if fishing is not None else [0.0] * n, np.float32),
        length_px=np.asarray(length if length is not None else [5.0] * n, np.float32),
        confidence=np.asarray(confidence if confidence is not None else [HIGH] * n, np.int8),
        near_shore=np.zeros(n, bool),
    )


def as_batch(targets: EncodedTargets) -> list[torch.Tensor]:
    maps = [torch.from_numpy(np.ascontiguousarray(m))[None] for m in targets]
    obj = torch.where(maps[0] == IGNORE_INDEX, torch.zeros(()), maps[0])
    return [obj, *maps[1:]]


# --------------------------------------------------------------------------- functional


def test_gaussian_kernel_values() -> None:
    k = gaussian_kernel(3)
    assert k.shape == (7, 7) and k.dtype == np.float32
    c = 3
    expected = {(0, 0): 1.0, (0, 1): 0.693, (1, 1): 0.480, (0, 2): 0.230, (0, 3): 0.037}
    for (dy, dx), value in expected.items():
        assert k[c + dy, c + dx] == pytest.approx(value, abs=1e-3)
        assert k[c - dx, c - dy] == pytest.approx(value, abs=1e-3)
    assert k[c, c] == 1.0
    assert k.max() == 1.0


@pytest.mark.parametrize(("radius", "pixels"), [(0, 1), (1, 5), (2, 13), (3, 29)])
def test_disc_mask_sizes(radius: int, pixels: int) -> None:
    assert disc_mask(radius).sum() == pixels


def test_draw_gaussians_merge_by_max_and_clip() -> None:
    heat = np.zeros((10, 12), np.float32)
    draw_gaussians(heat, np.array([[4, 4], [6, 4], [0, 9]]), 3)
    k = gaussian_kernel(3)
    # Between the two peaks: the max of the two kernels, not the sum.
    assert heat[4, 5] == pytest.approx(max(k[3, 4], k[3, 2]))
    assert heat[4, 4] == 1.0 and heat[4, 6] == 1.0
    # Clipped kernel in the corner: peak kept, the rest cut at the edges.
    assert heat[9, 0] == 1.0
    assert heat[6, 0] == pytest.approx(k[0, 3])
    again = heat.copy()
    draw_gaussians(again, np.array([[6, 4], [0, 9], [4, 4]]), 3)  # order-free
    np.testing.assert_array_equal(again, heat)


def test_draw_discs_values_and_outside_footprint() -> None:
    target = np.zeros((6, 6), np.float32)
    draw_discs(target, np.array([[0, 0], [7, 2]]), 1, np.array([1.0, 255.0]))
    assert target[0, 0] == 1 and target[0, 1] == 1 and target[1, 0] == 1 and target[1, 1] == 0
    assert (target == 1).sum() == 3  # clipped disc
    # A centre outside the map still paints the overlapping part of its footprint.
    assert target[2, 5] == 0 and (target == 255).sum() == 0  # x=7 with r=1 reaches x=6 only
    draw_discs(target, np.array([[6, 2]]), 1, 255.0)
    assert target[2, 5] == 255 and (target == 255).sum() == 1


def test_write_at_cells_last_writer_wins() -> None:
    off = np.zeros((2, 4, 4), np.float32)
    write_at_cells(
        off, np.array([[1, 1], [2, 2], [1, 1]]), np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    )
    np.testing.assert_allclose(off[:, 1, 1], [0.5, 0.6])
    np.testing.assert_allclose(off[:, 2, 2], [0.3, 0.4])
    assert np.count_nonzero(off) == 4


def test_nms_topk_gather() -> None:
    heat = torch.zeros(1, 1, 4, 5)
    heat[0, 0, 1, 1] = 0.9
    heat[0, 0, 1, 2] = 0.5  # suppressed by its neighbour
    heat[0, 0, 3, 4] = 0.7
    kept = heatmap_nms(heat)
    assert kept[0, 0, 1, 2] == 0 and kept[0, 0, 1, 1] == pytest.approx(0.9)
    values, index, ys, xs = topk_peaks(kept, 2)
    assert values[0].tolist() == pytest.approx([0.9, 0.7])
    assert ys.tolist() == [[1, 3]] and xs.tolist() == [[1, 4]]
    assert ys.dtype == torch.int64
    feats = torch.arange(40.0).reshape(1, 2, 4, 5)
    assert gather_features(feats, index).tolist() == [[[6.0, 26.0], [19.0, 39.0]]]


# ------------------------------------------------------------------------------ encode


def test_peak_at_floored_centre_and_offset() -> None:
    t = encode_targets(objs([(10.7, 5.2)]), (16, 24), CoderConfig(stride=2))
    assert t.objectness.shape == (1, 8, 12) and t.offset.shape == (2, 8, 12)
    assert all(m.dtype == np.float32 for m in t)
    assert t.objectness[0, 2, 5] == 1.0 and (t.objectness == 1.0).sum() == 1
    np.testing.assert_allclose(t.offset[:, 2, 5], [0.35, 0.6], atol=1e-6)
    assert np.count_nonzero(t.offset) == 2


def test_label_discs_and_length() -> None:
    o = objs([(20, 20)], vessel=[1.0], fishing=[NAN], length=[9.0])
    for radius, pixels in [(1, 5), (2, 13)]:
        t = encode_targets(o, (64, 64), CoderConfig(stride=2, labels_radius=radius))
        assert (t.vessel == 1).sum() == pixels and np.count_nonzero(t.vessel) == pixels
        assert (t.fishing == IGNORE_INDEX).sum() == pixels  # unknown -> 255
        assert np.count_nonzero(t.length) == pixels
        assert t.length[0, 10, 10] == pytest.approx(math.log(10.0))
    unknown = encode_targets(objs([(20, 20)], vessel=[NAN], length=[NAN]), (64, 64), CoderConfig())
    assert (unknown.vessel == IGNORE_INDEX).sum() == 5
    assert np.count_nonzero(unknown.length) == 0  # unknown length -> 0
    assert np.count_nonzero(unknown.fishing) == 0  # known 0 -> disc of zeros


def test_offset_order_last_writer_wins() -> None:
    # Same output cell (stride 4): (40.5, 40.5) and (42.0, 43.0) both fall in cell (10, 10).
    a, b = (40.5, 40.5), (42.0, 43.0)
    cfg = CoderConfig(stride=4)

    def offset(o: ObjectLabels) -> list[float]:
        return encode_targets(o, (64, 64), cfg).offset[:, 10, 10].tolist()

    off_a, off_b = [0.125, 0.125], [0.5, 0.75]
    # Same confidence: descending length, the shorter is drawn last.
    assert offset(objs([a, b], length=[3.0, 8.0])) == pytest.approx(off_a)
    assert offset(objs([a, b], length=[8.0, 3.0])) == pytest.approx(off_b)
    # Unknown length is drawn last within its group.
    assert offset(objs([a, b], length=[NAN, 1.0])) == pytest.approx(off_a)
    # Confidence dominates length: HIGH is drawn after MEDIUM.
    assert offset(objs([a, b], length=[1.0, 8.0], confidence=[HIGH, MEDIUM])) == pytest.approx(
        off_a
    )
    # Ties keep input order (stable).
    assert offset(objs([a, b], length=[5.0, 5.0])) == pytest.approx(off_b)


def test_max_merging_of_labels_is_order_free() -> None:
    o = objs([(20, 20), (22, 20)], vessel=[1.0, 0.0], fishing=[0.0, NAN], length=[3.0, 8.0])
    t1 = encode_targets(o, (64, 64), CoderConfig(stride=2))
    t2 = encode_targets(o.subset(np.array([1, 0])), (64, 64), CoderConfig(stride=2))
    for m1, m2 in zip(t1[:4], t2[:4], strict=True):
        np.testing.assert_array_equal(m1, m2)
    # Overlap of the two discs: max(1, 0) = 1 for vessel, 255 wins for fishing.
    assert t1.vessel[0, 10, 10] == 1 and t1.vessel[0, 10, 11] == 1
    assert t1.fishing[0, 10, 10] == IGNORE_INDEX
    assert t1.length[0, 10, 10] == pytest.approx(math.log(9.0))


def test_low_confidence_ignore_disc() -> None:
    low = objs([(20, 20)], confidence=[LOW], vessel=[1.0], fishing=[1.0], length=[9.0])
    t = encode_targets(low, (64, 64), CoderConfig(stride=2))
    assert (t.objectness == IGNORE_INDEX).sum() == 29 and np.count_nonzero(t.objectness) == 29
    # ignore_low_confidence_labels: LOW labels unknown.
    assert (t.vessel == IGNORE_INDEX).sum() == 5 and (t.fishing == IGNORE_INDEX).sum() == 5
    assert np.count_nonzero(t.length) == 0
    kept = encode_targets(
        low,
        (64, 64),
        CoderConfig(
            stride=2, ignore_low_confidence_detections=False, ignore_low_confidence_labels=False
        ),
    )
    assert kept.objectness[0, 10, 10] == 1.0 and (kept.objectness == IGNORE_INDEX).sum() == 0
    assert (kept.vessel == 1).sum() == 5 and kept.length[0, 10, 10] == pytest.approx(math.log(10.0))
    # 255 wins over a HIGH Gaussian within the disc, whatever the order.
    both = objs([(20, 20), (24, 20)], confidence=[HIGH, LOW])
    t = encode_targets(both, (64, 64), CoderConfig(stride=2))
    assert t.objectness[0, 10, 10] == IGNORE_INDEX
    assert t.objectness[0, 10, 7] == pytest.approx(gaussian_kernel(3)[3, 0])


def test_borders_partial_cells_and_outside() -> None:
    cfg = CoderConfig(stride=2)
    o = objs([(0, 0), (22.9, 10.9), (-0.5, 3), (23, 3), (5, 11), (NAN, 2)])
    t = encode_targets(o, (11, 23), cfg)  # partial last row and column of cells
    assert t.objectness.shape == (1, 6, 12) == (1, *output_shape((11, 23), 2))
    assert t.objectness[0, 0, 0] == 1.0 and t.objectness[0, 5, 11] == 1.0
    assert (t.objectness == 1.0).sum() == 2  # the four others are outside and skipped
    np.testing.assert_allclose(t.offset[:, 5, 11], [0.45, 0.45], atol=1e-5)
    assert t.objectness[0, 3, 0] == pytest.approx(gaussian_kernel(3)[0, 3])
    assert (t.vessel == 1).sum() == 3 + 3  # clipped discs: corner and last cell


def test_empty_objects() -> None:
    t = CircleNetCoder().encode(ObjectLabels.empty(), (32, 30))
    assert t.objectness.shape == (1, 16, 15) and t.offset.shape == (2, 16, 15)
    assert not any(np.count_nonzero(m) for m in t)
    det = decode(*as_batch(t), stride=2, min_objectness=0.5)
    assert det.centers.shape == (1, 0, 2)
    frame = detections_to_frame(det, "s")
    assert list(frame.columns) == list(DETECTION_COLUMNS) and len(frame) == 0


# ------------------------------------------------------------------------------ decode


@pytest.mark.parametrize("stride", [1, 2])
def test_encode_decode_recovers_centres(stride: int) -> None:
    centers = [(10.0, 12.0), (41.0, 9.0), (30.0, 50.0), (55.0, 33.0)]  # odd: half-pixel at s=2
    o = objs(
        centers,
        vessel=[1.0, 0.0, 1.0, 0.0],
        fishing=[1.0, 0.0, 0.0, 0.0],
        length=[9.0, 19.0, 4.0, 29.0],
    )
    coder = CircleNetCoder(CoderConfig(stride=stride, min_objectness=0.5))
    t = coder.encode(o, (64, 64))
    if stride == 2:
        assert t.offset[0, 4, 20] == 0.5  # x = 41 -> 20.5
    det = coder.decode(*as_batch(t))
    assert det.centers.shape == (1, 4, 2)
    frame = coder.detections_to_frame(det, "scene").sort_values(["x", "y"]).reset_index(drop=True)
    expected = pd.DataFrame(
        {"x": [c[0] for c in centers], "y": [c[1] for c in centers], "v": [1.0, 0, 1, 0]}
    ).assign(f=[1.0, 0, 0, 0], m=[90.0, 190, 40, 290])
    expected = expected.sort_values(["x", "y"]).reset_index(drop=True)
    np.testing.assert_array_equal(frame["x"], expected["x"])
    np.testing.assert_array_equal(frame["y"], expected["y"])
    np.testing.assert_array_equal(frame["detect_scene_column"], expected["x"].astype(int))
    np.testing.assert_array_equal(frame["vessel_p"], expected["v"])
    np.testing.assert_array_equal(frame["fishing_p"], expected["f"])
    np.testing.assert_allclose(frame["vessel_length_m"], expected["m"], rtol=1e-5)
    assert (frame["objectness_p"] == 1.0).all() and (frame["scene_id"] == "scene").all()


def test_decode_k_larger_than_map_and_non_finite() -> None:
    obj = torch.zeros(1, 1, 3, 4)
    obj[0, 0, 1, 2] = float("nan")
    obj[0, 0, 2, 0] = 0.8
    vessel = torch.full((1, 1, 3, 4), float("inf"))
    det = decode(obj, vessel, vessel, torch.zeros(1, 1, 3, 4), torch.zeros(1, 2, 3, 4), stride=4)
    assert det.objectness.shape == (1, 12)  # K = h * w < max_objects
    assert det.objectness[0, 0] == pytest.approx(0.8)
    assert det.centers[0, 0].tolist() == [0.0, 8.0]
    assert torch.isfinite(det.objectness).all() and (det.vessel == 0).all()
    assert (det.length_m == 0).all()


def test_decode_batched_threshold_and_frame() -> None:
    obj = torch.zeros(2, 1, 8, 8)
    obj[0, 0, 1, 1], obj[0, 0, 5, 5], obj[0, 0, 2, 6] = 0.9, 0.6, 0.2
    obj[1, 0, 3, 3] = 0.7
    z = torch.zeros(2, 1, 8, 8)
    off = torch.full((2, 2, 8, 8), 0.95)
    det = decode(obj, z, z, z, off, stride=2, max_objects=10, min_objectness=0.5)
    assert det.objectness.shape == (2, 2)  # the largest per-image count
    frame = detections_to_frame(det, ["a", "b"], min_objectness=0.5)
    assert frame["scene_id"].tolist() == ["a", "a", "b"]
    assert frame["x"].tolist() == pytest.approx([3.9, 11.9, 7.9])
    assert frame["detect_scene_column"].tolist() == [3, 11, 7]  # truncation
    with pytest.raises(ValueError, match="scene ids"):
        detections_to_frame(det, ["a"])
    shifted = CircleNetCoder(CoderConfig(min_objectness=0.5)).detections_to_frame(
        det, ["a", "b"], offsets=np.array([[100, 0], [0, 1000]])
    )
    assert shifted["x"].tolist() == pytest.approx([103.9, 111.9, 7.9])
    assert shifted["detect_scene_row"].tolist() == [3, 11, 1007]


def test_decode_length_clip_and_outputs_logits() -> None:
    obj = torch.full((1, 1, 4, 4), -4.0)
    obj[0, 0, 2, 1] = 3.0
    size = torch.full((1, 1, 4, 4), math.log(101.0))  # 100 px = 1000 m
    logits = CircleNetOutputs(
        obj, torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 2.0), size, torch.zeros(1, 2, 4, 4)
    )
    coder = CircleNetCoder(
        CoderConfig.from_dict({"stride": 2, "min_objectness": 0.5, "length_clip_m": [5, 500]})
    )
    det = coder.decode(logits)
    assert det.objectness.shape == (1, 1)
    assert det.objectness[0, 0] == pytest.approx(torch.sigmoid(torch.tensor(3.0)))
    assert det.vessel[0, 0] == pytest.approx(0.5) and det.fishing[0, 0] == pytest.approx(
        torch.sigmoid(torch.tensor(2.0))
    )
    assert det.length_m[0, 0] == pytest.approx(500.0)
    unclipped = CircleNetCoder(CoderConfig(min_objectness=0.5)).decode(logits)
    assert unclipped.length_m[0, 0] == pytest.approx(1000.0, rel=1e-5)
    with pytest.raises(ValueError, match="all five maps"):
        coder.decode(obj)


def test_config_from_dict() -> None:
    cfg = CoderConfig.from_dict({"stride": 4, "labels_radius": 2, "length_clip_m": [5, 500]})
    assert cfg.stride == 4 and cfg.length_clip_m == (5.0, 500.0)
    assert CoderConfig.from_dict(None) == CoderConfig()
    with pytest.raises(ValueError, match=r"Unknown CoderConfig key\(s\) \[.strides.\]; valid keys"):
        CoderConfig.from_dict({"strides": 2})
    with pytest.raises(ValueError, match="invalid"):
        CoderConfig(stride=0)


def test_labels_to_objects() -> None:
    labels = pd.DataFrame(
        {
            "scene_id": ["s", "s", "s"],
            "detect_scene_row": [5, 7, 9],
            "detect_scene_column": [10, 11, 12],
            "is_vessel": pd.array([True, None, False], dtype="boolean"),
            "is_fishing": pd.array([False, None, None], dtype="boolean"),
            "vessel_length_m": [120.0, NAN, 35.0],
            "confidence": pd.Categorical(
                ["HIGH", "LOW", "MEDIUM"], categories=["LOW", "MEDIUM", "HIGH"], ordered=True
            ),
            "is_near_shore": [True, False, False],
        }
    )
    o = labels_to_objects(labels)
    np.testing.assert_array_equal(o.centers, [[10, 5], [11, 7], [12, 9]])
    assert o.centers.dtype == np.float32
    np.testing.assert_array_equal(o.is_vessel, [1, NAN, 0])
    np.testing.assert_array_equal(o.is_fishing, [0, NAN, NAN])
    np.testing.assert_allclose(o.length_px, [12.0, NAN, 3.5])
    assert o.confidence.tolist() == [HIGH, LOW, MEDIUM] and o.confidence.dtype == np.int8
    assert o.near_shore.tolist() == [True, False, False]
    assert len(labels_to_objects(labels.iloc[:0])) == 0
    with pytest.raises(ValueError, match="confidence"):
        labels_to_objects(labels.assign(confidence=["HIGH", "bad", "LOW"]))


# --------------------------------------------------------------------------- round trip


def separated_objects(rng: np.random.Generator, size: int, spacing: int) -> ObjectLabels:
    grid = np.arange(spacing // 2, size - spacing // 2, spacing)
    xx, yy = np.meshgrid(grid, grid)
    jitter = rng.integers(-3, 4, size=(xx.size, 2))
    centers = np.stack([xx.ravel(), yy.ravel()], 1) + jitter
    n = len(centers)
    return objs(
        [tuple(c) for c in centers.astype(float)], confidence=rng.integers(1, 3, n).tolist()
    )


def crowded_objects(rng: np.random.Generator, size: int, n_clusters: int) -> ObjectLabels:
    hubs = rng.integers(20, size - 20, size=(n_clusters, 2))
    members = [hubs + rng.integers(-12, 13, size=hubs.shape) for _ in range(3)]
    centers = np.unique(np.concatenate([hubs, *members]), axis=0).astype(float)
    return objs([tuple(c) for c in centers], confidence=[HIGH] * len(centers))


def test_roundtrip_separated_is_perfect() -> None:
    o = separated_objects(np.random.default_rng(1), 256, 40)
    table = roundtrip_f1({"a": o}, {"a": (256, 256)}, strides=(1, 2, 4))
    assert list(table.columns) == list(ROUNDTRIP_COLUMNS)
    assert table["f1"].tolist() == [1.0, 1.0, 1.0]
    assert (table["n_objects"] == len(o)).all() and (table["fp"] == 0).all()


def test_roundtrip_crowded_degrades_monotonically() -> None:
    rng = np.random.default_rng(7)
    scenes = {"a": crowded_objects(rng, 300, 60), "b": crowded_objects(rng, 200, 30)}
    shapes = {"a": (300, 310), "b": (200, 190)}
    table = roundtrip_f1(scenes, shapes)
    f1 = table["f1"].to_numpy()
    assert table["stride"].tolist() == [1, 2, 4, 8, 16]
    assert f1[0] == 1.0 and f1[-1] < 0.95
    assert (np.diff(f1) <= 1e-12).all()
    assert (table["fp"] == 0).all()  # merged objects cost recall only


def test_roundtrip_low_handling() -> None:
    # A HIGH object 2 output pixels from a LOW one (stride 1): its peak is under the ignore disc.
    o = objs([(20, 20), (22, 20), (60, 60)], confidence=[HIGH, LOW, MEDIUM])
    default = roundtrip_f1({"s": o}, {"s": (80, 80)}, strides=(1,))
    assert default["f1"].tolist() == [1.0] and default["n_objects"].tolist() == [2]
    with_low = roundtrip_f1({"s": o}, {"s": (80, 80)}, strides=(1,), include_low=True)
    assert with_low[["tp", "fp", "fn"]].values.tolist() == [[1, 0, 1]]
    # Without ignore discs the LOW peak is decoded and then dropped, as the official metric.
    gaussian = CoderConfig(ignore_low_confidence_detections=False)
    no_disc = roundtrip_f1(
        {"s": o}, {"s": (80, 80)}, strides=(1,), config=gaussian, include_low=True
    )
    assert no_disc[["tp", "fp", "fn"]].values.tolist() == [[2, 0, 0]]


@pytest.mark.parametrize(("stride", "tile_cells"), [(1, 16), (2, 16), (1, 7)])
def test_roundtrip_tiling_matches_untiled(stride: int, tile_cells: int) -> None:
    rng = np.random.default_rng(3)
    edges = [15, 16, 17, 31, 32, 33, 47, 48]
    near_edges = [
        (float(x * stride + dx), float(y * stride))
        for x in edges
        for y in (5, 16, 33)
        for dx in (0, 1)
    ]
    extra = [tuple(c) for c in rng.uniform(0, 100, size=(60, 2))]
    centers = near_edges + extra
    conf = rng.choice([LOW, MEDIUM, HIGH], size=len(centers)).tolist()
    o = objs(centers, confidence=conf, length=rng.uniform(1, 20, len(centers)).tolist())
    shape = (100 * stride - 3, 97 * stride)
    cfg = CoderConfig(stride=stride)
    tiled = roundtrip_centers(o, shape, cfg, tile_cells=tile_cells)
    whole = roundtrip_centers(o, shape, cfg, tile_cells=10_000)
    # Reference: one plain encode + decode of the whole scene.
    det = decode(*as_batch(encode_targets(o, shape, cfg)), stride=stride, min_objectness=0.5)
    ref = det.centers[0].numpy()

    def key(a: np.ndarray) -> np.ndarray:
        return a[np.lexsort((a[:, 1], a[:, 0]))]

    assert len(tiled) == len(ref) > 0
    # The LOW discs hide peaks and turn shoulders into off-centre local maxima.
    assert (np.abs(ref - np.round(ref)) > 0).any() or stride == 1
    np.testing.assert_array_equal(key(tiled), key(whole))
    np.testing.assert_array_equal(key(tiled), key(ref))


# ------------------------------------------------------------------------------ preview


def test_encoding_preview_figure() -> None:
    o = objs([(10, 10), (30, 20), (50, 40)], fishing=[NAN, 1, 0], confidence=[LOW, MEDIUM, HIGH])
    t = encode_targets(o, (64, 64), CoderConfig(stride=2))
    image = np.random.default_rng(0).normal(-20, 5, size=(2, 64, 64)).astype(np.float32)
    for img in (image, None):
        fig = encoding_preview(img, t, o, stride=2, title="crop")
        assert isinstance(fig, Figure) and len(fig.axes) >= 6
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        assert buf.getvalue()[:4] == b"\x89PNG"
