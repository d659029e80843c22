# fleetbed: `make run` starts the live demo (API + simulated fleet), `make test` runs the suite.
# Both bootstrap first: virtualenv, dependencies, PostgreSQL+PostGIS, Redis, database, migrations.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

FLEETBED_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/fleetbed
FLEETBED_REDIS_URL ?= redis://127.0.0.1:6379/0
FLEETBED_TEST_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/fleetbed_test
FLEETBED_TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
export FLEETBED_DATABASE_URL FLEETBED_REDIS_URL FLEETBED_TEST_DATABASE_URL FLEETBED_TEST_REDIS_URL

HOST ?= 127.0.0.1
PORT ?= 8000
VEHICLES ?= 300
SPEED ?= 10
# Set (e.g. MQTT=mqtt://127.0.0.1:1883) to carry vehicle commands through an MQTT broker.
MQTT ?=

.PHONY: run test bootstrap bootstrap-test lint typecheck openapi clean bench-ingest bench-geofence bench-export bench-tasks bench-rebalancing bench-dispatch bench-gbfs

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "fleetbed needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

bootstrap: $(STAMP)
	@$(BIN)/fleetbed bootstrap

bootstrap-test: $(STAMP)
	@FLEETBED_DATABASE_URL=$(FLEETBED_TEST_DATABASE_URL) FLEETBED_REDIS_URL=$(FLEETBED_TEST_REDIS_URL) \
		$(BIN)/fleetbed bootstrap

# The live demo: seed Helsingborg's demo city, serve the API, drive a simulated fleet.
run: bootstrap
	@$(BIN)/fleetbed demo run --host $(HOST) --port $(PORT) --vehicles $(VEHICLES) --speed $(SPEED) \
		$(if $(MQTT),--mqtt $(MQTT))

lint: $(STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

typecheck: $(STAMP)
	@$(BIN)/mypy app fleet telemetry geofencing demo alembic tests bench

test: bootstrap-test lint typecheck
	@$(BIN)/pytest -q

# Telemetry ingest throughput of the real server against a naive baseline (see BENCHMARKS.md).
bench-ingest: bootstrap
	@$(BIN)/python -m bench.ingest

# Zone index classification against PostGIS and shapely STRtree (see BENCHMARKS.md).
bench-geofence: bootstrap
	@$(BIN)/python -m bench.geofence

# Trip export streamed as CSV and Parquet against a naive in-memory export (see BENCHMARKS.md).
bench-export: bootstrap
	@$(BIN)/python -m bench.export

openapi: $(STAMP)
	@$(BIN)/fleetbed openapi

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Nearest field tasks over HTTP against a naive query, and task rules' cost on ingest (see BENCHMARKS.md).
bench-tasks: bootstrap
	@$(BIN)/python -m bench.tasks

bench-rebalancing: $(STAMP)
	@$(BIN)/python -m bench.rebalancing

# Pod dispatch: the DARP instances, a replayed booking stream and booking answer times over HTTP (see BENCHMARKS.md).
bench-dispatch: bootstrap
	@$(BIN)/python -m bench.dispatch

# GBFS vehicle_status.json of 10,000 vehicles: warm cache against a build per request (see BENCHMARKS.md).
bench-gbfs: bootstrap
	@$(BIN)/python -m bench.gbfs
