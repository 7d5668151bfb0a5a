# The two commands: `make demo` (set up, run the whole pipeline on local Spark) and `make test`.
PYTHON ?= python3
# Test processes (pytest-xdist): each runs whole test files, with a warm Spark server of its own.
TEST_WORKERS ?= 2
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test dev materialize bench spark-stop clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v java >/dev/null || { echo "error: Java 17+ is needed for Spark (e.g. apt-get install openjdk-17-jre-headless)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@$(BIN)/python -m etl_platform.instance
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/etl-platform demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

dev: $(STAMP)
	@$(BIN)/python -m etl_platform.instance
	$(BIN)/dagster dev

materialize: $(STAMP)
	@$(BIN)/python -m etl_platform.instance
	$(BIN)/dagster asset materialize -m etl_platform.definitions --select '*'

# The benchmark (about an hour on 2 cores; inputs are cached under benchmarks/results/inputs).
bench: $(STAMP)
	$(BIN)/python -m benchmarks --scales 1,100,500 --repeat 3 --out benchmarks/results/bench.json

spark-stop: $(STAMP)
	$(BIN)/python -m etl_platform.warm_spark stop

clean:
	@test ! -x $(BIN)/python || $(BIN)/python -m etl_platform.warm_spark stop
	rm -rf .lake .dagster
