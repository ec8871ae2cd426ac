# Two commands: `make run` (the local stack) and `make test`. Both build .venv from nothing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint typecheck pytest screenshots clean

$(STAMP): requirements.txt requirements-dev.txt clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip<26.3"
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet -e clients/python  # the `vigil` command (vigil run)
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m chalicelib.cli serve

test: lint typecheck pytest

# The inner loop: everything but the tests marked slow (a real stack, a subprocess, a long drill).
test-fast: lint typecheck
	$(BIN)/pytest -q $(PARALLEL) -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check app.py chalicelib tests tools clients/python
	$(BIN)/ruff format --check app.py chalicelib tests tools clients/python

typecheck: $(STAMP)
	$(BIN)/mypy  # files from pyproject.toml: chalicelib, app.py, tools, tests
	cd clients/python && $(abspath $(BIN))/mypy  # the wrapper, by its own config

# One worker per core (WORKERS=1 runs serially). Each test module runs whole on one worker
# (--dist loadfile), so a module-scoped fixture (a stack, the packaged zip, the client venv) is
# built once; every worker has its own moto. (loadgroup's xdist_group does not work with
# pytest 9: xdist 3.8 renames items through a field pytest 9 no longer reads.)
# The Go client's tests run inside pytest (tests/test_go_client.py) when `go` is installed.
WORKERS ?= auto
PARALLEL = $(if $(filter 1,$(WORKERS)),,-n $(WORKERS) --dist loadfile)

pytest: $(STAMP)
	@command -v go >/dev/null || echo "*** Go client tests SKIPPED: no go on PATH. Run: apt-get install golang-go ***"
	$(BIN)/pytest -q $(PARALLEL)

# The dashboard's pictures (docs/img/*.png) from a seeded local stack; needs Chromium
# (apt-get install chromium). The browser tests in `make test` need it too, and skip loudly without.
screenshots: $(STAMP)
	$(BIN)/python -m tools.screenshots

# Deploying (docs/deploy.md): credentials and region come from the usual AWS chain.
#   make package                  SAM/CloudFormation template + zip in $(DIST)/, cfn-lint checked
#   make deploy STAGE=prod        table, topic, config, chalice deploy, alarms; prints the URLs
#   make destroy STAGE=prod       removes the app and alarms, keeps the data (DELETE_DATA=1: all)
STAGE ?= dev
DIST ?= dist
.PHONY: package deploy destroy

package: $(STAMP)
	$(BIN)/python -m tools.package --out $(DIST)

deploy: $(STAMP)
	$(BIN)/python -m tools.deploy deploy --stage $(STAGE)

destroy: $(STAMP)
	$(BIN)/python -m tools.deploy destroy --stage $(STAGE) $(if $(DELETE_DATA),--delete-data)

# Benchmarks (docs/performance.md): the six figures, measured on moto, never on AWS.
#   make bench                    full sizes, a few minutes
#   make bench QUICK=1            CI's smoke size, same code paths, figures not for publishing
.PHONY: bench

bench: $(STAMP)
	$(BIN)/python -m tools.bench $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
