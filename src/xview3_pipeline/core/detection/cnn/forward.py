"""Model calls of scene inference: device, memory format, AMP, ``torch.compile``, checks.

Device agnostic: everything runs on the device of :meth:`InferenceConfig.resolve_device`.
On CUDA a batch arrives pinned (the prefetch thread pins it), crosses to the device once
(``non_blocking``), runs under autocast (``amp``, ``amp_dtype``) in ``channels_last``
(``channels_last``: the model's weights and the input), and the ``(B, 6, t, t)`` maps stay
on the device for blending and decoding. ``compile: true`` wraps the model in
``torch.compile`` once per model and device (cached; the first batches pay the
compilation, each new batch size may recompile once).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from xview3_pipeline.core.detection.cnn.blending import MAP_CHANNELS, N_MAPS
from xview3_pipeline.core.detection.cnn.config import AMP_DTYPES, InferenceConfig
from xview3_pipeline.core.types import CircleNetOutputs

__all__ = ["ModelFn", "NonFiniteOutputError", "check_finite", "forward", "prepare_model"]

#: A model: ``(B, 2, T, T)`` normalised tiles → the ensemble's 5-tuple of probability /
#: raw maps, or raw :class:`CircleNetOutputs` (logits; a sigmoid is applied).
ModelFn = Callable[[torch.Tensor], Any]

#: Compiled wrappers by model (and device): compiling again per scene would cost minutes.
_COMPILED: weakref.WeakKeyDictionary[Any, dict[str, ModelFn]] = weakref.WeakKeyDictionary()


class NonFiniteOutputError(ValueError):
    """The model produced NaN or infinite maps (corrupt weights or an overflow)."""


def _compiled(model_fn: ModelFn, device: torch.device) -> ModelFn:
    """``torch.compile(model_fn)``, built once per model and device."""
    try:
        per_device = _COMPILED.setdefault(model_fn, {})
    except TypeError:  # not weak-referenceable: compile without caching
        return torch.compile(model_fn)
    if str(device) not in per_device:
        per_device[str(device)] = torch.compile(model_fn)
    return per_device[str(device)]


def prepare_model(model_fn: ModelFn, config: InferenceConfig, device: torch.device) -> ModelFn:
    """Eval mode, device and memory format for modules; check exported tile shapes.

    Args:
        model_fn: An ``nn.Module`` (moved and converted in place), an exported ensemble
            (loaded on ``device``) or any callable.
        config: ``channels_last``, ``compile`` and the tile size.
        device: The device.

    Returns:
        What to call on the batches (the compiled module with ``compile``).

    Raises:
        ValueError: If an exported model takes tiles of another size.
    """
    meta = getattr(model_fn, "xview3_meta", None)
    if getattr(model_fn, "xview3_exported", False):
        shape = (meta or {}).get("input_shape")
        if shape and list(shape[1:]) != [config.tile_size, config.tile_size]:
            raise ValueError(
                f"The exported model takes tiles of {shape[1:]} pixels but "
                f"inference.tile_size={config.tile_size}; export it again or change tile_size."
            )
    elif isinstance(model_fn, nn.Module):
        model_fn.eval().to(device)
        if config.channels_last:
            model_fn.to(memory_format=torch.channels_last)
    return _compiled(model_fn, device) if config.compile else model_fn


def _to_maps(out: Any, batch: int, size: int) -> torch.Tensor:
    """``(B, 6, t, t)`` float32 maps (on the model's device) from a model output."""
    if isinstance(out, CircleNetOutputs):
        parts = [
            out.objectness.float().sigmoid(),
            out.vessel.float().sigmoid(),
            out.fishing.float().sigmoid(),
            out.length.float(),
            out.offset.float(),
        ]
    elif isinstance(out, (tuple, list)) and len(out) == 5:
        parts = [t.float() for t in out]
    else:
        raise TypeError(
            "The model must return CircleNetOutputs or a 5-tuple (objectness_prob, "
            f"vessel_prob, fishing_prob, length, offset); got {type(out).__name__}."
        )
    maps = torch.cat(parts, dim=1)
    if tuple(maps.shape) != (batch, N_MAPS, size, size):
        raise ValueError(
            f"Model output maps have shape {tuple(maps.shape)}; expected "
            f"({batch}, {N_MAPS}, {size}, {size}) for tiles at output stride."
        )
    return maps.contiguous()


def check_finite(maps: torch.Tensor, scene_id: str, row0: int, cols: Sequence[int], size: int):
    """Raise :class:`NonFiniteOutputError` naming the first tile with a NaN or inf."""
    finite = torch.isfinite(maps)
    if bool(finite.all()):
        return
    bad_tile = int((~finite).flatten(1).any(1).nonzero()[0, 0])
    bad = (~finite[bad_tile]).flatten(1).sum(1)
    channels = [f"{MAP_CHANNELS[c]} ({int(n)})" for c, n in enumerate(bad) if n]
    col0 = cols[bad_tile]
    raise NonFiniteOutputError(
        f"Scene {scene_id}: the model returned non-finite values for the tile at rows "
        f"{row0}-{row0 + size}, columns {col0}-{col0 + size}, in {', '.join(channels)}. "
        "The weights may be corrupt (check the checkpoint or exported ensemble)."
    )


def forward(
    model_fn: ModelFn, tiles: torch.Tensor, config: InferenceConfig, device: torch.device
) -> torch.Tensor:
    """Run one batch of normalised tiles ``(B, 2, T, T)`` → ``(B, 6, t, t)`` float32 maps.

    The tiles cross to the device once (``non_blocking``: pinned batches copy
    asynchronously); the maps stay on the device. Autocast (``amp``) runs on CUDA only:
    on CPU the model runs in float32.
    """
    x = tiles.to(device, non_blocking=True)
    if config.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    use_amp = config.amp and device.type == "cuda"
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=AMP_DTYPES[config.amp_dtype], enabled=use_amp),
    ):
        out = model_fn(x)
    return _to_maps(out, tiles.shape[0], config.tile_size // config.stride)
