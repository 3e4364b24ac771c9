"""Plain numpy/PyTorch library behind the pipelines; it never imports Kedro."""
