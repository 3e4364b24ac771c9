"""Training crop sampler: which scene window each dataset item reads.

The winner's ``random_crop`` sampler (``dataset/random_crop_dataset.py``), made deterministic
and worker-safe. Item ``i`` of epoch ``e`` draws from ``numpy.random.default_rng((seed, e,
i, 0))`` only, so the crops do not depend on the worker that computes them, the order of
the calls or the number of workers; the same ``(seed, epoch, index)`` always gives the same
crop.

Per item:

1. Choose a scene: uniform over the training scenes (the winner's
   ``WeightedRandomSampler(np.ones(n))``), or proportional to ``scene_weights``.
2. With probability ``object_crop_p`` (0.8 in the winner's code, 0.9 in its README), and if the
   scene has objects, centre the crop on an object drawn with the per-object weights of
   :func:`object_weights` (``object_weighting``); ``ignore`` objects are never chosen (a
   scene whose objects are all ignored takes step 3).
3. Otherwise, with probability ``shore_crop_p`` (0.5) and if the scene has shoreline
   contour points, centre it on a uniformly drawn contour point; else take a uniformly
   random crop.
4. Object and shore centres are jittered per axis by :func:`capped_randnorm` in
   ``[-crop/4, crop/4]`` (normal, σ = sqrt(crop/2)).
5. With ``clamp_to_scene`` the window is moved inside the scene where the scene is larger
   than the crop (the centred object stays inside the window since the jitter is at most
   crop/4); the winner clipped the window at the border and padded the remainder instead.
6. :meth:`BalancedCropSampler.sample` rejects a crop whose nodata fraction (computed by the
   caller, which reads the window) exceeds ``max_nodata_fraction`` (0.8) and draws again,
   at most ``max_attempts`` times; the last draw is then accepted (logged at debug).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, get_args

import numpy as np
from sklearn.neighbors import KDTree

from xview3_pipeline.core.config import check_keys, resolve_alias
from xview3_pipeline.core.types import ObjectLabels

__all__ = [
    "BalancedCropSampler",
    "CropKind",
    "CropSpec",
    "ObjectWeighting",
    "SamplerConfig",
    "SceneEntry",
    "balanced_class_weights",
    "capped_randnorm",
    "crowd_weights",
    "object_weights",
]

logger = logging.getLogger(__name__)

#: How objects are chosen as crop centres; see :func:`object_weights`.
ObjectWeighting = Literal["balanced", "winner", "uniform"]
#: Spellings of :data:`ObjectWeighting` values accepted for one release.
OBJECT_WEIGHTING_ALIASES: Mapping[str, str] = MappingProxyType({"seed_code": "winner"})
#: How a crop was placed.
CropKind = Literal["object", "shore", "random"]
#: How per-attribute balance factors are combined in ``"balanced"`` weighting.
Combine = Literal["mean", "product"]


@dataclass(frozen=True)
class CropSpec:
    """A square training window of one scene (reading happens in the dataset).

    Attributes:
        scene_id: Scene identifier.
        row0: First row of the window in scene pixels (may be negative).
        col0: First column of the window in scene pixels (may be negative).
        size: Side of the window in pixels.
        kind: ``"object"``, ``"shore"`` or ``"random"``.
        attempt: 0-based number of the accepted draw (rejections before it).
    """

    scene_id: str
    row0: int
    col0: int
    size: int
    kind: CropKind = "random"
    attempt: int = 0


@dataclass(frozen=True)
class SceneEntry:
    """What the sampler needs to know about one scene.

    Attributes:
        scene_id: Scene identifier.
        height: Rows of the scene in pixels.
        width: Columns of the scene in pixels.
        objects: Labels of the scene (centres ``(x, y)`` in scene pixels).
        shoreline: ``(N, 2)`` float ``(row, col)`` shoreline contour points (``N`` may be 0).
    """

    scene_id: str
    height: int
    width: int
    objects: ObjectLabels
    shoreline: np.ndarray


@dataclass(frozen=True)
class SamplerConfig:
    """Settings of :class:`BalancedCropSampler` (defaults: the winner's code).

    Attributes:
        object_crop_p: Probability of an object-centred crop (0.8 code, 0.9 README).
        shore_crop_p: Probability of a shoreline-centred crop among the other crops.
        object_weighting: ``"balanced"`` (README scheme), ``"winner"`` (the winning
            solution's code; ``"seed_code"`` is its old spelling) or ``"uniform"``.
        combine: How ``"balanced"`` combines the per-attribute factors (``"mean"`` or
            ``"product"``).
        jitter: Jitter object / shore centres by :func:`capped_randnorm`.
        clamp_to_scene: Move windows inside the scene where it is larger than the crop.
        max_nodata_fraction: Crops with a larger nodata fraction are drawn again.
        max_attempts: Draws per item before the last one is accepted anyway.
    """

    object_crop_p: float = 0.8
    shore_crop_p: float = 0.5
    object_weighting: ObjectWeighting = "balanced"
    combine: Combine = "mean"
    jitter: bool = True
    clamp_to_scene: bool = True
    max_nodata_fraction: float = 0.8
    max_attempts: int = 10

    def __post_init__(self) -> None:
        for name in ("object_crop_p", "shore_crop_p", "max_nodata_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"SamplerConfig.{name} must be in [0, 1], got {value}.")
        weighting = resolve_alias(
            self.object_weighting, OBJECT_WEIGHTING_ALIASES, what="object_weighting"
        )
        object.__setattr__(self, "object_weighting", weighting)
        if self.object_weighting not in get_args(ObjectWeighting):
            raise ValueError(
                f"SamplerConfig.object_weighting {self.object_weighting!r} is not one of "
                f"{list(get_args(ObjectWeighting))}."
            )
        if self.combine not in get_args(Combine):
            raise ValueError(
                f"SamplerConfig.combine {self.combine!r} is not one of {list(get_args(Combine))}."
            )
        if self.max_attempts < 1:
            raise ValueError(f"SamplerConfig.max_attempts must be >= 1, got {self.max_attempts}.")

    @classmethod
    def from_dict(cls, params: Mapping[str, Any] | None) -> SamplerConfig:
        """Build from a parameter mapping, rejecting unknown keys.

        Raises:
            ValueError: On an unknown key or an invalid value.
        """
        return cls(**check_keys(cls, params))


def capped_randnorm(
    rng: np.random.Generator, low: float, high: float, size: int | tuple[int, ...] | None = None
) -> np.ndarray | float:
    """The winner's ``capped_randnorm``: a normal clipped to ``[low, high]``.

    Mean ``(low + high) / 2`` and σ ``sqrt(high - low)``; for ``[-crop/4, crop/4]`` that is
    σ = sqrt(crop/2) (≈ 20 px for a 768 px crop).

    Args:
        rng: Random generator.
        low: Lower bound.
        high: Upper bound (``>= low``).
        size: Output shape, or None for a scalar.

    Returns:
        Clipped normal sample(s).
    """
    sigma = math.sqrt(max(high - low, 0.0))
    values = rng.normal((low + high) / 2.0, sigma, size)
    return np.clip(values, low, high)


def balanced_class_weights(classes: np.ndarray) -> np.ndarray:
    """Per-sample weights of sklearn's ``"balanced"`` scheme, per-sample weights: ``n / (k · n_c)`` for class ``c``.

    Each of the ``k`` classes present gets the same total weight; the weights have mean 1.

    Args:
        classes: ``(N,)`` class labels (any hashable dtype).

    Returns:
        ``(N,)`` float64 weights (empty for ``N = 0``).
    """
    classes = np.asarray(classes)
    if classes.size == 0:
        return np.zeros(0, np.float64)
    _, inverse, counts = np.unique(classes, return_inverse=True, return_counts=True)
    return classes.size / (counts.size * counts[inverse].astype(np.float64))


def crowd_weights(centers: np.ndarray, radius: float) -> np.ndarray:
    """``1 / #objects`` within a Chebyshev radius of each object (itself included).

    Objects in crowded neighbourhoods are down-weighted: a crop around any of them shows
    the others anyway.

    Args:
        centers: ``(N, 2)`` object centres in pixels.
        radius: Chebyshev radius in pixels (the winner: crop / 2).

    Returns:
        ``(N,)`` float64 weights in (0, 1].
    """
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    if len(centers) == 0:
        return np.zeros(0, np.float64)
    tree = KDTree(centers, metric="chebyshev")
    counts = tree.query_radius(centers, r=radius, count_only=True)
    return 1.0 / np.maximum(counts, 1).astype(np.float64)


def _tri_state(values: np.ndarray) -> np.ndarray:
    """0 / 1 / 2 (unknown) codes of a float 0/1/NaN array."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(values), 2, values > 0.5).astype(np.int8)


def object_weights(
    objects: ObjectLabels,
    crop_size: int,
    mode: ObjectWeighting | str = "balanced",
    combine: Combine = "mean",
) -> np.ndarray:
    """Probabilities of choosing each object of a scene as a crop centre.

    * ``"uniform"``: every object equally.
    * ``"winner"``: what the winning solution's code does,
      ``w = (1 + b_shore / Σ b_shore + c / Σ c) / 2`` with ``b_shore`` the balanced weights
      of near-shore vs off-shore and ``c`` the :func:`crowd_weights` (radius crop/2). Both
      terms sum to 1 against a vector of ones, so the choice is close to uniform.
    * ``"balanced"`` (the README's scheme, implemented properly): per attribute —
      ``is_vessel`` (yes / no / unknown), ``is_fishing`` (yes / no / unknown; non-vessels
      are usually unknown) and near-shore (yes / no) — the :func:`balanced_class_weights`
      factor ``n / (k · n_c)`` over the scene's objects gives each class present the same
      total weight. The factors (each of mean 1) of the attributes that have more than one
      class in the scene are combined by their mean (default; bounded boost) or product
      (rare combinations such as fishing near-shore get the product of their boosts),
      then multiplied by the crowd weight. Balancing within the
      scene matches the scene-first draw: every class a scene has gets an equal share of
      that scene's object crops.

    Args:
        objects: The scene's objects (``N``).
        crop_size: Crop side in pixels (crowd radius crop/2).
        mode: ``"balanced"``, ``"winner"`` or ``"uniform"`` (``"seed_code"``, the old
            spelling of ``"winner"``, is accepted with a ``RenamedOptionWarning``).
        combine: ``"mean"`` or ``"product"`` (``"balanced"`` only).

    Returns:
        ``(N,)`` float64 probabilities summing to 1 (empty for no objects); ``ignore``
        objects get 0 and take no part in the others' factors (all 0 if all are ignored).

    Raises:
        ValueError: On an unknown ``mode`` or ``combine``.
    """
    n = len(objects)
    mode = resolve_alias(mode, OBJECT_WEIGHTING_ALIASES, what="object_weighting")
    if mode not in get_args(ObjectWeighting):
        raise ValueError(
            f"Unknown object weighting {mode!r}; expected one of {list(get_args(ObjectWeighting))}."
        )
    if combine not in get_args(Combine):
        raise ValueError(f"Unknown combine {combine!r}; expected one of {list(get_args(Combine))}.")
    if n == 0:
        return np.zeros(0, np.float64)
    if objects.ignored.any():
        kept, weights = ~objects.ignored, np.zeros(n, np.float64)
        if kept.any():
            weights[kept] = object_weights(objects.subset(kept), crop_size, mode, combine)
        return weights
    if mode == "uniform":
        return np.full(n, 1.0 / n)
    crowd = crowd_weights(objects.centers, crop_size / 2.0)
    shore = balanced_class_weights(np.asarray(objects.near_shore, dtype=bool))
    if mode == "winner":
        weights = (1.0 + shore / shore.sum() + crowd / crowd.sum()) / 2.0
    else:
        factors = np.stack(
            [
                balanced_class_weights(_tri_state(objects.is_vessel)),
                balanced_class_weights(_tri_state(objects.is_fishing)),
                shore,
            ]
        )
        # An attribute with a single class in the scene gives factor 1 everywhere: it
        # carries no balancing information and would only dilute the mean.
        informative = factors[~np.all(factors == 1.0, axis=1)]
        if len(informative) == 0:
            balance = np.ones(n)
        elif combine == "mean":
            balance = informative.mean(axis=0)
        else:
            balance = informative.prod(axis=0)
        weights = balance * crowd
    return weights / weights.sum()


class BalancedCropSampler:
    """Deterministic, worker-safe crop placement for the CircleNet training dataset.

    See the module docstring for the procedure. The sampler holds only numpy arrays and
    plain values (picklable); reading and nodata rejection data come from the caller.

    Args:
        scenes: The training scenes.
        crop_size: Crop side in pixels (a positive integer).
        config: Probabilities, weighting and rejection settings.
        scene_weights: Optional non-negative weight per scene (same order as ``scenes``);
            None draws scenes uniformly, as the winner.
        seed: Base seed.

    Raises:
        ValueError: On no scenes, a non-positive crop size or invalid scene weights.
    """

    def __init__(
        self,
        scenes: Sequence[SceneEntry],
        crop_size: int,
        config: SamplerConfig | None = None,
        scene_weights: Sequence[float] | np.ndarray | None = None,
        seed: int = 42,
    ) -> None:
        if len(scenes) == 0:
            raise ValueError("BalancedCropSampler needs at least one scene.")
        if crop_size <= 0:
            raise ValueError(f"crop_size must be positive, got {crop_size}.")
        self.scenes = list(scenes)
        self.crop_size = int(crop_size)
        self.config = config or SamplerConfig()
        self.seed = int(seed)
        self.epoch = 0
        if scene_weights is None:
            self.scene_p = np.full(len(self.scenes), 1.0 / len(self.scenes))
        else:
            w = np.asarray(scene_weights, dtype=np.float64)
            if (
                w.shape != (len(self.scenes),)
                or (w < 0).any()
                or not np.isfinite(w).all()
                or w.sum() <= 0
            ):
                raise ValueError(
                    f"scene_weights must be {len(self.scenes)} finite non-negative values with a "
                    f"positive sum, got {w!r}."
                )
            self.scene_p = w / w.sum()
        self.object_p = [
            object_weights(
                s.objects, self.crop_size, self.config.object_weighting, self.config.combine
            )
            for s in self.scenes
        ]

    def __repr__(self) -> str:
        return (
            f"BalancedCropSampler({len(self.scenes)} scenes, crop_size={self.crop_size}, "
            f"seed={self.seed}, {self.config!r})"
        )

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose crops :meth:`sample` returns."""
        self.epoch = int(epoch)

    def generator(self, index: int) -> np.random.Generator:
        """The random generator of item ``index`` of the current epoch."""
        return np.random.default_rng((self.seed, self.epoch, int(index), 0))

    def _origin(self, centre: float, extent: int, rng: np.random.Generator, jitter: bool) -> int:
        size = self.crop_size
        if jitter and self.config.jitter:
            centre += float(capped_randnorm(rng, -size / 4.0, size / 4.0))
        origin = math.floor(centre - size / 2.0 + 0.5)
        if self.config.clamp_to_scene:
            origin = int(np.clip(origin, min(0, extent - size), max(0, extent - size)))
        return origin

    def propose(self, rng: np.random.Generator) -> CropSpec:
        """One draw of scene and window (no rejection).

        Args:
            rng: Random generator (consumed).

        Returns:
            The proposed crop.
        """
        size = self.crop_size
        scene_index = int(rng.choice(len(self.scenes), p=self.scene_p))
        scene = self.scenes[scene_index]
        u_object, u_shore = rng.random(), rng.random()
        object_p = self.object_p[scene_index]
        if object_p.sum() > 0 and u_object < self.config.object_crop_p:
            k = int(rng.choice(len(scene.objects), p=object_p))
            x, y = (float(v) for v in scene.objects.centers[k])
            kind: CropKind = "object"
        elif len(scene.shoreline) and u_shore < self.config.shore_crop_p:
            y, x = (float(v) for v in scene.shoreline[int(rng.integers(len(scene.shoreline)))])
            kind = "shore"
        else:
            row0 = int(rng.integers(min(0, scene.height - size), max(0, scene.height - size) + 1))
            col0 = int(rng.integers(min(0, scene.width - size), max(0, scene.width - size) + 1))
            return CropSpec(scene.scene_id, row0, col0, size, "random")
        row0 = self._origin(y, scene.height, rng, jitter=True)
        col0 = self._origin(x, scene.width, rng, jitter=True)
        return CropSpec(scene.scene_id, row0, col0, size, kind)

    def sample(
        self, index: int, nodata_fraction: Callable[[CropSpec], float] | None = None
    ) -> CropSpec:
        """The crop of item ``index`` of the current epoch.

        Args:
            index: Item index (any non-negative integer).
            nodata_fraction: Called with each proposed crop; returns its nodata fraction in
                [0, 1] (the caller reads the window, and may keep what it read). None
                accepts the first draw.

        Returns:
            The accepted crop (``attempt`` tells how many were rejected before it).
        """
        rng = self.generator(index)
        spec = self.propose(rng)
        if nodata_fraction is None:
            return spec
        for attempt in range(self.config.max_attempts):
            if attempt:
                spec = dataclasses.replace(self.propose(rng), attempt=attempt)
            fraction = float(nodata_fraction(spec))
            if fraction <= self.config.max_nodata_fraction:
                return spec
        logger.debug(
            "Item %d: %d crops over %.0f%% nodata; accepting %s (%.0f%% nodata).",
            index,
            self.config.max_attempts,
            100 * self.config.max_nodata_fraction,
            spec,
            100 * fraction,
        )
        return spec
