# Two entry points: `make demo` runs the project on the embedded synthetic default,
# `make test` runs the test suite. Both create .venv and install the project if needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export MPLBACKEND := Agg

.PHONY: demo demo-xview2 experiments tracking-ui test lint viz airflow clean-data

# The label-source experiments (conf/exp_*), run one after the other after one shared data
# preparation, then compared (CV, test and out-of-distribution aggregates).
EXPERIMENTS ?= exp_validation_only exp_raw_train exp_cleaned_train

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/kedro run --pipelines synthetic_data
	$(BIN)/kedro run
	$(BIN)/python -m xview3_pipeline.report

# The xView2 family (building damage): synthetic xBD pairs, then the whole chain, then
# the scores of the siamese ensemble and of the early-fusion baseline.
demo-xview2: $(VENV)/.installed
	$(BIN)/kedro run --pipelines xview2_synthetic_data
	$(BIN)/kedro run --pipelines xview2
	$(BIN)/python -m xview3_pipeline.xview2.report

experiments: $(VENV)/.installed
	$(BIN)/kedro run --pipelines synthetic_data
	$(BIN)/kedro run --pipelines ingestion,locations
	for experiment in $(EXPERIMENTS); do \
		$(BIN)/kedro run --env $$experiment --pipelines experiment || exit 1; \
	done
	$(BIN)/python -m xview3_pipeline.report --compare $(EXPERIMENTS)

# The MLflow UI on the tracking store (http://127.0.0.1:5000); Ctrl-C stops it.
tracking-ui: $(VENV)/.installed
	$(BIN)/kedro mlflow ui

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy src

viz: $(VENV)/.installed
	$(BIN)/kedro viz build

# Airflow DAG of the default pipeline, one task per namespace (kedro-airflow is a dev extra).
airflow: $(VENV)/.installed-dev
	$(BIN)/kedro airflow create --pipelines __default__ --group-by namespace

clean-data:
	find data -mindepth 2 ! -name .gitkeep -delete
