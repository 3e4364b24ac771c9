"""timm feature encoders with an ``in_channels``-channel stem and local-only weights.

timm is used directly (``features_only=True``) rather than through smp's ``tu-`` encoders:
the winner used timm features at strides 4-32 only (smp adds stride-1 and stride-2 maps the
decoder never reads), and timm/smp adapt a 3-channel stem to 2 channels by repeating and
rescaling it by 3/2, whereas the winner kept the first two input slices unchanged
(:func:`adapt_input_channels`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import timm
import torch
from timm.models import FeatureInfo
from torch import nn

logger = logging.getLogger(__name__)

#: timm feature indices and their strides with respect to the input.
FEATURE_INDICES = (1, 2, 3, 4)
FEATURE_STRIDES = (4, 8, 16, 32)


def adapt_input_channels(
    state_dict: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Fit a pretrained state dict to a model with fewer input channels.

    Every 4-D weight whose shape differs from the model's only in dimension 1 (input
    channels) and has at least as many input channels keeps its first slices, e.g. a
    3-channel RGB stem ``(C, 3, k, k)`` becomes ``(C, 2, k, k)`` for ``[VH, VV]`` input,
    without rescaling (as ``make_n_channel_input`` of pytorch-toolbelt did for the winner).

    Args:
        state_dict: Pretrained tensors by name.
        reference: The target model's ``state_dict()``.

    Returns:
        A new dict with the input-channel slices taken; other tensors are unchanged.

    Raises:
        ValueError: If a shared tensor differs otherwise, naming it and both shapes.
    """
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state_dict.items():
        target = reference.get(name)
        if target is not None and tensor.shape != target.shape:
            fits = (
                tensor.ndim == 4
                and target.ndim == 4
                and tensor.shape[0] == target.shape[0]
                and tensor.shape[2:] == target.shape[2:]
                and tensor.shape[1] >= target.shape[1]
            )
            if not fits:
                raise ValueError(
                    f"Pretrained tensor {name!r} has shape {tuple(tensor.shape)}, the model "
                    f"expects {tuple(target.shape)}; is the weights file for this encoder?"
                )
            logger.info(
                "Keeping the first %d of %d input channels of %r.",
                target.shape[1],
                tensor.shape[1],
                name,
            )
            out[name] = tensor[:, : target.shape[1]].clone()
        else:
            out[name] = tensor
    return out


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a local state dict with ``torch.load(weights_only=True)``.

    A checkpoint mapping with a ``state_dict`` or ``model`` entry is unwrapped.

    Args:
        path: Local file written by ``torch.save``.

    Returns:
        Tensors by name.

    Raises:
        FileNotFoundError: If the file does not exist (no weights are downloaded).
        ValueError: If the file holds no mapping of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Encoder weights file {str(path)!r} does not exist. Weights are never "
            "downloaded: save a timm state dict there (torch.save(model.state_dict(), path)) "
            "or set encoder_weights to None for a random initialisation."
        )
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{str(path)!r} does not hold a state dict (a mapping of tensors).")
    return dict(obj)


class TimmEncoder(nn.Module):
    """A timm backbone returning its feature maps at strides 4, 8, 16 and 32.

    Args:
        name: timm model name (``timm.list_models()``), e.g. ``tf_efficientnet_b4``.
        in_channels: Input channels (2 for ``[VH, VV]``).
        drop_rate: timm ``drop_rate`` (classifier dropout; unused by feature extractors).
        drop_path_rate: Stochastic depth rate.
        weights: ``None`` or a local state dict file of the timm model (see
            :func:`load_state_dict_file`); the classifier tensors in it are dropped.

    Raises:
        ValueError: If timm does not know ``name`` or its features are not at strides
            4, 8, 16, 32.
    """

    def __init__(
        self,
        name: str,
        in_channels: int = 2,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        weights: str | Path | None = None,
    ) -> None:
        super().__init__()
        if not timm.is_model(name):
            raise ValueError(
                f"Unknown timm encoder {name!r}; list candidates with "
                f"timm.list_models('*{name.split('_', maxsplit=1)[0]}*')."
            )
        self.name = name
        self.model = timm.create_model(
            name,
            pretrained=False,
            features_only=True,
            out_indices=FEATURE_INDICES,
            in_chans=in_channels,
            drop_rate=drop_rate,
            drop_path_rate=drop_path_rate,
        )
        feature_info = self.model.feature_info
        if not isinstance(feature_info, FeatureInfo):
            raise TypeError(f"timm gave {name!r} no FeatureInfo with features_only=True.")
        strides = tuple(feature_info.reduction())
        if strides != FEATURE_STRIDES:
            raise ValueError(
                f"Encoder {name!r} gives features at strides {strides} for indices "
                f"{FEATURE_INDICES}; CircleNet needs {FEATURE_STRIDES}."
            )
        self.out_channels: tuple[int, ...] = tuple(feature_info.channels())
        self.strides: tuple[int, ...] = FEATURE_STRIDES
        if weights is not None:
            self.load_pretrained(weights)

    def load_pretrained(self, path: str | Path) -> None:
        """Load a local timm state dict, slicing the stem to ``in_channels``.

        Args:
            path: File written by ``torch.save(model.state_dict(), path)`` for the full
                timm model (classifier tensors are ignored) or its features-only variant.

        Raises:
            FileNotFoundError: If the file does not exist.
            ValueError: If a tensor's shape does not fit (see :func:`adapt_input_channels`).
            RuntimeError: If encoder tensors are missing from the file, or it has tensors
                that the timm model does not have.
        """
        # Keys of a features-only timm model are those of the full model, minus the head;
        # the head's keys come from a parameter-free copy of the full model on "meta".
        own = self.model.state_dict()
        state = adapt_input_channels(load_state_dict_file(path), own)
        missing = sorted(set(own) - set(state))
        if missing:
            raise RuntimeError(
                f"Weights file {str(path)!r} lacks {len(missing)} tensor(s) of encoder "
                f"{self.name!r} (e.g. {missing[:3]}); is it a state dict of that model?"
            )
        dropped = sorted(set(state) - set(own))
        with torch.device("meta"):
            full = set(timm.create_model(self.name, pretrained=False).state_dict())
        foreign = [k for k in dropped if k not in full]
        if foreign:
            raise RuntimeError(
                f"Weights file {str(path)!r} has {len(foreign)} tensor(s) not part of "
                f"{self.name!r} (e.g. {foreign[:3]}); is it a state dict of another model?"
            )
        self.model.load_state_dict({k: v for k, v in state.items() if k in own})
        logger.info(
            "Loaded %s weights from %s (%d tensors, %d unused: %s).",
            self.name,
            path,
            len(own),
            len(dropped),
            dropped[:5],
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps of ``x``.

        Args:
            x: ``(B, in_channels, H, W)`` input, ``H`` and ``W`` multiples of 32.

        Returns:
            Four maps ``(B, out_channels[i], H / s, W / s)`` for ``s`` = 4, 8, 16, 32.
        """
        return list(self.model(x))
