"""Configuration of the synthetic xBD generator."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.xview2.synthetic.xbd import DISASTER_TYPES, IMAGE_SUFFIX, XVIEW2_SPLITS

_WHAT = "xview2.synthetic"


def _default_pairs() -> dict[str, int]:
    return {"train": 12, "test": 4, "hold": 4}


@dataclass(frozen=True)
class Xview2SyntheticConfig:
    """Parameters of a synthetic dataset in the xBD layout.

    Each event is one disaster of one type at one place, seen by one sensor; its image
    pairs are tiles of one town at the event's ground sample distance. Pair ``k`` of a
    split belongs to event ``k mod n_events``. Ranges in brackets are the accepted values.

    Attributes:
        seed: Seed of everything random; the same configuration gives the same files.
        image_size: Side of every image, pixels [64, 4096]; xBD images are 1024.
        n_events: Number of disasters [1, 64].
        disaster_types: Types cycled over the events, among :data:`DISASTER_TYPES`
            (``flooding``: water; ``wind``: roof loss and debris; ``fire``: burn scars;
            ``earthquake``: collapse).
        pairs_per_split: Pre/post pairs of each split (``train``, ``test``, ``hold``),
            spread over the events [0, 10000]; at least one pair in all.
        gsd_m: Range of the ground sample distance drawn per event, metres per pixel
            [0.3, 3.0] (xBD: about 1.2 to 2.6).
        off_nadir_deg: Range of the off-nadir angle drawn per image, degrees [0, 45]; a
            roof of height h leans ``h tan(angle) / gsd`` pixels towards the sensor.
        max_shift_px: Largest shift of a post image against its pre image, pixels per
            axis [0, 32].
        max_rotation_deg: Largest rotation of a post image, degrees [0, 5].
        max_scale: Largest relative scale change of a post image [0, 0.05].
        block_m: Range of the street-block side, metres [30, 400].
        road_m: Range of the road width, metres [4, 40].
        occupancy: Probability that a residential lot holds a building [0, 1].
        unclassified_share: Share of post buildings labelled ``un-classified`` [0, 0.5].
        image_format: ``png`` (xBD) or ``geotiff`` (the same RGB in a GeoTIFF with the
            tile's UTM CRS and geotransform).
    """

    seed: int = 42
    image_size: int = 1024
    n_events: int = 4
    disaster_types: tuple[str, ...] = DISASTER_TYPES
    pairs_per_split: Mapping[str, int] = field(default_factory=_default_pairs)
    gsd_m: tuple[float, float] = (1.2, 2.6)
    off_nadir_deg: tuple[float, float] = (5.0, 30.0)
    max_shift_px: float = 5.0
    max_rotation_deg: float = 1.0
    max_scale: float = 0.01
    block_m: tuple[float, float] = (60.0, 140.0)
    road_m: tuple[float, float] = (8.0, 16.0)
    occupancy: float = 0.85
    unclassified_share: float = 0.01
    image_format: Literal["png", "geotiff"] = "png"

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> Xview2SyntheticConfig:
        """Build from a parameters mapping (``xview2.synthetic`` in ``parameters_xview2.yml``).

        Args:
            values: Keys of this dataclass; ``pairs_per_split`` is merged over the
                defaults; ranges are ``[lo, hi]`` lists.

        Returns:
            The validated configuration.

        Raises:
            ValueError: On an unknown key or a value out of range; the message names the
                key, its value and the accepted range.
        """
        values = check_keys(cls, values, what=_WHAT)
        if "pairs_per_split" in values:
            pairs = values["pairs_per_split"]
            if not isinstance(pairs, Mapping):
                raise ValueError(
                    f"{_WHAT}.pairs_per_split={pairs!r}: expected a mapping of split to count."
                )
            values["pairs_per_split"] = _default_pairs() | dict(pairs)
        for name in ("gsd_m", "off_nadir_deg", "block_m", "road_m"):
            if name in values:
                values[name] = _pair(name, values[name])
        if "disaster_types" in values:
            values["disaster_types"] = tuple(values["disaster_types"])
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Check every value against its documented range.

        Raises:
            ValueError: If a value is out of range or of the wrong kind.
        """
        _int_in("seed", self.seed, 0, 2**63 - 1)
        _int_in("image_size", self.image_size, 64, 4096)
        _int_in("n_events", self.n_events, 1, 64)
        if not self.disaster_types:
            raise ValueError(f"{_WHAT}.disaster_types is empty; expected some of {DISASTER_TYPES}.")
        bad = [t for t in self.disaster_types if t not in DISASTER_TYPES]
        if bad:
            raise ValueError(
                f"{_WHAT}.disaster_types has unknown type(s) {bad}; expected {DISASTER_TYPES}."
            )
        unknown = sorted(set(self.pairs_per_split) - set(XVIEW2_SPLITS))
        if unknown:
            raise ValueError(
                f"{_WHAT}.pairs_per_split has unknown split(s) {unknown}; expected {XVIEW2_SPLITS}."
            )
        for split, count in self.pairs_per_split.items():
            _int_in(f"pairs_per_split.{split}", count, 0, 10000)
        if sum(self.pairs_per_split.values()) == 0:
            raise ValueError(f"{_WHAT}.pairs_per_split: at least one pair is needed, got none.")
        _range_in("gsd_m", self.gsd_m, 0.3, 3.0)
        _range_in("off_nadir_deg", self.off_nadir_deg, 0.0, 45.0)
        _range_in("block_m", self.block_m, 30.0, 400.0)
        _range_in("road_m", self.road_m, 4.0, 40.0)
        _float_in("max_shift_px", self.max_shift_px, 0.0, 32.0)
        _float_in("max_rotation_deg", self.max_rotation_deg, 0.0, 5.0)
        _float_in("max_scale", self.max_scale, 0.0, 0.05)
        _float_in("occupancy", self.occupancy, 0.0, 1.0)
        _float_in("unclassified_share", self.unclassified_share, 0.0, 0.5)
        if self.image_format not in IMAGE_SUFFIX:
            raise ValueError(
                f"{_WHAT}.image_format={self.image_format!r}: expected one of {sorted(IMAGE_SUFFIX)}."
            )
        if self.road_m[1] >= self.block_m[0]:
            raise ValueError(
                f"{_WHAT}.road_m={list(self.road_m)} must stay below block_m={list(self.block_m)} "
                "(a road is narrower than the smallest block)."
            )

    def split_pairs(self) -> dict[str, int]:
        """Pairs per split for every split of :data:`XVIEW2_SPLITS` (0 when not configured)."""
        return {split: int(self.pairs_per_split.get(split, 0)) for split in XVIEW2_SPLITS}


def _pair(name: str, value: Any) -> tuple[float, float]:
    if isinstance(value, str) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(f"{_WHAT}.{name}={value!r}: expected a range [lo, hi].")
    return float(value[0]), float(value[1])


def _int_in(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{_WHAT}.{name}={value!r}: expected an integer in [{lo}, {hi}].")


def _float_in(name: str, value: Any, lo: float, hi: float) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not lo <= value <= hi:
        raise ValueError(f"{_WHAT}.{name}={value!r}: expected a number in [{lo:g}, {hi:g}].")


def _range_in(name: str, value: tuple[float, float], lo: float, hi: float) -> None:
    a, b = value
    if not (math.isfinite(a) and math.isfinite(b)) or not lo <= a <= b <= hi:
        raise ValueError(
            f"{_WHAT}.{name}={list(value)}: expected lo <= hi inside [{lo:g}, {hi:g}]."
        )
