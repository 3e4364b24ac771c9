"""Fishing from a candidate's length and its neighbours, learned from labelled scenes.

The network's fishing head reads the brightness pattern of a vessel, and that pattern moves
with the sensor and the sea: on scenes unlike its training scenes it lost to the CFAR's
rule in the estimated length alone. Fishing vessels are short and work in groups (fleets
of a few boats within a few hundred metres), other vessels are longer and sail alone, and
neither cue depends on the calibration or the clutter. With ``attributes.fishing:
context`` the candidates' ``fishing_p`` is replaced by a logistic regression
(scikit-learn) on

* ``length``: the log of the candidate's length (``vessel_length_m``, metres, as the
  detector gives it, measured or regressed);
* ``neighbours``: for each radius ``r`` of ``neighbour_radius_m``, ``log(1 + s)`` with
  ``s`` the summed objectness of the scene's other candidates within ``r`` metres (soft
  counts, so no objectness threshold is needed before the thresholds are tuned);
* optionally ``fishing_p`` and ``vessel_p``: the network's own heads as logits.

It is fitted (:func:`fit_fishing_model`) on out-of-sample candidates of labelled scenes,
each scene detected by models that never trained on it, matched to the labels with the
metric's matcher (:func:`~xview3_pipeline.core.metric.match_by_scene`) among the
candidates of objectness ``>= match_objectness``; every matched candidate whose label is a
vessel that knows ``is_fishing`` is a row (the metric's fishing F1 counts those pairs). A
scene-grouped cross-validation of the same fit is stored with the model (``cv``): the area
under the ROC curve and the log-loss of the model and of the network's ``fishing_p`` on the
same rows, so whether the model helps is read off data that the test scenes never touch.

The fitted model is plain numbers (:class:`FishingModel`, a JSON artefact: the scaler's
mean and scale, the coefficients), applied by :class:`RescoredDetector` around any
detector, scene by scene, inside ``detect``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.constants import (
    FISHING_PROBABILITY_COLUMN,
    OBJECTNESS_COLUMN,
    PIX_TO_M,
    VESSEL_PROBABILITY_COLUMN,
)
from xview3_pipeline.core.detection.scene import Scene
from xview3_pipeline.core.metric import match_by_scene
from xview3_pipeline.core.metric.inputs import label_column

logger = logging.getLogger(__name__)

__all__ = [
    "AttributeConfig",
    "FishingModel",
    "RescoredDetector",
    "feature_matrix",
    "fishing_targets",
    "fit_fishing_model",
    "neighbour_scores",
]

#: ``attributes.fishing`` values: the network's head (the winner's) or the fitted model.
FISHING_SOURCES: Final[tuple[str, ...]] = ("network", "context")
#: Feature groups of the fishing model.
FEATURES: Final[tuple[str, ...]] = ("length", "neighbours", "fishing_p", "vessel_p")
_FEATURE_NAMES: Final[dict[str, str]] = {
    "length": "log_length",
    "fishing_p": "fishing_logit",
    "vessel_p": "vessel_logit",
}
_POSITIONS = ["detect_scene_row", "detect_scene_column"]
_EPS = 1e-4


@dataclass(frozen=True)
class AttributeConfig:
    """The ``attributes`` parameters block.

    Attributes:
        fishing: ``network`` (the candidates' own ``fishing_p``, the winner's) or
            ``context`` (the fitted model).
        features: Feature groups, a subset of :data:`FEATURES`.
        neighbour_radius_m: Radii of the neighbour sums, metres (> 0).
        match_objectness: Candidates below this objectness are not matched to labels
            when fitting (a faint duplicate must not take a label from its peak).
        regularization_c: Inverse L2 strength of the logistic regression (> 0).
        min_rows: Fewer fitting rows than this (or a single class): no model, the
            network's ``fishing_p`` is kept, with a warning.
        cv_folds: Scene-grouped folds of the stored cross-validation (>= 2; fewer scenes:
            one fold per scene; a single scene: none).
    """

    fishing: str = "network"
    features: tuple[str, ...] = ("length", "neighbours")
    neighbour_radius_m: tuple[float, ...] = (600.0,)
    match_objectness: float = 0.3
    regularization_c: float = 1.0
    min_rows: int = 50
    cv_folds: int = 5

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> AttributeConfig:
        """Build from the parameters block (None: defaults), rejecting unknown keys.

        Raises:
            ValueError: Naming the parameter and its value.
        """
        values = dict(values or {})
        check_keys(cls, values, what="attributes")
        for name in ("features", "neighbour_radius_m"):
            if name in values:
                values[name] = tuple(values[name])
        config = cls(**values)
        problems = []
        if config.fishing not in FISHING_SOURCES:
            problems.append(f"attributes.fishing = {config.fishing!r} (expected {FISHING_SOURCES})")
        unknown = [f for f in config.features if f not in FEATURES]
        if unknown or not config.features:
            problems.append(f"attributes.features = {list(config.features)} (from {FEATURES})")
        if "neighbours" in config.features and not config.neighbour_radius_m:
            problems.append("attributes.neighbour_radius_m is empty but features has neighbours")
        if any(not np.isfinite(r) or r <= 0 for r in config.neighbour_radius_m):
            problems.append(f"attributes.neighbour_radius_m = {list(config.neighbour_radius_m)}")
        if not 0.0 <= config.match_objectness <= 1.0:
            problems.append(f"attributes.match_objectness = {config.match_objectness}")
        if not config.regularization_c > 0:
            problems.append(f"attributes.regularization_c = {config.regularization_c}")
        if config.min_rows < 2:
            problems.append(f"attributes.min_rows = {config.min_rows} (>= 2)")
        if config.cv_folds < 2:
            problems.append(f"attributes.cv_folds = {config.cv_folds} (>= 2)")
        if problems:
            raise ValueError("Invalid attributes settings: " + "; ".join(problems) + ".")
        return config

    def feature_names(self) -> list[str]:
        """Column names of :func:`feature_matrix`, in order."""
        names = []
        for group in FEATURES:
            if group not in self.features:
                continue
            if group == "neighbours":
                names += [f"neighbours_{r:g}m" for r in self.neighbour_radius_m]
            else:
                names.append(_FEATURE_NAMES[group])
        return names


def neighbour_scores(
    candidates: pd.DataFrame, radii_m: Sequence[float], *, pix_to_m: float = PIX_TO_M
) -> np.ndarray:
    """Summed objectness of each candidate's neighbours in its own scene.

    Args:
        candidates: ``scene_id``, ``detect_scene_row``, ``detect_scene_column`` (pixels),
            ``objectness_p``; any index.
        radii_m: Radii, metres.
        pix_to_m: Metres per pixel.

    Returns:
        ``(n, len(radii_m))`` float64: for row ``i`` and radius ``r``, the sum of
        ``objectness_p`` over the other candidates of the scene closer than ``r``
        (a candidate is not its own neighbour), in the row order of ``candidates``.
    """
    out = np.zeros((len(candidates), len(radii_m)), dtype=np.float64)
    if not len(candidates):
        return out
    xy = candidates[_POSITIONS].to_numpy(np.float64) * pix_to_m
    weight = candidates[OBJECTNESS_COLUMN].to_numpy(np.float64)
    scenes = candidates["scene_id"].astype(str).to_numpy()
    for rows in pd.Series(np.arange(len(candidates))).groupby(scenes).indices.values():
        tree = cKDTree(xy[rows])
        for j, radius in enumerate(radii_m):
            pairs = tree.query_pairs(float(radius), output_type="ndarray")
            if not len(pairs):
                continue
            a, b = rows[pairs[:, 0]], rows[pairs[:, 1]]
            np.add.at(out[:, j], a, weight[b])
            np.add.at(out[:, j], b, weight[a])
    return out


def _logit(p: pd.Series) -> np.ndarray:
    v = p.to_numpy(np.float64).clip(0.0, 1.0)
    return np.log((v + _EPS) / (1.0 - v + _EPS))


def feature_matrix(candidates: pd.DataFrame, config: AttributeConfig) -> np.ndarray:
    """The fishing model's features of some candidates.

    Args:
        candidates: Candidate rows (``vessel_length_m`` in metres, positions in pixels).
        config: Which features (:meth:`AttributeConfig.feature_names`).

    Returns:
        ``(n, n_features)`` float64, in the row order of ``candidates``. A length that is
        missing or below 1 m counts as 1 m.
    """
    columns: list[np.ndarray] = []
    for group in FEATURES:
        if group not in config.features:
            continue
        if group == "length":
            length = candidates["vessel_length_m"].to_numpy(np.float64)
            columns.append(np.log(np.where(np.isfinite(length), length, 1.0).clip(1.0))[:, None])
        elif group == "neighbours":
            columns.append(np.log1p(neighbour_scores(candidates, config.neighbour_radius_m)))
        elif group == "fishing_p":
            columns.append(_logit(candidates[FISHING_PROBABILITY_COLUMN])[:, None])
        else:
            columns.append(_logit(candidates[VESSEL_PROBABILITY_COLUMN])[:, None])
    return np.hstack(columns) if columns else np.zeros((len(candidates), 0))


def fishing_targets(
    candidates: pd.DataFrame, labels: pd.DataFrame, *, min_objectness: float = 0.0
) -> pd.Series:
    """``is_fishing`` of the label each candidate matches, where the metric would score it.

    Each scene's candidates of objectness ``>= min_objectness`` are matched to that
    scene's labels with the metric's matcher (200 m). As in the metric's fishing F1, only a
    label that is a vessel and knows ``is_fishing`` gives a target.

    Args:
        candidates: Candidate rows of some scenes.
        labels: Label rows (``scene_id``, positions, ``is_vessel``, ``is_fishing``:
            booleans, ``"True"`` / ``"False"`` strings or blank).
        min_objectness: Candidates below it stay unmatched.

    Returns:
        float64 Series on ``candidates.index``: 1.0 / 0.0 for a matched candidate whose
        label is a vessel with a known ``is_fishing``, NaN otherwise.
    """
    target = np.full(len(candidates), np.nan)
    eligible = np.flatnonzero(candidates[OBJECTNESS_COLUMN].to_numpy(np.float64) >= min_objectness)
    if not len(eligible) or not len(labels):
        return pd.Series(target, index=candidates.index)
    chosen = candidates.iloc[eligible]
    pred_i, gt_i = match_by_scene(
        chosen["scene_id"].to_numpy(),
        chosen[_POSITIONS].to_numpy(np.float64),
        labels["scene_id"].to_numpy(),
        labels[_POSITIONS].to_numpy(np.float64),
    )
    matched = labels.iloc[gt_i]
    vessel = label_column(matched["is_vessel"], "label", strict=True)
    fishing = label_column(matched["is_fishing"], "label", strict=True)
    known = (vessel == 1.0) & ~np.isnan(fishing)
    target[eligible[pred_i[known]]] = fishing[known]
    return pd.Series(target, index=candidates.index)


@dataclass(frozen=True)
class FishingModel:
    """A fitted fishing model: standardised features, then a logistic regression.

    ``P(fishing) = sigmoid(((x - mean) / scale) · coef + intercept)``.

    Attributes:
        config: The settings it was fitted with (its features).
        mean: Feature means, ``(n_features,)``.
        scale: Feature standard deviations, ``(n_features,)``.
        coef: Coefficients on the standardised features, ``(n_features,)``.
        intercept: The intercept.
        n_rows: Fitting rows; ``n_scenes``: their scenes; ``fishing_share``: share of
            fishing rows.
        cv: The scene-grouped cross-validation (see the module docstring).
    """

    config: AttributeConfig
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    n_rows: int
    n_scenes: int
    fishing_share: float
    cv: Mapping[str, float]

    def predict(self, candidates: pd.DataFrame) -> np.ndarray:
        """``P(fishing)`` of each candidate, ``(n,)`` float64 in ``[0, 1]``."""
        x = feature_matrix(candidates, self.config)
        z = ((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.coef)
        return 1.0 / (1.0 + np.exp(-np.clip(z + self.intercept, -50.0, 50.0)))

    def rescore(self, candidates: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``candidates`` with ``fishing_p`` from the model."""
        out = candidates.copy()
        if len(out):
            out[FISHING_PROBABILITY_COLUMN] = self.predict(out)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``fishing: context`` and the numbers)."""
        return {
            "fishing": "context",
            "config": {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self.config).items()
            },
            "features": self.config.feature_names(),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "n_rows": self.n_rows,
            "n_scenes": self.n_scenes,
            "fishing_share": self.fishing_share,
            "cv": dict(self.cv),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> FishingModel | None:
        """The model of :meth:`to_dict`, or None for ``fishing: network`` (or None).

        Raises:
            ValueError: If the numbers do not fit the features.
        """
        if values is None or values.get("fishing", "network") == "network":
            return None
        config = AttributeConfig.from_dict({**values["config"], "fishing": "context"})
        n = len(config.feature_names())
        arrays = {k: tuple(float(v) for v in values[k]) for k in ("mean", "scale", "coef")}
        bad = {k: len(v) for k, v in arrays.items() if len(v) != n}
        if bad or any(s <= 0 for s in arrays["scale"]):
            raise ValueError(
                f"The fishing model's numbers do not fit its {n} feature(s) "
                f"{config.feature_names()}: lengths {bad or 'ok'}, scale {arrays['scale']}."
            )
        return cls(
            config=config,
            intercept=float(values["intercept"]),
            n_rows=int(values["n_rows"]),
            n_scenes=int(values["n_scenes"]),
            fishing_share=float(values["fishing_share"]),
            cv={k: float(v) for k, v in dict(values.get("cv") or {}).items()},
            **arrays,
        )

    def fingerprint(self) -> str:
        """Hex digest of the numbers and features (enters the detector's fingerprint)."""
        payload = json.dumps(self.to_dict() | {"cv": None}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _pipeline(config: AttributeConfig) -> Any:
    return make_pipeline(
        StandardScaler(), LogisticRegression(C=config.regularization_c, max_iter=1000)
    )


def _cross_validation(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, network: np.ndarray, config: AttributeConfig
) -> dict[str, float]:
    n_scenes = len(np.unique(groups))
    if n_scenes < 2:
        return {}
    p = np.empty(len(y))
    for train, test in GroupKFold(n_splits=min(config.cv_folds, n_scenes)).split(x, y, groups):
        if len(np.unique(y[train])) < 2:
            p[test] = y[train].mean()
            continue
        p[test] = _pipeline(config).fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    if len(np.unique(y)) < 2:
        return {}
    q = network.clip(_EPS, 1.0 - _EPS)
    return {
        "auc_model": float(roc_auc_score(y, p)),
        "auc_network": float(roc_auc_score(y, network)),
        "log_loss_model": float(log_loss(y, p.clip(_EPS, 1.0 - _EPS))),
        "log_loss_network": float(log_loss(y, q)),
    }


def fit_fishing_model(
    candidates: pd.DataFrame, labels: pd.DataFrame, config: AttributeConfig
) -> FishingModel | None:
    """Fit the fishing model on out-of-sample candidates of labelled scenes.

    Args:
        candidates: Candidate rows of the fitting scenes (every scene detected by models
            that never trained on it); neighbours are taken among these rows.
        labels: Their scenes' label rows.
        config: Settings (``fishing`` is not read: the caller decides to fit).

    Returns:
        The model, or None (with a warning) with fewer than ``min_rows`` rows or a single
        class.
    """
    candidates = candidates.reset_index(drop=True)
    target = fishing_targets(candidates, labels, min_objectness=config.match_objectness)
    rows = target.notna().to_numpy()
    x = feature_matrix(candidates, config)[rows]
    y = target.to_numpy()[rows].astype(int)
    groups = candidates["scene_id"].astype(str).to_numpy()[rows]
    if len(y) < config.min_rows or len(np.unique(y)) < 2:
        logger.warning(
            "Fishing model not fitted: %d matched candidate(s) with a known is_fishing "
            "(%d fishing) in %d scene(s), need %d of both classes; the network's fishing_p "
            "is kept.", len(y), int(y.sum()), len(np.unique(groups)), config.min_rows,
        )  # fmt: skip
        return None
    network = candidates[FISHING_PROBABILITY_COLUMN].to_numpy(np.float64)[rows]
    cv = _cross_validation(x, y, groups, network, config)
    fitted = _pipeline(config).fit(x, y)
    scaler, regression = fitted[0], fitted[-1]
    model = FishingModel(
        config=config,
        mean=tuple(map(float, scaler.mean_)),
        scale=tuple(map(float, scaler.scale_)),
        coef=tuple(map(float, regression.coef_[0])),
        intercept=float(regression.intercept_[0]),
        n_rows=len(y),
        n_scenes=len(np.unique(groups)),
        fishing_share=float(y.mean()),
        cv=cv,
    )
    logger.info(
        "Fishing model on %d rows of %d scenes (%.0f %% fishing), features %s, coef %s; "
        "scene-grouped CV: AUC %.3f (network %.3f), log-loss %.3f (network %.3f).",
        model.n_rows, model.n_scenes, 100 * model.fishing_share, config.feature_names(),
        np.round(model.coef, 3).tolist(), cv.get("auc_model", np.nan),
        cv.get("auc_network", np.nan), cv.get("log_loss_model", np.nan),
        cv.get("log_loss_network", np.nan),
    )  # fmt: skip
    return model


class RescoredDetector:
    """A detector whose candidates take ``fishing_p`` from a :class:`FishingModel`.

    Args:
        detector: The wrapped detector (its ``name`` is kept).
        model: The fitted model.
    """

    def __init__(self, detector: Any, model: FishingModel) -> None:
        self.detector = detector
        self.model = model
        self.name = detector.name

    def __repr__(self) -> str:
        return f"RescoredDetector({self.detector!r}, features={self.model.config.feature_names()})"

    def fingerprint(self) -> str:
        """Hex digest of the wrapped detector's fingerprint and of the model."""
        both = f"{self.detector.fingerprint()}:{self.model.fingerprint()}"
        return hashlib.sha256(both.encode()).hexdigest()

    def detect(self, scene: Scene) -> pd.DataFrame:
        """The wrapped detector's candidates of ``scene``, rescored."""
        frame = self.detector.detect(scene)
        out = self.model.rescore(frame)
        out.attrs = dict(frame.attrs)
        return out
