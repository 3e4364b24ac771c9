"""Out-of-fold predictions against labels: the cleaned label table and the training labels.

The winner's cleaning of the training set: predictions of an ensemble that never saw a scene
are matched one-to-one to its labels, as the official scorer matches (:func:`match_points`).
A label matched by a confident prediction is ``confirmed`` (probably right); a label without
one (``label_only``) and a confident prediction without a label (``prediction_only``) are
disagreements where nobody knows who is wrong, so training turns their signal off
(:func:`training_labels` marks them ``ignore``). On confirmed rows each field (vessel,
fishing, length) is compared with the prediction; a disagreeing field is blanked.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from xview3_pipeline.core.cleaning.config import CleaningConfig
from xview3_pipeline.core.cleaning.tables import (
    CLEANING_COLUMNS,
    LABEL_STATES,
    LABEL_TABLE_COLUMNS,
    PREDICTION_SOURCE,
    finite_positions,
    require_columns,
)
from xview3_pipeline.core.constants import NEAR_SHORE_KM
from xview3_pipeline.core.metric.matching import group_rows, match_points

__all__ = ["CANDIDATE_INPUT_COLUMNS", "clean_labels", "training_labels"]

logger = logging.getLogger(__name__)

#: Candidate columns cleaning reads (a subset of ``core.detection.CANDIDATE_COLUMNS``).
CANDIDATE_INPUT_COLUMNS: tuple[str, ...] = (
    "scene_id",
    "detect_scene_row",
    "detect_scene_column",
    "objectness_p",
    "vessel_p",
    "fishing_p",
    "vessel_length_m",
    "detect_lat",
    "detect_lon",
    "distance_from_shore_km",
)
_CONFIRMED, _LABEL_ONLY, _PREDICTION_ONLY = LABEL_STATES
#: Label field, its unknown flag, and the agreement column that may blank it.
_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("is_vessel", "vessel_unknown", "vessel_agree"),
    ("is_fishing", "fishing_unknown", "fishing_agree"),
    ("vessel_length_m", "length_unknown", "length_agree"),
)


def _scene_splits(
    labels: pd.DataFrame, scene_splits: Mapping[str, str] | None
) -> tuple[pd.Index, np.ndarray]:
    """The scenes to clean (labels' scenes first, in order) and the split of each."""
    if labels["scene_id"].isna().any():
        pos = int(np.flatnonzero(labels["scene_id"].isna().to_numpy())[0])
        raise ValueError(f"clean_labels: labels row {pos} has no scene_id.")
    per_scene = labels.groupby("scene_id", sort=False)["split"].unique()
    mixed = per_scene[per_scene.map(len) > 1]
    if len(mixed):
        raise ValueError(
            f"clean_labels: scene {mixed.index[0]!r} has labels of several splits "
            f"{list(mixed.iloc[0])}; a scene belongs to one split."
        )
    splits = {str(k): str(v[0]) for k, v in per_scene.items()}
    for scene, split in (scene_splits or {}).items():
        if str(scene) in splits and splits[str(scene)] != str(split):
            raise ValueError(
                f"clean_labels: scene_splits gives scene {scene!r} the split {split!r}, but its "
                f"labels are of split {splits[str(scene)]!r}."
            )
        splits.setdefault(str(scene), str(split))
    return pd.Index(list(splits), dtype=object), np.array(list(splits.values()), dtype=object)


def _scene_codes(frame: pd.DataFrame, scenes: pd.Index, *, what: str) -> np.ndarray:
    """Position of each row's scene in ``scenes``; unknown scenes raise."""
    codes = scenes.get_indexer(frame["scene_id"].astype(object))
    unknown = codes < 0
    if unknown.any():
        names = pd.unique(frame["scene_id"].astype(object)[unknown])
        shown = ", ".join(repr(s) for s in names[:5])
        raise ValueError(
            f"clean_labels: {what} has {int(unknown.sum())} row(s) of {len(names)} scene(s) "
            f"not being cleaned ({shown}; first at row {int(np.flatnonzero(unknown)[0])}); "
            f"the scenes cleaned are those of the labels and scene_splits "
            f"({len(scenes)}: {', '.join(repr(s) for s in scenes[:5])}"
            f"{', ...' if len(scenes) > 5 else ''})."
        )
    return codes


def _match(
    label_code: np.ndarray,
    label_rc: np.ndarray,
    cand_code: np.ndarray,
    cand_rc: np.ndarray,
    *,
    n_scenes: int,
    tolerance_m: float,
) -> np.ndarray:
    """For each label, the candidate matched to it (-1: none), scene by scene.

    ``cand_code`` is negative for candidates that take no part (not confident).
    """
    matched = np.full(len(label_code), -1, dtype=np.int64)
    label_groups = group_rows(label_code, n_scenes)
    cand_groups = group_rows(cand_code, n_scenes)
    for li, ci in zip(label_groups, cand_groups, strict=True):
        if len(li) == 0 or len(ci) == 0:
            continue
        pi, gi = match_points(cand_rc[ci], label_rc[li], tolerance_m=tolerance_m)
        matched[li[gi]] = ci[pi]
    return matched


def _agreement(known: np.ndarray, agree: np.ndarray) -> pd.arrays.BooleanArray:
    """``agree`` where ``known``, NA elsewhere."""
    return pd.arrays.BooleanArray(np.where(known, agree, False), ~known)


def _agreements(
    labels: pd.DataFrame,
    pred: Mapping[str, np.ndarray],
    matched: np.ndarray,
    config: CleaningConfig,
) -> dict[str, pd.arrays.BooleanArray]:
    """The ``*_agree`` columns of the label rows (NA: no match or a side unknown)."""
    has = matched >= 0
    out = {}
    for field, unknown, agree, pred_col, threshold in (
        ("is_vessel", "vessel_unknown", "vessel_agree", "pred_vessel_p", config.vessel_threshold),
        (
            "is_fishing",
            "fishing_unknown",
            "fishing_agree",
            "pred_fishing_p",
            config.fishing_threshold,
        ),
    ):
        values = pd.array(labels[field], dtype="boolean")
        p = pred[pred_col]
        known = has & ~labels[unknown].to_numpy(dtype=bool) & ~values.isna() & np.isfinite(p)
        label_true = values.to_numpy(dtype=bool, na_value=False)
        out[agree] = _agreement(known, label_true == (p >= threshold))
    length = pd.to_numeric(labels["vessel_length_m"]).to_numpy(dtype=np.float64, na_value=np.nan)
    p = pred["pred_length_m"]
    known = (
        has & ~labels["length_unknown"].to_numpy(dtype=bool) & np.isfinite(length) & np.isfinite(p)
    )
    with np.errstate(invalid="ignore"):
        close = np.abs(p - length) <= config.length_tolerance_rel * length
    out["length_agree"] = _agreement(known, close)
    return out


def _candidate_values(candidates: pd.DataFrame, rows: np.ndarray) -> dict[str, np.ndarray]:
    """``pred_*`` values of candidate rows (``rows`` -1: NaN)."""
    out = {}
    for name, column in (
        ("pred_objectness_p", "objectness_p"),
        ("pred_vessel_p", "vessel_p"),
        ("pred_fishing_p", "fishing_p"),
        ("pred_length_m", "vessel_length_m"),
    ):
        values = pd.to_numeric(candidates[column]).to_numpy(dtype=np.float64, na_value=np.nan)
        taken = values[np.maximum(rows, 0)] if len(values) else np.full(len(rows), np.nan)
        out[name] = np.where(rows >= 0, taken, np.nan)
    return out


def _blank_series(dtype: object, n: int) -> pd.Series:
    """``n`` missing values of ``dtype``; a dtype without a missing value gets -1 / False."""
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return pd.Series(np.zeros(n, dtype=bool))
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return pd.Series(np.full(n, -1)).astype(dtype)
    return pd.Series([None] * n, dtype=object).astype(dtype)


def _prediction_rows(
    labels: pd.DataFrame,
    candidates: pd.DataFrame,
    rows: np.ndarray,
    *,
    codes: np.ndarray,
    scenes: pd.Index,
    splits: np.ndarray,
) -> pd.DataFrame:
    """Label-table rows for the prediction-only candidates ``rows`` (sorted by scene code)."""
    n = len(rows)
    cand = candidates.iloc[rows]
    scene = scenes.to_numpy()[codes]
    k = np.arange(n) - np.searchsorted(codes, codes, side="left")
    dist = pd.to_numeric(cand["distance_from_shore_km"]).to_numpy(dtype=float, na_value=np.nan)
    nan = np.full(n, np.nan)
    values: dict[str, object] = {
        "detect_lat": cand["detect_lat"].to_numpy(dtype=float),
        "detect_lon": cand["detect_lon"].to_numpy(dtype=float),
        "vessel_length_m": nan,
        "is_vessel": [None] * n,
        "is_fishing": [None] * n,
        "source": [PREDICTION_SOURCE] * n,
        "detect_scene_row": cand["detect_scene_row"].to_numpy(),
        "detect_scene_column": cand["detect_scene_column"].to_numpy(),
        "distance_from_shore_km": dist,
        "scene_id": scene,
        # A valid level keeps the table encodable; the row is an ignore region anyway.
        "confidence": ["LOW"] * n,
        "detect_id": pd.Series(scene, dtype=str) + "_pred_" + pd.Series(k, dtype=str),
        "split": splits[codes],
        "is_near_shore": dist <= NEAR_SHORE_KM,
        "vessel_unknown": np.ones(n, dtype=bool),
        "fishing_unknown": np.ones(n, dtype=bool),
        "length_unknown": np.ones(n, dtype=bool),
    }
    out = {}
    for col in labels.columns:
        dtype = labels[col].dtype
        if col in values:
            out[col] = pd.Series(values[col]).astype(dtype)
        else:
            out[col] = _blank_series(dtype, n)
        out[col].index = pd.RangeIndex(n)
    return pd.DataFrame(out, index=pd.RangeIndex(n))


def clean_labels(
    labels: pd.DataFrame,
    candidates: pd.DataFrame,
    config: CleaningConfig,
    *,
    round_index: int = 1,
    scene_splits: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Match out-of-fold candidates to the labels of their scenes and record who agrees.

    In each scene, every label is matched against the confident candidates
    (``objectness_p >= config.objectness_threshold``) with the official one-to-one
    assignment (:func:`~xview3_pipeline.core.metric.matching.match_points`, centres strictly
    closer than ``config.tolerance_m``). A matched label is ``confirmed``, an unmatched label
    ``label_only``, and an unmatched confident candidate becomes a ``prediction_only`` row.
    On a matched label, a field agrees when the label's known value equals the prediction:
    ``is_vessel == (vessel_p >= vessel_threshold)``, ``is_fishing == (fishing_p >=
    fishing_threshold)``, ``|pred_length - length| <= length_tolerance_rel * length``.

    Args:
        labels: Rows of the ingestion ``labels`` table (official columns, ``split``,
            ``label_file``, ``source_row``, ``is_near_shore``, ``*_unknown``; any extra
            columns are kept) of the scenes to clean.
        candidates: Out-of-fold candidates of those scenes (``core.detection``
            ``CANDIDATE_COLUMNS``; at least :data:`CANDIDATE_INPUT_COLUMNS`), positions
            ``detect_scene_row``/``detect_scene_column`` in pixels.
        config: Thresholds and tolerances.
        round_index: The cleaning round (>= 1), written to ``cleaning_round``.
        scene_splits: Scenes to clean besides those of ``labels`` (scene id -> split), e.g.
            scenes without any label; their candidates may all become prediction-only rows.

    Returns:
        The label rows (input order, columns and dtypes, new RangeIndex) followed by the
        prediction-only rows (scene by scene, candidate order), with the columns
        ``label_state`` (str: ``confirmed`` | ``label_only`` | ``prediction_only``),
        ``vessel_agree``, ``fishing_agree``, ``length_agree`` (pandas ``boolean``, NA
        where the label or the prediction is unknown and on every unmatched row),
        ``pred_objectness_p``, ``pred_vessel_p``, ``pred_fishing_p``, ``pred_length_m``
        (float64, the matched candidate's; NaN on ``label_only`` rows) and
        ``cleaning_round`` (int64). A prediction-only row has the candidate's position,
        ``detect_lat``/``detect_lon`` and ``distance_from_shore_km``; blank ``is_vessel``,
        ``is_fishing``, ``vessel_length_m`` (their ``*_unknown`` True); ``source``
        ``"prediction"``; ``detect_id`` ``"<scene_id>_pred_<k>"`` (``k`` = 0, 1, ... within
        the scene); the scene's ``split``; ``confidence`` ``LOW``; ``source_row`` -1; NA in
        the other columns.

    Raises:
        ValueError: On a missing column, a candidate of a scene not being cleaned, a scene
            whose labels mix splits, a position that is not finite (naming the row and its
            values), an objectness that is not a finite probability, or ``round_index < 1``.
    """
    if isinstance(round_index, bool) or not isinstance(round_index, int | np.integer):
        raise TypeError(f"clean_labels: round_index must be an int >= 1, got {round_index!r}.")
    if round_index < 1:
        raise ValueError(f"clean_labels: round_index must be >= 1, got {round_index}.")
    require_columns(labels, LABEL_TABLE_COLUMNS, what="clean_labels: labels")
    require_columns(candidates, CANDIDATE_INPUT_COLUMNS, what="clean_labels: candidates")
    clash = [c for c in (*CLEANING_COLUMNS, "ignore") if c in labels.columns]
    if clash:
        raise ValueError(
            f"clean_labels: labels already have cleaning columns {clash}; pass the ingestion "
            "labels table, not a cleaned one."
        )
    labels = labels.reset_index(drop=True)
    candidates = candidates.reset_index(drop=True)
    scenes, splits = _scene_splits(labels, scene_splits)
    label_code = _scene_codes(labels, scenes, what="labels")
    cand_code = _scene_codes(candidates, scenes, what="candidates")
    label_rc = finite_positions(labels, what="clean_labels: labels", describe="detect_id")
    cand_rc = finite_positions(candidates, what="clean_labels: candidates")
    objectness = pd.to_numeric(candidates["objectness_p"], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    bad = ~(np.isfinite(objectness) & (objectness >= 0) & (objectness <= 1))
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raw = candidates["objectness_p"].to_numpy(dtype=object)[pos]
        raise ValueError(
            f"clean_labels: candidates row {pos} (scene {candidates.at[pos, 'scene_id']!r}) has "
            f"objectness_p={raw!r}; expected a probability in "
            f"[0, 1]. {int(bad.sum())} such row(s)."
        )
    confident = objectness >= config.objectness_threshold
    matched = _match(
        label_code,
        label_rc,
        np.where(confident, cand_code, -1),
        cand_rc,
        n_scenes=len(scenes),
        tolerance_m=config.tolerance_m,
    )
    taken = np.zeros(len(candidates), dtype=bool)
    taken[matched[matched >= 0]] = True
    extra = np.flatnonzero(confident & ~taken)
    extra = extra[np.argsort(cand_code[extra], kind="stable")]

    label_pred = _candidate_values(candidates, matched)
    extra_pred = _candidate_values(candidates, extra)
    agree = _agreements(labels, label_pred, matched, config)
    added = _prediction_rows(
        labels, candidates, extra, codes=cand_code[extra], scenes=scenes, splits=splits
    )
    out = pd.concat([labels, added], ignore_index=True) if len(added) else labels.copy()

    n_label, n_extra = len(labels), len(extra)
    state = np.where(matched >= 0, _CONFIRMED, _LABEL_ONLY).astype(object)
    out["label_state"] = pd.Series(
        np.concatenate([state, np.full(n_extra, _PREDICTION_ONLY, dtype=object)]), dtype="str"
    )
    na = pd.arrays.BooleanArray(np.zeros(n_extra, dtype=bool), np.ones(n_extra, dtype=bool))
    for name, values in agree.items():
        out[name] = pd.array(np.concatenate([values, na]), dtype="boolean")
    for name in label_pred:
        out[name] = np.concatenate([label_pred[name], extra_pred[name]])
    out["cleaning_round"] = np.full(n_label + n_extra, int(round_index), dtype=np.int64)
    logger.info(
        "Cleaning round %d over %d scene(s): %d confirmed, %d label-only, %d prediction-only "
        "(%d of %d candidates confident).",
        round_index,
        len(scenes),
        int((matched >= 0).sum()),
        int((matched < 0).sum()),
        n_extra,
        int(confident.sum()),
        len(candidates),
    )
    return out


def training_labels(cleaned: pd.DataFrame) -> pd.DataFrame:
    """The labels the encoder trains on, from one round's cleaned table.

    ``ignore`` is True on ``label_only`` and ``prediction_only`` rows: the coder draws them
    as objectness ignore regions with no class or length signal. On ``confirmed`` rows a
    field whose ``*_agree`` is False is blanked (``is_vessel``/``is_fishing`` NA,
    ``vessel_length_m`` NaN) and its ``*_unknown`` flag set True; a field that agrees or is
    unknown is kept as labelled.

    Args:
        cleaned: Output of :func:`clean_labels` (one round).

    Returns:
        The label columns of ``cleaned`` (its columns less the cleaning ones, same dtypes and
        order) plus a bool column ``ignore``.

    Raises:
        ValueError: On a missing column, an unknown ``label_state`` (naming the row and the
            value) or a table holding several cleaning rounds.
    """
    require_columns(cleaned, (*LABEL_TABLE_COLUMNS, *CLEANING_COLUMNS), what="training_labels")
    rounds = pd.unique(cleaned["cleaning_round"])
    if len(rounds) > 1:
        raise ValueError(
            f"training_labels: the table holds cleaning rounds {sorted(rounds.tolist())}; "
            "pass the rows of one round."
        )
    state = cleaned["label_state"].astype(object).to_numpy()
    unknown_state = ~np.isin(state, LABEL_STATES)
    if unknown_state.any():
        pos = int(np.flatnonzero(unknown_state)[0])
        raise ValueError(
            f"training_labels: row {pos} has label_state {state[pos]!r}; expected one of "
            f"{list(LABEL_STATES)}."
        )
    out = cleaned.drop(columns=list(CLEANING_COLUMNS)).reset_index(drop=True)
    confirmed = state == _CONFIRMED
    for field, unknown, agree in _FIELDS:
        # Disagreement is a False (NA, unknown or unmatched, keeps the field).
        disagree = confirmed & ~pd.array(cleaned[agree], dtype="boolean").to_numpy(
            dtype=bool, na_value=True
        )
        if disagree.any():
            out.loc[disagree, field] = pd.NA if field != "vessel_length_m" else np.nan
            out.loc[disagree, unknown] = True
    out["ignore"] = ~confirmed
    return out
