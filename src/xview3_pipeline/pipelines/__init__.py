"""Kedro pipelines, one folder per stage."""
