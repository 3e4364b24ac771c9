"""Reading and validating the xView3 on-disk layout."""
