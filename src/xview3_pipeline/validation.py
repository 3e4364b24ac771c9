"""Checks of the parameter blocks, run when a Kedro run starts (before any node).

Each top-level parameter block has one validator that builds the block's typed
configuration through the owning package's ``from_dict`` (the same call the nodes make), so
a bad value stops ``kedro run`` before the first node instead of after hours of training.
Checks that no configuration does yet are small named functions here
(:func:`check_tile_multiple`, :func:`check_folder_parameter`, :func:`check_ingestion`,
:func:`check_encoding`, :func:`check_executor`). :func:`check_holdout_size` needs the data and is called by the
``folds`` stage before it saves anything (and by the run-start hook when the scene table
already exists).

Every error is a :class:`ParameterError` that names the parameter (``inference.tile_size``),
its value and what is accepted.

The owning configurations are imported inside the validators: ``settings.py`` imports this
module for every ``kedro`` command, and the torch-based ones are needed only by a run that
uses their block.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

#: Total stride of the CircleNet encoders (features at strides 4, 8, 16 and 32): tiles and
#: crops the model sees must be multiples of it.
ENCODER_TOTAL_STRIDE = 32


class ParameterError(ValueError):
    """A parameter block holds a value that would fail a stage; raised before any node runs."""


def _block(parameters: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = parameters.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ParameterError(
            f"Parameter {name!r} must be a mapping of settings, got {type(value).__name__} "
            f"{value!r}."
        )
    return value


def check_tile_multiple(inference: Mapping[str, Any]) -> None:
    """``inference.tile_size`` must be a multiple of the encoder's total stride (32).

    Args:
        inference: The ``inference`` block.

    Raises:
        ParameterError: If it is not; the message gives the nearest accepted sizes.
    """
    tile = inference.get("tile_size")
    if tile is None:
        return
    if not isinstance(tile, int) or isinstance(tile, bool) or tile % ENCODER_TOTAL_STRIDE:
        low = max(ENCODER_TOTAL_STRIDE, int(tile) // ENCODER_TOTAL_STRIDE * ENCODER_TOTAL_STRIDE)
        raise ParameterError(
            f"inference.tile_size={tile!r}: expected a positive multiple of "
            f"{ENCODER_TOTAL_STRIDE} (the encoder's total stride), e.g. {low} or "
            f"{low + ENCODER_TOTAL_STRIDE}."
        )


def check_folder_parameter(name: str, value: object) -> None:
    """A folder parameter (``raw_root``, ``predict_root``) must not name a file.

    A folder that does not exist yet is accepted (``synthetic_data`` creates the raw root;
    the stages that read it report a missing folder with the expected layout).

    Raises:
        ParameterError: If the value is not a path string or names an existing non-folder.
    """
    if not isinstance(value, str | Path) or not str(value):
        raise ParameterError(f"{name}={value!r}: expected the path of a folder.")
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise ParameterError(
            f"{name}={str(value)!r} is a file, not a folder; expected the folder of the xView3 "
            "layout (<root>/<split>/<scene_id>/VV_dB.tif, VH_dB.tif, ...)."
        )


def check_ingestion(ingestion: Mapping[str, Any]) -> None:
    """Keys and values of the ``ingestion`` block.

    Raises:
        ParameterError: On an unknown key, an unknown split, a ``max_side`` below 1, a
            ``strict`` that is not a boolean or a negative ``near_shore_km``.
    """
    from xview3_pipeline.core.constants import SPLITS  # noqa: PLC0415

    known = {"splits", "max_side", "strict", "near_shore_km"}
    unknown = sorted(set(ingestion) - known)
    if unknown:
        raise ParameterError(f"Unknown ingestion key(s) {unknown}; valid keys are {sorted(known)}.")
    splits = ingestion.get("splits", list(SPLITS))
    bad = [s for s in splits if s not in SPLITS] if isinstance(splits, list | tuple) else splits
    if bad or not isinstance(splits, list | tuple):
        raise ParameterError(f"ingestion.splits={splits!r}: expected a list of {list(SPLITS)}.")
    max_side = ingestion.get("max_side", 2048)
    if not isinstance(max_side, int) or isinstance(max_side, bool) or max_side < 1:
        raise ParameterError(f"ingestion.max_side={max_side!r}: expected an integer >= 1.")
    strict = ingestion.get("strict", True)
    if not isinstance(strict, bool):
        raise ParameterError(f"ingestion.strict={strict!r}: expected true or false.")
    near = ingestion.get("near_shore_km", 2.0)
    if isinstance(near, bool) or not isinstance(near, int | float) or not near >= 0:
        raise ParameterError(f"ingestion.near_shore_km={near!r}: expected a number >= 0 (km).")


def check_encoding(encoding: Mapping[str, Any]) -> None:
    """Values of the ``encoding`` block (round-trip strides, previews).

    Raises:
        ParameterError: On strides that are not positive integers or preview counts or
            sizes below their minimum.
    """
    strides = encoding.get("roundtrip_strides", [1])
    if not isinstance(strides, list | tuple) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in strides
    ):
        raise ParameterError(
            f"encoding.roundtrip_strides={strides!r}: expected a list of integers >= 1."
        )
    for key, minimum in (("preview_scenes", 0), ("preview_crop", 1)):
        value = encoding.get(key, minimum)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ParameterError(f"encoding.{key}={value!r}: expected an integer >= {minimum}.")


def _inference(block: Mapping[str, Any]) -> None:
    from xview3_pipeline.core.detection.cnn import InferenceConfig  # noqa: PLC0415

    InferenceConfig.from_dict(block)
    check_tile_multiple(block)


def _training(block: Mapping[str, Any]) -> None:
    from xview3_pipeline.core.encoding import CoderConfig  # noqa: PLC0415
    from xview3_pipeline.core.losses.circlenet_loss import LossConfig  # noqa: PLC0415
    from xview3_pipeline.core.models.circlenet import resolve_config  # noqa: PLC0415
    from xview3_pipeline.core.training.config import TrainingConfig  # noqa: PLC0415

    config = TrainingConfig.from_dict(block)
    try:
        resolve_config(config.model)
    except KeyError as exc:  # an unknown preset; KeyError quotes its message
        raise ParameterError(f"training.model.preset: {exc.args[0]}") from exc
    LossConfig.from_dict(config.loss)
    CoderConfig.from_dict(config.coder)


def _ensemble(block: Mapping[str, Any]) -> None:
    for preset, training in block.items():
        try:
            _training(training)
        except (ValueError, TypeError) as exc:
            raise ParameterError(f"ensemble.{preset}: {exc}") from exc


def _folds(block: Mapping[str, Any]) -> None:
    from xview3_pipeline.core.folds import FoldConfig  # noqa: PLC0415

    FoldConfig.from_dict(block)


def _label_cleaning(block: Mapping[str, Any]) -> None:
    from xview3_pipeline.core.training.teachers import LabelCleaningConfig  # noqa: PLC0415

    config = LabelCleaningConfig.from_params(block)
    for round_index in range(1, config.rounds + 1):
        config.teacher_sources_of(round_index)


def _cfar(block: Mapping[str, Any]) -> None:
    from xview3_pipeline.core.detection.cfar import CfarConfig  # noqa: PLC0415

    CfarConfig.from_dict(block)


def _tuning(block: Mapping[str, Any]) -> None:
    from xview3_pipeline.core.tuning.config import TuningConfig  # noqa: PLC0415

    TuningConfig.from_dict(block)


def _detection(block: Mapping[str, Any]) -> None:
    from xview3_pipeline.datasets.candidate_sets import (  # noqa: PLC0415
        check_scene_error_policy,
    )

    unknown = sorted(set(block) - {"on_scene_error"})
    if unknown:
        raise ParameterError(
            f"detection: unknown key(s) {unknown}; valid keys are ['on_scene_error']."
        )
    check_scene_error_policy(block.get("on_scene_error", "continue"))


def _dask(block: Mapping[str, Any]) -> None:
    from xview3_pipeline.core.parallel import DaskConfig  # noqa: PLC0415

    DaskConfig.from_dict(block)


def check_executor(value: object, dask: object = None) -> None:
    """``executor`` must be ``local`` or ``dask`` (and the ``dask`` block valid).

    Raises:
        ParameterError: Naming the value and the accepted ones.
    """
    from xview3_pipeline.core.parallel import ExecutorConfig  # noqa: PLC0415

    if value is not None and not isinstance(value, str):
        raise ParameterError(f"executor={value!r}: expected 'local' or 'dask'.")
    try:
        ExecutorConfig.from_params(value, dask if isinstance(dask, Mapping) else None)
    except ValueError as exc:
        raise ParameterError(str(exc)) from exc


def _predict(block: Mapping[str, Any]) -> None:
    from xview3_pipeline.pipelines.predict.pipeline import resolve_detector  # noqa: PLC0415

    unknown = sorted(set(block) - {"detector"})
    if unknown:
        raise ParameterError(f"predict: unknown key(s) {unknown}; valid keys are ['detector'].")
    resolve_detector({"predict": block})


def _locations(block: Mapping[str, Any]) -> None:
    from xview3_pipeline.core.locations import LocationConfig  # noqa: PLC0415

    LocationConfig.from_dict(block)


def _synthetic(block: Mapping[str, Any]) -> None:
    from xview3_pipeline.core.synthetic import SyntheticConfig  # noqa: PLC0415

    SyntheticConfig.from_dict(_block(block, "generator"))
    side = _block(block, "quicklook").get("max_side", 1)
    if not isinstance(side, int) or isinstance(side, bool) or side < 1:
        raise ParameterError(
            f"synthetic_data.quicklook.max_side={side!r}: expected an integer >= 1."
        )


def _xview2(block: Mapping[str, Any]) -> None:
    """Every typed configuration of the ``xview2`` block (its stages read the whole block)."""
    from xview3_pipeline.core.training.teachers import merge_overrides  # noqa: PLC0415
    from xview3_pipeline.core.xview2.ensemble import ClassWeightFitConfig  # noqa: PLC0415
    from xview3_pipeline.core.xview2.folds import Xview2FoldConfig  # noqa: PLC0415
    from xview3_pipeline.core.xview2.inference import Xview2InferenceConfig  # noqa: PLC0415
    from xview3_pipeline.core.xview2.models import xview2_model_config  # noqa: PLC0415
    from xview3_pipeline.core.xview2.pseudo_labels import PseudoLabelConfig  # noqa: PLC0415
    from xview3_pipeline.core.xview2.synthetic import Xview2SyntheticConfig  # noqa: PLC0415
    from xview3_pipeline.core.xview2.training_config import (  # noqa: PLC0415
        Xview2TrainingConfig,
    )
    from xview3_pipeline.pipelines.xview2_structure import xview2_structure  # noqa: PLC0415

    structure = xview2_structure({"xview2": block})
    for name in ("raw_root", "truth_root"):
        if name in block:
            check_folder_parameter(f"xview2.{name}", block[name])
    Xview2SyntheticConfig.from_dict(_block(block, "synthetic"))
    Xview2FoldConfig.from_dict(_block(block, "folds"))
    models = _block(block, "models")
    for name in structure.architectures:
        try:
            xview2_model_config(models[name])
        except (ValueError, TypeError, KeyError) as exc:
            raise ParameterError(f"xview2.models.{name}: {exc}") from exc
    training = _block(block, "training")
    Xview2TrainingConfig.from_dict(training, what="xview2.training")
    pseudo = _block(block, "pseudo_labels")
    PseudoLabelConfig.from_dict(_block(pseudo, "labels"))
    Xview2TrainingConfig.from_dict(
        merge_overrides(training, _block(pseudo, "overrides")),
        what="xview2.pseudo_labels.overrides",
    )
    Xview2InferenceConfig.from_dict(_block(block, "inference"))
    ClassWeightFitConfig.from_dict(_block(block, "tuning"))
    split = block.get("test_split", "test")
    if split not in ("test", "hold"):
        raise ParameterError(f"xview2.test_split={split!r}: expected 'test' or 'hold'.")


#: Validator of each top-level mapping block: it builds the block's typed configuration.
BLOCK_VALIDATORS: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "cfar": _cfar,
    "cfar_tuning": _tuning,
    "dask": _dask,
    "detection": _detection,
    "encoding": check_encoding,
    "ensemble": _ensemble,
    "folds": _folds,
    "inference": _inference,
    "ingestion": check_ingestion,
    "label_cleaning": _label_cleaning,
    "locations": _locations,
    "predict": _predict,
    "synthetic_data": _synthetic,
    "training": _training,
    "tuning": _tuning,
    "xview2": _xview2,
}
#: Top-level parameters that name a folder.
FOLDER_PARAMETERS: tuple[str, ...] = ("raw_root", "predict_root")


def validate_parameters(parameters: Mapping[str, Any], blocks: Iterable[str]) -> list[str]:
    """Validate the named top-level parameter blocks.

    Args:
        parameters: All parameters of the run (``catalog.load("parameters")``).
        blocks: Top-level names to check (those a pipeline uses); names without a
            validator are skipped.

    Returns:
        The names that were checked, sorted.

    Raises:
        ParameterError: On the first bad block; the message names the block, the
            parameter, its value and what is accepted.
    """
    checked = []
    for name in sorted(set(blocks)):
        try:
            if name in FOLDER_PARAMETERS:
                check_folder_parameter(name, parameters.get(name))
            elif name == "executor":
                check_executor(parameters.get(name), parameters.get("dask"))
            elif name in BLOCK_VALIDATORS:
                BLOCK_VALIDATORS[name](_block(parameters, name))
            else:
                continue
        except ParameterError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise ParameterError(
                f"Invalid parameters {name!r} (conf/<env>/parameters_*.yml or --params "
                f"{name}.<key>=...): {exc}"
            ) from exc
        checked.append(name)
    return checked


def check_holdout_size(scene_locations: pd.DataFrame, folds: Mapping[str, Any]) -> None:
    """The holdout must not ask for more scenes per location than a location has.

    Only locations with at least one scene of ``folds.holdout_split`` are considered (a
    location without such scenes gives no holdout scene, as documented).

    Args:
        scene_locations: ``scene_id``, ``split``, ``location_id``.
        folds: The ``folds`` block.

    Raises:
        ParameterError: Naming ``folds.holdout_per_location``, its value, and the locations
            with fewer scenes of the holdout split (with their counts).
    """
    from xview3_pipeline.core.folds import FoldConfig  # noqa: PLC0415

    config = FoldConfig.from_dict(folds)
    if not config.holdout_enabled or not len(scene_locations):
        return
    scenes = scene_locations[scene_locations["split"].astype(str) == config.holdout_split]
    counts = scenes.groupby(scenes["location_id"].astype(str)).size()
    short = counts[counts < config.holdout_per_location]
    if len(short):
        listed = ", ".join(f"{loc}: {n}" for loc, n in short.head(10).items())
        raise ParameterError(
            f"folds.holdout_per_location={config.holdout_per_location} asks for more "
            f"{config.holdout_split!r} scenes than {len(short)} location(s) have ({listed}); "
            f"expected at most {int(counts.min())} (the fewest scenes of a location), or "
            "folds.holdout_enabled=false."
        )
