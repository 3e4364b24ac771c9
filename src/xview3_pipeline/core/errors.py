"""Exceptions raised on bad input.

Each subclasses the builtin a caller would expect (``FileNotFoundError``, ``ValueError``),
and every message names the offending file, row or value and what was expected.
"""


class InvalidSceneIdError(ValueError):
    """A scene id is not a plain identifier (path separators, ``..``, empty, ...)."""


class SceneNotFoundError(FileNotFoundError):
    """A scene folder or one of its required rasters does not exist."""


class RasterReadError(OSError):
    """A raster exists but cannot be opened or read (corrupt, truncated, wrong format)."""


class SceneGeometryError(ValueError):
    """The rasters of one scene disagree (VV/VH shape, transform or CRS)."""


class LabelValidationError(ValueError):
    """A label file has invalid rows (strict mode)."""


class DatasetLayoutError(ValueError):
    """A raw root does not have the xView3 layout, or is not safe to write into."""


class ModelFileError(ValueError):
    """A model file is truncated, corrupt, unsafe to unpickle or holds non-finite weights.

    Raised for checkpoints and exported ensembles; the message names the file (and the
    tensor, for non-finite weights).
    """
