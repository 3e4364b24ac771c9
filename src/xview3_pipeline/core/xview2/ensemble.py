"""Masks from class probabilities, per-model class weights and the model ensemble.

Follows ``xview/postprocessing.py``, ``xview/rounder.py``, ``optimize_softmax.py`` and
``predict_37_weighted.py`` of BloodAxe/xView2-Solution:

* **Masks** (:func:`masks_from_probabilities`). The winner's ``make_predictions_naive``
  (``rule="winner"``, the default): a pixel is a building when the summed damage
  probabilities beat the no-building one (``p1 + p2 + p3 + p4 > p0``); a building's
  damage is the most likely of classes 1..4. The winner fills damage 1 outside
  buildings; here it is 0, which the metric scores the same (it zeroes damage where the
  localization is 0) and which keeps ``localization == (damage > 0)``. ``rule="argmax"``
  takes the argmax over all five classes instead (a building only where one damage class
  beats ``p0``).
* **Class weights** (:func:`fit_class_weights`). Per model, the softmax is multiplied by
  five per-class weights (not renormalised), fitted on out-of-fold predictions to
  maximise the official xView2 score of the masks above, with the localization target
  taken as the damage target > 0. The winner used Nelder-Mead from
  ``[0.5, 1.1, 1.1, 1.1, 1.1]`` with ``maxiter=100`` and ``xatol=1e-3``; an Optuna TPE
  search is offered as well.
* **Ensemble** (:func:`combine`). Each model's probabilities are multiplied by its class
  weights *before* the models are averaged (the winner's ``ApplyWeights`` inside its
  ``Ensembler``, an arithmetic mean); model weights, when given, make it a weighted mean.

The fitting objective is vectorised over a pixel sample
(:mod:`xview3_pipeline.core.xview2.pixel_sample`): every image contributes at most
``max_pixels_per_image`` pixels (65536 by default, a sixteenth of a 1024 px image), drawn
uniformly without replacement by a generator seeded with ``seed``, and scored by the
official rules (presence of a damage class judged on the image's whole target). Target
pixels of 255 (ignore) are left out. The scores of :class:`ClassWeights` are measured on
this sample, so with images above the limit they estimate the full-image scores.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final, Literal, get_args

import numpy as np
import optuna
from numpy.typing import NDArray
from scipy.optimize import minimize

from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.xview2.metric import score_from_counts
from xview3_pipeline.core.xview2.pixel_sample import (
    PixelSample,
    draw_pixel_sample,
    sample_counts,
)
from xview3_pipeline.core.xview2.probabilities import N_CLASSES

logger = logging.getLogger(__name__)

__all__ = [
    "WINNER_INIT",
    "ClassWeightFitConfig",
    "ClassWeights",
    "FitMethod",
    "MaskRule",
    "apply_class_weights",
    "combine",
    "fit_class_weights",
    "masks_from_probabilities",
]

MaskRule = Literal["winner", "argmax"]
FitMethod = Literal["nelder-mead", "optuna"]

#: The winner's initial class weights (``xview/rounder.py``).
WINNER_INIT: Final[tuple[float, ...]] = (0.5, 1.1, 1.1, 1.1, 1.1)
_UNIFORM: Final = np.ones(N_CLASSES, dtype=np.float64)


def _decide(probs: NDArray[np.floating], rule: MaskRule) -> tuple[NDArray[np.bool_], NDArray]:
    """Building flags and damage classes of ``probs`` ``(5, ...)`` (class axis first)."""
    if rule == "winner":
        building = probs[1:].sum(axis=0) > probs[0]
        damage = np.where(building, probs[1:].argmax(axis=0) + 1, 0)
    elif rule == "argmax":
        damage = probs.argmax(axis=0)
        building = damage > 0
    else:
        raise ValueError(f"Unknown mask rule {rule!r}; expected one of {get_args(MaskRule)}.")
    return building, damage


def masks_from_probabilities(
    probs: NDArray[np.floating], rule: MaskRule = "winner"
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Localization and damage masks of one pair (see the module docstring).

    Args:
        probs: Class probabilities ``(5, H, W)``, possibly class-weighted.
        rule: ``"winner"`` (``p1+..+p4 > p0``, then argmax of 1..4) or ``"argmax"``.

    Returns:
        ``(localization, damage)``: ``(H, W)`` uint8 masks, localization 0/1, damage 0..4
        with ``localization == (damage > 0)``.

    Raises:
        ValueError: ``probs`` is not ``(5, H, W)`` or ``rule`` is unknown.
    """
    arr = np.asarray(probs)
    if arr.ndim != 3 or arr.shape[0] != N_CLASSES:
        raise ValueError(f"Probabilities must be ({N_CLASSES}, H, W), got shape {arr.shape}.")
    building, damage = _decide(arr, rule)
    return building.astype(np.uint8), damage.astype(np.uint8)


def _check_weights(weights: object, what: str) -> NDArray[np.float64]:
    """``weights`` as five finite non-negative floats, or a ValueError naming ``what``."""
    if isinstance(weights, ClassWeights):
        weights = weights.weights
    arr = np.asarray(weights, dtype=np.float64)
    if arr.shape != (N_CLASSES,) or not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError(
            f"{what} must be {N_CLASSES} finite non-negative numbers, got {np.asarray(weights)!r}."
        )
    return arr


def apply_class_weights(
    probs: NDArray[np.floating], weights: Sequence[float] | NDArray[np.floating] | ClassWeights
) -> NDArray[np.float32]:
    """Multiply each class plane by its weight (no renormalisation, as the winner).

    Args:
        probs: Probabilities ``(5, H, W)`` (any ``(5, ...)`` shape works).
        weights: Five non-negative class weights, or a :class:`ClassWeights`.

    Returns:
        The weighted probabilities, float32, same shape.

    Raises:
        ValueError: Wrong shapes or bad weights.
    """
    arr = np.asarray(probs, dtype=np.float32)
    if arr.ndim < 1 or arr.shape[0] != N_CLASSES:
        raise ValueError(f"Probabilities must have {N_CLASSES} classes first, got {arr.shape}.")
    w = _check_weights(weights, "Class weights").astype(np.float32)
    return arr * w.reshape((N_CLASSES,) + (1,) * (arr.ndim - 1))


@dataclass(frozen=True)
class ClassWeights:
    """Class weights fitted for one model, with the scores they reach.

    Attributes:
        weights: The five class weights (no building, no / minor / major damage,
            destroyed).
        score_before: Official score dict (``metric.SCORE_KEYS``) with all weights 1.
        score_after: Official score dict with :attr:`weights`.
        method: ``"nelder-mead"``, ``"optuna"``, or ``"uniform"`` when no fitted weights
            beat all-ones (which are then returned).
        n_pixels: Pixels the scores were measured on.
        n_images: Images they came from.
    """

    weights: tuple[float, ...]
    score_before: Mapping[str, float]
    score_after: Mapping[str, float]
    method: str
    n_pixels: int
    n_images: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping (lists and floats); inverse of :meth:`from_dict`."""
        return {
            "weights": [float(w) for w in self.weights],
            "score_before": {k: float(v) for k, v in self.score_before.items()},
            "score_after": {k: float(v) for k, v in self.score_after.items()},
            "method": self.method,
            "n_pixels": int(self.n_pixels),
            "n_images": int(self.n_images),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ClassWeights:
        """Rebuild from :meth:`to_dict` output (unknown keys are refused)."""
        data = check_keys(cls, values)
        weights = tuple(float(w) for w in _check_weights(data["weights"], "ClassWeights.weights"))
        return cls(
            weights=weights,
            score_before=dict(data["score_before"]),
            score_after=dict(data["score_after"]),
            method=str(data["method"]),
            n_pixels=int(data["n_pixels"]),
            n_images=int(data["n_images"]),
        )


def _score(pixels: PixelSample, weights: NDArray[np.floating], rule: MaskRule) -> dict[str, float]:
    """Official score dict of the class-weighted masks on the drawn pixels."""
    w = np.asarray(weights, dtype=np.float32).reshape(N_CLASSES, 1)
    building, damage = _decide(pixels.probs * w, rule)
    return score_from_counts(sample_counts(pixels, building, damage))


def _fit_nelder_mead(
    pixels: PixelSample,
    *,
    init: NDArray[np.float64],
    maxiter: int,
    bounds: tuple[float, float],
    rule: MaskRule,
) -> NDArray[np.float64]:
    result = minimize(
        lambda w: 1.0 - _score(pixels, w, rule)["score"],
        init,
        method="Nelder-Mead",
        bounds=[bounds] * N_CLASSES,
        options={"maxiter": maxiter, "xatol": 1e-3},
    )
    logger.info("Nelder-Mead: %d evaluations, %s.", result.nfev, result.message)
    return np.asarray(result.x, dtype=np.float64)


def _fit_optuna(
    pixels: PixelSample,
    *,
    init: NDArray[np.float64],
    n_trials: int,
    seed: int,
    bounds: tuple[float, float],
    rule: MaskRule,
) -> NDArray[np.float64]:
    names = [f"w{c}" for c in range(N_CLASSES)]

    def objective(trial: optuna.Trial) -> float:
        w = np.array([trial.suggest_float(name, *bounds) for name in names])
        return _score(pixels, w, rule)["score"]

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed)
        )
        study.enqueue_trial(dict(zip(names, np.clip(init, *bounds).tolist(), strict=True)))
        study.optimize(objective, n_trials=n_trials)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return np.array([study.best_params[name] for name in names], dtype=np.float64)


@dataclass(frozen=True)
class ClassWeightFitConfig:
    """Parameters of :func:`fit_class_weights` (``xview2.class_weights`` in the parameters).

    Attributes mirror the keyword arguments of :func:`fit_class_weights`; pass them with
    ``fit_class_weights(probabilities, targets, **config.fit_kwargs())``.
    """

    method: FitMethod = "nelder-mead"
    init: tuple[float, ...] = WINNER_INIT
    maxiter: int = 100
    n_trials: int = 100
    seed: int = 0
    max_pixels_per_image: int | None = 65536
    bounds: tuple[float, float] = (0.0, 4.0)
    rule: MaskRule = "winner"

    def __post_init__(self) -> None:
        for name, choices in (("method", FitMethod), ("rule", MaskRule)):
            if getattr(self, name) not in get_args(choices):
                raise ValueError(
                    f"xview2.tuning.{name} must be one of {get_args(choices)}, got "
                    f"{getattr(self, name)!r}."
                )
        for name in ("maxiter", "n_trials"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"xview2.tuning.{name} must be an integer >= 1, got {value!r}.")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> ClassWeightFitConfig:
        """Build from a parameters mapping (lists work for ``init`` and ``bounds``).

        Values are checked when :func:`fit_class_weights` runs.

        Raises:
            ValueError: Unknown keys (the message lists the valid ones).
        """
        data = check_keys(cls, values, what="xview2.class_weights parameter")
        for name in ("init", "bounds"):
            if name in data:
                data[name] = tuple(float(v) for v in data[name])
        return cls(**data)

    def fit_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`fit_class_weights`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def fit_class_weights(
    probabilities: Iterable[NDArray[np.floating]],
    targets: Iterable[NDArray[np.integer]],
    method: FitMethod = "nelder-mead",
    *,
    init: Sequence[float] = WINNER_INIT,
    maxiter: int = 100,
    n_trials: int = 100,
    seed: int = 0,
    max_pixels_per_image: int | None = 65536,
    bounds: tuple[float, float] = (0.0, 4.0),
    rule: MaskRule = "winner",
) -> ClassWeights:
    """Fit one model's class weights to maximise the official xView2 score.

    Args:
        probabilities: Per image, the model's out-of-fold probabilities ``(5, H, W)``;
            read one at a time (a generator of loaded partitions works).
        targets: Per image, the damage target ``(H, W)``, values 0..4 (255 = ignore);
            the localization target is ``target > 0``.
        method: ``"nelder-mead"`` (the winner's) or ``"optuna"`` (seeded TPE, the
            initial weights as the first trial).
        init: Initial weights (the winner's ``[0.5, 1.1, 1.1, 1.1, 1.1]``).
        maxiter: Nelder-Mead iterations.
        n_trials: Optuna trials.
        seed: Seed of the pixel draw and of the TPE sampler.
        max_pixels_per_image: Pixels drawn per image (None: all).
        bounds: ``(low, high)`` of every weight (Nelder-Mead clips, Optuna samples).
        rule: Mask rule of :func:`masks_from_probabilities`.

    Returns:
        The fitted :class:`ClassWeights`; if they score below all-ones weights, all-ones
        weights with ``method="uniform"``.

    Raises:
        ValueError: Mismatched or bad inputs (names the image), unknown method, bad
            ``init``, ``bounds``, ``maxiter``, ``n_trials`` or ``max_pixels_per_image``.
    """
    if method not in get_args(FitMethod):
        raise ValueError(f"Unknown method {method!r}; expected one of {get_args(FitMethod)}.")
    low, high = (float(b) for b in bounds)
    if not (0 <= low < high and np.isfinite(high)):
        raise ValueError(f"bounds must satisfy 0 <= low < high < inf, got {bounds!r}.")
    for name, value in (("maxiter", maxiter), ("n_trials", n_trials)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}.")
    if max_pixels_per_image is not None and max_pixels_per_image < 1:
        raise ValueError(f"max_pixels_per_image must be >= 1 or None, got {max_pixels_per_image}.")
    start = _check_weights(init, "init")
    pixels = draw_pixel_sample(probabilities, targets, max_pixels_per_image, seed)
    before = _score(pixels, _UNIFORM, rule)
    if method == "nelder-mead":
        fitted = _fit_nelder_mead(
            pixels, init=start, maxiter=maxiter, bounds=(low, high), rule=rule
        )
    else:
        fitted = _fit_optuna(
            pixels, init=start, n_trials=n_trials, seed=seed, bounds=(low, high), rule=rule
        )
    after = _score(pixels, fitted, rule)
    used: str = method
    if after["score"] < before["score"]:
        logger.warning(
            "Fitted class weights %s score %.5f < %.5f of all-ones weights; keeping all ones.",
            np.round(fitted, 4).tolist(),
            after["score"],
            before["score"],
        )
        fitted, after, used = _UNIFORM.copy(), before, "uniform"
    logger.info(
        "Class weights %s (%s): score %.5f -> %.5f on %d pixels of %d images.",
        np.round(fitted, 4).tolist(),
        used,
        before["score"],
        after["score"],
        pixels.target.size,
        pixels.n_images,
    )
    return ClassWeights(
        weights=tuple(float(w) for w in fitted),
        score_before=before,
        score_after=after,
        method=used,
        n_pixels=int(pixels.target.size),
        n_images=int(pixels.n_images),
    )


def combine(
    probabilities_per_model: Sequence[NDArray[np.floating]],
    class_weights_per_model: Sequence[Sequence[float] | NDArray[np.floating] | ClassWeights | None],
    model_weights: Sequence[float] | None = None,
) -> NDArray[np.float32]:
    """Ensemble one pair: the (model-weighted) mean of the class-weighted probabilities.

    Args:
        probabilities_per_model: Per model, probabilities ``(5, H, W)`` of the pair.
        class_weights_per_model: Per model, its five class weights (None: all ones),
            applied before averaging.
        model_weights: Per model, a non-negative weight (None: equal); normalised to sum 1.

    Returns:
        ``sum_m a_m * (p_m * w_m) / sum_m a_m``, ``(5, H, W)`` float32.

    Raises:
        ValueError: No model, mismatched lengths or shapes, bad weights.
    """
    n_models = len(probabilities_per_model)
    if n_models == 0:
        raise ValueError("combine needs at least one model's probabilities.")
    if len(class_weights_per_model) != n_models:
        raise ValueError(
            f"{n_models} models' probabilities but {len(class_weights_per_model)} class weights."
        )
    if model_weights is None:
        a = np.full(n_models, 1.0 / n_models)
    else:
        a = np.asarray(model_weights, dtype=np.float64)
        if a.shape != (n_models,) or not np.isfinite(a).all() or (a < 0).any() or a.sum() <= 0:
            raise ValueError(
                f"model_weights must be {n_models} non-negative numbers with a positive sum, "
                f"got {model_weights!r}."
            )
        a = a / a.sum()
    total = np.zeros((0,), dtype=np.float32)
    for m, (probs, weights) in enumerate(
        zip(probabilities_per_model, class_weights_per_model, strict=True)
    ):
        weighted = apply_class_weights(probs, _UNIFORM if weights is None else weights)
        if m == 0:
            total = np.zeros_like(weighted)
        elif weighted.shape != total.shape:
            raise ValueError(
                f"Model {m}'s probabilities are {weighted.shape}, model 0's {total.shape}."
            )
        total += weighted * np.float32(a[m])
    return total
