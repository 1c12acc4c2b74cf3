"""What a DAG processor loads for this provider: no HTTP client, no event-loop machinery.

The DAG processor imports the operator module for every DAG file that uses it, and the
providers manager reads the provider info for every process that lists connections. Those
imports must not drag in ``requests``, ``aiohttp`` or the hooks: they are imported when a
task runs. The static contracts (``lint-imports``) see only the import statements;
this test sees what a fresh interpreter really loads, lazy imports included.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Loaded only when a task runs (hooks, triggers, the transport). (tenacity is not listed:
#: ``airflow.sdk`` itself loads it.)
RUN_TIME_ONLY = (
    "requests",
    "aiohttp",
    "urllib3",
    "airflow_provider_videodb.hooks",
    "airflow_provider_videodb.transport",
)

PARSE_TIME_MODULES = [
    "airflow_provider_videodb",
    "airflow_provider_videodb.operators.videodb",
    "airflow_provider_videodb.links.videodb",
]

_PROBE = """
import json, sys
import airflow.sdk  # what every DAG file pays anyway
before = set(sys.modules)
import importlib
module = importlib.import_module(sys.argv[1])
if hasattr(module, "get_provider_info"):
    module.get_provider_info()
print(json.dumps(sorted(set(sys.modules) - before)))
"""


@pytest.mark.parametrize("module", PARSE_TIME_MODULES)
def test_parse_time_module_loads_no_run_time_machinery(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, module], capture_output=True, text=True, check=True
    ).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    offending = [
        name
        for name in loaded
        if any(name == root or name.startswith(root + ".") for root in RUN_TIME_ONLY)
    ]
    assert not offending, f"importing {module} loads {offending}"
