# Thin wrappers around the scripts; the scripts are the source of truth.
PY := .venv/bin/python

.PHONY: demo test test-server lint bench server

demo:  ## run the nightly highlights DAG against the local server (README command 1)
	bash scripts/demo.sh

test:  ## ruff + mypy + both suites (provider, local server) on Airflow 3.3 and 3.1 (README command 2)
	bash scripts/test.sh

test-server:  ## the local server's own suite only (server/tests, rootdir server/; uses .venv)
	cd server && ../$(PY) -m pytest -q

lint:  ## ruff + mypy + import contracts only (uses the existing .venv)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports

bench:  ## print the benchmark figures, quick forms (full runs: see bench/README.md)
	$(PY) bench/parse_cost.py
	$(PY) bench/hook_overhead.py
	$(PY) bench/timeline_stream.py --server
	$(PY) bench/trigger_scale.py --quick

server:  ## start the local VideoDB server with demo media on port 8080
	.venv/bin/videodb-local-server --demo --port 8080 --data-dir .run/videodb-data
