# rawhttp: the README's commands. `make test` is what CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-fast lint format clean demo bench bench-quick stress fuzz

INSTALL_LOG := $(VENV)/install.log
# Two steps: `make demo` needs rawhttp alone (click, idna); `make test`, `lint` and the rest add
# the test tools (pytest, hypothesis, mitmproxy, ruff...), most of a fresh install's time.
TEST_STAMP := $(VENV)/.installed-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# pip's and setuptools' chatter (the "Editable installation" warning box, say) goes to a log,
# shown only if the install fails, so that what `make demo` and `make test` print is theirs.
$(STAMP): $(BIN)/python pyproject.toml
	@echo "installing rawhttp into $(VENV) (pip's output: $(INSTALL_LOG))"
	@$(BIN)/python -m pip install -q --upgrade pip > $(INSTALL_LOG) 2>&1 \
		&& $(BIN)/python -m pip install -q -e . >> $(INSTALL_LOG) 2>&1 \
		|| { cat $(INSTALL_LOG); echo "make: the install failed (above)"; exit 1; }
	@touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	@echo "installing the test tools into $(VENV) (pip's output: $(INSTALL_LOG))"
	@$(BIN)/python -m pip install -q -e '.[test]' >> $(INSTALL_LOG) 2>&1 \
		|| { cat $(INSTALL_LOG); echo "make: the install failed (above)"; exit 1; }
	@touch $(TEST_STAMP)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q

# The fast set while working: everything but the tests marked slow (browsers, worksheets,
# load, property runs, real-peer suites). CI and `make test` run them all.
test-fast: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: $(STAMP)
	$(BIN)/rawhttp demo

format: $(TEST_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .fuzz-corpus

# Benchmarks against curl, wget and other servers (bench/README.md); never part of `test`.
# Every target is a ratio to a peer measured in the same run: the client against curl, the
# server (wrk -t1 -c50; --workers 1, 2, --model threads, --compress, --tls) against http.server,
# nginx (1 and 2 workers), lighttpd, twisted, aiohttp, tornado, uvicorn+starlette and a bare
# epoll loop (CPU per request, server on core 0 and wrk on core 1), with a cProfile of `rawhttp
# serve` under load; start-up against `import click`, the parser against h11. bench/run.py makes
# its own bench/.venv (rawhttp installed non-editable, h11 and the Python peers from PyPI) and
# may apt-get install nginx, lighttpd, wrk and GNU time (as root). Writes bench/RESULTS.md, with
# what limits each target. About 8 min; bench-quick (one 1 s round per server, no 1 GiB file)
# about 45 s.
bench:
	$(PYTHON) bench/run.py
	$(PYTHON) bench/upload_bench.py --rawhttp bench/.venv/bin/rawhttp >> bench/RESULTS.md
	$(PYTHON) bench/tls_bench.py --rawhttp bench/.venv/bin/rawhttp >> bench/RESULTS.md
	$(PYTHON) bench/strategies_bench.py --rawhttp bench/.venv/bin/rawhttp >> bench/RESULTS.md

bench-quick:
	$(PYTHON) bench/run.py --quick

# The long load on `rawhttp serve` in its own process, loopback only (tests/stress/run.py,
# about 2 minutes), once per model (--model events, then threads): 20,000 keep-alive requests,
# 1,000 slowloris connections, 10,000 mutated requests, idle keep-alive connections (10,000 for
# events: RSS < 200 MiB; the cap of 256 for threads) and slow bodies (1,000; threads: 256),
# a normal client probing meanwhile (< 1 s under slowloris, < 100 ms otherwise). Raises its
# open-file limit; prints what it held per model and exits 1 if anything did not.
stress: $(TEST_STAMP)
	$(BIN)/python tests/stress/run.py

# Coverage-guided fuzzing of rawhttp.wire with atheris (installed here, not by `test`) for
# FUZZ_SECONDS. Crashes land in tests/fuzz/crashes/, which `make test` replays from then on.
FUZZ_SECONDS ?= 60
fuzz: $(TEST_STAMP)
	$(BIN)/python -m pip install -q 'atheris>=2.3'
	mkdir -p .fuzz-corpus tests/fuzz/crashes
	$(BIN)/python tests/fuzz/fuzz_wire.py -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		-rss_limit_mb=2048 -artifact_prefix=tests/fuzz/crashes/ .fuzz-corpus tests/fuzz/seeds
