"""Per-pixel class probabilities of an xView2 model, with test-time augmentation.

A model maps the normalised pair ``(B, 6, H, W)`` (pre RGB, post RGB) to logits
``(B, 5, H, W)``; :func:`predict_probabilities` returns the softmax ``(5, H, W)`` of one pair
of any size, averaged over the views of a test-time augmentation (TTA):

* ``none``: the image as it is.
* ``flip``: the four flips of the image (identity, horizontal, vertical, both), with
  ``flips="hv"`` (the default); ``flips="h"`` keeps identity and horizontal only, which is
  the winner's ``HFlipTTA`` (``xview/inference.py`` of BloodAxe/xView2-Solution).
* ``flipscale``: the flip views at each of several scales. The image is resized with
  bilinear interpolation (``align_corners=False``), predicted, and the softmax is resized
  back to ``(H, W)`` the same way; the scales weigh equally. This is the winner's
  ``MultiscaleTTA`` around ``HFlipTTA``; its offsets of -256, -128, +128, +256 px on 1024 px
  images are :data:`WINNER_SCALES` (with ``flips="h"``), the default here is
  ``(0.75, 1.0, 1.25)``.

As in the winner's ``activation_after="model"``, the softmax is taken per view and the
views are averaged. Every view is built from the unpadded image: it is flipped (and
resized), then padded at the bottom and right to a multiple of the model's
``input_multiple`` attribute (32 when absent), predicted, cropped back and un-flipped. The
flip average of a model is therefore equivariant, up to float rounding, to flipping its
input. The flip views of one scale go through the model as one batch. Reflect padding falls back to
replicate padding where the image is not larger than the padding (reflection needs that).

Per pair, the probabilities are stored by :mod:`xview3_pipeline.core.xview2.probabilities`
(its functions are re-exported here).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.xview2.probabilities import (
    N_CLASSES,
    Encoding,
    load_probabilities,
    probabilities_from_bytes,
    probabilities_to_bytes,
    save_probabilities,
)

logger = logging.getLogger(__name__)

__all__ = [
    "N_CLASSES",
    "WINNER_SCALES",
    "Encoding",
    "Flips",
    "Padding",
    "Tta",
    "Xview2InferenceConfig",
    "load_probabilities",
    "predict_dataset",
    "predict_probabilities",
    "probabilities_from_bytes",
    "probabilities_to_bytes",
    "save_probabilities",
]

Tta = Literal["none", "flip", "flipscale"]
Flips = Literal["hv", "h"]
Padding = Literal["reflect", "zero"]
#: Input channels: pre RGB then post RGB.
N_CHANNELS: Final = 6
#: The winner's multiscale TTA, as scales of a 1024 px image (offsets -256 ... +256 px).
WINNER_SCALES: Final[tuple[float, ...]] = (0.75, 0.875, 1.0, 1.125, 1.25)
DEFAULT_INPUT_MULTIPLE: Final = 32

#: Flip views as the spatial dims to flip (dims of a (B, C, H, W) tensor).
_FLIP_DIMS: Final[dict[str, tuple[tuple[int, ...], ...]]] = {
    "none": ((),),
    "h": ((), (3,)),
    "hv": ((), (3,), (2,), (2, 3)),
}


@dataclass(frozen=True)
class Xview2InferenceConfig:
    """Parameters of xView2 inference (``xview2.inference`` in the parameters).

    Attributes:
        tta: ``"none"``, ``"flip"`` or ``"flipscale"``.
        scales: Scales of ``"flipscale"`` (each > 0).
        flips: ``"hv"`` (four flips) or ``"h"`` (identity and horizontal, the winner's).
        padding: ``"reflect"`` or ``"zero"``.
        encoding: Storage of the probabilities, ``"float16"`` or ``"uint8"``.
    """

    tta: Tta = "flip"
    scales: tuple[float, ...] = (0.75, 1.0, 1.25)
    flips: Flips = "hv"
    padding: Padding = "reflect"
    encoding: Encoding = "float16"

    def __post_init__(self) -> None:
        for name, choices in (
            ("tta", Tta),
            ("flips", Flips),
            ("padding", Padding),
            ("encoding", Encoding),
        ):
            value = getattr(self, name)
            if value not in get_args(choices):
                raise ValueError(
                    f"Xview2InferenceConfig.{name} must be one of {get_args(choices)}, "
                    f"got {value!r}."
                )
        scales = tuple(float(s) for s in self.scales)
        if not scales or any(not np.isfinite(s) or s <= 0 for s in scales):
            raise ValueError(
                f"Xview2InferenceConfig.scales must be positive numbers, got {self.scales!r}."
            )
        object.__setattr__(self, "scales", scales)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> Xview2InferenceConfig:
        """Build from a parameters mapping (a list works for ``scales``).

        Raises:
            ValueError: Unknown keys (the message lists the valid ones) or bad values.
        """
        data = check_keys(cls, values, what="xview2.inference parameter")
        if "scales" in data:
            data["scales"] = tuple(data["scales"])
        return cls(**data)

    def predict_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`predict_probabilities` and :func:`predict_dataset`."""
        return {
            "tta": self.tta,
            "scales": self.scales,
            "flips": self.flips,
            "padding": self.padding,
        }


def _model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model without)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _pad(batch: torch.Tensor, multiple: int, padding: Padding) -> torch.Tensor:
    """Pad ``(B, C, H, W)`` at the bottom and right to multiples of ``multiple``."""
    height, width = batch.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h == 0 and pad_w == 0:
        return batch
    if padding == "zero":
        return F.pad(batch, (0, pad_w, 0, pad_h), mode="constant", value=0.0)
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(batch, (0, pad_w, 0, pad_h), mode=mode)


def _softmax_views(
    model: nn.Module, image: torch.Tensor, flip_dims: Sequence[tuple[int, ...]], padding: Padding
) -> torch.Tensor:
    """Mean softmax ``(5, h, w)`` over the flip views of ``image`` ``(6, h, w)``."""
    height, width = image.shape[-2:]
    multiple = int(getattr(model, "input_multiple", DEFAULT_INPUT_MULTIPLE))
    batch = image.unsqueeze(0)
    views = torch.cat([batch.flip(dims) if dims else batch for dims in flip_dims])
    logits = model(_pad(views, multiple, padding))
    if logits.ndim != 4 or logits.shape[:2] != (len(flip_dims), N_CLASSES):
        raise ValueError(
            f"The model must return logits (B, {N_CLASSES}, H, W); for a batch of "
            f"{len(flip_dims)} it returned shape {tuple(logits.shape)}."
        )
    probs = logits[..., :height, :width].float().softmax(dim=1)
    total = torch.zeros_like(probs[0])
    for index, dims in enumerate(flip_dims):
        view = probs[index : index + 1]
        total += (view.flip(dims) if dims else view)[0]
    return total / len(flip_dims)


def _check_image(image: torch.Tensor | NDArray[np.floating]) -> torch.Tensor:
    """The pair image as a float32 ``(6, H, W)`` tensor, or a ValueError naming the shape."""
    tensor = torch.as_tensor(image)
    if tensor.ndim != 3 or tensor.shape[0] != N_CHANNELS or min(tensor.shape[1:]) < 1:
        raise ValueError(
            f"The pair image must be a ({N_CHANNELS}, H, W) tensor, got shape "
            f"{tuple(tensor.shape)}."
        )
    if not torch.is_floating_point(tensor):
        raise ValueError(f"The pair image must be normalised floats, got dtype {tensor.dtype}.")
    return tensor.float()


def predict_probabilities(
    model: nn.Module,
    image: torch.Tensor | NDArray[np.floating],
    tta: Tta = "flip",
    *,
    scales: Sequence[float] = (0.75, 1.0, 1.25),
    flips: Flips = "hv",
    padding: Padding = "reflect",
) -> NDArray[np.float32]:
    """Softmax class probabilities of one image pair, averaged over the TTA views.

    The model runs in eval mode under ``torch.inference_mode()`` on its own device; its
    training mode is restored afterwards.

    Args:
        model: Maps ``(B, 6, H', W')`` to logits ``(B, 5, H', W')`` for ``H'``, ``W'``
            multiples of its ``input_multiple`` attribute (32 when absent).
        image: The normalised pair, ``(6, H, W)`` float, any ``H``, ``W`` >= 1.
        tta: ``"none"``, ``"flip"`` or ``"flipscale"`` (see the module docstring).
        scales: Scales of ``"flipscale"`` (each > 0); a scaled side is rounded and at
            least 1 px.
        flips: Flip views of ``"flip"`` and ``"flipscale"``: ``"hv"`` all four, ``"h"``
            identity and horizontal (the winner's).
        padding: ``"reflect"`` or ``"zero"`` padding up to the input multiple.

    Returns:
        Probabilities ``(5, H, W)`` float32; they sum to 1 over the classes.

    Raises:
        ValueError: Bad image shape or dtype, unknown ``tta``/``flips``/``padding``, a bad
            scale, or the model's output is not ``(B, 5, H', W')``.
    """
    for name, value, choices in (
        ("tta", tta, Tta),
        ("flips", flips, Flips),
        ("padding", padding, Padding),
    ):
        if value not in get_args(choices):
            raise ValueError(f"Unknown {name} {value!r}; expected one of {get_args(choices)}.")
    tensor = _check_image(image)
    if tta == "flipscale":
        if not scales or any(not np.isfinite(s) or s <= 0 for s in scales):
            raise ValueError(f"flipscale needs positive scales, got {tuple(scales)}.")
        used_scales: tuple[float, ...] = tuple(float(s) for s in scales)
    else:
        used_scales = (1.0,)
    flip_dims = _FLIP_DIMS["none" if tta == "none" else flips]
    height, width = tensor.shape[1:]
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            x = tensor.to(_model_device(model))
            total = torch.zeros((N_CLASSES, height, width), device=x.device)
            for scale in used_scales:
                size = (max(1, round(height * scale)), max(1, round(width * scale)))
                if size == (height, width):
                    total += _softmax_views(model, x, flip_dims, padding)
                    continue
                resized = F.interpolate(
                    x.unsqueeze(0), size=size, mode="bilinear", align_corners=False
                )[0]
                probs = _softmax_views(model, resized, flip_dims, padding)
                total += F.interpolate(
                    probs.unsqueeze(0), size=(height, width), mode="bilinear", align_corners=False
                )[0]
            result = (total / len(used_scales)).cpu().numpy()
    finally:
        model.train(was_training)
    return np.ascontiguousarray(result, dtype=np.float32)


def _items(dataset: Any) -> Iterator[Mapping[str, Any]]:
    """The items of a map-style dataset (``len`` + indexing) or of any iterable."""
    if hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__"):
        for index in range(len(dataset)):
            yield dataset[index]
    else:
        yield from dataset


def predict_dataset(
    model: nn.Module,
    dataset: Iterable[Mapping[str, Any]] | Any,
    tta: Tta = "flip",
    **kwargs: Any,
) -> Iterator[tuple[str, NDArray[np.float32], tuple[int, int]]]:
    """Predict every pair of an evaluation dataset, one pair at a time.

    An item is a mapping with ``"image"`` ``(6, h, w)`` (possibly padded at the bottom and
    right), ``"pair_id"`` and optionally ``"height"``/``"width"``, the size of the pair
    before padding (default: the image's size). The image is cropped to that size before
    prediction, so the dataset's padding takes no part in the flips.

    Args:
        model: See :func:`predict_probabilities`.
        dataset: A map-style dataset (``len`` and integer indexing, e.g.
            ``Xview2PairDataset(..., crop_size=None)``) or any iterable of items.
        tta: The TTA of :func:`predict_probabilities`.
        **kwargs: Further keyword arguments of :func:`predict_probabilities`.

    Yields:
        ``(pair_id, probabilities (5, height, width) float32, (height, width))``.

    Raises:
        KeyError: An item lacks ``"image"`` or ``"pair_id"``.
        ValueError: ``height``/``width`` outside ``1..`` the image's size (names the pair).
    """
    n_done = 0
    for item in _items(dataset):
        for key in ("image", "pair_id"):
            if key not in item:
                raise KeyError(f"Dataset item {n_done} has no {key!r}; keys: {sorted(item)}.")
        pair_id = str(item["pair_id"])
        image = torch.as_tensor(item["image"])
        full_h, full_w = int(image.shape[-2]), int(image.shape[-1])
        height = int(item.get("height", full_h))
        width = int(item.get("width", full_w))
        if not (1 <= height <= full_h and 1 <= width <= full_w):
            raise ValueError(
                f"Pair {pair_id}: height/width {height} x {width} must lie within the "
                f"image's {full_h} x {full_w}."
            )
        probs = predict_probabilities(model, image[..., :height, :width], tta, **kwargs)
        n_done += 1
        logger.debug("Predicted pair %s (%d x %d) with TTA %s.", pair_id, height, width, tta)
        yield pair_id, probs, (height, width)
    logger.info("Predicted %d pairs with TTA %s.", n_done, tta)
