# The first commands a newcomer types. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Where `make demo` keeps its sample DataRoom (never your real one unless you say so).
DEMO_DATAROOM ?= $(CURDIR)/demo-dataroom

.PHONY: demo test lint docs bench soak clean help

help:
	@echo "make demo   store and read sample deal artifacts in $(DEMO_DATAROOM)"
	@echo "make test   run the whole test suite (S3 tests start their own moto server)"
	@echo "make lint   ruff and mypy --strict"
	@echo "make docs   the documentation site (MkDocs), built with --strict into site/"
	@echo "make bench  benchmarks against peers; results in bench/results/"
	@echo "make soak   the reliability suite's long variants"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,s3,web]'
	touch $@ $(VENV)/.runtime

$(VENV)/.bench: pyproject.toml $(VENV)/.dev
	$(BIN)/python -m pip install --quiet -e '.[dev,s3,web,bench]'
	touch $@

demo: $(VENV)/.runtime
	$(BIN)/python examples/demo.py --dataroom "$(DEMO_DATAROOM)"
	@echo
	@echo '$$ artifactstore --store $(DEMO_DATAROOM) ls -l'
	@$(BIN)/artifactstore --store "$(DEMO_DATAROOM)" ls -l
	@echo '$$ artifactstore --store $(DEMO_DATAROOM) verify'
	@$(BIN)/artifactstore --store "$(DEMO_DATAROOM)" verify

# Two workers, a test file each at a time: most of the suite waits on subprocesses,
# servers and kills, so two cores run it in about 60% of the time of one.
test: $(VENV)/.dev
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(VENV)/.dev
	$(BIN)/ruff check artifactstore tests bench examples
	$(BIN)/ruff format --check artifactstore tests bench examples
	$(BIN)/mypy --strict artifactstore

# The documentation site into site/ (open site/index.html). --strict: a broken link or
# anchor, a missing API reference entry or a docstring griffe cannot parse fails it;
# tests/test_docs.py runs the same build in `make test`.
docs: $(VENV)/.dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# rclone is the transfer section's peer: installed (Debian's package) where it is
# missing and apt-get is usable (as root); else that section skips it with a note.
bench: $(VENV)/.bench
	@command -v rclone >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get install -y -q rclone >/dev/null; } \
		|| echo "rclone is not installed: the transfer section skips it"
	$(BIN)/python -m bench

# The reliability suite's long variants: more kills, cancellations and faults.
soak: $(VENV)/.dev
	$(BIN)/python -m pytest --run-soak tests/test_crash.py tests/test_cancellation.py \
		tests/test_holds_property.py \
		tests/test_races.py tests/test_faults.py tests/test_s3_shared.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-dataroom site
