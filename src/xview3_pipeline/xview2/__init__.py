"""Command lines of the xView2 family (no Kedro)."""
