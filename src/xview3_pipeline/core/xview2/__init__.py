"""Core library of the xView2 family (building damage from pre/post image pairs); never imports Kedro."""
