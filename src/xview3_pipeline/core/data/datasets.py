"""Torch datasets of CircleNet training crops and validation tiles (torchgeo style).

Each item is a ``dict``:

* ``image``: ``(2, S, S)`` float32 tensor, channels ``[VH, VV]``, normalised, finite (NaN
  from nodata, the scene border and augmentation fill set to 0 *after* augmentation);
* ``objectness``, ``vessel``, ``fishing``, ``length``: ``(1, S/s, S/s)`` float32 tensors
  and ``offset``: ``(2, S/s, S/s)`` (see :class:`~xview3_pipeline.core.types.EncodedTargets`);
* ``sample_weight``: float32 scalar tensor (the fold table's ``sample_weight``: 1.0 for
  validation.csv scenes, lower for train.csv scenes);
* ``scene_id`` (str), ``row0``, ``col0`` (int): the crop origin in scene pixels.

**Margin.** The coder skips objects whose centre is outside its image, yet an object just
outside a crop has a kernel (objectness radius 3 output px = 6 input px) that reaches into
it; dropping it would teach the network to call its visible tail background. So each item
reads a *canvas* of ``S + 2·margin`` pixels around the crop, augments the canvas with all
the objects on it, encodes the targets on the canvas and cuts the central ``S × S`` image
and ``S/s × S/s`` maps. Objects in the margin contribute their kernel tails but no peak.
``margin`` (default 8) must be a multiple of the stride; 8 covers radius-3 kernels at
stride 2.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from xview3_pipeline.core.data.augmentations import SarAugmentation, build_augmentations
from xview3_pipeline.core.data.normalization import Normalization, build_normalization
from xview3_pipeline.core.data.sampler import BalancedCropSampler, SamplerConfig, SceneEntry
from xview3_pipeline.core.data.scene_reader import MultiSceneReader
from xview3_pipeline.core.data.scene_tables import (
    ShorelineSource,
    check_scene_table,
    fold_scenes,
    objects_by_scene,
    shoreline_points_by_scene,
)
from xview3_pipeline.core.encoding import labels_to_objects
from xview3_pipeline.core.types import EncodedTargets, ObjectLabels

__all__ = [
    "TARGET_KEYS",
    "CircleNetCropDataset",
    "CircleNetTileDataset",
    "TargetEncoder",
    "fold_scenes",
    "objects_by_scene",
]

logger = logging.getLogger(__name__)

#: Target map keys of every item, in :class:`EncodedTargets` order.
TARGET_KEYS: tuple[str, ...] = EncodedTargets._fields


@runtime_checkable
class TargetEncoder(Protocol):
    """What the datasets need of a coder (e.g. ``CircleNetCoder``)."""

    @property
    def stride(self) -> int:
        """Output stride ``s``."""
        ...

    def encode(self, objects: ObjectLabels, image_shape: tuple[int, int]) -> EncodedTargets:
        """``(C, ceil(H/s), ceil(W/s))`` targets of objects on an ``(H, W)`` image."""
        ...


class _CircleNetDatasetBase(Dataset[dict[str, Any]]):
    """Shared reading, augmentation, normalisation and encoding of a window."""

    def __init__(
        self,
        scenes: pd.DataFrame,
        labels: pd.DataFrame,
        *,
        coder: TargetEncoder,
        normalization: Normalization | str,
        augmentations: SarAugmentation | str | None,
        margin: int,
        max_open_scenes: int,
        to_objects: Callable[[pd.DataFrame], ObjectLabels],
    ) -> None:
        self.scenes = check_scene_table(scenes)
        self.coder = coder
        stride = int(coder.stride)
        if margin < 0 or margin % stride:
            raise ValueError(
                f"margin must be a non-negative multiple of the stride {stride}, got {margin}."
            )
        self.margin = int(margin)
        self.normalization = (
            build_normalization(normalization) if isinstance(normalization, str) else normalization
        )
        if augmentations is None or isinstance(augmentations, str):
            augmentations = build_augmentations(augmentations or "none")
        self.augmentations = augmentations
        ids = [str(s) for s in self.scenes["scene_id"]]
        self.objects = objects_by_scene(labels, ids, to_objects)
        self.sample_weights = dict(
            zip(ids, self.scenes["sample_weight"].astype(float), strict=True)
        )
        self.reader = MultiSceneReader(
            {
                str(r.scene_id): (str(r.vh_path), str(r.vv_path))
                for r in self.scenes.itertuples(index=False)
            },
            max_open=max_open_scenes,
        )
        self.seed = 0
        self.epoch = 0

    def _read_canvas(self, scene_id: str, row0: int, col0: int, size: int) -> np.ndarray:
        m = self.margin
        return self.reader.read(scene_id, row0 - m, col0 - m, size + 2 * m, size + 2 * m)

    def _augmentation_seed(self, index: int) -> int:
        state = np.random.SeedSequence((self.seed, self.epoch, int(index), 1)).generate_state(1)
        return int(state[0])

    def _make_sample(
        self, scene_id: str, row0: int, col0: int, *, size: int, canvas: np.ndarray, aug_seed: int
    ) -> dict[str, Any]:
        """Augment, normalise and encode a ``(2, S + 2m, S + 2m)`` dB canvas."""
        m, stride = self.margin, int(self.coder.stride)
        extent = size + 2 * m
        objects = self.objects[scene_id]
        x, y = objects.centers[:, 0], objects.centers[:, 1]
        x0, y0 = col0 - m, row0 - m
        on_canvas = (x >= x0) & (x < x0 + extent) & (y >= y0) & (y < y0 + extent)
        local = objects.subset(on_canvas).shifted(-x0, -y0)

        image = self.augmentations.apply_raw(canvas, aug_seed)
        image = np.asarray(self.normalization(image), dtype=np.float32)
        aug = self.augmentations.apply_joint(image, local.centers, local.length_px, aug_seed + 1)
        kept = local.subset(aug.index)
        local = ObjectLabels(
            centers=aug.centers,
            is_vessel=kept.is_vessel,
            is_fishing=kept.is_fishing,
            length_px=aug.length_px,
            confidence=kept.confidence,
            near_shore=kept.near_shore,
            ignore=kept.ignored,
        )
        crop = np.ascontiguousarray(aug.image[:, m : m + size, m : m + size])
        crop[~np.isfinite(crop)] = 0.0

        targets = self.coder.encode(local, (extent, extent))
        ms, ss = m // stride, size // stride
        sample: dict[str, Any] = {"image": torch.from_numpy(crop)}
        for key, value in zip(TARGET_KEYS, targets, strict=True):
            sample[key] = torch.from_numpy(
                np.ascontiguousarray(value[:, ms : ms + ss, ms : ms + ss])
            )
        sample["sample_weight"] = torch.tensor(self.sample_weights[scene_id], dtype=torch.float32)
        sample["scene_id"] = scene_id
        sample["row0"] = int(row0)
        sample["col0"] = int(col0)
        return sample

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (changes the augmentation draws)."""
        self.epoch = int(epoch)

    def close(self) -> None:
        """Close the raster handles opened by this process."""
        self.reader.close()


class CircleNetCropDataset(_CircleNetDatasetBase):
    """Random training crops: sampler → read → augment → normalise → encode.

    Item ``i`` of an epoch is fully determined by ``(seed, epoch, i)`` (crop placement by
    the sampler, augmentation by a derived seed), whatever the worker. Call
    :meth:`set_epoch` before each epoch (with ``persistent_workers=False`` the workers get
    the new epoch with their fresh copy of the dataset).

    Args:
        scenes: One row per training scene: ``scene_id``, ``vh_path``, ``vv_path``,
            ``width``, ``height`` and optionally ``sample_weight`` (default 1.0),
            ``split`` and ``shoreline_path``.
        labels: Validated labels (``scene_id``, ``detect_scene_row``/``_column``,
            ``is_vessel``, ``is_fishing``, ``vessel_length_m``, ``confidence``,
            ``is_near_shore``; optionally a bool ``ignore``: ignore regions for
            objectness without class or length signal, never crop centres); rows of
            other scenes are not used.
        shorelines: ``scene_id`` → shoreline contours (object array of ``(k, 2)`` (row,
            col)) or points, a loader ``scene_id -> contours``, or None to load the
            ``shoreline_path`` column (no shoreline crops when absent).
        sampler: A ready :class:`BalancedCropSampler` over the same scenes, or a
            :class:`SamplerConfig` (or None for the defaults) to build one from ``scenes``,
            ``labels`` and ``shorelines``.
        coder: The target encoder (``CircleNetCoder``).
        normalization: A normalisation or its registered name (default ``"sigmoid"``).
        augmentations: A :class:`SarAugmentation`, a preset name or None (no augmentation).
        crop_size: Crop side ``S`` in pixels, a multiple of the coder stride.
        length: Items per epoch.
        seed: Base seed (of the built sampler and of the augmentations).
        margin: Canvas margin in pixels, a multiple of the stride (module docstring).
        scene_weights: Column of ``scenes`` weighting the scene draw, or None (uniform,
            as the winner); only used when the sampler is built here.
        max_open_scenes: Scenes kept open per worker.
        to_objects: Conversion of label rows to objects (default: the coder's).

    Raises:
        ValueError: On a bad scene table, crop size, margin or length.
    """

    def __init__(
        self,
        scenes: pd.DataFrame,
        labels: pd.DataFrame,
        shorelines: ShorelineSource = None,
        sampler: BalancedCropSampler | SamplerConfig | None = None,
        coder: TargetEncoder | None = None,
        *,
        normalization: Normalization | str = "sigmoid",
        augmentations: SarAugmentation | str | None = "winner",
        crop_size: int = 768,
        length: int = 1024,
        seed: int = 42,
        margin: int = 8,
        scene_weights: str | None = None,
        max_open_scenes: int = 32,
        to_objects: Callable[[pd.DataFrame], ObjectLabels] = labels_to_objects,
    ) -> None:
        if coder is None:
            raise ValueError("CircleNetCropDataset needs a coder (e.g. CircleNetCoder()).")
        super().__init__(
            scenes,
            labels,
            coder=coder,
            normalization=normalization,
            augmentations=augmentations,
            margin=margin,
            max_open_scenes=max_open_scenes,
            to_objects=to_objects,
        )
        if crop_size <= 0 or crop_size % coder.stride:
            raise ValueError(
                f"crop_size must be a positive multiple of the stride {coder.stride}, got {crop_size}."
            )
        if length <= 0:
            raise ValueError(f"length must be positive, got {length}.")
        self.crop_size = int(crop_size)
        self.length = int(length)
        self.seed = int(seed)
        if not isinstance(sampler, BalancedCropSampler):
            points = shoreline_points_by_scene(self.scenes, shorelines)
            entries = [
                SceneEntry(
                    scene_id=str(r.scene_id),
                    height=int(r.height),
                    width=int(r.width),
                    objects=self.objects[str(r.scene_id)],
                    shoreline=points[str(r.scene_id)],
                )
                for r in self.scenes.itertuples(index=False)
            ]
            weights = None if scene_weights is None else self.scenes[scene_weights].to_numpy(float)
            sampler = BalancedCropSampler(entries, self.crop_size, sampler, weights, seed=self.seed)
        unknown = {s.scene_id for s in sampler.scenes} - set(self.sample_weights)
        if unknown:
            raise ValueError(
                f"The sampler draws scenes missing from the scene table: {sorted(unknown)[:5]}."
            )
        if sampler.crop_size != self.crop_size:
            raise ValueError(
                f"sampler.crop_size {sampler.crop_size} != crop_size {self.crop_size}."
            )
        self.sampler = sampler

    def __repr__(self) -> str:
        return (
            f"CircleNetCropDataset({len(self.scenes)} scenes, crop_size={self.crop_size}, "
            f"length={self.length}, augmentations={self.augmentations!r})"
        )

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch of the crops and the augmentations."""
        super().set_epoch(epoch)
        self.sampler.set_epoch(epoch)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """The training sample of item ``index`` (see the module docstring for the keys)."""
        if not 0 <= index < self.length:
            raise IndexError(f"Index {index} out of range for an epoch of {self.length} items.")
        size, m = self.crop_size, self.margin
        last: dict[str, Any] = {}

        def nodata_fraction(spec: Any) -> float:
            canvas = self._read_canvas(spec.scene_id, spec.row0, spec.col0, size)
            last["spec"], last["canvas"] = spec, canvas
            return float(np.isnan(canvas[:, m : m + size, m : m + size]).any(axis=0).mean())

        spec = self.sampler.sample(index, nodata_fraction)
        canvas = last["canvas"] if last.get("spec") == spec else None
        if canvas is None:
            canvas = self._read_canvas(spec.scene_id, spec.row0, spec.col0, size)
        return self._make_sample(
            spec.scene_id,
            spec.row0,
            spec.col0,
            size=size,
            canvas=canvas,
            aug_seed=self._augmentation_seed(index),
        )


class CircleNetTileDataset(_CircleNetDatasetBase):
    """Deterministic non-overlapping tiles of whole scenes, for validation loss and metric.

    Tiles start at multiples of ``tile_size`` from the top-left corner. Unlike the winner's code
    (``iterate_crops``), which skipped the last partial row and column of tiles, the last
    partial tiles are included, padded with NaN beyond the scene (0 in ``image``) so every
    tile has the same shape; every pixel of every scene is covered exactly once. No
    augmentation.

    Args:
        scenes: As :class:`CircleNetCropDataset` (``sample_weight`` optional).
        labels: As :class:`CircleNetCropDataset`.
        coder: The target encoder.
        normalization: A normalisation or its registered name.
        tile_size: Tile side in pixels, a multiple of the stride (the winner: 2048).
        margin: Canvas margin (module docstring).
        max_open_scenes: Scenes kept open per worker.
        to_objects: Conversion of label rows to objects.
    """

    def __init__(
        self,
        scenes: pd.DataFrame,
        labels: pd.DataFrame,
        coder: TargetEncoder,
        normalization: Normalization | str = "sigmoid",
        tile_size: int = 2048,
        *,
        margin: int = 8,
        max_open_scenes: int = 4,
        to_objects: Callable[[pd.DataFrame], ObjectLabels] = labels_to_objects,
    ) -> None:
        super().__init__(
            scenes,
            labels,
            coder=coder,
            normalization=normalization,
            augmentations=None,
            margin=margin,
            max_open_scenes=max_open_scenes,
            to_objects=to_objects,
        )
        if tile_size <= 0 or tile_size % coder.stride:
            raise ValueError(
                f"tile_size must be a positive multiple of the stride {coder.stride}, got {tile_size}."
            )
        self.tile_size = int(tile_size)
        self.tiles: list[tuple[str, int, int]] = [
            (str(r.scene_id), row0, col0)
            for r in self.scenes.itertuples(index=False)
            for row0 in range(0, int(r.height), self.tile_size)
            for col0 in range(0, int(r.width), self.tile_size)
        ]

    def __repr__(self) -> str:
        return f"CircleNetTileDataset({len(self.scenes)} scenes, {len(self.tiles)} tiles of {self.tile_size})"

    def __len__(self) -> int:
        return len(self.tiles)

    @staticmethod
    def tiles_per_scene(height: int, width: int, tile_size: int) -> int:
        """``ceil(H / t) · ceil(W / t)`` tiles of an ``H × W`` scene."""
        return math.ceil(height / tile_size) * math.ceil(width / tile_size)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Tile ``index`` (scenes in table order, tiles row-major)."""
        if not 0 <= index < len(self.tiles):
            raise IndexError(f"Index {index} out of range for {len(self.tiles)} tiles.")
        scene_id, row0, col0 = self.tiles[index]
        canvas = self._read_canvas(scene_id, row0, col0, self.tile_size)
        return self._make_sample(
            scene_id, row0, col0, size=self.tile_size, canvas=canvas, aug_seed=0
        )
