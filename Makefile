# One entry point for newcomers and CI: `make run`, `make test`, `make bench`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
APT_PKGS := sip-tester baresip-core espeak-ng openssl sipvicious fail2ban rtpengine-daemon
# Kamailio is only the benchmarks' peer registrar, so only `make bench` installs it.
BENCH_APT_PKGS := kamailio
STAMP   := $(VENV)/.installed
# The compiled extensions are current (pip's editable install compiles them in place too).
EXT_STAMP := cext/.built

.PHONY: run test test-fast lint typecheck bench build deps apt clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP) $(EXT_STAMP)

# Editable installs do not rebuild a changed .pyx, so the extensions are rebuilt here, but
# only when a .pyx/.pxd (or setup_ext.py) is newer than the last build: `make run` stays quiet.
build: $(STAMP)
	@if [ ! -e $(EXT_STAMP) ] || [ -n "$$(find cext setup_ext.py -newer $(EXT_STAMP) \
	    \( -name '*.pyx' -o -name '*.pxd' -o -name setup_ext.py \))" ]; then \
	  echo "building the Cython extensions"; \
	  $(BIN)/python setup_ext.py -q build_ext --inplace && touch $(EXT_STAMP); \
	fi

apt:
	@missing=""; for p in $(APT_PKGS) $(EXTRA_APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

deps: apt build

# Flags for the node: make run ARGS="--sip udp:127.0.0.1:5070 --http 127.0.0.1:8081"
run: build
	$(BIN)/switchboard run $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: deps lint typecheck
	SIP_REQUIRE_COMPILED=1 ROUTING_REQUIRE_COMPILED=1 $(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: build
	SIP_REQUIRE_COMPILED=1 ROUTING_REQUIRE_COMPILED=1 $(BIN)/python -m pytest -q -m "not integration"

bench:
	$(MAKE) deps EXTRA_APT_PKGS="$(BENCH_APT_PKGS)"
	# sippy's B2BUA is the routed-calls benchmark's peer (bench/bench_calls.py)
	$(BIN)/pip install -q sippy
	$(BIN)/python -m bench.run

clean:
	rm -rf build cext/*.c cext/*.so $(EXT_STAMP) .mypy_cache .ruff_cache .pytest_cache
