"""Constants of the xView3 data format and of the official metric."""

from typing import Final

#: Nodata value of every xView3 raster (``reference/constants.py`` of the official code).
NODATA: Final[float] = -32768.0
#: Pixel size of the VV/VH rasters in metres.
PIX_TO_M: Final[float] = 10.0
#: Pixel size of the ancillary (bathymetry, OWI) rasters in metres.
ANCILLARY_PIXEL_M: Final[float] = 500.0
#: Floor of the dB conversion ``10 * log10(sigma0 + 1e-5)``.
DB_FLOOR: Final[float] = -50.0

VV_FILE: Final[str] = "VV_dB.tif"
VH_FILE: Final[str] = "VH_dB.tif"
SAR_FILES: Final[dict[str, str]] = {"vv": VV_FILE, "vh": VH_FILE}
ANCILLARY_FILES: Final[dict[str, str]] = {
    "bathymetry": "bathymetry.tif",
    "owi_mask": "owiMask.tif",
    "owi_wind_speed": "owiWindSpeed.tif",
    "owi_wind_direction": "owiWindDirection.tif",
    "owi_wind_quality": "owiWindQuality.tif",
}

#: Scene folders live under ``<raw root>/<split>/<scene_id>/``.
SPLITS: Final[tuple[str, ...]] = ("train", "validation", "public")
#: Label files of the labelled splits, at the top of the raw root.
LABEL_FILES: Final[dict[str, str]] = {"train": "train.csv", "validation": "validation.csv"}
SHORELINE_DIR: Final[str] = "shoreline"
SHORELINE_SUFFIX: Final[str] = "_shoreline.npy"

#: Official label columns, in the official order.
LABEL_COLUMNS: Final[tuple[str, ...]] = (
    "detect_lat",
    "detect_lon",
    "vessel_length_m",
    "source",
    "detect_scene_row",
    "detect_scene_column",
    "is_vessel",
    "is_fishing",
    "distance_from_shore_km",
    "scene_id",
    "confidence",
    "top",
    "left",
    "bottom",
    "right",
    "detect_id",
)
#: Columns of an official submission CSV.
SUBMISSION_COLUMNS: Final[tuple[str, ...]] = (
    "detect_scene_row",
    "detect_scene_column",
    "scene_id",
    "is_vessel",
    "is_fishing",
    "vessel_length_m",
)
#: Confidence levels, lowest first (the order of the ordered categorical).
CONFIDENCE_LEVELS: Final[tuple[str, ...]] = ("LOW", "MEDIUM", "HIGH")
#: Objects at most this far from shore are "near shore" (metric and labels).
NEAR_SHORE_KM: Final[float] = 2.0
