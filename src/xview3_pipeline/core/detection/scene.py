"""The scene handle detection works on; it lives in :mod:`xview3_pipeline.core.io.scene`.

Discovery and ingestion (which do not import the detectors) build the same handle.
"""

from xview3_pipeline.core.io.scene import Scene

__all__ = ["Scene"]
