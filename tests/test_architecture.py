"""The core library stays independent of Kedro."""

import pkgutil
import subprocess
import sys

import xview3_pipeline.core


def test_core_never_imports_kedro() -> None:
    modules = [
        m.name
        for m in pkgutil.walk_packages(xview3_pipeline.core.__path__, "xview3_pipeline.core.")
    ]
    assert "xview3_pipeline.core.synthetic.generator" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'kedro' or m.startswith(('kedro.', 'kedro_')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core imports Kedro modules: {out.stdout.strip()}"
