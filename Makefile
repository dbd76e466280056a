# Two commands: `make lab` runs the lab, `make test` runs the checks.
# Both create .venv and install what they need on first use.
#
# TORCH is installed before the package so that pip never resolves a different
# build. On this project's CPU machines the pinned CPU wheel lies on local disk;
# elsewhere override it, e.g. `make test TORCH=torch`.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
LAB_ARGS ?=
# the optional extras installed with the package (CI adds ray: EXTRAS=dev,ray)
EXTRAS ?= dev
BIN := $(VENV)/bin
# Data: ../shared/data when this checkout has it beside it (this project's machines and CI),
# else whatever ELBOLAB_DATA_DIR says, else elbolab's default (the user cache).
ifneq ($(wildcard ../shared/data),)
export ELBOLAB_DATA_DIR ?= $(abspath ../shared/data)
endif
STAMP := $(VENV)/.elbolab-installed

.PHONY: lab test install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "$(TORCH)"
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[$(EXTRAS)]'
	touch $@

lab: $(STAMP)
	$(BIN)/elbolab lab $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

clean:
	rm -rf lab-output .pytest_cache .ruff_cache .hypothesis
