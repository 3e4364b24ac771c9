"""Core library of the xView2 family (building damage segmentation); never imports Kedro.

:func:`score_directories` scores a folder of official prediction PNGs against a folder of
targets with the official xView2 metric; :func:`score_masks` scores masks in memory;
:class:`PixelCounts` accumulates the pixel counts over images. The synthetic xBD generator
is :mod:`xview3_pipeline.core.xview2.synthetic`; the cross-validation folds of the image
pairs and their balance report are :mod:`xview3_pipeline.core.xview2.folds`.
"""

from xview3_pipeline.core.xview2.metric import (
    DAMAGE_CLASSES,
    SCORE_KEYS,
    MaskSet,
    PixelCounts,
    XView2MaskError,
    directory_counts,
    image_counts,
    read_mask,
    score_directories,
    score_from_counts,
    score_masks,
)

__all__ = (
    "DAMAGE_CLASSES",
    "SCORE_KEYS",
    "MaskSet",
    "PixelCounts",
    "XView2MaskError",
    "directory_counts",
    "image_counts",
    "read_mask",
    "score_directories",
    "score_from_counts",
    "score_masks",
)
