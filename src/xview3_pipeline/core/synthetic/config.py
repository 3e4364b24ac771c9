"""Configuration of the synthetic xView3 generator."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xview3_pipeline.core.config import RenamedOptionWarning, check_keys
from xview3_pipeline.core.constants import SPLITS
from xview3_pipeline.core.synthetic.domain import DomainConfig, OODConfig


@dataclass(frozen=True)
class LabelNoiseConfig:
    """How a split's labels depart from the truth.

    The real ``train.csv`` is mostly AIS-derived: it misses dark vessels, has more
    unknown fields and some wrong classes; ``validation.csv`` was labelled by hand and is
    denser and cleaner. Rates are probabilities per object.

    Attributes:
        miss_small: Probability that an object shorter than 40 m is left unlabelled.
        miss_large: Probability that a longer object (or infrastructure) is left unlabelled.
        flip_vessel: Probability that a known ``is_vessel`` is flipped.
        flip_fishing: Probability that a known ``is_fishing`` is flipped.
        jitter_px: Standard deviation of the label position error in pixels.
        nan_vessel: Probability that ``is_vessel`` is blank.
        nan_fishing: Probability that ``is_fishing`` of a vessel is blank.
        nan_length: Probability that ``vessel_length_m`` is blank.
        length_error: Relative standard deviation of the labelled length.
    """

    miss_small: float = 0.0
    miss_large: float = 0.0
    flip_vessel: float = 0.0
    flip_fishing: float = 0.0
    jitter_px: float = 0.0
    nan_vessel: float = 0.01
    nan_fishing: float = 0.6
    nan_length: float = 0.6
    length_error: float = 0.05

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> LabelNoiseConfig:
        """Build from a parameters mapping, rejecting unknown keys."""
        check_keys(cls, values)
        cfg = cls(**values)
        for f in dataclasses.fields(cls):
            value = getattr(cfg, f.name)
            if f.name == "jitter_px":
                if value < 0:
                    raise ValueError(f"LabelNoiseConfig.jitter_px must be >= 0, got {value}.")
            elif not 0.0 <= value <= 1.0:
                raise ValueError(f"LabelNoiseConfig.{f.name} must be in [0, 1], got {value}.")
        return cfg


#: Largest ratio of the longer to the shorter scene side. The swath is a rectangle tilted by
#: 8-13 degrees inside the scene; at a ratio of 3 it still covers about a third of it.
MAX_ASPECT_RATIO = 3.0


def _default_noise() -> dict[str, LabelNoiseConfig]:
    return {
        "validation": LabelNoiseConfig(),
        "public": LabelNoiseConfig(),
        "train": LabelNoiseConfig(
            miss_small=0.35,
            miss_large=0.1,
            flip_vessel=0.05,
            flip_fishing=0.08,
            jitter_px=1.5,
            nan_vessel=0.15,
            nan_fishing=0.1,
            nan_length=0.45,
            length_error=0.1,
        ),
    }


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of a synthetic xView3 dataset.

    Scenes are small pieces of ocean imaged like Sentinel-1 IW GRD: by default the whole
    IW swath (three sub-swaths, incidence 30.9-46.0 degrees) is compressed into the scene
    width, so every scene shows the incidence gradient and the sub-swath noise seams of a
    real 250 km scene, while object sizes, pixel spacing (10 m), ghost displacements and
    shore distances keep their physical values.

    Attributes:
        seed: Seed of everything random; the same seed gives the same files.
        n_locations: Number of geographic locations.
        coastal_fraction: Share of coastal locations (at least one coastal and one
            open-sea location when ``n_locations >= 2``).
        revisit_splits: Split of each revisit of a location, in acquisition order; its
            length is the number of revisits per location. The default is shaped like the
            real xView3 split: 3 hand-labelled ``validation`` scenes, 9 noisy ``train``
            scenes and 2 ``public`` (test) scenes per location.
        height: Scene height in pixels (10 m), rows; a real IW GRD scene is about
            24,400 rows by 29,400 columns (any size is written band by band, with memory
            independent of the height).
        width: Scene width in pixels (10 m), columns; at most
            :data:`MAX_ASPECT_RATIO` times the height and at least its inverse.
        objects_per_scene: Mean number of objects in a scene of open sea (Poisson); the
            number scales with the share of valid sea pixels.
        fishing_share: Share of fishing vessels among vessels.
        non_vessel_share: Share of non-infrastructure non-vessel objects among objects.
        infrastructure_probability: Probability that a location has fixed infrastructure.
        footprint_shift: Largest shift of a revisit's footprint, as a fraction of the
            scene size.
        label_noise: Label noise per split (``train``, ``validation``, ``public``).
        domain: Ranges of the sensor and sea conditions drawn per in-distribution scene
            (wind, incidence, noise floor, point spread, clutter texture, vessel
            brightness, sidelobes, ghosts, land texture, calibration); the scene mean wind
            speed was ``wind_speed_range`` before.
        ood: Out-of-distribution ``public`` scenes and their ranges; none unless
            configured (the project parameters ask for 2 per location).
    """

    seed: int = 42
    n_locations: int = 4
    coastal_fraction: float = 0.5
    revisit_splits: tuple[str, ...] = (
        *("validation",) * 3,
        *("train",) * 9,
        *("public",) * 2,
    )
    height: int = 768
    width: int = 768
    objects_per_scene: float = 60.0
    fishing_share: float = 0.35
    non_vessel_share: float = 0.05
    infrastructure_probability: float = 0.75
    footprint_shift: float = 0.2
    label_noise: Mapping[str, LabelNoiseConfig] = field(default_factory=_default_noise)
    domain: DomainConfig = field(default_factory=DomainConfig)
    ood: OODConfig = field(default_factory=lambda: OODConfig(scenes_per_location=0))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SyntheticConfig:
        """Build from a parameters mapping (``parameters_synthetic_data.yml``).

        Args:
            values: Keys of this dataclass; ``label_noise`` maps a split to the keys of
                :class:`LabelNoiseConfig`, merged over the defaults of that split;
                ``domain`` maps parameters to ``[lo, hi]``, merged over the defaults of
                :class:`~xview3_pipeline.core.synthetic.domain.DomainConfig`; ``ood`` holds
                ``scenes_per_location`` and ``domain``, merged over the training ranges
                shifted out of distribution (``domain.ood_ranges``); without ``ood`` no such
                scenes are written. The former key
                ``wind_speed_range`` is accepted for one release as ``domain.wind_speed_ms``
                (with a ``RenamedOptionWarning``).

        Returns:
            The validated configuration.

        Raises:
            ValueError: On unknown keys or values out of range.
        """
        values = dict(values)
        if "wind_speed_range" in values:
            values["domain"] = {"wind_speed_ms": values.pop("wind_speed_range")} | dict(
                values.get("domain") or {}
            )
            warnings.warn(
                "synthetic_data.generator.wind_speed_range is deprecated and will be removed "
                "in the next release; use synthetic_data.generator.domain.wind_speed_ms.",
                RenamedOptionWarning,
                stacklevel=2,
            )
        check_keys(cls, values, what="synthetic_data.generator")
        noise = _default_noise()
        for split, overrides in dict(values.pop("label_noise", {}) or {}).items():
            if split not in SPLITS:
                raise ValueError(f"label_noise has unknown split {split!r}; expected {SPLITS}.")
            merged = dataclasses.asdict(noise[split]) | dict(overrides)
            noise[split] = LabelNoiseConfig.from_dict(merged)
        if "revisit_splits" in values:
            values["revisit_splits"] = tuple(values["revisit_splits"])
        values["domain"] = DomainConfig.from_dict(values.get("domain"))
        if "ood" in values:
            values["ood"] = OODConfig.from_dict(values["ood"], training=values["domain"])
        cfg = cls(**values, label_noise=noise)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Check ranges and consistency.

        Raises:
            ValueError: If a value is out of range.
        """
        if self.n_locations < 1:
            raise ValueError(f"n_locations must be >= 1, got {self.n_locations}.")
        if not self.revisit_splits:
            raise ValueError("revisit_splits must name at least one split.")
        bad = [s for s in self.revisit_splits if s not in SPLITS]
        if bad:
            raise ValueError(f"revisit_splits has unknown split(s) {bad}; expected {SPLITS}.")
        if min(self.height, self.width) < 64:
            raise ValueError(
                f"Scenes must be at least 64 x 64 pixels, got {self.height} x {self.width}."
            )
        if max(self.height, self.width) > MAX_ASPECT_RATIO * min(self.height, self.width):
            raise ValueError(
                f"height={self.height} and width={self.width}: the longer side may be at most "
                f"{MAX_ASPECT_RATIO:g} times the shorter one (the swath, tilted by up to 13 "
                "degrees, must fit inside the scene)."
            )
        for name in ("coastal_fraction", "fishing_share", "non_vessel_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}.")
        if not 0.0 <= self.infrastructure_probability <= 1.0:
            raise ValueError("infrastructure_probability must be in [0, 1].")
        if not 0.0 <= self.footprint_shift <= 0.5:
            raise ValueError(f"footprint_shift must be in [0, 0.5], got {self.footprint_shift}.")
        if self.objects_per_scene < 0:
            raise ValueError("objects_per_scene must be >= 0.")
        self.domain.validate()
        self.ood.domain.validate("synthetic_data.generator.ood.domain")
        if self.ood.scenes_per_location < 0:
            raise ValueError(
                "synthetic_data.generator.ood.scenes_per_location must be >= 0, got "
                f"{self.ood.scenes_per_location}."
            )
