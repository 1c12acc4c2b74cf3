"""Provider metadata as Airflow itself reads it: schema, ProvidersManager and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import distribution
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest

import airflow_provider_videodb
from airflow_provider_videodb import get_provider_info
from tests.form_support import require_real_wtforms

HOOK = "airflow_provider_videodb.hooks.videodb.VideoDBHook"
LINK = "airflow_provider_videodb.links.videodb.VideoDBPlayerLink"
PACKAGE = "airflow-provider-videodb"


def test_provider_info_matches_airflows_runtime_schema():
    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_versions_follow_the_package_version():
    info = get_provider_info()
    assert info["versions"][0] == airflow_provider_videodb.__version__
    assert distribution(PACKAGE).version == airflow_provider_videodb.__version__


def test_entry_point_is_declared():
    points = {ep.group: ep.value for ep in distribution(PACKAGE).entry_points}
    assert points["apache_airflow_provider"] == "airflow_provider_videodb:get_provider_info"


def test_py_typed_ships():
    assert Path(airflow_provider_videodb.__file__).with_name("py.typed").exists()


@pytest.fixture(scope="module")
def manager():
    from airflow.providers_manager import ProvidersManager

    return ProvidersManager()


def test_providers_manager_lists_the_provider(manager):
    provider = manager.providers[PACKAGE]
    assert provider.version == airflow_provider_videodb.__version__


def test_task_runtime_providers_manager_maps_videodb_to_the_hook():
    runtime = pytest.importorskip("airflow.sdk.providers_manager_runtime")  # Airflow >= 3.2
    ProvidersManagerTaskRuntime = runtime.ProvidersManagerTaskRuntime

    hook = ProvidersManagerTaskRuntime().hooks["videodb"]
    assert hook is not None
    assert hook.hook_class_name == HOOK
    assert hook.connection_id_attribute_name == "videodb_conn_id"
    assert hook.hook_name == "VideoDB"


def test_providers_manager_lists_the_extra_link(manager):
    assert LINK in manager.extra_links_class_names


def test_connection_form_is_declared(manager):
    if "videodb" not in manager.field_behaviours:
        # Airflow 3.1 builds the form from the hook's methods, and only with wtforms (FAB UI).
        require_real_wtforms()
    behaviour = manager.field_behaviours["videodb"]
    assert {"schema", "login"} <= set(behaviour["hidden_fields"])
    assert "host" not in behaviour["hidden_fields"]
    assert "password" not in behaviour["hidden_fields"]
    assert behaviour["relabeling"] == {
        "host": "Base URL",
        "password": "API key",
        "port": "Port (optional)",
    }
    assert "port" not in behaviour["hidden_fields"]  # Test on Airflow 3.3.0-3.3.2 needs it
    assert behaviour["placeholders"]["host"].startswith("https://")
    widgets = manager.connection_form_widgets
    for extra in ("collection_id", "timeout", "max_retries", "verify", "ca_bundle"):
        assert f"extra__videodb__{extra}" in widgets
    assert not widgets["extra__videodb__verify"].is_sensitive


def test_trigger_module_is_registered(manager):
    ours = [info for info in manager.trigger if info.package_name == PACKAGE]
    assert sorted(info.trigger_class_name for info in ours) == [
        "airflow_provider_videodb.triggers.events",
        "airflow_provider_videodb.triggers.videodb",
    ]


def _airflow_cli(*args: str) -> list[dict]:
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run(
        [sys.executable, "-m", "airflow", *args, "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    ).stdout
    return json.loads(out[out.index("[") :])


def test_airflow_cli_shows_provider_hook_and_link():
    providers = {p["package_name"]: p for p in _airflow_cli("providers", "list")}
    assert providers[PACKAGE]["version"] == airflow_provider_videodb.__version__
    hooks = {h["connection_type"]: h for h in _airflow_cli("providers", "hooks")}
    assert hooks["videodb"]["class"] == HOOK
    links = [entry["extra_link_class_name"] for entry in _airflow_cli("providers", "links")]
    assert LINK in links


def test_provider_config_declares_the_deferrable_default(monkeypatch):
    try:
        from airflow.sdk import conf
    except ImportError:  # Airflow 3.1
        from airflow.configuration import conf

    from airflow_provider_videodb.operators.videodb import default_deferrable

    option = get_provider_info()["config"]["videodb"]["options"]["default_deferrable"]
    assert option["default"] == "True"
    assert conf.getboolean("videodb", "default_deferrable", fallback=True) is True
    assert default_deferrable() is True
    monkeypatch.setenv("AIRFLOW__VIDEODB__DEFAULT_DEFERRABLE", "false")
    assert default_deferrable() is False
