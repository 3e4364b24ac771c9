"""Settings of the CFAR detector (the ``cfar`` parameter block)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.detection.cfar.threshold import gamma_threshold, gaussian_threshold
from xview3_pipeline.core.encoding.candidates import DETECTION_COLUMNS

__all__ = ["CFAR_COLUMNS", "CHANNELS", "CfarConfig"]

#: Output columns: the learned model's candidate columns, then ``snr_db`` and ``n_pixels``.
CFAR_COLUMNS: tuple[str, ...] = (*DETECTION_COLUMNS, "snr_db", "n_pixels")
#: Channel indices (of ``[VH, VV]``) tested by each ``channels`` value.
CHANNELS: Mapping[str, tuple[int, ...]] = {"vh": (0,), "vh+vv": (0, 1)}
_MODES = ("gamma", "gaussian")
_FISHING_MODES = ("length", "constant")


@dataclass(frozen=True)
class CfarConfig:
    """Parameters of the CFAR detector (``parameters_cfar_baseline.yml``).

    Attributes:
        channels: ``"vh"`` or ``"vh+vv"`` (VH or VV flagged, OR-combined).
        target_window: Side of the square target window, pixels (1–2 = 10–20 m).
        guard_window: Side of the guard window, pixels (odd, ≥ 300–500 m; 41 = 410 m).
            Larger than the longest vessel so it does not leak into the ring.
        background_window: Side of the background window, pixels (odd, 600–1000 m;
            81 = 810 m). The ring between guard and background gives the clutter.
        pfa: Per-pixel, per-channel false-alarm probability in (0, 0.5) (a scene has
            ~6×10⁸ pixels).
        enl: Equivalent number of looks of one pixel (4.4 for IW GRDH).
        effective_looks: Looks of the target-window mean; None → ``target_window² · enl``
            (independent pixels). Lower it for correlated real speckle (see
            :func:`estimate_effective_looks`). Only used in ``gamma`` mode.
        mode: ``"gamma"`` (threshold on ``T/μ`` from the Gamma speckle model) or
            ``"gaussian"`` (SNAP: ``T ≥ μ + t σ`` with ``t = norm.isf(pfa)``).
        min_length_m: Clusters whose estimated length is below this are dropped, metres.
        max_length_m: Clusters whose estimated length is above this are dropped, metres.
        merge_distance_px: Clusters whose peaks are at most this far apart are merged,
            pixels (single linkage).
        length_deblur_px2: Variance (pixels²) subtracted from the cluster's weighted
            second moment before the length is computed: the 2 px PSF adds 0.72 px², the
            threshold truncation of small clusters removes some; 0.36 fits the synthetic
            generator best.
        land_buffer_m: Buffer around land (``owiMask``) or shoreline points, metres. The
            xView3 near-shore band is 2 km: a buffer of 0.5–1 km trades the near-shore
            recall (shore F1) against false alarms on coastal clutter and land.
        land_codes: ``owiMask`` codes that are land (1 and 5; add 2 and 6 for ice).
        max_nodata_fraction: A pixel is not detected when more than this fraction of its
            background window is nodata or outside the scene. 0.5 ("mostly nodata")
            rejects corners and thin slivers of data but keeps pixels next to a straight
            edge; 0.25 keeps detections ≥ ~20 px (200 m) from a straight edge (GFW clips
            500 m against border noise). The synthetic scenes favour 0.5.
        max_target_nodata_fraction: The same for the target window (SNAP: 10 %).
        min_background_pixels: Fewest valid sea pixels in the ring for usable statistics.
        ghost_contrast_db: Azimuth-ghost suppression (module docstring, step 6): the least
            SNR excess of the parent over a ghost, dB; None disables it.
        ghost_distance_px: ``(min, max)`` ghost displacement, pixels (4.7–5.9 km).
        ghost_angle_deg: Largest angle between the displacement and the row axis.
        ghost_mirror_px: Tolerance on the mirror position of the second ghost, pixels.
        sidelobe_contrast_db: Sidelobe suppression: the least SNR excess of a bright
            detection over a nearby one, dB; None disables it.
        sidelobe_radius_px: Radius of the sidelobe suppression, pixels.
        band_rows: Rows processed at a time (memory bound; results do not depend on it).
        score_scale_db: Scale of the objectness score: ``1 − exp(−margin_db / scale)``.
        vessel_p: Constant ``vessel_p`` of every detection.
        fishing_mode: ``"length"`` (logistic in the estimated length) or ``"constant"``.
        fishing_p: ``fishing_p`` of every detection in ``constant`` mode.
        fishing_length_m: Length with ``fishing_p = 0.5`` in ``length`` mode, metres.
        fishing_length_scale_m: Logistic scale in ``length`` mode, metres.
    """

    channels: str = "vh"
    target_window: int = 1
    guard_window: int = 41
    background_window: int = 81
    pfa: float = 1e-7
    enl: float = 4.4
    effective_looks: float | None = None
    mode: str = "gamma"
    min_length_m: float = 0.0
    max_length_m: float = 600.0
    merge_distance_px: float = 10.0
    length_deblur_px2: float = 0.36
    land_buffer_m: float = 500.0
    land_codes: tuple[int, ...] = (1, 5)
    max_nodata_fraction: float = 0.5
    max_target_nodata_fraction: float = 0.1
    min_background_pixels: int = 500
    band_rows: int = 256
    ghost_contrast_db: float | None = 15.0
    ghost_distance_px: tuple[float, float] = (420.0, 650.0)
    ghost_angle_deg: float = 30.0
    ghost_mirror_px: float = 10.0
    sidelobe_contrast_db: float | None = 12.0
    sidelobe_radius_px: float = 25.0
    score_scale_db: float = 5.0
    vessel_p: float = 1.0
    fishing_mode: str = "length"
    fishing_p: float = 0.5
    fishing_length_m: float = 40.0
    fishing_length_scale_m: float = 10.0

    def __post_init__(self) -> None:
        """Validate the values.

        Raises:
            ValueError: On a value out of range; the message names each parameter
                (``cfar.pfa``, ...), its value and what is accepted.
        """
        errors = [message for ok, message in self._checks() if not ok]
        if errors:
            raise ValueError(f"Invalid cfar parameters: {'; '.join(errors)}.")

    def _checks(self) -> list[tuple[bool, str]]:
        windows = (self.target_window, self.guard_window, self.background_window)
        fractions = {
            "max_nodata_fraction": self.max_nodata_fraction,
            "max_target_nodata_fraction": self.max_target_nodata_fraction,
            "vessel_p": self.vessel_p,
            "fishing_p": self.fishing_p,
        }
        return [
            (
                self.channels in CHANNELS,
                f"cfar.channels={self.channels!r} not in {sorted(CHANNELS)}",
            ),
            (self.mode in _MODES, f"cfar.mode={self.mode!r} not in {list(_MODES)}"),
            (
                self.fishing_mode in _FISHING_MODES,
                f"cfar.fishing_mode={self.fishing_mode!r} not in {list(_FISHING_MODES)}",
            ),
            (
                1 <= windows[0] < windows[1] < windows[2],
                "cfar.target_window, cfar.guard_window, cfar.background_window="
                f"{windows} must satisfy 1 <= target_window < guard_window < background_window",
            ),
            (
                windows[1] % 2 == 1 and windows[2] % 2 == 1,
                f"cfar.guard_window={windows[1]} and cfar.background_window={windows[2]} must be odd",
            ),
            (
                0.0 < self.pfa < 0.5,
                f"cfar.pfa={self.pfa}: pfa must be in (0, 0.5), a per-pixel false-alarm "
                "probability such as 1e-7 (from 0.5 on, ordinary clutter is flagged)",
            ),
            (
                self.enl > 0 and (self.effective_looks is None or self.effective_looks > 0),
                f"cfar.enl={self.enl} and cfar.effective_looks={self.effective_looks} must be "
                "positive (effective_looks may be null)",
            ),
            (
                0.0 <= self.min_length_m <= self.max_length_m,
                f"cfar.min_length_m={self.min_length_m}, cfar.max_length_m={self.max_length_m}: "
                "need 0 <= min_length_m <= max_length_m",
            ),
            (
                min(self.merge_distance_px, self.land_buffer_m, self.length_deblur_px2) >= 0,
                "cfar.merge_distance_px, cfar.land_buffer_m and cfar.length_deblur_px2 must be >= 0",
            ),
            *(
                (0.0 <= v <= 1.0, f"cfar.{name}={v} must be in [0, 1]")
                for name, v in fractions.items()
            ),
            (
                len(self.ghost_distance_px) == 2
                and 0 <= self.ghost_distance_px[0] <= self.ghost_distance_px[1],
                f"cfar.ghost_distance_px={self.ghost_distance_px} must be (min, max) with "
                "0 <= min <= max",
            ),
            (
                min(self.band_rows, self.min_background_pixels) >= 1,
                "cfar.band_rows and cfar.min_background_pixels must be >= 1",
            ),
            (
                min(self.score_scale_db, self.fishing_length_scale_m) > 0,
                "cfar.score_scale_db and cfar.fishing_length_scale_m must be positive",
            ),
        ]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> CfarConfig:
        """Build from a parameters mapping, rejecting unknown keys.

        Args:
            values: Keys of this dataclass (None → defaults).

        Returns:
            The validated configuration.

        Raises:
            ValueError: On unknown keys or values out of range.
        """
        params = check_keys(cls, values, what="cfar")
        if "land_codes" in params:
            params["land_codes"] = tuple(int(v) for v in params["land_codes"])
        if "ghost_distance_px" in params:
            params["ghost_distance_px"] = tuple(float(v) for v in params["ghost_distance_px"])
        return cls(**params)

    @property
    def looks(self) -> float:
        """Effective looks of the target-window mean used by the ``gamma`` threshold."""
        if self.effective_looks is not None:
            return float(self.effective_looks)
        return self.target_window**2 * self.enl

    @property
    def threshold(self) -> float:
        """``gamma``: the ratio ``T/μ`` to exceed; ``gaussian``: the ``t`` of ``μ + tσ``."""
        if self.mode == "gamma":
            return gamma_threshold(self.pfa, self.looks)
        return gaussian_threshold(self.pfa)

    @property
    def halo(self) -> int:
        """Rows read beyond each band: the background radius (covers every window)."""
        return self.background_window // 2 + 1
