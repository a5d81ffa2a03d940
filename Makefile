# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test install install-test translations extract-messages db-upgrade seed lint format property bench bench-booking page-weight load load-state wheel clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed translations
install-test: $(VENV)/.installed-test translations

translations: $(VENV)/.installed
	@$(BIN)/pybabel compile --use-fuzzy -d booking/translations

extract-messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k _l -o booking/translations/messages.pot .
	$(BIN)/pybabel update -i booking/translations/messages.pot -d booking/translations --no-fuzzy-matching

db-upgrade: install
	$(FLASK) db upgrade

seed: db-upgrade
	$(FLASK) seed-demo

run: seed
	$(FLASK) run --host $(HOST) --port $(PORT)

# The suite on every core (pytest-xdist; tests/conftest.py keeps the workers apart).
# TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
test: install-test
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The property tests long: 5,000 examples each and a random seed, printed; rerun a failure
# with `make property SEED=<seed>`. (`make test` runs them with fixed seeds.)
property: install-test
	@seed=$${SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; \
	echo "hypothesis seed $$seed"; \
	$(BIN)/python -m pytest tests/unit -m property -p no:cacheprovider \
		--hypothesis-profile=property --hypothesis-seed=$$seed --hypothesis-show-statistics $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every benchmark of BENCHMARKS.md, each figure beside its target; a missed target is
# reported, an error fails. Needs PostgreSQL (BENCH_DATABASE_URL) and wrk (installed when
# missing and root). The peer comparison measures the committed HEAD.
bench: install-test
	$(BIN)/python benchmarks/bench_slots.py
	$(BIN)/python benchmarks/bench_slots_cache.py
	$(BIN)/python benchmarks/bench_http.py
	$(BIN)/python benchmarks/bench_booking.py
	$(BIN)/python benchmarks/bench_peer.py
	$(BIN)/python benchmarks/load.py --state

wheel: install-test
	$(BIN)/python -m build --wheel --outdir dist .

clean:
	rm -rf $(VENV) dist build *.egg-info .pytest_cache

bench-booking: install-test
	$(BIN)/python benchmarks/bench_booking.py

page-weight: install-test
	$(BIN)/python benchmarks/page_weight.py

# Mixed traffic on its own PostgreSQL, gunicorn, outbox workers, Redis and a mail sink, then
# checks that nothing was lost (see benchmarks/load.py); LOAD_SECONDS per phase, default 60.
load: install-test
	$(BIN)/python benchmarks/load.py

# The same stack at the scale of a state (54 centres × 10 counsellors, a month of bookings,
# about 2,000 a weekday), one phase of LOAD_SECONDS of mixed traffic; part of `make bench`.
load-state: install-test
	$(BIN)/python benchmarks/load.py --state
