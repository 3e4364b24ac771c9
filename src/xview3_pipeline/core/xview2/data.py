"""Reading xBD image pairs and the torch dataset of pre/post pairs with their damage mask.

Each item of :class:`Xview2PairDataset` is a ``dict``:

* ``image``: ``(6, h, w)`` float32, channels 0:3 the pre image RGB and 3:6 the post image
  RGB, each normalised as ``(x / 255 - mean) / std`` with the ImageNet mean and standard
  deviation (:func:`normalize_pair`), the winner's normalisation (``A.Normalize`` with
  these values on the six channels);
* ``mask``: ``(h, w)`` int64 damage target, 0 no building, 1 no damage, 2 minor, 3 major,
  4 destroyed, 255 ignore (padding, unknown pixels, and every pixel of pairs without a
  target, e.g. test images);
* ``pair_id``: str;
* evaluation mode only: ``height`` and ``width`` (int), the size of the image before padding.

In training mode (``crop_size`` given) the transform runs on the whole pair, then a random
``crop_size`` square is cut; images smaller than that are padded first (images 0, mask
255). In evaluation mode (``crop_size=None``) the whole image is padded at the bottom and
right to a multiple of 32 (images 0 before normalisation, mask 255).

Targets come from the partitioned dataset ``xview2_target_masks`` (see
:mod:`xview3_pipeline.core.xview2.masks`); :func:`damage_mask_loaders` maps its partition
ids to pair ids.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import rasterio
import torch
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from torch.utils.data import Dataset

from xview3_pipeline.core.errors import RasterReadError, SceneGeometryError
from xview3_pipeline.core.types import IGNORE_INDEX
from xview3_pipeline.core.xview2.augmentations import PairTransformFn
from xview3_pipeline.core.xview2.masks import target_name
from xview3_pipeline.core.xview2.metric import XView2MaskError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PAD_MULTIPLE",
    "Xview2PairDataset",
    "damage_mask_loaders",
    "normalize_pair",
    "read_pair",
    "read_rgb",
]

logger = logging.getLogger(__name__)

#: ImageNet channel mean and standard deviation (RGB, of ``x / 255``).
IMAGENET_MEAN: Final[tuple[float, float, float]] = (0.485, 0.456, 0.406)
IMAGENET_STD: Final[tuple[float, float, float]] = (0.229, 0.224, 0.225)
#: Evaluation images are padded to a multiple of this (the encoders' output stride).
PAD_MULTIPLE: Final[int] = 32
#: Columns of the pair index the dataset reads.
PAIR_COLUMNS: Final[tuple[str, ...]] = (
    "pair_id", "split", "pre_image", "post_image", "height", "width",
)  # fmt: skip

MaskLoader = Callable[[], NDArray[np.uint8] | Image.Image]
_PNG_SUFFIXES = (".png",)
_TIFF_SUFFIXES = (".tif", ".tiff")


def _rgb_from_png(path: Path) -> NDArray[np.uint8]:
    try:
        with Image.open(path) as image:
            mode = image.mode
            arr = np.asarray(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise RasterReadError(f"Cannot read image {path} as a PNG: {exc}") from exc
    if arr.ndim != 3 or arr.shape[2] < 3 or arr.dtype != np.uint8:
        raise RasterReadError(
            f"{path}: expected an 8-bit RGB image (3 bands), got mode {mode!r} "
            f"({arr.shape[2] if arr.ndim == 3 else 1} band(s), {arr.dtype})."
        )
    return np.ascontiguousarray(arr[:, :, :3])


def _rgb_from_tiff(path: Path) -> NDArray[np.uint8]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                if src.count < 3:
                    raise RasterReadError(
                        f"{path}: expected an RGB GeoTIFF with bands 1-3, got {src.count} band(s)."
                    )
                if src.dtypes[0] != "uint8":
                    raise RasterReadError(f"{path}: expected uint8 bands, got {src.dtypes[0]}.")
                arr = src.read((1, 2, 3))
    except RasterioIOError as exc:
        raise RasterReadError(f"Cannot read image {path} as a GeoTIFF: {exc}") from exc
    return np.ascontiguousarray(np.moveaxis(arr, 0, -1), dtype=np.uint8)


def read_rgb(path: str | Path) -> NDArray[np.uint8]:
    """Read an RGB image: a PNG (Pillow) or a GeoTIFF (rasterio, bands 1-3).

    A fourth band (alpha) is ignored; fewer than three bands is an error.

    Args:
        path: ``.png``, ``.tif`` or ``.tiff`` file.

    Returns:
        ``(H, W, 3)`` uint8.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        RasterReadError: Not readable, an unknown suffix, fewer than 3 bands or not 8-bit.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Image {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix in _PNG_SUFFIXES:
        return _rgb_from_png(path)
    if suffix in _TIFF_SUFFIXES:
        return _rgb_from_tiff(path)
    raise RasterReadError(
        f"{path}: unknown image type {path.suffix!r}, expected one of "
        f"{', '.join(_PNG_SUFFIXES + _TIFF_SUFFIXES)}."
    )


def read_pair(raw_root: str | Path, row: Any) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Read the pre and post images of one pair-index row.

    Args:
        raw_root: Root the row's paths are relative to.
        row: A row of the pair index (``pre_image``, ``post_image``; a namedtuple, a
            ``pd.Series`` or a mapping).

    Returns:
        ``(pre, post)``, each ``(H, W, 3)`` uint8.

    Raises:
        SceneGeometryError: Pre and post differ in size.
        FileNotFoundError, RasterReadError: See :func:`read_rgb`.
    """
    root = Path(raw_root)
    get = row.get if isinstance(row, Mapping | pd.Series) else lambda k: getattr(row, k)
    pre_path, post_path = root / str(get("pre_image")), root / str(get("post_image"))
    pre, post = read_rgb(pre_path), read_rgb(post_path)
    if pre.shape != post.shape:
        raise SceneGeometryError(
            f"Pre image {pre_path} is {pre.shape[0]}x{pre.shape[1]} (HxW) but post image "
            f"{post_path} is {post.shape[0]}x{post.shape[1]}: they must be the same size."
        )
    return pre, post


def normalize_pair(pre: NDArray[np.uint8], post: NDArray[np.uint8]) -> torch.Tensor:
    """Stack a pair into the model input with ImageNet normalisation (the winner's).

    Args:
        pre: ``(H, W, 3)`` uint8 pre image.
        post: ``(H, W, 3)`` uint8 post image.

    Returns:
        ``(6, H, W)`` float32: ``(x / 255 - IMAGENET_MEAN) / IMAGENET_STD`` per channel,
        pre in 0:3, post in 3:6.

    Raises:
        ValueError: Not ``(H, W, 3)`` uint8 arrays of one shape.
    """
    for name, arr in (("pre", pre), ("post", post)):
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise ValueError(
                f"{name} must be an (H, W, 3) uint8 array, got {arr.shape} {arr.dtype}."
            )
    if pre.shape != post.shape:
        raise ValueError(f"pre {pre.shape} and post {post.shape} differ in shape.")
    stacked = torch.from_numpy(np.concatenate([pre, post], axis=2)).permute(2, 0, 1)
    mean = torch.tensor(IMAGENET_MEAN * 2, dtype=torch.float32).view(6, 1, 1)
    std = torch.tensor(IMAGENET_STD * 2, dtype=torch.float32).view(6, 1, 1)
    return ((stacked.to(torch.float32) / 255.0 - mean) / std).contiguous()


def damage_mask_loaders(
    partitions: Mapping[str, Callable[[], Any]], pairs: pd.DataFrame
) -> dict[str, Callable[[], Any]]:
    """Map the partitions of ``xview2_target_masks`` to the pairs' damage targets.

    Partition ids are ``<split>/<split>_damage_<mask id>_target``
    (:func:`~xview3_pipeline.core.xview2.masks.target_name`), with or without ``.png``.

    Args:
        partitions: ``{partition id: load}`` as a partitioned dataset loads it.
        pairs: Pair index rows (``pair_id``, ``split``).

    Returns:
        ``{pair_id: load}`` for every row of ``pairs``.

    Raises:
        KeyError: A pair has no damage partition (names the pairs and the ids expected).
    """
    out: dict[str, Callable[[], Any]] = {}
    missing: list[str] = []
    for split, pair_id in zip(
        pairs["split"].astype(str), pairs["pair_id"].astype(str), strict=True
    ):
        name = target_name(split, "damage", pair_id)
        load = partitions.get(name, partitions.get(f"{name}.png"))
        if load is None:
            missing.append(f"{pair_id} ({name})")
        else:
            out[pair_id] = load
    if missing:
        raise KeyError(
            f"{len(missing)} pair(s) have no damage target among {len(partitions)} partitions: "
            f"{', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}."
        )
    return out


def _pad(
    pre: NDArray[np.uint8],
    post: NDArray[np.uint8],
    mask: NDArray[np.uint8],
    height: int,
    width: int,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
    """Pad at the bottom and right to at least ``height`` x ``width`` (images 0, mask 255)."""
    dh, dw = max(0, height - mask.shape[0]), max(0, width - mask.shape[1])
    if dh == 0 and dw == 0:
        return pre, post, mask
    image_pad = ((0, dh), (0, dw), (0, 0))
    return (
        np.pad(pre, image_pad),
        np.pad(post, image_pad),
        np.pad(mask, image_pad[:2], constant_values=IGNORE_INDEX),
    )


class Xview2PairDataset(Dataset[dict[str, Any]]):
    """Pre/post image pairs and their damage targets (see the module docstring).

    Args:
        pairs: Rows of the pair index (:data:`PAIR_COLUMNS`; paths relative to
            ``raw_root``).
        raw_root: Root of the images.
        damage_masks: ``pair_id -> load``, ``load()`` giving the ``(H, W)`` uint8 damage
            target (0..4; a numpy array or a PIL image), or None when there are no targets
            (every mask pixel is then 255).
        transform: Called as ``transform(pre, post, mask, seed=...)`` on uint8 arrays
            (:class:`~xview3_pipeline.core.xview2.augmentations.PairTransform`), or None.
        crop_size: Side of the training crops, a multiple of 32, or None for evaluation
            (whole images padded to a multiple of 32).
        seed: Base seed: item ``i`` of epoch ``e`` is fully determined by
            ``(seed, e, i)`` (augmentation and crop position), whatever the worker.

    Raises:
        ValueError: Missing columns, duplicate pair ids, or a ``crop_size`` that is not a
            positive multiple of 32.
        KeyError: A pair has no entry in ``damage_masks``.
    """

    def __init__(
        self,
        pairs: pd.DataFrame,
        raw_root: str | Path,
        damage_masks: Mapping[str, MaskLoader] | None,
        transform: PairTransformFn | None = None,
        crop_size: int | None = None,
        *,
        seed: int = 0,
    ) -> None:
        missing = [c for c in PAIR_COLUMNS if c not in pairs.columns]
        if missing:
            raise ValueError(
                f"Pair index lacks column(s) {missing}; expected {list(PAIR_COLUMNS)}."
            )
        duplicated = pairs["pair_id"][pairs["pair_id"].duplicated()].astype(str).tolist()
        if duplicated:
            raise ValueError(f"Pair index has duplicate pair ids: {duplicated[:5]}.")
        if crop_size is not None and (
            isinstance(crop_size, bool)
            or not isinstance(crop_size, int)
            or crop_size <= 0
            or crop_size % PAD_MULTIPLE
        ):
            raise ValueError(
                f"crop_size must be a positive multiple of {PAD_MULTIPLE} or None, got {crop_size!r}."
            )
        self.pairs = pairs.reset_index(drop=True)
        self.raw_root = Path(raw_root)
        if damage_masks is not None:
            lacking = [p for p in self.pairs["pair_id"].astype(str) if p not in damage_masks]
            if lacking:
                raise KeyError(
                    f"{len(lacking)} pair(s) have no damage mask loader: {lacking[:5]}"
                    f"{' ...' if len(lacking) > 5 else ''}."
                )
        self.damage_masks = damage_masks
        self.transform = transform
        self.crop_size = crop_size
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (changes the augmentation draws and crop positions)."""
        self.epoch = int(epoch)

    def _item_seed(self, index: int) -> int:
        state = np.random.SeedSequence((self.seed, self.epoch, int(index))).generate_state(1)
        return int(state[0])

    def _load_mask(self, pair_id: str, height: int, width: int) -> NDArray[np.uint8]:
        if self.damage_masks is None:
            return np.full((height, width), IGNORE_INDEX, dtype=np.uint8)
        loaded = self.damage_masks[pair_id]()
        mask = np.asarray(loaded)
        if mask.shape != (height, width):
            raise XView2MaskError(
                f"Damage mask of pair {pair_id} is {mask.shape} but its images are "
                f"{(height, width)} (H, W)."
            )
        if not np.issubdtype(mask.dtype, np.integer):
            raise XView2MaskError(
                f"Damage mask of pair {pair_id} must be integer, got {mask.dtype}."
            )
        bad = ((mask > 4) & (mask != IGNORE_INDEX)) | (mask < 0)
        if bad.any():
            values = np.unique(mask[bad])[:5].tolist()
            raise XView2MaskError(
                f"Damage mask of pair {pair_id} has values {values}; expected 0..4 or 255."
            )
        return mask.astype(np.uint8)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """The item of pair ``index`` (see the module docstring for the keys)."""
        if not 0 <= index < len(self.pairs):
            raise IndexError(f"Index {index} out of range for {len(self.pairs)} pairs.")
        row = self.pairs.iloc[index]
        pair_id = str(row["pair_id"])
        pre, post = read_pair(self.raw_root, row)
        height, width = pre.shape[:2]
        if (height, width) != (int(row["height"]), int(row["width"])):
            raise SceneGeometryError(
                f"Pair {pair_id}: the index says {int(row['height'])}x{int(row['width'])} "
                f"(HxW) but {self.raw_root / str(row['pre_image'])} is {height}x{width}."
            )
        mask = self._load_mask(pair_id, height, width)
        seed = self._item_seed(index)
        if self.transform is not None:
            pre, post, mask = self.transform(pre, post, mask, seed=seed)
        item: dict[str, Any] = {"pair_id": pair_id}
        if self.crop_size is not None:
            size = self.crop_size
            pre, post, mask = _pad(pre, post, mask, size, size)
            rng = np.random.default_rng(seed)
            r0 = int(rng.integers(0, mask.shape[0] - size + 1))
            c0 = int(rng.integers(0, mask.shape[1] - size + 1))
            window = (slice(r0, r0 + size), slice(c0, c0 + size))
            pre, post, mask = pre[window], post[window], mask[window]
        else:
            h, w = mask.shape
            padded_h, padded_w = (-(-n // PAD_MULTIPLE) * PAD_MULTIPLE for n in (h, w))
            pre, post, mask = _pad(pre, post, mask, padded_h, padded_w)
            item["height"], item["width"] = int(h), int(w)
        item["image"] = normalize_pair(np.ascontiguousarray(pre), np.ascontiguousarray(post))
        item["mask"] = torch.from_numpy(np.ascontiguousarray(mask).astype(np.int64))
        return item
