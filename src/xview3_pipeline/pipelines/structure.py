"""Structure of the namespaced pipelines, read from the configuration.

Kedro builds the pipeline registry before it hands parameters to any node, so the
number of fold namespaces cannot come from a node's parameters. It comes from here:
every pipeline that has one namespace per fold (training, the ensemble of
architectures, out-of-fold inference) asks :func:`fold_namespaces`.
"""

from __future__ import annotations

#: The winning solution's three ensemble architectures (``<preset>.fold_k`` namespaces).
ENSEMBLE_PRESETS: tuple[str, ...] = ("b4_unet_s2", "b5_unet_s2", "v2s_unet_s2")


def n_folds() -> int:
    """Number of folds, ``folds.n_folds`` of the configuration."""
    return 4


def fold_namespaces() -> tuple[str, ...]:
    """``fold_0`` … ``fold_{K-1}`` for ``K = folds.n_folds``."""
    return tuple(f"fold_{k}" for k in range(n_folds()))


def ensemble_presets() -> tuple[str, ...]:
    """Architectures of the ensemble trained by ``training_ensemble``."""
    return ENSEMBLE_PRESETS
