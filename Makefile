# Two commands: `make book` builds the HTML book, `make test` runs every check. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST := LANDSCAPE_COMPUTE=never $(PY) -m pytest -p no:cacheprovider

.PHONY: install book test test-fast test-browser notebooks bench results clean

install: $(STAMP)

# What the book needs: the package with all its extras (book, dask, mnist1d, test), at the exact pins of
# requirements.txt. (The library alone needs torch and numpy: `pip install .`)
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e '.[all]'
	touch $(STAMP)

book: install
	$(VENV)/bin/jupyter-book build . -W --keep-going
	@echo "Book: _build/html/index.html"

NBVAL := $(PYTEST) --nbval --nbval-current-env -n 2 --dist loadfile book
# Other CPU kernels, as on another x86-64 machine: ATen's non-vectorized ones, MKL at SSE4.2, OpenBLAS for
# Sandybridge, numpy without AVX-512 (docs/DESIGN.md, "Notebook check").
OTHER_KERNELS := ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 OPENBLAS_CORETYPE=Sandybridge \
	NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR"

# Unit tests, smoke runs of every experiment, the drift check of stored results, then nbval over every notebook,
# with this machine's CPU kernels and again with other ones (nbval and the drift check of every stored result); then
# the built book in headless Chromium.
test: install
	$(PYTEST) -m "not browser" -n 2 tests
	$(PY) tools/cpu_kernels.py
	$(NBVAL)
	$(OTHER_KERNELS) $(PY) tools/cpu_kernels.py --expect-other
	$(OTHER_KERNELS) $(NBVAL)
	$(OTHER_KERNELS) $(PYTEST) -m slow -n 2 tests/test_experiments.py -k stored_result_is_what_the_code_produces
	$(MAKE) --no-print-directory test-browser

# Builds the book into a temporary folder and opens every page in headless Chromium (tests/test_browser.py);
# BOOK_HTML=_build/html checks an existing build. Without chromium and chromedriver: one line, and no failure.
test-browser: install
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then \
		$(PYTEST) -m browser -s tests/test_browser.py; \
	else \
		echo "browser test skipped: chromium and chromedriver are not installed (.ci/run installs them with apt-get)"; \
	fi

# Unit tests only (about a minute): the tests marked smoke (a run of an experiment, a notebook or book built), slow
# (drift check, fresh install) or browser are left out.
test-fast: install
	$(PYTEST) -m "not slow and not smoke and not browser" tests

# Re-execute every notebook top to bottom on a fresh kernel, from stored results (before committing notebooks).
notebooks: install
	$(PY) tools/execute_notebooks.py

bench: install
	$(PY) benchmarks/spiral_speed.py
	$(PY) benchmarks/ensemble_speed.py
	$(PY) benchmarks/dask_speed.py

# Compute every missing stored result (every full preset, then every select preset: the selection runs that pick the
# full presets' learning rates): the units of every experiment on a local Dask cluster with one single-threaded worker
# per CPU core (WORKERS=N to change). Resumable: rerun after an interruption; finished units are kept.
WORKERS ?= $(shell $(PY) -c "import os; print(len(os.sched_getaffinity(0)))" 2>/dev/null || nproc)
results: install
	$(PY) -m landscape run --all --preset full --workers $(WORKERS)
	$(PY) -m landscape run --all --preset select --workers $(WORKERS)

clean:
	rm -rf _build
