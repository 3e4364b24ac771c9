"""Reading xBD pairs, the pre/post normalisation and the pair dataset in both modes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
from PIL import Image

from xview3_pipeline.core.errors import RasterReadError, SceneGeometryError
from xview3_pipeline.core.xview2.augmentations import build_xview2_transform
from xview3_pipeline.core.xview2.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Xview2PairDataset,
    damage_mask_loaders,
    normalize_pair,
    read_pair,
    read_rgb,
)
from xview3_pipeline.core.xview2.masks import target_name
from xview3_pipeline.core.xview2.metric import XView2MaskError

MEAN = np.array(IMAGENET_MEAN * 2, dtype=np.float32)[:, None, None]
STD = np.array(IMAGENET_STD * 2, dtype=np.float32)[:, None, None]


def rgb(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def damage(height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[2:10, 3:15] = 1
    mask[20:30, 5:12] = 4
    mask[-6:, -6:] = 2
    return mask


def write_pair(
    root: Path, pair_id: str, height: int, width: int, *, split: str = "train", post_size=None
) -> dict[str, Any]:
    images = root / split / "images"
    images.mkdir(parents=True, exist_ok=True)
    pre, post = rgb(height, width, 1), rgb(*(post_size or (height, width)), 2)
    Image.fromarray(pre).save(images / f"{pair_id}_pre_disaster.png")
    Image.fromarray(post).save(images / f"{pair_id}_post_disaster.png")
    return {
        "pair_id": pair_id,
        "split": split,
        "pre_image": f"{split}/images/{pair_id}_pre_disaster.png",
        "post_image": f"{split}/images/{pair_id}_post_disaster.png",
        "height": height,
        "width": width,
    }


@pytest.fixture
def pair_root(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    rows = [
        write_pair(tmp_path, "flood_00000001", 70, 45),
        write_pair(tmp_path, "fire_00000002", 40, 40),
    ]
    return tmp_path, pd.DataFrame(rows)


def loaders(pairs: pd.DataFrame) -> dict[str, Callable[[], np.ndarray]]:
    return {
        str(r.pair_id): (lambda h=int(r.height), w=int(r.width): damage(h, w))
        for r in pairs.itertuples(index=False)
    }


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
class TestReadRgb:
    def test_png_round_trip_and_alpha_ignored(self, tmp_path: Path) -> None:
        image = rgb(9, 7, 0)
        Image.fromarray(image).save(tmp_path / "a.png")
        rgba = np.dstack([image, np.full((9, 7), 128, np.uint8)])
        Image.fromarray(rgba, mode="RGBA").save(tmp_path / "b.png")
        for name in ("a.png", "b.png"):
            out = read_rgb(tmp_path / name)
            assert out.dtype == np.uint8 and out.shape == (9, 7, 3)
            np.testing.assert_array_equal(out, image)

    def test_geotiff_bands_1_to_3(self, tmp_path: Path) -> None:
        bands = np.random.default_rng(0).integers(0, 256, (4, 6, 5), dtype=np.uint8)
        path = tmp_path / "x.tif"
        with rasterio.open(
            path, "w", driver="GTiff", height=6, width=5, count=4, dtype="uint8"
        ) as dst:
            dst.write(bands)
        out = read_rgb(path)
        np.testing.assert_array_equal(out, np.moveaxis(bands[:3], 0, -1))

    def test_geotiff_with_too_few_bands(self, tmp_path: Path) -> None:
        path = tmp_path / "grey.tif"
        with rasterio.open(
            path, "w", driver="GTiff", height=4, width=4, count=1, dtype="uint8"
        ) as dst:
            dst.write(np.zeros((1, 4, 4), np.uint8))
        with pytest.raises(RasterReadError, match=r"grey\.tif.*1 band"):
            read_rgb(path)

    def test_grey_png_refused(self, tmp_path: Path) -> None:
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "grey.png")
        with pytest.raises(RasterReadError, match=r"grey\.png.*mode 'L'"):
            read_rgb(tmp_path / "grey.png")

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match=r"nope\.png"):
            read_rgb(tmp_path / "nope.png")

    def test_corrupt_file(self, tmp_path: Path) -> None:
        for name in ("bad.png", "bad.tif"):
            (tmp_path / name).write_bytes(b"not an image at all")
            with pytest.raises(RasterReadError, match=name.replace(".", r"\.")):
                read_rgb(tmp_path / name)

    def test_unknown_suffix(self, tmp_path: Path) -> None:
        (tmp_path / "x.jpg").write_bytes(b"")
        with pytest.raises(RasterReadError, match=r"x\.jpg.*'\.jpg'"):
            read_rgb(tmp_path / "x.jpg")


def test_read_pair_refuses_size_mismatch(tmp_path: Path) -> None:
    row = write_pair(tmp_path, "quake_00000003", 32, 32, post_size=(32, 40))
    with pytest.raises(SceneGeometryError) as info:
        read_pair(tmp_path, pd.Series(row))
    message = str(info.value)
    assert "quake_00000003_pre_disaster.png" in message and "32x32" in message
    assert "quake_00000003_post_disaster.png" in message and "32x40" in message


def test_read_pair_accepts_namedtuple_and_mapping(pair_root: tuple[Path, pd.DataFrame]) -> None:
    root, pairs = pair_root
    first = next(pairs.itertuples(index=False))
    pre, post = read_pair(root, first)
    pre2, post2 = read_pair(root, pairs.iloc[0].to_dict())
    np.testing.assert_array_equal(pre, pre2)
    np.testing.assert_array_equal(post, post2)
    np.testing.assert_array_equal(pre, rgb(70, 45, 1))


def test_normalize_pair_values() -> None:
    pre = np.zeros((2, 3, 3), np.uint8)
    post = np.full((2, 3, 3), 255, np.uint8)
    post[0, 0] = (51, 102, 204)
    out = normalize_pair(pre, post)
    assert out.dtype == torch.float32 and out.shape == (6, 2, 3)
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    np.testing.assert_allclose(out[:3, 1, 2].numpy(), -mean / std, rtol=1e-6)
    np.testing.assert_allclose(out[3:, 1, 2].numpy(), (1.0 - mean) / std, rtol=1e-6)
    np.testing.assert_allclose(
        out[3:, 0, 0].numpy(), (np.array([0.2, 0.4, 0.8]) - mean) / std, rtol=1e-6
    )


def test_normalize_pair_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        normalize_pair(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        normalize_pair(np.zeros((2, 2, 3), np.float32), np.zeros((2, 2, 3), np.uint8))  # type: ignore[arg-type]


def expected_image(pre: np.ndarray, post: np.ndarray) -> np.ndarray:
    stacked = np.concatenate([pre, post], axis=2).transpose(2, 0, 1).astype(np.float32)
    return (stacked / 255.0 - MEAN) / STD


class TestEvaluationMode:
    def test_whole_image_padded_to_multiple_of_32(
        self, pair_root: tuple[Path, pd.DataFrame]
    ) -> None:
        root, pairs = pair_root
        dataset = Xview2PairDataset(pairs, root, loaders(pairs), None, None)
        assert len(dataset) == 2
        item = dataset[0]
        assert item["pair_id"] == "flood_00000001"
        assert (item["height"], item["width"]) == (70, 45)
        assert item["image"].dtype == torch.float32 and item["image"].shape == (6, 96, 64)
        assert item["mask"].dtype == torch.int64 and item["mask"].shape == (96, 64)
        image, mask = item["image"].numpy(), item["mask"].numpy()
        np.testing.assert_allclose(
            image[:, :70, :45], expected_image(rgb(70, 45, 1), rgb(70, 45, 2)), rtol=1e-5, atol=1e-6
        )
        np.testing.assert_array_equal(mask[:70, :45], damage(70, 45))
        assert (mask[70:] == 255).all() and (mask[:, 45:] == 255).all()
        padded = np.broadcast_to(-MEAN / STD, (6, 26, 64))
        np.testing.assert_allclose(image[:, 70:], padded, rtol=1e-6)

    def test_no_targets_is_all_ignore(self, pair_root: tuple[Path, pd.DataFrame]) -> None:
        root, pairs = pair_root
        item = Xview2PairDataset(pairs, root, None, None, None)[1]
        assert item["image"].shape == (6, 64, 64)
        assert (item["mask"] == 255).all()

    def test_pil_mask_accepted(self, pair_root: tuple[Path, pd.DataFrame]) -> None:
        root, pairs = pair_root
        masks = {
            "flood_00000001": lambda: Image.fromarray(damage(70, 45)),
            "fire_00000002": lambda: Image.fromarray(damage(40, 40)),
        }
        item = Xview2PairDataset(pairs, root, masks, None, None)[0]
        np.testing.assert_array_equal(item["mask"].numpy()[:70, :45], damage(70, 45))

    def test_batches_collate(self, pair_root: tuple[Path, pd.DataFrame]) -> None:
        root, pairs = pair_root
        dataset = Xview2PairDataset(pairs.iloc[:1], root, loaders(pairs), None, None)
        batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=1)))
        assert batch["image"].shape == (1, 6, 96, 64) and batch["height"].tolist() == [70]


class TestTrainingMode:
    def test_crop_is_a_window_of_the_pair(self, pair_root: tuple[Path, pd.DataFrame]) -> None:
        root, pairs = pair_root
        dataset = Xview2PairDataset(pairs, root, loaders(pairs), None, 32, seed=3)
        item = dataset[0]
        assert set(item) == {"image", "mask", "pair_id"}
        assert item["image"].shape == (6, 32, 32) and item["mask"].shape == (32, 32)
        full = expected_image(rgb(70, 45, 1), rgb(70, 45, 2))
        image = item["image"].numpy()
        windows = [
            (r, c)
            for r in range(70 - 32 + 1)
            for c in range(45 - 32 + 1)
            if np.allclose(full[:, r : r + 32, c : c + 32], image, atol=1e-5)
        ]
        assert len(windows) == 1
        r, c = windows[0]
        np.testing.assert_array_equal(item["mask"].numpy(), damage(70, 45)[r : r + 32, c : c + 32])

    def test_seeded_by_seed_epoch_and_index(self, pair_root: tuple[Path, pd.DataFrame]) -> None:
        root, pairs = pair_root
        dataset = Xview2PairDataset(pairs, root, loaders(pairs), None, 32, seed=0)
        first = dataset[0]["image"]
        assert torch.equal(first, dataset[0]["image"])
        crops = set()
        for epoch in range(6):
            dataset.set_epoch(epoch)
            crops.add(dataset[0]["image"][0, 0, :4].numpy().tobytes())
        assert len(crops) > 1

    def test_small_image_padded_with_ignore(self, pair_root: tuple[Path, pd.DataFrame]) -> None:
        root, pairs = pair_root
        item = Xview2PairDataset(pairs, root, loaders(pairs), None, 64)[1]
        mask = item["mask"].numpy()
        assert mask.shape == (64, 64)
        np.testing.assert_array_equal(mask[:40, :40], damage(40, 40))
        assert (mask[40:] == 255).all() and (mask[:, 40:] == 255).all()

    def test_winner_transform_runs(self, pair_root: tuple[Path, pd.DataFrame]) -> None:
        root, pairs = pair_root
        transform = build_xview2_transform("winner", 32)
        dataset = Xview2PairDataset(pairs, root, loaders(pairs), transform, 32, seed=1)
        for index in range(2):
            item = dataset[index]
            assert item["image"].shape == (6, 32, 32) and torch.isfinite(item["image"]).all()
            assert set(np.unique(item["mask"].numpy())) <= {0, 1, 2, 3, 4, 255}


class TestErrors:
    def test_mask_shape_mismatch_names_pair(self, pair_root: tuple[Path, pd.DataFrame]) -> None:
        root, pairs = pair_root
        masks = {**loaders(pairs), "fire_00000002": lambda: damage(40, 41)}
        dataset = Xview2PairDataset(pairs, root, masks, None, None)
        with pytest.raises(XView2MaskError, match=r"fire_00000002.*\(40, 41\).*\(40, 40\)"):
            dataset[1]

    def test_mask_values_checked(self, pair_root: tuple[Path, pd.DataFrame]) -> None:
        root, pairs = pair_root
        masks = {**loaders(pairs), "fire_00000002": lambda: np.full((40, 40), 7, np.uint8)}
        with pytest.raises(XView2MaskError, match=r"fire_00000002.*\[7\]"):
            Xview2PairDataset(pairs, root, masks, None, None)[1]

    def test_missing_loader(self, pair_root: tuple[Path, pd.DataFrame]) -> None:
        root, pairs = pair_root
        with pytest.raises(KeyError, match="fire_00000002"):
            Xview2PairDataset(pairs, root, {"flood_00000001": lambda: damage(70, 45)}, None, None)

    def test_missing_image_names_file(self, pair_root: tuple[Path, pd.DataFrame]) -> None:
        root, pairs = pair_root
        (root / pairs.loc[1, "post_image"]).unlink()
        with pytest.raises(FileNotFoundError, match=r"fire_00000002_post_disaster\.png"):
            Xview2PairDataset(pairs, root, None, None, None)[1]

    def test_index_size_disagrees(self, pair_root: tuple[Path, pd.DataFrame]) -> None:
        root, pairs = pair_root
        pairs = pairs.assign(height=[70, 39])
        with pytest.raises(SceneGeometryError, match=r"fire_00000002.*39x40.*40x40"):
            Xview2PairDataset(pairs, root, None, None, None)[1]

    @pytest.mark.parametrize("crop_size", [0, 48, 33.0, True])
    def test_crop_size_multiple_of_32(
        self, pair_root: tuple[Path, pd.DataFrame], crop_size: Any
    ) -> None:
        root, pairs = pair_root
        with pytest.raises(ValueError, match="multiple of 32"):
            Xview2PairDataset(pairs, root, None, None, crop_size)

    def test_missing_columns(self, pair_root: tuple[Path, pd.DataFrame]) -> None:
        root, pairs = pair_root
        with pytest.raises(ValueError, match="post_image"):
            Xview2PairDataset(pairs.drop(columns=["post_image"]), root, None, None, None)


class TestDamageMaskLoaders:
    def test_partition_ids_to_pair_ids(self, pair_root: tuple[Path, pd.DataFrame]) -> None:
        root, pairs = pair_root
        partitions = {
            target_name("train", "damage", "flood_00000001"): lambda: Image.fromarray(
                damage(70, 45)
            ),
            target_name("train", "localization", "flood_00000001"): lambda: None,
            target_name("train", "damage", "fire_00000002") + ".png": lambda: Image.fromarray(
                damage(40, 40)
            ),
        }
        assert "train/train_damage_flood-00000001_target" in partitions
        out = damage_mask_loaders(partitions, pairs)
        assert sorted(out) == ["fire_00000002", "flood_00000001"]
        item = Xview2PairDataset(pairs, root, out, None, None)[1]
        np.testing.assert_array_equal(item["mask"].numpy()[:40, :40], damage(40, 40))

    def test_missing_partition_names_pair(self, pair_root: tuple[Path, pd.DataFrame]) -> None:
        _, pairs = pair_root
        partitions = {target_name("train", "damage", "flood_00000001"): lambda: None}
        with pytest.raises(
            KeyError, match=r"fire_00000002 \(train/train_damage_fire-00000002_target\)"
        ):
            damage_mask_loaders(partitions, pairs)
