# The two commands: `make demo` (set up, run the whole pipeline on local Spark) and `make test`.
PYTHON ?= python3
# Test processes (pytest-xdist): each runs whole test files, with a Spark Connect server of its own.
TEST_WORKERS ?= 2
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# checkov, which checks the AWS templates, conflicts with the project's pins: it has a venv of its own.
TOOLS ?= .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed-stamp
# The Spark of AWS Glue 5.0 and EMR Serverless 7 (Spark 3.5, classic): the scripts' tests run on it
# too, in a venv holding only constraints-spark35.txt's pyspark and py4j, in front of .venv's packages.
SPARK35 ?= .venv-spark35
SPARK35_STAMP := $(SPARK35)/.installed-stamp
# What runs there: the scripts' own tests and the QuickSight files through the whole graph.
SPARK35_TESTS ?= etl_platform_tests/glue_scripts etl_platform_tests/e2e/test_quicksight_pipeline.py

.PHONY: setup lock demo test dev serve materialize bench clean

setup: $(STAMP) $(TOOLS_STAMP) $(SPARK35_STAMP)

$(STAMP): pyproject.toml constraints.txt
	@command -v java >/dev/null || { echo "error: Java 17+ is needed for Spark (e.g. apt-get install openjdk-17-jre-headless)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,serve]'
	@$(BIN)/python -m etl_platform.instance
	@touch $(STAMP)

$(TOOLS_STAMP): constraints-tools.txt
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -c constraints-tools.txt checkov
	@touch $(TOOLS_STAMP)

# Layered over .venv (its site-packages added by a .pth file, after the venv's own): every other
# package is .venv's, at constraints.txt's pins, and nothing is installed twice. Same Python as .venv.
$(SPARK35_STAMP): $(STAMP) constraints-spark35.txt
	@test -x $(SPARK35)/bin/python || $(BIN)/python -m venv $(SPARK35)
	$(SPARK35)/bin/python -m pip install --quiet -r constraints-spark35.txt
	@echo "import site; site.addsitedir('$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')')" \
	  > "$$($(SPARK35)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/etl-platform-venv.pth"
	@touch $(SPARK35_STAMP)

# Re-resolve pyproject.toml's dependencies in a new virtual environment and pin what it got.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -e '.[dev,serve]'
	{ echo "# The versions CI tested: make setup installs the project with these pins (pip's constraints)."; \
	  echo "# Regenerate after changing pyproject.toml's dependencies: make lock"; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^etl[-_]platform'; } > constraints.txt
	rm -rf .lock-venv

demo: $(STAMP)
	$(BIN)/etl-platform demo

test: $(STAMP) $(TOOLS_STAMP) $(SPARK35_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile
	$(SPARK35)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(SPARK35_TESTS)

# dev and materialize run with a Spark Connect server that every Spark step uses; it stops with them.
dev: $(STAMP)
	@$(BIN)/python -m etl_platform.instance
	$(BIN)/python -m etl_platform.spark_service -- $(BIN)/dagster dev

# The production shape: PostgreSQL, code server, webserver and daemon as separate processes, in the
# foreground until Ctrl-C (deploy/dagster.yaml; docs/production.md).
serve: $(STAMP)
	$(BIN)/etl-platform serve

materialize: $(STAMP)
	@$(BIN)/python -m etl_platform.instance
	$(BIN)/python -m etl_platform.spark_service -- $(BIN)/dagster asset materialize -m etl_platform.definitions --select '*'

# The benchmark (about an hour on 2 cores; inputs are cached under benchmarks/results/inputs).
bench: $(STAMP)
	$(BIN)/python -m benchmarks --scales 1,100,500 --repeat 3 --suite --out benchmarks/results/bench.json

clean:
	rm -rf .lake .dagster
