"""Structure of the xView2 pipelines, read from the configuration when they are built.

Like the xView3 fold namespaces (:mod:`xview3_pipeline.pipelines.structure`), the xView2
namespaces come from the parameters that Kedro's config loader gives the run being
started, before any node runs:

* ``xview2.folds.n_folds`` gives the folds ``fold_0`` … ``fold_{K-1}``;
* ``xview2.models`` names the architectures (each a preset name or a model block);
* ``xview2.ensemble`` lists the architectures whose fold models make the submission, and
  ``xview2.baseline`` the one scored alone (the winner's 6-channel early fusion);
* ``xview2.pseudo_labels.enabled`` adds the fine-tuning on pseudo-labelled test pairs.

Every (architecture, fold) pair is the namespace ``xview2.<architecture>.fold_<k>``. A run
whose parameters differ from the registry's is refused by :func:`check_xview2_structure`,
which the first node of every namespace calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xview3_pipeline.pipelines.structure import MIN_FOLDS, project_parameters

#: Namespace prefix of every xView2 model.
PREFIX = "xview2"


@dataclass(frozen=True)
class Xview2Structure:
    """What the xView2 pipelines are built with.

    Attributes:
        n_folds: Number of folds (``xview2.folds.n_folds``).
        ensemble: Architectures of the submitted ensemble, in order.
        baseline: Architecture scored alone, or None.
        pseudo_labels: Whether the ensemble's fold models are fine-tuned on pseudo-labelled
            test pairs before the final inference.
    """

    n_folds: int
    ensemble: tuple[str, ...]
    baseline: str | None
    pseudo_labels: bool

    @property
    def architectures(self) -> tuple[str, ...]:
        """The ensemble's architectures, then the baseline (each once)."""
        names = list(self.ensemble)
        if self.baseline is not None and self.baseline not in names:
            names.append(self.baseline)
        return tuple(names)

    def folds(self) -> range:
        """The fold numbers ``0 … n_folds - 1``."""
        return range(self.n_folds)

    def namespace(self, architecture: str, fold: int) -> str:
        """``xview2.<architecture>.fold_<fold>``."""
        return f"{PREFIX}.{architecture}.fold_{fold}"

    def fine_tuned(self, architecture: str) -> bool:
        """Whether the final models of ``architecture`` are the pseudo-label fine-tuned ones."""
        return self.pseudo_labels and architecture in self.ensemble


def _names(value: object, what: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        raise ValueError(f"{what} must be a non-empty list of architecture names, got {value!r}.")
    names = tuple(str(v) for v in value)
    if len(set(names)) != len(names):
        raise ValueError(f"{what} names an architecture twice: {list(names)}.")
    return names


def xview2_structure(parameters: Mapping[str, Any] | None = None) -> Xview2Structure:
    """The structure of the xView2 pipelines.

    Args:
        parameters: The project's parameters; by default
            :func:`~xview3_pipeline.pipelines.structure.project_parameters` (the run
            being started, with ``--env`` and ``--params``).

    Returns:
        The fold count, ensemble, baseline and pseudo-label switch.

    Raises:
        ValueError: If a value is malformed or an architecture of ``xview2.ensemble`` or
            ``xview2.baseline`` is not a key of ``xview2.models``.
    """
    params = project_parameters() if parameters is None else parameters
    block = params.get(PREFIX) or {}
    if not isinstance(block, Mapping):
        raise ValueError(f"xview2 must be a mapping of parameters, got {block!r}.")
    folds = block.get("folds") or {}
    k = folds.get("n_folds", 5) if isinstance(folds, Mapping) else None
    if isinstance(k, bool) or not isinstance(k, int) or k < MIN_FOLDS:
        raise ValueError(f"xview2.folds.n_folds must be an integer >= {MIN_FOLDS}, got {k!r}.")
    models = block.get("models") or {}
    if not isinstance(models, Mapping):
        raise ValueError(f"xview2.models must map architecture names to models, got {models!r}.")
    ensemble = _names(block.get("ensemble", list(models)[:1]), "xview2.ensemble")
    baseline = block.get("baseline")
    baseline = None if baseline is None else str(baseline)
    for name in (*ensemble, *([baseline] if baseline else [])):
        if name not in models:
            raise ValueError(
                f"Architecture {name!r} (xview2.ensemble or xview2.baseline) is not in "
                f"xview2.models ({sorted(models)})."
            )
        if "." in name:
            raise ValueError(f"Architecture name {name!r} must not contain '.'.")
    pseudo = block.get("pseudo_labels") or {}
    enabled = bool(pseudo.get("enabled", False)) if isinstance(pseudo, Mapping) else False
    return Xview2Structure(k, ensemble, baseline, enabled)


def check_xview2_structure(
    parameters: Mapping[str, Any], registered: Xview2Structure
) -> Xview2Structure:
    """Refuse a run whose xView2 structure is not the registry's.

    Args:
        parameters: The run's ``xview2`` parameters.
        registered: The structure the pipelines were built with.

    Returns:
        ``registered``.

    Raises:
        ValueError: If the run's fold count, ensemble, baseline or pseudo-label switch
            differs (e.g. ``KedroSession.create(runtime_params=...)`` in Python, which the
            registry cannot see: set it in ``conf/`` or with ``kedro run --params``).
    """
    requested = xview2_structure({PREFIX: parameters})
    if requested != registered:
        raise ValueError(
            f"The run's xView2 parameters give {requested}, but the pipelines were built with "
            f"{registered}. The namespaces are built from the configuration before parameters "
            "reach the nodes: set xview2.folds.n_folds, xview2.ensemble, xview2.baseline and "
            "xview2.pseudo_labels in conf/ or pass them with `kedro run --params`."
        )
    return registered
