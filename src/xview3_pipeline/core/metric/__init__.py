"""The official xView3 metric: matching and scoring."""
