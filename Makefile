# Two commands do all the set-up: `make demo` runs the main job, `make test` runs the tests.
# Each creates the virtual environment (.venv), installs the package and fetches the data set when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FASHION_MNIST := /usr/share/datasets/fashion-mnist

.PHONY: setup data demo test lint clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

data:
	@if [ ! -d "$(FASHION_MNIST)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's dataset-fashion-mnist"; \
	    apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
	  else \
	    echo "Fashion-MNIST is not in $(FASHION_MNIST) and it cannot be installed here (needs root and apt-get):"; \
	    echo "run 'sudo apt-get install dataset-fashion-mnist' or pass data_root=DIR (see README)"; \
	  fi; \
	fi

setup: $(VENV)/.installed data

demo: setup
	$(VENV)/bin/autoq search --agent hrl --episodes 30 --seed 0 --out runs/demo --overwrite

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .hypothesis
