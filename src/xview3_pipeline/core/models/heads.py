"""The decoupled CircleNet head: stride-4 features to stride-2 maps.

Re-implements ``DecoupledHeadGroupNormLateShuffle`` of the xView3 winner
(``centernet/models/heads/decoupled_head.py``): four GroupNorm branches, cross-gating of
the classifier and length branches, and a late ``PixelShuffle(2)`` in every output.
"""

from __future__ import annotations

import torch
from torch import nn

from xview3_pipeline.core.types import CircleNetOutputs

#: Initial biases of the output convolutions: sigmoid(-5) = 0.0067 objectness,
#: sigmoid(-1) = 0.27 vessel/fishing, Softplus(2) = 2.13 = log(1 + 7.4 px) length.
OBJECTNESS_BIAS = -5.0
CLASSIFIER_BIAS = -1.0
LENGTH_BIAS = 2.0


def build_branch(
    in_channels: int, dim: int, *, num_blocks: int = 3, num_groups: int = 16, dropout: float = 0.1
) -> nn.Sequential:
    """One head branch: ``(B, in_channels, h, w)`` -> ``(B, dim, h, w)``.

    1x1 conv (no bias) -> ``num_blocks`` x [3x3 conv (no bias) -> GroupNorm -> SiLU]
    -> Dropout2d -> 1x1 conv (no bias).

    Args:
        in_channels: Input channels.
        dim: Branch width; a multiple of ``num_groups``.
        num_blocks: Number of conv-norm-activation blocks.
        num_groups: GroupNorm groups.
        dropout: Dropout2d probability.

    Returns:
        The branch.
    """
    layers: list[nn.Module] = [nn.Conv2d(in_channels, dim, kernel_size=1, bias=False)]
    for _ in range(num_blocks):
        layers += [
            nn.Conv2d(dim, dim, kernel_size=3, padding=1, bias=False),
            nn.GroupNorm(num_groups, dim),
            nn.SiLU(inplace=True),
        ]
    layers += [nn.Dropout2d(dropout), nn.Conv2d(dim, dim, kernel_size=1, bias=False)]
    return nn.Sequential(*layers)


def build_late_shuffle(dim: int, out_channels: int, pre_conv: bool) -> nn.Sequential:
    """``[3x3 conv ->] PixelShuffle(2) -> 3x3 conv``: ``(B, dim, h, w)`` -> ``(B, out, 2h, 2w)``."""
    layers: list[nn.Module] = []
    if pre_conv:
        layers.append(nn.Conv2d(dim, dim, kernel_size=3, padding=1))
    layers += [nn.PixelShuffle(2), nn.Conv2d(dim // 4, out_channels, kernel_size=3, padding=1)]
    return nn.Sequential(*layers)


class CrossGate(nn.Module):
    """``x * sigmoid(conv1x1(modulation))``: one branch gates another."""

    def __init__(self, channels: int, modulation_channels: int) -> None:
        super().__init__()
        self.project = nn.Conv2d(modulation_channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor, modulation: torch.Tensor) -> torch.Tensor:
        """Gate ``x`` ``(B, channels, h, w)`` by ``modulation`` ``(B, modulation_channels, h, w)``."""
        return x * torch.sigmoid(self.project(modulation))


class DecoupledHeadGroupNormLateShuffle(nn.Module):
    """CircleNet head: objectness, vessel, fishing, length and offset at twice the resolution.

    Args:
        in_channels: Channels of the stride-4 decoder output (256 in the presets).
        objectness_dim: Width of the objectness branch (128).
        classifier_dim: Width of the vessel/fishing branch (128).
        size_dim: Width of the length branch (64 for b4/b5, 128 for v2s).
        offset_dim: Width of the offset branch (16).
        num_blocks: Conv-GroupNorm-SiLU blocks per branch (3).
        num_groups: GroupNorm groups (16; 4 for b5).
        dropout: Dropout2d probability at the end of each branch (0.1).
    """

    upsample_factor: int = 2

    def __init__(
        self,
        in_channels: int,
        *,
        objectness_dim: int = 128,
        classifier_dim: int = 128,
        size_dim: int = 64,
        offset_dim: int = 16,
        num_blocks: int = 3,
        num_groups: int = 16,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()

        def branch(dim: int) -> nn.Sequential:
            return build_branch(
                in_channels, dim, num_blocks=num_blocks, num_groups=num_groups, dropout=dropout
            )

        self.objectness = branch(objectness_dim)
        self.objectness_up = build_late_shuffle(objectness_dim, 1, pre_conv=False)
        self.classifier = branch(classifier_dim)
        self.size = branch(size_dim)
        self.classifier_gate = CrossGate(classifier_dim, size_dim)
        self.size_gate = CrossGate(size_dim, classifier_dim)
        self.classifier_up = build_late_shuffle(classifier_dim, 2, pre_conv=True)
        self.size_up = build_late_shuffle(size_dim, 1, pre_conv=True)
        self.length_activation = nn.Softplus()
        self.offset = branch(offset_dim)
        self.offset_up = build_late_shuffle(offset_dim, 2, pre_conv=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal convolutions, unit GroupNorm, and the prior output biases."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)  # biases keep PyTorch's default
            elif isinstance(module, nn.GroupNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for late_shuffle, bias in (
            (self.objectness_up, OBJECTNESS_BIAS),
            (self.classifier_up, CLASSIFIER_BIAS),
            (self.size_up, LENGTH_BIAS),
        ):
            output_conv = late_shuffle[-1]
            if not isinstance(output_conv, nn.Conv2d) or output_conv.bias is None:
                raise TypeError(f"A late shuffle must end in a biased Conv2d, got {output_conv}.")
            nn.init.constant_(output_conv.bias, bias)

    def forward(self, features: torch.Tensor) -> CircleNetOutputs:
        """Predict the stride-2 maps.

        Args:
            features: ``(B, in_channels, H/4, W/4)`` decoder output.

        Returns:
            :class:`CircleNetOutputs` with ``objectness``, ``vessel``, ``fishing`` logits
            ``(B, 1, H/2, W/2)``, ``length`` ``(B, 1, H/2, W/2)`` = predicted
            ``log(1 + length_px)`` >= 0 (input pixels of 10 m) and ``offset``
            ``(B, 2, H/2, W/2)`` sub-pixel ``(dx, dy)`` in [0, 1].
        """
        cls = self.classifier(features)
        size = self.size(features)
        classes = self.classifier_up(self.classifier_gate(cls, size))
        length = self.length_activation(self.size_up(self.size_gate(size, cls)))
        return CircleNetOutputs(
            objectness=self.objectness_up(self.objectness(features)),
            vessel=classes[:, 0:1],
            fishing=classes[:, 1:2],
            length=length,
            offset=torch.clamp(self.offset_up(self.offset(features)), 0.0, 1.0),
        )
