# deepnorm — the README's two commands are `make reproduce` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml environment.yml | sha256sum | cut -c1-16)
PROFILE ?= cpu
DATA_ROOT ?=
SEEDS ?= 1
JOBS ?= 1
PRECISION ?=
# SCALE=2x1: every training at U-Net widths x2 and epochs x1 of the profile (a point of the scale study);
# its tables, figures and report go to results/scale-2x1/ and figures/scale-2x1/
SCALE ?=
PYTEST_ARGS ?=

.PHONY: install browser lint test test-slow reproduce reproduce-beyond reproduce-scale phantom bench clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml environment.yml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@rm -f $(VENV)/.installed-*
	$(PY) -m pip install --quiet --upgrade pip
	# pinned: an unpinned torch pulls a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

# Debian's Chromium for the JupyterLab browser test (skipped, with a reason, when it cannot be installed).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "note: could not install chromium; the browser test will be skipped"; \
	  else echo "note: chromium not found (install Debian's chromium); the browser test will be skipped"; fi; }

# The linter and the type checker (configured in pyproject.toml); `make test` runs them first.
lint: install
	$(PY) -m ruff check deepnorm tests benchmarks docs
	$(PY) -m mypy

test: install browser lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-slow: install
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

phantom: install
	$(VENV)/bin/deepnorm data phantom --profile $(PROFILE)

reproduce: install
	$(VENV)/bin/deepnorm reproduce --profile $(PROFILE) $(if $(SCALE),--scale $(SCALE),) --seeds $(SEEDS) --jobs $(JOBS) $(if $(PRECISION),--precision $(PRECISION),) $(if $(DATA_ROOT),--data-root $(DATA_ROOT),)

# Beyond the paper (classical normalizers, contrast randomisation, an unseen site): after `make reproduce`
# with the same SEEDS, whose runs it reuses; adds its rows, table and claims B1-B3 to REPORT.md.
reproduce-beyond: install
	$(VENV)/bin/deepnorm reproduce --beyond --profile $(PROFILE) $(if $(SCALE),--scale $(SCALE),) --seeds $(SEEDS) --jobs $(JOBS) $(if $(PRECISION),--precision $(PRECISION),) $(if $(DATA_ROOT),--data-root $(DATA_ROOT),)

# The scale study (notebooks/08_scale): Ours, the Pre-processor and Standardization at U-Net widths and epochs
# times 1-9 of the profile; POINTS=1x1,2x3 picks the grid's points (default: the notebook's, a day on 2 cores).
POINTS ?=
reproduce-scale: install
	$(VENV)/bin/deepnorm reproduce --only 08_scale --profile $(PROFILE) $(if $(POINTS),--points $(POINTS),) $(if $(PRECISION),--precision $(PRECISION),) $(if $(DATA_ROOT),--data-root $(DATA_ROOT),)

# Re-sync each notebooks/NN_name.ipynb with its jupytext source notebooks/NN_name.py (whichever is newer wins),
# then strip the outputs (the committed notebooks carry none).
.PHONY: notebooks
notebooks: install
	$(VENV)/bin/jupytext --sync notebooks/*.py
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace --log-level=WARN notebooks/*.ipynb

# make bench DEVICE=cuda: the same on a GPU; bench_train's last line is the paper profile's patches/s;
# on the CPU bench_step prints each cpu-profile iteration's precision, processor capability and share of the matmul peak
DEVICE ?= cpu
bench: install
	$(PY) benchmarks/bench_core.py --device $(DEVICE)
	$(PY) benchmarks/bench_inference.py --device $(DEVICE)
	$(PY) benchmarks/bench_train.py --device $(DEVICE)
	$(if $(filter cpu,$(DEVICE)),$(PY) benchmarks/bench_step.py --method segmenter && $(PY) benchmarks/bench_step.py --method adversarial,)

clean-venv:
	rm -rf $(VENV)
