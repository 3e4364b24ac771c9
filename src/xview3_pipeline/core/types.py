"""Named containers passed between the coder, the model, the losses and the decoder.

Coordinates are ``(x, y) = (column, row)`` in pixels of the 10 m VV/VH grid unless a name
says otherwise; maps at output stride ``s`` have shape ``(H / s, W / s)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

#: Target value of pixels the losses ignore (unknown labels, LOW-confidence discs).
IGNORE_INDEX = 255
#: Integer codes of the confidence levels.
CONFIDENCE_CODES = {"LOW": 0, "MEDIUM": 1, "HIGH": 2}


@dataclass(frozen=True)
class ObjectLabels:
    """Labels of the objects of one scene or crop, as arrays of length ``N``.

    Attributes:
        centers: ``(N, 2)`` float32 ``(x, y)`` object centres in pixels of the image the
            labels belong to (``detect_scene_column``, ``detect_scene_row`` for a scene).
        is_vessel: ``(N,)`` float32, 1 or 0, NaN when unknown.
        is_fishing: ``(N,)`` float32, 1 or 0, NaN when unknown.
        length_px: ``(N,)`` float32 length in pixels (metres / 10), NaN when unknown.
        confidence: ``(N,)`` int8 codes of :data:`CONFIDENCE_CODES` (LOW 0, MEDIUM 1, HIGH 2).
        near_shore: ``(N,)`` bool, ``distance_from_shore_km <= 2``.
        ignore: ``(N,)`` bool, objects whose label is not trusted (the labels table's
            ``ignore`` column, e.g. unconfirmed rows of cleaned train labels): an ignore
            region for objectness and no class or length signal, whatever their
            confidence. ``None`` (the default) means no object is ignored.
    """

    centers: np.ndarray
    is_vessel: np.ndarray
    is_fishing: np.ndarray
    length_px: np.ndarray
    confidence: np.ndarray
    near_shore: np.ndarray
    ignore: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = int(np.asarray(self.centers).reshape(-1, 2).shape[0])
        ignore = np.zeros(n, bool) if self.ignore is None else np.asarray(self.ignore, bool)
        if ignore.shape != (n,):
            raise ValueError(
                f"ObjectLabels.ignore must have shape ({n},) like the centres, got {ignore.shape}."
            )
        object.__setattr__(self, "ignore", ignore)

    def __len__(self) -> int:
        return int(self.centers.shape[0])

    @property
    def ignored(self) -> np.ndarray:
        """``(N,)`` bool ``ignore`` flags (never ``None``: all False by default)."""
        return np.asarray(self.ignore, dtype=bool)

    def subset(self, index: np.ndarray) -> ObjectLabels:
        """The objects selected by a boolean mask or integer index."""
        return ObjectLabels(
            centers=self.centers[index],
            is_vessel=self.is_vessel[index],
            is_fishing=self.is_fishing[index],
            length_px=self.length_px[index],
            confidence=self.confidence[index],
            near_shore=self.near_shore[index],
            ignore=self.ignored[index],
        )

    def shifted(self, dx: float, dy: float) -> ObjectLabels:
        """The same objects with centres moved by ``(dx, dy)`` pixels (e.g. into a crop)."""
        offset = np.asarray([dx, dy], dtype=np.float32)
        return ObjectLabels(
            self.centers + offset,
            self.is_vessel,
            self.is_fishing,
            self.length_px,
            self.confidence,
            self.near_shore,
            self.ignored,
        )

    @classmethod
    def empty(cls) -> ObjectLabels:
        """No objects."""
        f = np.zeros(0, dtype=np.float32)
        return cls(
            np.zeros((0, 2), np.float32),
            f,
            f.copy(),
            f.copy(),
            np.zeros(0, np.int8),
            np.zeros(0, bool),
            np.zeros(0, bool),
        )


class EncodedTargets(NamedTuple):
    """Dense training targets at output stride ``s``, ``(C, H/s, W/s)`` per image.

    The coder fills the fields with numpy arrays of one image; a collated batch holds
    ``(B, C, h, w)`` tensors in the same fields.

    Attributes:
        objectness: ``(1, h, w)`` float32 Gaussian heatmap, peak 1 at object centres;
            :data:`IGNORE_INDEX` on the discs of ignored objects (``ignore`` rows, and
            LOW-confidence ones when those are ignored).
        vessel: ``(1, h, w)`` float32, 0/1 on discs around objects, :data:`IGNORE_INDEX`
            where unknown, 0 elsewhere.
        fishing: ``(1, h, w)`` float32, as ``vessel``.
        length: ``(1, h, w)`` float32 ``log(1 + length_px)`` on discs, 0 where unknown.
        offset: ``(2, h, w)`` float32 sub-pixel ``(dx, dy)`` in [0, 1) at peaks, 0 elsewhere.
    """

    objectness: np.ndarray | torch.Tensor
    vessel: np.ndarray | torch.Tensor
    fishing: np.ndarray | torch.Tensor
    length: np.ndarray | torch.Tensor
    offset: np.ndarray | torch.Tensor


class CircleNetOutputs(NamedTuple):
    """Raw outputs of a CircleNet, all ``(B, C, H/s, W/s)`` at output stride ``s``.

    Attributes:
        objectness: ``(B, 1, h, w)`` logits.
        vessel: ``(B, 1, h, w)`` logits.
        fishing: ``(B, 1, h, w)`` logits.
        length: ``(B, 1, h, w)`` predicted ``log(1 + length_px)`` (non-negative, Softplus).
        offset: ``(B, 2, h, w)`` sub-pixel offsets ``(dx, dy)`` in [0, 1].
    """

    objectness: torch.Tensor
    vessel: torch.Tensor
    fishing: torch.Tensor
    length: torch.Tensor
    offset: torch.Tensor


class Detections(NamedTuple):
    """Decoded candidates of a batch, top-K per image, sorted by objectness.

    Attributes:
        centers: ``(B, K, 2)`` float ``(x, y)`` in input pixels.
        objectness: ``(B, K)`` probability.
        vessel: ``(B, K)`` probability.
        fishing: ``(B, K)`` probability.
        length_m: ``(B, K)`` length in metres.
    """

    centers: torch.Tensor
    objectness: torch.Tensor
    vessel: torch.Tensor
    fishing: torch.Tensor
    length_m: torch.Tensor
