"""Backscatter models for the synthetic Sentinel-1 scenes.

All functions are vectorised over numpy arrays and return linear sigma0 unless the name
says dB. Sources are listed in the project's SAR physics notes:

* VV sea clutter: CMOD5.N values tabulated for upwind and crosswind at 30-45 degrees
  incidence and 3-15 m/s (Hersbach et al. 2007), interpolated bilinearly in dB; the
  azimuth dependence between upwind and crosswind follows ``cos(2 phi)`` with a 1 dB
  upwind/downwind asymmetry.
* VH sea clutter: ``-35.6 + 0.58 U`` dB (Vachon & Wolfe 2011), floored by a noise
  equivalent sigma zero (NESZ) profile that is scalloped within each of the three IW
  sub-swaths and differs between them, which produces the sub-swath seams seen in VH.
* Speckle: intensity times unit-mean speckle of ENL ``L = 4.4`` (IW GRDH), applied after a
  point-spread blur of about 2 pixels (20 m resolution on a 10 m grid); the speckle itself
  is white Gamma noise blurred by the same point-spread (:func:`correlated_speckle_looks`),
  so it is correlated over the resolution cell as in real GRD images.

The incidence range, the vessel brightness-length relation and the point-spread width are
arguments: the generator draws them per scene (:mod:`xview3_pipeline.core.synthetic.domain`).
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import RegularGridInterpolator
from scipy.ndimage import gaussian_filter

#: Equivalent number of looks of Sentinel-1 IW GRDH.
ENL = 4.4
#: Incidence angles (degrees) beyond which the CMOD5.N table is not extrapolated.
_INCIDENCE_CLIP_DEG = (25.0, 50.0)

_WINDS = np.array([3.0, 5.0, 7.0, 10.0, 15.0])
_INCIDENCES = np.array([30.0, 35.0, 40.0, 45.0])
_UPWIND_DB = np.array(
    [
        [-15.9, -19.2, -21.6, -23.6],
        [-13.0, -16.1, -18.6, -20.6],
        [-11.0, -13.8, -16.1, -17.9],
        [-8.5, -11.0, -12.9, -14.5],
        [-5.7, -7.8, -9.6, -11.0],
    ]
)
_CROSSWIND_DB = np.array(
    [
        [-17.8, -21.5, -24.3, -26.6],
        [-15.0, -18.7, -21.7, -24.1],
        [-13.4, -17.0, -19.9, -22.3],
        [-11.9, -15.2, -18.0, -20.1],
        [-9.9, -12.6, -14.8, -16.4],
    ]
)
_UP = RegularGridInterpolator(
    (_WINDS, _INCIDENCES), _UPWIND_DB, bounds_error=False, fill_value=None
)
_CROSS = RegularGridInterpolator(
    (_WINDS, _INCIDENCES), _CROSSWIND_DB, bounds_error=False, fill_value=None
)


def to_db(sigma0: np.ndarray) -> np.ndarray:
    """Convert linear sigma0 to dB as the xView3 processing did: ``10 log10(s + 1e-5)``.

    The ``1e-5`` offset gives the -50 dB floor of the real data.
    """
    return (10.0 * np.log10(np.maximum(sigma0, 0.0) + 1e-5)).astype(np.float32)


def from_db(db: np.ndarray | float) -> np.ndarray:
    """Convert dB to linear power."""
    return np.power(10.0, np.asarray(db, dtype=np.float64) / 10.0)


def sea_vv(
    wind_speed: np.ndarray, incidence_deg: np.ndarray, relative_dir_deg: np.ndarray
) -> np.ndarray:
    """VV sea clutter (linear) from the tabulated CMOD5.N values.

    Args:
        wind_speed: Wind speed at 10 m, m/s, any shape.
        incidence_deg: Incidence angle, degrees, same shape.
        relative_dir_deg: Wind direction relative to the radar look direction, degrees
            (0 = wind blowing towards the radar, upwind), same shape.

    Returns:
        Linear sigma0, same shape.
    """
    u = np.clip(wind_speed, _WINDS[0], _WINDS[-1])
    inc = np.clip(incidence_deg, *_INCIDENCE_CLIP_DEG)
    pts = np.stack([u.ravel(), inc.ravel()], axis=-1)
    up = from_db(_UP(pts)).reshape(u.shape)
    cross = from_db(_CROSS(pts)).reshape(u.shape)
    phi = np.deg2rad(relative_dir_deg)
    # cos(2 phi) interpolates between upwind (phi = 0, 180) and crosswind (phi = 90, 270);
    # downwind is about 1 dB below upwind.
    weight = 0.5 * (1.0 + np.cos(2.0 * phi))
    asym = 10.0 ** (-0.05 * (1.0 - np.cos(phi)))
    return (cross + (up * asym - cross) * weight).astype(np.float64)


def sea_vh(wind_speed: np.ndarray) -> np.ndarray:
    """VH sea clutter (linear) before thermal noise: ``-35.6 + 0.58 U`` dB."""
    return from_db(-35.6 + 0.58 * np.asarray(wind_speed))


def nesz_db(
    range_fraction: np.ndarray, subswath_offsets_db: tuple[float, float, float]
) -> np.ndarray:
    """Noise-equivalent sigma zero across the IW swath, dB.

    Each sub-swath (IW1, IW2, IW3, thirds of the swath) has a scalloped profile, about
    3 dB higher at its edges than at its centre, around its own level; the jumps between
    levels are the sub-swath seams.

    Args:
        range_fraction: Position across the swath in [0, 1], near range at 0.
        subswath_offsets_db: NESZ at the centre of IW1, IW2, IW3, dB.

    Returns:
        NESZ in dB, same shape as ``range_fraction``.
    """
    rf = np.clip(range_fraction, 0.0, 1.0 - 1e-9)
    index = np.floor(rf * 3.0).astype(int)
    within = rf * 3.0 - index
    base = np.asarray(subswath_offsets_db)[index]
    return base + 3.0 * (2.0 * within - 1.0) ** 2


def incidence_deg(
    range_fraction: np.ndarray, near_deg: float = 30.9, far_deg: float = 46.0
) -> np.ndarray:
    """Incidence angle (degrees) at a position across the swath, near range at 0.

    Args:
        range_fraction: Position across the swath in [0, 1].
        near_deg: Incidence at near range (IW: 30.9 degrees).
        far_deg: Incidence at far range (IW: 46.0 degrees).
    """
    return near_deg + (far_deg - near_deg) * np.clip(range_fraction, 0.0, 1.0)


def vessel_peak_vv_db(
    length_m: np.ndarray, at_100m_db: float = 15.0, slope_db: float = 30.0
) -> np.ndarray:
    """Expected VV peak sigma0 (dB, after the point-spread) of a vessel of a length.

    ``at_100m_db + slope_db log10(L / 100 m)``; the defaults give ``-45 + 30 log10(L)``:
    about -10 dB for 15 m (a few dB above typical VV clutter of -16 dB, and below it in
    high wind), -4 dB for a 23 m fishing vessel, +12 dB for 80 m and +33 dB for 400 m, in
    line with per-scene VV maxima of about +31 dB.

    Args:
        length_m: Vessel lengths, metres, any shape.
        at_100m_db: Peak of a 100 m vessel, dB.
        slope_db: Rise per decade of length, dB.
    """
    return at_100m_db + slope_db * np.log10(np.maximum(length_m, 1.0) / 100.0)


def speckle(rng: np.random.Generator, shape: tuple[int, ...], enl: float = ENL) -> np.ndarray:
    """Multiplicative speckle: Gamma(L, 1/L) samples with unit mean, float32."""
    return rng.gamma(enl, 1.0 / enl, size=shape).astype(np.float32)


def correlated_speckle_looks(psf_sigma_px: float, enl: float = ENL) -> float:
    """Gamma shape of white speckle that has ``enl`` looks once blurred by the PSF.

    Blurring unit-mean white noise of variance ``1 / L`` with a normalised kernel ``k``
    divides its variance by ``1 / sum(k^2)``; drawing it with ``L = enl * sum(k^2)`` gives
    correlated speckle of ``enl`` looks, correlated over the point-spread width as in a
    GRD image sampled finer than its resolution.

    Args:
        psf_sigma_px: Standard deviation of the Gaussian point-spread, pixels.
        enl: Equivalent number of looks wanted after the blur.
    """
    impulse = np.zeros((17, 17))
    impulse[8, 8] = 1.0
    kernel = gaussian_filter(impulse, psf_sigma_px, mode="constant")
    return float(enl * np.sum(kernel**2))


class CosineField:
    """A smooth random field: a sum of plane waves with random directions and phases.

    Evaluating it at any set of points gives the same values, so scenes can be rendered
    window by window (and revisits of a location see the same field) without storing a
    grid. The field has zero mean and unit variance over space.

    Args:
        rng: Random generator.
        wavelength_range_m: Range of the wavelengths, metres (log-uniform).
        n_waves: Number of plane waves.
    """

    def __init__(
        self, rng: np.random.Generator, wavelength_range_m: tuple[float, float], n_waves: int = 10
    ) -> None:
        lo, hi = np.log(wavelength_range_m[0]), np.log(wavelength_range_m[1])
        wavelengths = np.exp(rng.uniform(lo, hi, n_waves))
        angles = rng.uniform(0.0, 2.0 * np.pi, n_waves)
        k = 2.0 * np.pi / wavelengths
        self.kx = k * np.cos(angles)
        self.ky = k * np.sin(angles)
        self.phase = rng.uniform(0.0, 2.0 * np.pi, n_waves)
        self.amplitude = np.sqrt(2.0 / n_waves)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Evaluate at map coordinates ``x``, ``y`` (metres, same shape)."""
        out = np.zeros(np.broadcast(x, y).shape, dtype=np.float64)
        for kx, ky, ph in zip(self.kx, self.ky, self.phase, strict=True):
            out += np.cos(kx * x + ky * y + ph)
        return out * self.amplitude
