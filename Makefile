# Everything starts from a clean clone: the venv, pip packages and the private MariaDB
# (apt package mariadb-server-core) are installed on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | md5sum | cut -c1-12)

.PHONY: docs-viewer profile cli deploy package-check test-localstack test-deployed fuzz run test test-faults test-unit test-integration test-browser bench migrate clean deps seed-orders

CLI    := $(VENV)/bin/async-task

deps: $(STAMP) $(CLI)

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

# the operator CLI as a command (pyproject.toml [project.scripts]): this checkout, editable
$(CLI): pyproject.toml | $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

## make run: the whole stack on http://127.0.0.1:8000 (Ctrl-C stops it all)
run: deps
	$(PY) -m infra.local.stack

## make cli ARGS='tasks|show ID|watch ID|cancel ID|retry ID|dlq depth|dlq redrive|sweep|budget':
## the operator CLI (.venv/bin/async-task), against the running `make run` stack (or the
## DATABASE_URL/AWS_* you set)
cli: deps
	@set -a; if [ -f .local/stack.env ]; then . ./.local/stack.env; fi; set +a; \
	$(CLI) $(ARGS)

## make test: unit + integration tests against a private MariaDB and moto
test: deps
	$(PY) -m pytest

test-unit: deps
	$(PY) -m pytest tests/unit

## make test-faults: only the fault tests (worker kills, duplicate delivery, sweepers)
test-faults: deps
	$(PY) -m pytest -m faults

## make test-browser: the task center page in headless chromium (also in make test)
test-browser: deps
	$(PY) -m pytest tests/browser

## make package-check: chalice package (dev, prod) + cfn-lint + worker limits
package-check: deps
	$(PY) -m infra.package_check

## make test-localstack: tests/e2e against LocalStack on the host (own venv, private port)
test-localstack: deps
	$(PY) -m infra.localstack test

## make test-deployed: `make deploy` onto LocalStack with real Lambdas (process executor),
## then tests/deployed against the API Gateway URL it printed (docs/deploy.md)
test-deployed: deps
	$(PY) -m infra.localstack test-deployed

## make deploy STAGE=dev|prod: infra stack, chalice deploy, API Gateway error bodies (real AWS)
deploy: deps
	@test -n "$(STAGE)" || { echo "usage: make deploy STAGE=dev|prod"; exit 2; }
	$(PY) -m infra.deploy --stage $(STAGE) $(DEPLOY_ARGS)

## make docs-viewer: re-fetch the /docs page's Swagger UI files (pinned, integrity-checked; npm)
docs-viewer: deps
	$(PY) -m infra.docs_viewer

## make fuzz: schemathesis against the local API from its OpenAPI spec (also in make test)
fuzz: deps
	$(PY) -m pytest -q tests/integration/test_fuzz_api.py

## make bench [SECTIONS=api_poll,copy or SECTIONS='fairness budget']: benchmarks, results in bench/results.json
comma := ,
bench: deps
	$(PY) -m bench.run $(addprefix --only ,$(subst $(comma), ,$(SECTIONS)))

## make profile [TAG=before]: py-spy of a worker during a zero-latency copy, cProfile of the
## API creating a 100,000-item task; top entries in bench/profile/ (bench/profile.py)
profile: deps
	$(PY) -m bench.profile --tag $(or $(TAG),latest) $(PROFILE_ARGS)

## make migrate DATABASE_URL=mysql://...: apply schema migrations to any server
migrate: deps
	$(PY) -m infra.migrate

## make seed-orders N=1000000 [STATION=s001]: demo orders (DATABASE_URL, default the make-run MariaDB)
seed-orders: deps
	N=$(or $(N),1000000) STATION=$(or $(STATION),s001) $(PY) -m infra.local.seed_orders

clean:
	rm -rf $(VENV) .local .pytest_cache
