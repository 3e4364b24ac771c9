"""Cross-validation folds and the private holdout: parameters, assignment, balance report."""

from xview3_pipeline.core.folds.assign import assign_folds
from xview3_pipeline.core.folds.balance import (
    BALANCE_COUNT_COLUMNS,
    fold_balance,
    plot_fold_balance,
)
from xview3_pipeline.core.folds.config import (
    FOLD_COLUMNS,
    HOLDOUT_FOLD,
    LABEL_SOURCES,
    LABELLED_SPLITS,
    STRATIFY_COLUMNS,
    STRATIFY_PRESETS,
    TRAIN_CLEANED,
    FoldConfig,
    GroupBy,
    HoldoutMethod,
    source_split,
)

__all__ = (
    "BALANCE_COUNT_COLUMNS",
    "FOLD_COLUMNS",
    "HOLDOUT_FOLD",
    "LABELLED_SPLITS",
    "LABEL_SOURCES",
    "STRATIFY_COLUMNS",
    "STRATIFY_PRESETS",
    "TRAIN_CLEANED",
    "FoldConfig",
    "GroupBy",
    "HoldoutMethod",
    "assign_folds",
    "fold_balance",
    "plot_fold_balance",
    "source_split",
)
