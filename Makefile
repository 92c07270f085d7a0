# Two entry points (see README): `make run` and `make test`. Both idempotent.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LEAFLET_VERSION := 1.9.4
LEAFLET := static/vendor/leaflet/leaflet.js
GRU_EXT := build/gru_ext/.built
GRU_EXT_SRC := $(wildcard kgml_core/models/csrc/*) kgml_core/models/gru_ext.py
PORT ?= 8501
# localhost by default; ADDRESS=0.0.0.0 only behind an authenticating proxy (README, Security)
ADDRESS ?= 127.0.0.1

.PHONY: install chromium run test bench demo clean

install: $(STAMP) $(LEAFLET) $(GRU_EXT)

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $(STAMP)

# Leaflet from the npm registry, served by Streamlit's static serving (offline maps).
$(LEAFLET):
	mkdir -p build/npm static/vendor/leaflet
	cd build/npm && npm pack --silent leaflet@$(LEAFLET_VERSION) > /dev/null
	tar -xzf build/npm/leaflet-$(LEAFLET_VERSION).tgz -C build/npm
	cp -r build/npm/package/dist/. static/vendor/leaflet/

# The fused CPU GRU (C++, torch.utils.cpp_extension, g++ and ninja) compiled once into build/gru_ext/;
# without it the models run a slower pure-PyTorch loop (logged).
$(GRU_EXT): $(STAMP) $(GRU_EXT_SRC)
	$(PY) -c "from kgml_core.models.gru_ext import main; main()"
	touch $@

chromium:
	@command -v /usr/bin/chromium > /dev/null || (apt-get update -qq && apt-get install -y -qq chromium > /dev/null)

run: install
	$(PY) -m components.serve --server.port $(PORT) --server.address $(ADDRESS)

test: install chromium
	$(PY) -m pytest tests -q -p no:cacheprovider

# Example results for a demo (labelled "Example: ..." runs in the run store); DEMO_PRESET=quick for the README's figures.
DEMO_PRESET ?= tiny
demo: install
	$(PY) -m kgml_core demo --preset $(DEMO_PRESET)

bench: install
	$(PY) -m kgml_core bench --out artifacts/bench.json

clean:
	rm -rf $(VENV) build static/vendor
