"""Nodes of the evaluation template: detect → tune → submit → report, for any detector.

Detection nodes return :class:`~xview3_pipeline.datasets.CandidateJobs` (lazy per-scene
jobs keyed by the detector's fingerprint, with the run's ``executor``: ``local`` or a Dask
cluster from the ``dask`` block); the ``{detector}.{set}_candidates`` dataset runs them,
skipping the scenes a killed run already finished, and publishes the set when all have
run (see :mod:`xview3_pipeline.datasets.candidate_sets`). Consumers receive the
published :class:`~xview3_pipeline.datasets.CandidateSet` and check that it holds the
scenes they need.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from matplotlib.figure import Figure
from torch import nn

from xview3_pipeline.core.constants import DEFAULT_THRESHOLDS, SHORELINE_DIR
from xview3_pipeline.core.detection import (
    CfarDetector,
    CnnDetector,
    Detector,
    Scene,
    detect_candidates,
)
from xview3_pipeline.core.detection.attributes import (
    AttributeConfig,
    FishingModel,
    RescoredDetector,
    fit_fishing_model,
)
from xview3_pipeline.core.detection.cfar import CfarConfig
from xview3_pipeline.core.detection.cnn import InferenceConfig, build_ensemble
from xview3_pipeline.core.detection.scene_sets import concat_partitions, select_scenes, truth_of
from xview3_pipeline.core.io.ancillary import load_shorelines
from xview3_pipeline.core.parallel import ExecutorConfig
from xview3_pipeline.core.robustness import plot_robustness, robustness_table, scene_domains
from xview3_pipeline.core.submission import (
    detections_layer,
    official_submission,
    score_candidates,
    score_report,
    threshold_detections,
)
from xview3_pipeline.datasets import CandidateJobs, CandidateSet, SceneJob
from xview3_pipeline.datasets.candidate_sets import check_scene_error_policy
from xview3_pipeline.pipelines.tuning.nodes import tune

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- detectors


def export_ensemble(parameters: dict[str, Any], *models: nn.Module) -> nn.Module:
    """The fold models as one ensemble (sigmoid per model, mean, flip TTA), to be exported.

    Args:
        parameters: The ``inference`` block (tile size, TTA flags).
        *models: The fold models (``fold_k.model``).

    Returns:
        The ensemble with ``export_shape`` set to one tile.
    """
    config = InferenceConfig.from_dict(parameters)
    ensemble = build_ensemble(list(models), config)
    # Read by ExportedEnsembleDataset.save; a batch of at least 2 in the example keeps the
    # exported batch size dynamic. (nn.Module's attribute typing does not know the name.)
    shape = (max(2, config.batch_size), 2, config.tile_size, config.tile_size)
    ensemble.export_shape = shape  # type: ignore[assignment]
    return ensemble


def cnn_detector(ensemble: nn.Module, parameters: dict[str, Any]) -> CnnDetector:
    """The exported ensemble as a detector (``inference`` block: tiling, TTA, decoding)."""
    return CnnDetector(ensemble, InferenceConfig.from_dict(parameters))


def fold_detectors(parameters: dict[str, Any], *models: nn.Module) -> dict[int, CnnDetector]:
    """Each fold's own model (an ensemble of one, with TTA), for its validation scenes.

    Args:
        parameters: The ``inference`` block.
        *models: ``fold_0.model`` … ``fold_{K-1}.model``, in fold order.

    Returns:
        ``fold -> detector``.
    """
    config = InferenceConfig.from_dict(parameters)
    return {k: CnnDetector(build_ensemble([m], config), config) for k, m in enumerate(models)}


def rescored_detector(
    detector: Detector, attribute_model: dict[str, Any] | None, parameters: dict[str, Any]
) -> Detector:
    """The network's detector, its ``fishing_p`` from the fishing model when there is one.

    Args:
        detector: ``cnn.network_detector``.
        attribute_model: ``cnn.attribute_model`` (None when never fitted).
        parameters: The ``attributes`` block.

    Returns:
        ``detector`` itself for ``attributes.fishing: network`` or without a model, else a
        :class:`~xview3_pipeline.core.detection.attributes.RescoredDetector`.
    """
    config = AttributeConfig.from_dict(parameters)
    if config.fishing == "network":
        return detector
    model = FishingModel.from_dict(attribute_model)
    if model is None:
        logger.warning(
            "attributes.fishing is 'context' but no fishing model was fitted (none saved, "
            "or too few labelled candidates): the network's fishing_p is used."
        )
        return detector
    return RescoredDetector(detector, model)


def cfar_detector(parameters: dict[str, Any]) -> CfarDetector:
    """The CFAR baseline as a detector (``cfar`` block)."""
    return CfarDetector(CfarConfig.from_dict(parameters))


# ---------------------------------------------------------------- detection


def _inputs_signature(scene: Scene) -> str:
    """Size and modification time of the scene's input files, hashed.

    A frame is reused only for the same detector *and* unchanged inputs: regenerated or
    replaced rasters under the same scene id are detected again.
    """
    digest = hashlib.sha256()
    for path in (scene.vh_path, scene.vv_path, scene.owi_mask_path, scene.shoreline_path):
        if path is not None and Path(path).is_file():
            stat = Path(path).stat()
            digest.update(f"{Path(path).name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def scene_jobs(
    detector: Detector,
    scenes: Iterable[Scene],
    *,
    on_scene_error: str,
    executor: ExecutorConfig | None = None,
) -> CandidateJobs:
    """Lazy detection jobs of some scenes, keyed by the detector's fingerprint.

    Args:
        detector: The detector (shared by the jobs: sent once to each Dask worker).
        scenes: The scenes.
        on_scene_error: ``continue`` or ``raise`` (``detection.on_scene_error``).
        executor: Where the jobs run (``None``: ``local``).

    Returns:
        The jobs, for a :class:`~xview3_pipeline.datasets.CandidateSetDataset`.
    """
    fingerprint = detector.fingerprint()
    jobs = tuple(
        SceneJob(
            scene_id=s.scene_id,
            fingerprint=fingerprint,
            source=str(s.vh_path.parent),
            run=partial(detect_candidates, scene=s),
            inputs=_inputs_signature(s),
            detector=detector,
        )
        for s in scenes
    )
    return CandidateJobs(
        jobs,
        on_scene_error=on_scene_error,
        detector=detector.name,
        executor=executor or ExecutorConfig(),
    )


def index_scenes(rows: pd.DataFrame, raw_root: str) -> list[Scene]:
    """The scenes of scene-index rows, resolved under ``raw_root``."""
    return [Scene.from_index_row(r, raw_root) for r in rows.itertuples(index=False)]


def _policy(detection: Mapping[str, Any]) -> str:
    return check_scene_error_policy(str(detection.get("on_scene_error", "continue")))


def detect_scene_set(
    *,
    detector: Detector,
    scene_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    raw_root: str,
    detection: dict[str, Any],
    which: str,
    executor: str | None = None,
    dask: dict[str, Any] | None = None,
) -> CandidateJobs:
    """Candidates of the holdout (``which="holdout"``) or test (``"test"``) scenes.

    Args:
        detector: The detector (``{detector}.detector``).
        scene_index: The scene index.
        fold_assignments: The fold table (holdout scenes).
        raw_root: Root of the xView3 layout.
        detection: The ``detection`` block (``on_scene_error``).
        which: ``holdout`` or ``test``.
        executor: ``local`` or ``dask`` (the ``executor`` parameter).
        dask: The ``dask`` block.

    Returns:
        Lazy per-scene jobs for ``{detector}.{which}_candidates``.
    """
    rows = select_scenes(scene_index, fold_assignments, which)
    return scene_jobs(
        detector,
        index_scenes(rows, raw_root),
        on_scene_error=_policy(detection),
        executor=ExecutorConfig.from_params(executor, dask),
    )


def detect_out_of_fold(
    *,
    detectors: Mapping[int, Detector],
    scene_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    raw_root: str,
    detection: dict[str, Any],
    executor: str | None = None,
    dask: dict[str, Any] | None = None,
) -> CandidateJobs:
    """Candidates of each fold's validation scenes from that fold's own detector.

    With ``executor: dask`` each fold's detector (its in-memory model) is sent once to
    every worker, not with every scene.

    Returns:
        Lazy per-scene jobs (one fingerprint per fold) for ``{detector}.oof_candidates``.
    """
    policy = _policy(detection)
    config = ExecutorConfig.from_params(executor, dask)
    jobs: list[SceneJob] = []
    for fold, detector in sorted(detectors.items()):
        rows = select_scenes(scene_index, fold_assignments, "oof", fold)
        jobs += scene_jobs(detector, index_scenes(rows, raw_root), on_scene_error=policy).jobs
    name = next(iter(detectors.values())).name if detectors else ""
    return CandidateJobs(tuple(jobs), on_scene_error=policy, detector=name, executor=config)


def detect_attribute_scenes(*, attributes: dict[str, Any], **kwargs: Any) -> CandidateJobs:
    """:func:`detect_scene_set` of the ``attribute`` scenes, to fit the fishing model.

    The ``train`` scenes the fold table does not hold, from ``cnn.network_detector`` (the
    ensemble, which never trained on them); every fold's scenes are in ``oof_candidates``
    already. With ``attributes.fishing: network`` nothing is fitted and no scene is
    detected (an empty set).

    Args:
        attributes: The ``attributes`` block.
        **kwargs: The arguments of :func:`detect_scene_set`.

    Returns:
        Lazy per-scene jobs for ``cnn.attribute_candidates``.
    """
    if AttributeConfig.from_dict(attributes).fishing == "network":
        kwargs["scene_index"] = kwargs["scene_index"].iloc[:0]  # no scene to detect
    return detect_scene_set(**kwargs)


def fit_attributes(
    oof_candidates: CandidateSet,
    attribute_candidates: CandidateSet,
    labels: pd.DataFrame,
    parameters: dict[str, Any],
) -> dict[str, Any]:
    """Fit the fishing model on the out-of-sample candidates of the labelled scenes.

    Args:
        oof_candidates: Each fold's scenes from that fold's model.
        attribute_candidates: The other labelled scenes from the ensemble.
        labels: Validated labels (their rows of these scenes are the targets).
        parameters: The ``attributes`` block.

    Returns:
        ``cnn.attribute_model``: the model's JSON form, or ``{"fishing": "network"}`` when
        the network's head is kept (configured, or too few rows).
    """
    config = AttributeConfig.from_dict(parameters)
    if config.fishing == "network":
        return {"fishing": "network"}
    frames = [concat_partitions(s) for s in (oof_candidates, attribute_candidates) if len(s)]
    if not frames:
        logger.warning("No out-of-sample candidates to fit the fishing model on.")
        return {"fishing": "network"}
    candidates = pd.concat(frames, ignore_index=True)
    scene_ids = sorted(candidates["scene_id"].astype(str).unique())
    model = fit_fishing_model(candidates, truth_of(labels, scene_ids), config)
    return {"fishing": "network"} if model is None else model.to_dict()


def failed_scenes(**sets: CandidateSet) -> pd.DataFrame:
    """The scenes whose detection failed, per set (``set, scene_id, source, error``).

    Args:
        **sets: ``set name -> published candidate set``.

    Returns:
        One row per failed scene (none when all succeeded).
    """
    frames = [candidates.failures_frame(set=name) for name, candidates in sets.items()]
    table = pd.concat(frames, ignore_index=True)
    if len(table):
        logger.warning("Detection failed on %d scene(s):\n%s", len(table), table.to_string())
    return table


def _scene_ids(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["scene_id"].astype(str))


def cross_validation_report(
    oof_candidates: CandidateSet,
    labels: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    raw_root: str,
) -> pd.DataFrame:
    """xView3 components per fold on its out-of-fold candidates at the winner's thresholds.

    Returns:
        One row per fold plus ``all`` (the pooled out-of-fold score).

    Raises:
        IncompleteCandidateSetError: If a fold's validation scene has no candidates.
    """
    folds = fold_assignments[fold_assignments["fold"] >= 0]
    oof_candidates.require(_scene_ids(folds), what="out-of-fold candidates (cv_scores)")
    candidates = concat_partitions(oof_candidates)
    done = set(oof_candidates)
    shorelines = load_shorelines(Path(raw_root) / SHORELINE_DIR, sorted(done))
    groups = [(str(k), set(g["scene_id"].astype(str)) & done) for k, g in folds.groupby("fold")]
    rows = []
    for name, ids in [*groups, ("all", done)]:
        part = candidates[candidates["scene_id"].astype(str).isin(ids)]
        scores = score_candidates(part, truth_of(labels, ids), shorelines, DEFAULT_THRESHOLDS)
        rows.append({"fold": name, "scenes": len(ids), **scores})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- tuning


def tune_thresholds(
    *,
    candidates: CandidateSet,
    fold_assignments: pd.DataFrame,
    labels: pd.DataFrame,
    raw_root: str,
    parameters: dict[str, Any],
    storage_path: str,
) -> tuple[Any, ...]:
    """Tune the thresholds on the holdout candidates with the methods ``tuning.methods`` lists.

    Checks that every holdout scene is in the set (or recorded as failed, then left out
    of candidates and truth alike), then calls the tuning node.

    Returns:
        The outputs of :func:`xview3_pipeline.pipelines.tuning.nodes.tune`.
    """
    holdout = fold_assignments[fold_assignments["fold"] == -1]
    candidates.require(_scene_ids(holdout), what="holdout candidates (tuning)")
    return tune(dict(candidates), labels, raw_root, parameters, storage_path)


# ---------------------------------------------------------------- submission and report


def _test_ids(scene_index: pd.DataFrame) -> list[str]:
    return _scene_ids(scene_index[scene_index["split"] == "public"])


def make_submission(
    candidates: CandidateSet, thresholds: dict[str, Any] | None, scene_index: pd.DataFrame
) -> tuple[pd.DataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    """Apply the tuned thresholds to the test candidates.

    Returns:
        The official submission CSV, the detections as GeoPackage and GeoJSON layers, and
        the thresholded detections with all their columns (for the score report).

    Raises:
        ValueError: If the detector has no tuned thresholds.
        IncompleteCandidateSetError: If a test scene has no candidates.
    """
    if thresholds is None:
        raise ValueError(
            "No tuned thresholds for this detector ({detector}.best_thresholds): run its "
            "tuning first (kedro run --pipelines tuning, or cfar_baseline for CFAR)."
        )
    candidates.require(_test_ids(scene_index), what="test candidates (submission)")
    detections = threshold_detections(concat_partitions(candidates), thresholds)
    layer = detections_layer(detections)
    return official_submission(detections), layer, layer, detections


def report_scores(
    *,
    detections: pd.DataFrame,
    candidates: CandidateSet,
    truth: pd.DataFrame,
    manifest: pd.DataFrame,
    thresholds: dict[str, Any],
    raw_root: str,
    name: str,
) -> tuple[dict[str, Any], pd.DataFrame, Figure]:
    """Score the thresholded test detections when truth exists (synthetic data).

    Scenes whose detection failed are left out of the truth too and listed in the report
    (``failed_scenes``). When the manifest marks some scored scene ``ood``, the report
    also scores each domain on its own (``by_domain``), at the same thresholds.

    Args:
        detections: ``{detector}.test_detections``.
        candidates: ``{detector}.test_candidates``.
        truth: ``synthetic_test_truth`` (empty on real data).
        manifest: ``synthetic_manifest`` (empty on real data; its ``domain`` column, when
            present, gives each scene's domain).
        thresholds: ``{detector}.best_thresholds``.
        raw_root: Root of the xView3 layout (shorelines).
        name: The detector's display name.

    Returns:
        The report (six official components, ``n_scenes``, ``failed_scenes``; with
        out-of-distribution scenes ``by_domain`` and ``domain_scenes``), the per-scene
        table (with ``domain`` when the scenes have one) and a PR-curve figure.
    """
    scene_ids = sorted(candidates)
    shorelines = load_shorelines(Path(raw_root) / SHORELINE_DIR, scene_ids)
    truth = truth[truth["scene_id"].astype(str).isin(scene_ids)] if len(truth) else truth
    report, per_scene, figure = score_report(
        detections,
        concat_partitions(candidates),
        truth,
        shorelines,
        thresholds=thresholds,
        name=name,
        domains=scene_domains(manifest, scene_ids),
    )
    report |= {"n_scenes": len(scene_ids), "failed_scenes": sorted(candidates.failed)}
    return report, per_scene, figure


def robustness_report(
    cnn: Mapping[str, Any], cfar: Mapping[str, Any]
) -> tuple[pd.DataFrame, Figure]:
    """Both detectors' test scores side by side, per domain, and the CNN's margin.

    Args:
        cnn: ``cnn.test_score_report``.
        cfar: ``cfar.test_score_report``.

    Returns:
        The table (rows ``cnn``, ``cfar`` and ``cnn_minus_cfar`` × ``all``/``in``/``ood``;
        only ``all`` without domains) and its bar chart.
    """
    reports = {"cnn": cnn, "cfar": cfar}
    table = robustness_table(reports, margin=("cnn", "cfar"))
    names = {d: str(r.get("detector") or d) for d, r in reports.items()}
    return table, plot_robustness(table, names)


__all__ = (
    "cfar_detector",
    "cnn_detector",
    "cross_validation_report",
    "detect_attribute_scenes",
    "detect_out_of_fold",
    "detect_scene_set",
    "export_ensemble",
    "failed_scenes",
    "fit_attributes",
    "fold_detectors",
    "index_scenes",
    "make_submission",
    "report_scores",
    "rescored_detector",
    "robustness_report",
    "scene_jobs",
    "tune_thresholds",
)
