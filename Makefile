# One entry point for newcomers and CI: `make run`, `make test`, `make bench`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
APT_PKGS := sip-tester baresip-core espeak-ng openssl
# Kamailio is only the benchmarks' peer registrar, so only `make bench` installs it.
BENCH_APT_PKGS := kamailio
STAMP   := $(VENV)/.installed

.PHONY: run test test-fast lint typecheck bench build deps apt clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# Editable installs do not rebuild a changed .pyx, so the extensions are rebuilt explicitly.
build: $(STAMP)
	$(BIN)/python setup_ext.py build_ext --inplace -q

apt:
	@missing=""; for p in $(APT_PKGS) $(EXTRA_APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

deps: apt build

run: build
	$(BIN)/switchboard run

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
	$(BIN)/python -m bench.run

clean:
	rm -rf build cext/*.c cext/*.so .mypy_cache .ruff_cache .pytest_cache
