PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-ha lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/watcher demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2

# SPEC §11 in full: three instances on one PostgreSQL, killed and restarted 20 times with
# the real 60 s leases (the default suite runs 3 kills with 15 s leases). A few minutes.
test-ha: $(STAMP)
	WATCHER_TEST_HA=1 $(BIN)/python -m pytest -p no:randomly tests/test_ha.py

# The pure core (SPEC §2 decisions: config, matching, text, identity, routing, messages,
# the poll plan)
# is held to mypy --strict; the I/O shell is typed but not held to it yet.
CORE := watcher/config watcher/matching watcher/sources watcher/text watcher/identity \
	watcher/models.py watcher/delivery/routing.py watcher/delivery/messages.py watcher/delivery/layout.py \
	watcher/runner/schedule.py watcher/pipeline/plan.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict $(CORE)

clean:
	rm -rf $(VENV) build *.egg-info
