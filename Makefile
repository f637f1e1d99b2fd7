# Bootstraps .venv from the pinned requirements, then runs the demo, the tests or the linters.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED ?= ../shared
CONTAINER_MODULES := src/resnext/config.py src/resnext/atomic.py src/resnext/checkpoints.py \
	src/resnext/compat.py src/resnext/model src/resnext/data/pipeline.py \
	src/resnext/data/preprocessing.py src/resnext/train src/resnext/backends \
	src/resnext/evaluate.py src/resnext/export.py src/resnext/cli.py
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test test-slow lint clean freeze

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	snakemake --cores 8 all

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" tests

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests

lint: $(STAMP)
	snakemake --lint
	$(BIN)/vermin --target=3.7- --no-tips --violations --eval-annotations $(CONTAINER_MODULES)
	$(BIN)/python $(SHARED)/tools/check_tf115_api.py $(CONTAINER_MODULES)

freeze: $(STAMP)
	{ echo "# Host runtime, pinned (Python >= 3.11). Regenerate with: make freeze"; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^resnext'; } > requirements.txt

clean:
	rm -rf results .snakemake
