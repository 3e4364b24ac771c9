"""Domain randomisation of the synthetic scenes: sensor and sea conditions drawn per scene.

Each parameter of :class:`DomainConfig` is a ``[lo, hi]`` range; every scene draws one
value of each, uniformly, from its seed (:meth:`DomainConfig.draw`), and the manifest
records the draw as ``domain_<parameter>``. The default ranges are realistic for
Sentinel-1 IW GRDH over the sea (sources in the project's SAR physics notes) and contain the
values the generator used as constants before it was randomised. :data:`OOD_DOMAIN` holds
the out-of-distribution ranges of the ``public`` test scenes written with ``domain: ood``:
outside the training ranges on the axes of :data:`OOD_AXES`, inside them on the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from xview3_pipeline.core.config import check_keys

Range = tuple[float, float]


#: Accepted limits and unit of each :class:`DomainConfig` parameter.
LIMITS: dict[str, tuple[Range, str]] = {
    "wind_speed_ms": ((1.0, 20.0), "m/s"),
    "wind_variability": ((0.0, 0.5), "fraction"),
    "incidence_near_deg": ((25.0, 40.0), "deg"),
    "incidence_far_deg": ((35.0, 50.0), "deg"),
    "nesz_db": ((-40.0, -15.0), "dB"),
    "nesz_seam_db": ((0.0, 5.0), "dB"),
    "psf_fwhm_px": ((1.0, 4.5), "px"),
    "clutter_texture_db": ((0.0, 6.0), "dB"),
    "vessel_vv_at_100m_db": ((0.0, 30.0), "dB"),
    "vessel_vv_slope_db": ((10.0, 40.0), "dB/decade"),
    "vessel_vv_scatter_db": ((0.0, 6.0), "dB"),
    "sidelobe_db": ((-40.0, -5.0), "dB"),
    "ghost_rate": ((0.0, 1.0), "probability"),
    "ghost_db": ((-40.0, -10.0), "dB"),
    "land_texture_db": ((0.0, 6.0), "dB"),
    "calibration_offset_db": ((-6.0, 6.0), "dB"),
}


@dataclass(frozen=True)
class DomainConfig:
    """Per-scene ranges of the randomised sensor and sea conditions.

    Every attribute is a ``(lo, hi)`` range, drawn uniformly per scene (``lo == hi`` fixes
    the value). In brackets: the unit, the accepted limits, and the former constant.

    Attributes:
        wind_speed_ms: Scene mean wind speed at 10 m, m/s ([1, 20]; CMOD5.N is tabulated
            up to 15 m/s and saturates beyond). Wind regime; was drawn from 3.5-11 m/s.
        wind_variability: Relative standard deviation of the wind speed over the scene's
            5-50 km wind field ([0, 0.5]; was 0.12).
        incidence_near_deg: Incidence angle at near range, degrees ([25, 40]; was 30.9).
        incidence_far_deg: Incidence angle at far range, degrees ([35, 50]; was 46.0);
            its low end must exceed the high end of ``incidence_near_deg``.
        nesz_db: Mean noise-equivalent sigma zero of the three IW sub-swaths, dB
            ([-40, -15]; was -28, ESA specifies <= -22).
        nesz_seam_db: Largest offset of a sub-swath's NESZ from the mean, dB: the strength
            of the seams between sub-swaths ([0, 5]; was 1).
        psf_fwhm_px: Full width at half maximum of the Gaussian point-spread function,
            10 m pixels: the speckle correlation length ([1, 4.5]; was 2, i.e. 20 m
            resolution; at most 4.5 so the blur stays inside the rendering halo).
        clutter_texture_db: Standard deviation of a multiplicative sea-clutter texture
            (ocean fronts, slicks and wind streaks at 0.3-3 km scales), dB ([0, 6]; was 0).
        vessel_vv_at_100m_db: Expected VV peak sigma0 of a 100 m vessel, dB ([0, 30]; was
            15 from ``-45 + 30 log10(L)``).
        vessel_vv_slope_db: Rise of the vessel VV peak per decade of length, dB
            ([10, 40]; was 30).
        vessel_vv_scatter_db: Standard deviation of a vessel's VV peak around the
            brightness-length relation, dB ([0, 6]; was 2.5).
        sidelobe_db: Level of the range/azimuth sidelobe cross of targets brighter than
            +20 dB, relative to the target, dB; each target varies by +-1.5 dB
            ([-40, -5]; was drawn from -20 to -13 per target).
        ghost_rate: Probability that a target brighter than +10 dB shows its pair of
            azimuth ghosts ([0, 1]; was 1).
        ghost_db: Level of the azimuth ghosts relative to their parent, dB; each ghost
            varies by +-1 dB ([-40, -10]; was drawn from -25 to -20 per ghost).
        land_texture_db: Amplitude of the land backscatter texture, dB, with finer
            detail at 0.4 times it ([0, 6]; was 2).
        calibration_offset_db: Offset of the absolute radiometric calibration applied to
            the whole scene, both channels, dB ([-6, 6]; was 0; Sentinel-1 specifies
            1 dB, 3 sigma).
    """

    wind_speed_ms: Range = (3.5, 11.0)
    wind_variability: Range = (0.08, 0.16)
    incidence_near_deg: Range = (29.5, 32.0)
    incidence_far_deg: Range = (45.0, 47.0)
    nesz_db: Range = (-30.0, -26.0)
    nesz_seam_db: Range = (0.5, 1.5)
    psf_fwhm_px: Range = (1.8, 2.2)
    clutter_texture_db: Range = (0.0, 1.0)
    vessel_vv_at_100m_db: Range = (13.5, 16.5)
    vessel_vv_slope_db: Range = (27.0, 33.0)
    vessel_vv_scatter_db: Range = (2.0, 3.0)
    sidelobe_db: Range = (-20.0, -13.0)
    ghost_rate: Range = (0.6, 1.0)
    ghost_db: Range = (-25.0, -20.0)
    land_texture_db: Range = (1.5, 2.5)
    calibration_offset_db: Range = (-0.5, 0.5)

    @classmethod
    def from_dict(
        cls,
        values: Mapping[str, Any] | None,
        *,
        base: DomainConfig | None = None,
        what: str = "synthetic_data.generator.domain",
    ) -> DomainConfig:
        """Build from a parameters mapping, merged over ``base``.

        Args:
            values: Parameter name -> ``[lo, hi]``; missing names keep ``base``'s range.
            base: Ranges of the names not given (default: :class:`DomainConfig`'s).
            what: Name of the block in error messages.

        Returns:
            The validated ranges.

        Raises:
            ValueError: On an unknown name, a value that is not two numbers, or a range
                outside its limits; the message names the parameter, the value and what
                is accepted.
        """
        values = check_keys(cls, values, what=what)
        ranges = {name: _as_range(f"{what}.{name}", value) for name, value in values.items()}
        cfg = dataclasses.replace(base or cls(), **ranges)
        cfg.validate(what)
        return cfg

    def validate(self, what: str = "synthetic_data.generator.domain") -> None:
        """Check every range against its limits.

        Raises:
            ValueError: Naming the parameter, its value and the accepted limits.
        """
        for f in dataclasses.fields(self):
            lo, hi = getattr(self, f.name)
            (lim_lo, lim_hi), unit = LIMITS[f.name]
            if not lim_lo <= lo <= hi <= lim_hi:
                raise ValueError(
                    f"{what}.{f.name}={[lo, hi]}: expected [lo, hi] with "
                    f"{lim_lo:g} <= lo <= hi <= {lim_hi:g} ({unit})."
                )
        if self.incidence_far_deg[0] <= self.incidence_near_deg[1]:
            raise ValueError(
                f"{what}.incidence_far_deg={list(self.incidence_far_deg)} must lie above "
                f"{what}.incidence_near_deg={list(self.incidence_near_deg)} (far range is "
                "at the larger incidence)."
            )

    def draw(self, rng: np.random.Generator) -> DomainDraw:
        """Draw one scene's conditions, each uniform in its range (one draw per field).

        Args:
            rng: Random generator (consumed: one value per parameter, in field order).

        Returns:
            The scene's values.
        """
        names = [f.name for f in dataclasses.fields(self)]
        lo, hi = np.array([getattr(self, n) for n in names], dtype=np.float64).T
        values = lo + (hi - lo) * rng.random(len(names))
        return DomainDraw(**{n: float(v) for n, v in zip(names, values, strict=True)})

    def disjoint_from(self, other: DomainConfig) -> tuple[str, ...]:
        """Names whose range does not overlap ``other``'s (out-of-distribution axes)."""
        out = []
        for f in dataclasses.fields(self):
            lo, hi = getattr(self, f.name)
            o_lo, o_hi = getattr(other, f.name)
            if hi < o_lo or lo > o_hi:
                out.append(f.name)
        return tuple(out)


@dataclass(frozen=True)
class DomainDraw:
    """The conditions of one scene: one value of each :class:`DomainConfig` range."""

    wind_speed_ms: float
    wind_variability: float
    incidence_near_deg: float
    incidence_far_deg: float
    nesz_db: float
    nesz_seam_db: float
    psf_fwhm_px: float
    clutter_texture_db: float
    vessel_vv_at_100m_db: float
    vessel_vv_slope_db: float
    vessel_vv_scatter_db: float
    sidelobe_db: float
    ghost_rate: float
    ghost_db: float
    land_texture_db: float
    calibration_offset_db: float

    @property
    def psf_sigma_px(self) -> float:
        """Standard deviation of the Gaussian point-spread function, pixels."""
        return self.psf_fwhm_px / 2.355

    def manifest_columns(self) -> dict[str, float]:
        """``domain_<parameter>`` -> value, rounded to 4 decimals, for the manifest."""
        return {f"domain_{k}": round(v, 4) for k, v in dataclasses.asdict(self).items()}


#: Out-of-distribution ranges of the default test scenes with ``domain: ood``: stronger
#: wind, a calibration offset of several dB, a higher noise floor with stronger sub-swath
#: seams, a wider point spread (coarser speckle) and a flatter, more scattered
#: vessel brightness-length relation (small boats brighter, large ships dimmer).
OOD_DOMAIN = DomainConfig(
    wind_speed_ms=(12.5, 15.0),
    calibration_offset_db=(3.0, 4.0),
    nesz_db=(-24.0, -22.0),
    nesz_seam_db=(2.0, 3.0),
    psf_fwhm_px=(2.8, 3.2),
    vessel_vv_at_100m_db=(11.0, 13.0),
    vessel_vv_slope_db=(21.0, 24.0),
    vessel_vv_scatter_db=(3.5, 4.5),
)
#: Parameters on which :data:`OOD_DOMAIN` lies outside the default training ranges.
OOD_AXES = OOD_DOMAIN.disjoint_from(DomainConfig())


@dataclass(frozen=True)
class OODConfig:
    """Out-of-distribution test scenes: extra ``public`` scenes with shifted conditions.

    Attributes:
        scenes_per_location: Extra ``public`` scenes per location, written after all
            in-distribution scenes (so those are the same with or without them).
        domain: Their ranges (:data:`OOD_DOMAIN` by default; see :meth:`from_dict`).
    """

    scenes_per_location: int = 2
    domain: DomainConfig = OOD_DOMAIN

    @classmethod
    def from_dict(
        cls,
        values: Mapping[str, Any] | None,
        *,
        training: DomainConfig | None = None,
        what: str = "synthetic_data.generator.ood",
    ) -> OODConfig:
        """Build from a parameters mapping.

        Args:
            values: ``scenes_per_location`` and ``domain`` (parameter -> ``[lo, hi]``).
            training: The training ranges (default: :class:`DomainConfig`'s). ``domain``
                is merged over :func:`ood_ranges` of them: a parameter not given keeps the
                default out-of-distribution range on :data:`OOD_AXES` and the training
                range elsewhere.
            what: Name of the block in error messages.

        Returns:
            The validated configuration.

        Raises:
            ValueError: On unknown keys, a negative or non-integer ``scenes_per_location``
                or a bad range (see :meth:`DomainConfig.from_dict`).
        """
        values = check_keys(cls, values, what=what)
        n = values.get("scenes_per_location", cls.scenes_per_location)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"{what}.scenes_per_location={n!r}: expected an integer >= 0.")
        base = ood_ranges(training or DomainConfig())
        domain = DomainConfig.from_dict(values.get("domain"), base=base, what=f"{what}.domain")
        return cls(scenes_per_location=n, domain=domain)


def ood_ranges(training: DomainConfig) -> DomainConfig:
    """The training ranges with :data:`OOD_DOMAIN`'s ranges on :data:`OOD_AXES`."""
    return dataclasses.replace(training, **{n: getattr(OOD_DOMAIN, n) for n in OOD_AXES})


def _as_range(name: str, value: Any) -> Range:
    """``[lo, hi]`` as a float pair, or a ValueError naming the parameter and value."""
    try:
        lo, hi = value
        pair = (float(lo), float(hi))
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r}: expected a range [lo, hi] of two numbers.") from None
    if not all(np.isfinite(pair)):
        raise ValueError(f"{name}={value!r}: expected a range [lo, hi] of two finite numbers.")
    return pair
