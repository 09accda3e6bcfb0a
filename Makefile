# Set-up and everyday commands. Every target creates .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# A range in pyproject.toml, a pin here. Where pip's index offers this release
# as a multi-gigabyte CUDA build (PyPI on Linux x86-64), pass PyTorch's CPU
# index: make TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu demo
TORCH_PIN := torch==2.13.0
TORCH_INDEX_URL ?=

.PHONY: install install-test install-docs demo test docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Install torch first, pinned, unless some torch is already there.
$(VENV)/.torch: | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet $(TORCH_PIN) $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.torch
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

$(VENV)/.installed-docs: pyproject.toml $(VENV)/.torch
	$(PY) -m pip install --quiet -e ".[docs]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

install-docs: $(VENV)/.installed-docs

demo: install
	$(VENV)/bin/ibdetect demo

# Small networks gain little from a second thread, and threads that wait for
# each other spin when other jobs share the cores: one is faster and steadier.
TEST_THREADS ?= 1

test: install-test
	OMP_NUM_THREADS=$(TEST_THREADS) $(PY) -m pytest -q

# Warnings are errors (-W), every one of them is reported (--keep-going), and
# every cross-reference must resolve (-n). The gallery runs each example.
SPHINXOPTS ?= -W --keep-going -n
# The examples train small networks, which gain little from several torch
# threads; with one, the build does not slow many times over when other jobs
# share the cores (threads that wait for each other spin).
DOCS_THREADS ?= 1

docs: install-docs
	OMP_NUM_THREADS=$(DOCS_THREADS) $(PY) -m sphinx -b html $(SPHINXOPTS) docs docs/_build/html

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
	rm -rf docs/_build docs/auto_examples docs/gen_modules docs/sg_execution_times.rst
