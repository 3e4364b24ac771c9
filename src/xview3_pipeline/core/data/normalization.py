"""SAR normalisations: calibrated backscatter in dB → network input.

Every normalisation works on numpy arrays and torch tensors, treats VH and VV alike and
keeps NaN (nodata) as NaN; non-finite pixels are zeroed later, after augmentation. All but
``centred`` are pure, element-wise functions of the dB value; ``centred`` first subtracts
each image's own background level, per channel, over the last two axes (a ``(2, H, W)``
training canvas or each tile of a ``(B, 2, T, T)`` inference batch).

Registered names (:data:`NORMALIZATIONS`):

* ``"sigmoid"`` (default): ``sigmoid((dB - midpoint) · temperature)`` with midpoint −20 dB
  and temperature 0.18 — the winner's ``SigmoidNormalization``, hard-coded in the winning
  Docker inference. −40 dB → 0.027, −30 → 0.142, −20 → 0.5, −10 → 0.858, 0 → 0.973.
* ``"divide"``: ``dB / scale`` with scale 50 — ``A.Normalize(mean=0, std=50)``, the Hydra
  default of the winner's training config (``configs/normalization/default.yaml``).
* ``"linear"``: ``(dB + offset) / scale`` with offset 40 and scale 15: −40 dB → 0,
  −25 dB → 1, 0 dB → 2.67; unclipped.
* ``"centred"``: ``sigmoid((dB - background - midpoint) · temperature)``, where
  ``background`` is the median dB of the image's channel (NaN ignored, read on every 4th
  row and column) and midpoint 3 dB: the sea maps to about 0.37 whatever the wind or the
  calibration, a target 10 dB above it to 0.78, 20 dB above to 0.95. The winner's sigmoid
  reads absolute dB, so a calibration offset or a windier sea shifts every input; this one
  reads contrast to the local background, as a CFAR does. Tiles of a mostly-land window
  are centred on land.

Example:
    >>> norm = build_normalization("sigmoid")
    >>> round(float(norm(np.float32(-20.0))), 3)
    0.5
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
import torch

__all__ = [
    "DEFAULT_NORMALIZATION",
    "NORMALIZATIONS",
    "CentredSigmoidNormalization",
    "DivideNormalization",
    "LinearNormalization",
    "Normalization",
    "SigmoidNormalization",
    "build_normalization",
    "image_background_db",
    "sigmoid_normalize",
]

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

#: Name of the normalisation used by the winning submission.
DEFAULT_NORMALIZATION = "sigmoid"


@runtime_checkable
class Normalization(Protocol):
    """An element-wise map from dB to network input, for numpy arrays and torch tensors."""

    def __call__(self, db: ArrayT) -> ArrayT:
        """Normalise ``db`` (any shape, dB, NaN for nodata); returns the same type and shape."""
        ...


def sigmoid_normalize(db: ArrayT, midpoint: float = -20.0, temperature: float = 0.18) -> ArrayT:
    """``sigmoid((db - midpoint) · temperature)``, element-wise.

    Args:
        db: Backscatter in dB, any shape (e.g. ``(2, H, W)``), numpy or torch; NaN stays NaN.
        midpoint: dB value mapped to 0.5.
        temperature: Slope in 1/dB.

    Returns:
        Values in (0, 1), same type, shape and (floating) dtype as ``db``.
    """
    if isinstance(db, torch.Tensor):
        return torch.sigmoid((db - midpoint) * temperature)
    arr = np.asarray(db)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    z = (arr - arr.dtype.type(midpoint)) * arr.dtype.type(temperature)
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-z))).astype(arr.dtype, copy=False)


@dataclass(frozen=True)
class SigmoidNormalization:
    """The winner's sigmoid normalisation (default); see :func:`sigmoid_normalize`.

    Attributes:
        midpoint: dB value mapped to 0.5 (−20 dB).
        temperature: Slope in 1/dB (0.18).
    """

    midpoint: float = -20.0
    temperature: float = 0.18

    def __call__(self, db: ArrayT) -> ArrayT:
        """Normalise ``db`` (any shape, dB); returns the same type and shape."""
        return sigmoid_normalize(db, self.midpoint, self.temperature)


@dataclass(frozen=True)
class DivideNormalization:
    """``dB / scale`` (the winner's Hydra default, ``A.Normalize(mean=0, std=50)``).

    Attributes:
        scale: Divisor in dB (50): −50 dB → −1, 0 dB → 0.
    """

    scale: float = 50.0

    def __call__(self, db: ArrayT) -> ArrayT:
        """Normalise ``db`` (any shape, dB); returns the same type and shape."""
        return db / self.scale


@dataclass(frozen=True)
class LinearNormalization:
    """``(dB + offset) / scale``, unclipped.

    Attributes:
        offset: Added to the dB value (40): −40 dB → 0.
        scale: Divisor in dB (15): −25 dB → 1.
    """

    offset: float = 40.0
    scale: float = 15.0

    def __call__(self, db: ArrayT) -> ArrayT:
        """Normalise ``db`` (any shape, dB); returns the same type and shape."""
        return (db + self.offset) / self.scale


def image_background_db(db: ArrayT, subsample: int = 4) -> ArrayT:
    """Median dB of each image and channel over its last two axes, NaN ignored.

    Args:
        db: Backscatter in dB, ``(..., H, W)`` (e.g. ``(2, H, W)`` or ``(B, 2, T, T)``), numpy
            or torch; NaN marks nodata.
        subsample: Read every ``subsample``-th row and column (1: every pixel).

    Returns:
        ``(..., 1, 1)`` medians, same type and dtype; NaN where an image channel is all NaN.
    """
    if subsample < 1:
        raise ValueError(f"subsample must be >= 1, got {subsample}.")
    grid = db[..., ::subsample, ::subsample]
    if isinstance(grid, torch.Tensor):
        flat = grid.reshape(*grid.shape[:-2], -1)
        # nanquantile interpolates as numpy's median does (nanmedian takes the lower value).
        return torch.nanquantile(flat, 0.5, dim=-1)[..., None, None]
    arr = np.asarray(grid)
    flat = arr.reshape(*arr.shape[:-2], -1)
    with warnings.catch_warnings():  # all-NaN tiles (outside the swath) give NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(flat, axis=-1)
    return np.asarray(med, dtype=arr.dtype)[..., None, None]


@dataclass(frozen=True)
class CentredSigmoidNormalization:
    """Sigmoid of the contrast to each image's own background (see the module docstring).

    Attributes:
        midpoint: Contrast in dB above the background mapped to 0.5 (3 dB).
        temperature: Slope in 1/dB (0.18, the winner's).
        subsample: Row/column step of the background median (4).
    """

    midpoint: float = 3.0
    temperature: float = 0.18
    subsample: int = 4

    def __call__(self, db: ArrayT) -> ArrayT:
        """Normalise ``(..., H, W)`` dB images; returns the same type and shape.

        Raises:
            ValueError: If ``db`` has fewer than two axes.
        """
        if db.ndim < 2:
            raise ValueError(
                f"The centred normalisation needs images (..., H, W), got shape {tuple(db.shape)}."
            )
        if not isinstance(db, torch.Tensor):
            db = np.asarray(db)
            if not np.issubdtype(db.dtype, np.floating):
                db = db.astype(np.float32)
        background = image_background_db(db, self.subsample)
        return sigmoid_normalize(db - background, self.midpoint, self.temperature)


#: Registered normalisations by name.
NORMALIZATIONS: Mapping[str, type] = {
    "sigmoid": SigmoidNormalization,
    "divide": DivideNormalization,
    "linear": LinearNormalization,
    "centred": CentredSigmoidNormalization,
}


def build_normalization(name: str = DEFAULT_NORMALIZATION, **params: Any) -> Normalization:
    """Build a registered normalisation by name.

    Args:
        name: One of :data:`NORMALIZATIONS` (``"sigmoid"``, ``"divide"``, ``"linear"``,
            ``"centred"``).
        **params: Fields of that normalisation (e.g. ``midpoint=-20, temperature=0.18``).

    Returns:
        A picklable callable mapping dB arrays/tensors to network input.

    Raises:
        KeyError: If ``name`` is not registered (the message lists the options).
        ValueError: If ``params`` holds a field the normalisation does not have.
    """
    if name not in NORMALIZATIONS:
        raise KeyError(f"Unknown normalization {name!r}; available: {sorted(NORMALIZATIONS)}.")
    cls = NORMALIZATIONS[name]
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(
            f"Normalization {name!r} has no parameter(s) {unknown}; expected some of "
            f"{sorted(allowed)}."
        )
    return cls(**params)
