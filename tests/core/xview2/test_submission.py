"""Official xView2 prediction PNGs: names the scorer pairs, partitions, checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kedro_datasets.partitions import PartitionedDataset
from PIL import Image

from xview3_pipeline.core.xview2 import XView2MaskError, score_directories, score_masks
from xview3_pipeline.core.xview2.masks import target_name
from xview3_pipeline.core.xview2.submission import (
    partition_pairs,
    prediction_name,
    prediction_partitions,
    score_report,
)


def pair_masks(seed: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(localization, damage) with every damage class present."""
    rng = np.random.default_rng(seed)
    damage = np.zeros((size, size), dtype=np.uint8)
    for value in range(1, 5):
        r, c = rng.integers(0, size - 6, size=2)
        damage[r : r + 5, c : c + 5] = value
    return (damage > 0).astype(np.uint8), damage


def write_targets(folder: Path, masks: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    for pair_id, (loc, dmg) in masks.items():
        for kind, mask in (("localization", loc), ("damage", dmg)):
            path = folder / f"{target_name('test', kind, pair_id)}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask).save(path)


def save_partitions(folder: Path, partitions: dict) -> None:
    """Save as a catalog ``PartitionedDataset`` of ``pillow.ImageDataset`` does."""
    dataset = PartitionedDataset(
        path=str(folder), dataset="pillow.ImageDataset", filename_suffix=".png"
    )
    dataset.save(partitions)


TRUTH = {"guatemala-volcano_00000003": pair_masks(0), "palu-tsunami_00000181": pair_masks(1)}


def test_prediction_name_mirrors_target_name() -> None:
    name = prediction_name("damage", "palu-tsunami_00000181")
    assert name == "test/test_damage_palu-tsunami-00000181_prediction"
    assert name.removesuffix("_prediction") == target_name(
        "test", "damage", "palu-tsunami_00000181"
    ).removesuffix("_target")
    assert prediction_name("localization", "a_1", split="hold").startswith("hold/hold_loc")


def test_perfect_partitions_score_one_with_the_official_scorer(tmp_path: Path) -> None:
    save_partitions(tmp_path / "pred", prediction_partitions(TRUTH))
    write_targets(tmp_path / "targ", TRUTH)
    files = sorted(p.name for p in (tmp_path / "pred" / "test").iterdir())
    assert files == [
        "test_damage_guatemala-volcano-00000003_prediction.png",
        "test_damage_palu-tsunami-00000181_prediction.png",
        "test_localization_guatemala-volcano-00000003_prediction.png",
        "test_localization_palu-tsunami-00000181_prediction.png",
    ]
    with Image.open(tmp_path / "pred" / "test" / files[0]) as image:
        assert image.mode == "L"
        assert np.array_equal(np.array(image), TRUTH["guatemala-volcano_00000003"][1])
    scores = score_directories(tmp_path / "pred" / "test", tmp_path / "targ" / "test")
    assert scores["score"] == pytest.approx(1.0, abs=1e-5)
    assert scores["localization_f1"] == 1.0


def test_imperfect_partitions_score_as_in_memory(tmp_path: Path) -> None:
    preds = {}
    for pair_id, (_, dmg) in TRUTH.items():
        worse = dmg.copy()
        worse[worse == 3] = 2
        worse[:4, :4] = 1
        preds[pair_id] = (worse > 0, worse)
    save_partitions(tmp_path / "pred", prediction_partitions(preds))
    write_targets(tmp_path / "targ", TRUTH)
    on_disk = score_directories(tmp_path / "pred" / "test", tmp_path / "targ" / "test")
    in_memory = score_masks([(*preds[p], *TRUTH[p]) for p in TRUTH])
    assert on_disk == pytest.approx(in_memory)
    assert on_disk["score"] < 0.9
    loaded = PartitionedDataset(
        path=str(tmp_path / "targ"), dataset="pillow.ImageDataset", filename_suffix=".png"
    ).load()
    report = score_report(
        partition_pairs(prediction_partitions(preds), "prediction"), partition_pairs(loaded)
    )
    assert {k: report[k] for k in on_disk} == pytest.approx(on_disk)


def test_lazy_pairs_load_once_for_both_images(tmp_path: Path) -> None:
    calls = []

    def load() -> tuple[np.ndarray, np.ndarray]:
        calls.append(1)
        return TRUTH["palu-tsunami_00000181"]

    partitions = prediction_partitions({"palu-tsunami_00000181": load})
    assert calls == []
    assert all(callable(v) for v in partitions.values())
    save_partitions(tmp_path, partitions)
    assert calls == [1]
    assert partitions["test/test_damage_palu-tsunami-00000181_prediction"]().size == (32, 32)  # type: ignore[operator]
    assert calls == [1, 1]  # both images made: the masks were released
    assert len(list((tmp_path / "test").iterdir())) == 2


@pytest.mark.parametrize(
    ("masks", "match"),
    [
        ((np.zeros((4, 4), np.float32), np.zeros((4, 4), np.uint8)), "integer dtype"),
        ((np.full((4, 4), 2, np.uint8), np.zeros((4, 4), np.uint8)), r"values must be 0\.\.1"),
        ((np.zeros((4, 4), np.uint8), np.full((4, 4), 5, np.uint8)), r"values must be 0\.\.4"),
        ((np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8)), "differ in shape"),
        ((np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8)), "2-D"),
        (np.zeros((4, 4), np.uint8), "expected \\(localization, damage\\)"),
    ],
)
def test_bad_masks_are_refused_naming_the_pair(masks: object, match: str) -> None:
    with pytest.raises(XView2MaskError, match=match) as info:
        prediction_partitions({"joplin-tornado_00000007": masks})  # type: ignore[dict-item]
    assert "joplin-tornado_00000007" in str(info.value)


def test_lazy_pair_errors_when_saved() -> None:
    partitions = prediction_partitions({"a_1": lambda: (np.zeros((2, 2)), np.zeros((2, 2)))})
    with pytest.raises(XView2MaskError, match="'a_1' localization"):
        partitions["test/test_localization_a-1_prediction"]()  # type: ignore[operator]


def test_bad_names_are_refused() -> None:
    ok = pair_masks(0, 8)
    with pytest.raises(ValueError, match="split='train'"):
        prediction_partitions({"a_1": ok}, split="train")
    with pytest.raises(ValueError, match="kind='building'"):
        prediction_name("building", "a_1")
    with pytest.raises(ValueError, match="cannot name a mask file"):
        prediction_partitions({"../etc_1": ok})
    with pytest.raises(ValueError, match="share the mask id 'a-1'"):
        prediction_partitions({"a_1": ok, "a-1": ok})


def test_partition_pairs_groups_and_checks() -> None:
    parts = {
        "test/test_localization_a-1_target": 1,
        "test/test_damage_a-1_target": 2,
        "hold_damage_b-2_target": 3,
        "hold_localization_b-2_target": 4,
    }
    assert partition_pairs(parts) == {"hold_b-2": (4, 3), "test_a-1": (1, 2)}  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no damage target"):
        partition_pairs({"test/test_localization_a-1_target": 1})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="is not named"):
        partition_pairs({"test/test_damage_a-1_target": 1}, role="prediction")  # type: ignore[dict-item]
