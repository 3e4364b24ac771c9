"""Constants of the xView3 data format and of the official metric."""

from collections.abc import Mapping
from types import MappingProxyType
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
#: Distance tolerance of the leaderboard metric (the match radius), metres.
DISTANCE_TOLERANCE_M: Final[float] = 200.0

#: The six components of the official score, named and ordered as in its output.
COMPONENTS: Final[tuple[str, ...]] = (
    "loc_fscore",
    "loc_fscore_shore",
    "vessel_fscore",
    "fishing_fscore",
    "length_acc",
    "aggregate",
)
#: Candidate column with the detection score (objectness), in [0, 1].
OBJECTNESS_COLUMN: Final[str] = "objectness_p"
#: Candidate column with P(vessel), in [0, 1].
VESSEL_PROBABILITY_COLUMN: Final[str] = "vessel_p"
#: Candidate column with P(fishing), in [0, 1].
FISHING_PROBABILITY_COLUMN: Final[str] = "fishing_p"
#: Keys of a thresholds mapping (objectness, vessel, fishing), in that order.
THRESHOLD_NAMES: Final[tuple[str, ...]] = ("objectness", "vessel", "fishing")
#: The winning submission's thresholds (objectness 0.300, vessel 0.338, fishing 0.350).
DEFAULT_THRESHOLDS: Final[Mapping[str, float]] = MappingProxyType(
    {"objectness": 0.3, "vessel": 0.338, "fishing": 0.35}
)
