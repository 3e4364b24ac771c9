"""The xView2 pair augmentations: presets, shared geometry, post-only jitter, seeding."""

from __future__ import annotations

from collections.abc import Callable

import albumentations as A
import numpy as np
import pytest

from xview3_pipeline.core.xview2.augmentations import (
    XVIEW2_AUGMENTATION_PRESETS,
    BuildingDropout,
    PairTransform,
    build_xview2_transform,
)

Array = np.ndarray
#: The eight symmetries of the square, as functions of an (H, W, ...) array.
D4: dict[str, Callable[[Array], Array]] = {
    f"rot{k}{'_t' if t else ''}": (
        lambda a, k=k, t=t: np.rot90(np.swapaxes(a, 0, 1) if t else a, k, axes=(0, 1))
    )
    for k in range(4)
    for t in (False, True)
}


def asymmetric_pair(size: int = 48) -> tuple[Array, Array, Array]:
    """Pre, post and mask whose every symmetry of the square is distinct."""
    rows, cols = np.mgrid[0:size, 0:size]
    pre = np.stack([rows * 5 % 256, cols * 3 % 256, (rows * cols) % 256], axis=-1).astype(np.uint8)
    post = np.stack([(rows + 2 * cols) % 256, rows * 2, 255 - cols], axis=-1).astype(np.uint8)
    mask = np.zeros((size, size), np.uint8)
    mask[2:8, 3:20] = 1
    mask[30:44, 6:12] = 3
    mask[10:14, 36:40] = 4
    return pre, post, mask


def test_presets_listed() -> None:
    assert XVIEW2_AUGMENTATION_PRESETS == ("winner", "light", "none")


def test_none_is_identity() -> None:
    pre, post, mask = asymmetric_pair()
    transform = build_xview2_transform("none", 32)
    for seed in (None, 0, 1):
        out = transform(pre, post, mask, seed=seed)
        for got, want in zip(out, (pre, post, mask), strict=True):
            np.testing.assert_array_equal(got, want)


def test_shared_flips_move_pre_post_and_mask_together() -> None:
    pre, post, mask = asymmetric_pair()
    transform = build_xview2_transform("light", None)
    seen = set()
    for seed in range(24):
        out_pre, out_post, out_mask = transform(pre, post, mask, seed=seed)
        matches = [name for name, g in D4.items() if np.array_equal(g(pre), out_pre)]
        assert len(matches) == 1, f"seed {seed}: pre is not one symmetry of the input"
        g = D4[matches[0]]
        np.testing.assert_array_equal(out_post, g(post))
        np.testing.assert_array_equal(out_mask, g(mask))
        seen.add(matches[0])
    assert len(seen) >= 4, seen


def test_winner_shapes_values_and_seeding() -> None:
    rng = np.random.default_rng(0)
    pre, post = (rng.integers(0, 256, (80, 72, 3), dtype=np.uint8) for _ in range(2))
    _, _, small_mask = asymmetric_pair(48)
    mask = np.zeros((80, 72), np.uint8)
    mask[:48, :48] = small_mask
    transform = build_xview2_transform("winner", 64)
    outputs = []
    for seed in range(6):
        out = transform(pre, post, mask, seed=seed)
        assert [a.shape for a in out] == [(64, 64, 3), (64, 64, 3), (64, 64)]
        assert all(a.dtype == np.uint8 for a in out)
        assert set(np.unique(out[2])) <= {0, 1, 3, 4, 255}
        again = transform(pre, post, mask, seed=seed)
        for a, b in zip(out, again, strict=True):
            np.testing.assert_array_equal(a, b)
        outputs.append(out[0].tobytes())
    assert len(set(outputs)) == len(outputs)


def test_winner_pads_small_images_with_ignore() -> None:
    pre, post, mask = asymmetric_pair(40)
    transform = build_xview2_transform("winner", 64)
    masks = [transform(pre, post, mask, seed=s)[2] for s in range(4)]
    assert all(m.shape == (64, 64) for m in masks)
    assert any((m == 255).any() for m in masks)


def test_colour_is_drawn_independently_for_pre_and_post() -> None:
    image = np.random.default_rng(1).integers(30, 220, (32, 32, 3), dtype=np.uint8)
    colour = PairTransform(color=build_xview2_transform("winner", None).color)
    mask = np.zeros((32, 32), np.uint8)
    differ = 0
    for seed in range(10):
        pre, post, out_mask = colour(image, image, mask, seed=seed)
        differ += int(not np.array_equal(pre, post))
        np.testing.assert_array_equal(out_mask, mask)
    assert differ >= 5


def test_post_jitter_moves_post_and_mask_and_leaves_pre() -> None:
    size = 64
    pre = np.full((size, size, 3), 40, np.uint8)
    post = np.full((size, size, 3), 40, np.uint8)
    mask = np.zeros((size, size), np.uint8)
    post[20:40, 24:44] = 200
    mask[20:40, 24:44] = 3
    jitter = PairTransform(post_jitter=build_xview2_transform("winner", None).post_jitter)
    moved = 0
    for seed in range(16):
        out_pre, out_post, out_mask = jitter(pre, post, mask, seed=seed)
        np.testing.assert_array_equal(out_pre, pre)
        if np.array_equal(out_post, post):
            np.testing.assert_array_equal(out_mask, mask)
            continue
        moved += int(not np.array_equal(out_mask, mask))
        building = out_post[..., 0] > 120
        target = out_mask == 3
        iou = (building & target).sum() / (building | target).sum()
        assert iou > 0.85, f"seed {seed}: mask and post building overlap only {iou:.2f}"
        entering = out_post[..., 0] == 0
        assert (out_mask[entering] == 255).all()
    assert moved >= 3


def test_mask_dropout_drops_buildings_not_ignored_pixels() -> None:
    image = np.full((32, 32, 3), 100, np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[2:6, 2:6] = 1
    mask[10:14, 10:14] = 4
    mask[28:, :] = 255
    dropout = A.Compose(
        [BuildingDropout(max_objects=(10, 10), fill=0, fill_mask=0, p=1.0)],
        additional_targets={"image_post": "image"},
    )
    out = dropout(image=image, image_post=image.copy(), mask=mask)
    assert (out["mask"][28:] == 255).all()
    assert (out["mask"][:28] == 0).all()
    for key in ("image", "image_post"):
        assert (out[key][2:6, 2:6] == 0).all() and (out[key][10:14, 10:14] == 0).all()
        assert (out[key][28:] == 100).all()


@pytest.mark.parametrize(
    ("preset", "crop_size", "message"),
    [("strong", 64, "Unknown xView2 augmentation preset 'strong'"), ("winner", 0, "crop_size")],
)
def test_bad_arguments(preset: str, crop_size: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_xview2_transform(preset, crop_size)
