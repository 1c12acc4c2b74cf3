"""What Test in the Airflow UI runs (``VideoDBHook.test_connection``) and the connection form.

Against the real local server: the key is checked with ``GET /user`` and the configured
collection with ``GET /collection/{id}``; failures name the field or the collection, never
the key nor the random connection id Airflow tests under. The form's fields are checked as
the Airflow 3 UI receives them (``HookMetaService``) and as what the UI then saves.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_videodb import get_provider_info
from airflow_provider_videodb.exceptions import VideoDBConfigError
from airflow_provider_videodb.hooks.videodb import VideoDBHook
from airflow_provider_videodb.settings import VideoDBSettings
from tests.form_support import require_real_wtforms, schema_form
from tests.provider.hook_support import requests_to, set_conn

[_CONN_TYPE] = get_provider_info()["connection-types"]
CONN_FIELDS: dict[str, Any] = _CONN_TYPE["conn-fields"]


def _ui_saved_extra(**typed: Any) -> dict[str, Any]:
    """The extra the Airflow 3 UI saves: every form field, its default or null, then what
    the user typed (the UI writes each field's value, null for an empty one)."""
    extra = {name: spec["schema"].get("default") for name, spec in CONN_FIELDS.items()}
    extra.update(typed)
    return extra


def _airflow_test(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> tuple[bool, str]:
    """Test a connection the way Airflow's ``POST /connections/test`` does: a random
    connection id, the connection exported as a URI in the environment, then
    ``Connection.test_connection()`` (which finds the hook through the providers manager)."""
    from airflow.models.connection import Connection

    conn_id = secrets.token_hex(8)
    conn = Connection(conn_id=conn_id, conn_type="videodb", **fields)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn.get_uri())
    ok, message = conn.test_connection()
    assert conn_id not in message and conn_id.upper() not in message
    return ok, message


# -- what Test checks --------------------------------------------------------------------------


def test_success_names_the_user_and_the_default_collection(videodb_conn, server):
    ok, message = VideoDBHook().test_connection()
    assert ok, message
    assert "as Local User" in message and "collection 'default'" in message
    assert server.base_url in message
    assert len(requests_to(server, "GET", "/user")) == 1
    assert len(requests_to(server, "GET", "/collection/default")) == 1


def test_success_names_the_configured_collection(server, monkeypatch, fresh_collection):
    set_conn(
        monkeypatch,
        "videodb_coll",
        host=server.base_url,
        password=server.api_key,
        collection_id=fresh_collection,
    )
    ok, message = VideoDBHook("videodb_coll").test_connection()
    assert ok, message
    assert f"collection {fresh_collection!r}" in message
    assert requests_to(server, "GET", f"/collection/{fresh_collection}")


def test_a_collection_that_does_not_exist_fails_naming_it(server, monkeypatch):
    set_conn(
        monkeypatch,
        "videodb_nocoll",
        host=server.base_url,
        password=server.api_key,
        collection_id="c-doesnotexist",
    )
    ok, message = VideoDBHook("videodb_nocoll").test_connection()
    assert not ok
    assert "collection 'c-doesnotexist' does not exist" in message
    assert "Local User" in message  # the key itself was fine
    assert server.api_key not in message


def test_a_wrong_key_fails_at_get_user_and_never_shows_the_key(server, monkeypatch):
    wrong = "sk-wrong-key-that-must-not-leak"
    set_conn(monkeypatch, "videodb_wrong", host=server.base_url, password=wrong)
    ok, message = VideoDBHook("videodb_wrong").test_connection()
    assert not ok
    assert "API key (field 'password')" in message and "GET /user" in message
    assert "HTTP 401" in message
    for form in (wrong, repr(wrong), wrong[3:], server.api_key):
        assert form not in message
    assert not requests_to(server, "GET", "/collection/*")  # no second check after a bad key


def test_an_empty_key_names_the_field_not_the_random_connection_id(server, monkeypatch):
    conn_id = secrets.token_hex(8)  # what Airflow substitutes during a test
    set_conn(monkeypatch, conn_id, host=server.base_url, password="")
    ok, message = VideoDBHook(conn_id).test_connection()
    assert not ok
    assert "the API key (field 'password') is empty" in message
    assert conn_id not in message
    assert server.journal() == []


# -- through Airflow's own test path (random id, the connection as a URI) ---------------------


def test_airflow_test_of_what_the_ui_saves_succeeds(server, monkeypatch):
    """URL + key typed, every other field left empty (null), and the port 0 the UI's
    Test button sends for an empty port: a success naming the user and the collection."""
    ok, message = _airflow_test(
        monkeypatch,
        host=server.base_url,
        password=server.api_key,
        port=0,
        extra=json.dumps(_ui_saved_extra()),
    )
    assert ok, message
    assert "Local User" in message and "collection 'default'" in message


def test_airflow_test_with_the_port_typed_in_the_form(server, monkeypatch):
    port = int(server.base_url.rsplit(":", 1)[1])
    ok, message = _airflow_test(
        monkeypatch,
        host=server.base_url,
        password=server.api_key,
        port=port,
        extra=json.dumps(_ui_saved_extra()),
    )
    assert ok, message


def test_airflow_test_of_an_empty_key(server, monkeypatch):
    ok, message = _airflow_test(
        monkeypatch, host=server.base_url, password="", extra=json.dumps(_ui_saved_extra())
    )
    assert not ok
    assert "API key (field 'password') is empty" in message


def test_airflow_test_of_a_bad_collection(server, monkeypatch):
    extra = _ui_saved_extra(collection_id="c-nosuchcollection")
    ok, message = _airflow_test(
        monkeypatch, host=server.base_url, password=server.api_key, extra=json.dumps(extra)
    )
    assert not ok
    assert "'c-nosuchcollection' does not exist" in message


# -- what the form saves, read back --------------------------------------------------------


class _Conn:
    def __init__(self, extra: dict[str, Any], host: str = "http://127.0.0.1:9") -> None:
        self.conn_id = "videodb_form"
        self.host = host
        self.schema = None
        self.port = None
        self.password = "sk-form-0000"
        self.extra_dejson = extra


def test_an_untouched_form_gives_the_provider_defaults():
    settings = VideoDBSettings.from_connection(_Conn(_ui_saved_extra()))
    defaults = VideoDBSettings("http://127.0.0.1:9", "sk-form-0000")
    assert settings == defaults


def test_typed_values_are_read_from_the_form_fields():
    extra = _ui_saved_extra(timeout=12.5, max_retries=0, verify=False, collection_id="c-abc")
    settings = VideoDBSettings.from_connection(_Conn(extra))
    assert (settings.timeout, settings.max_retries, settings.verify) == (12.5, 0, False)
    assert settings.collection_id == "c-abc"


@pytest.fixture
def bundle(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    yield str(path)


def test_ca_bundle_field_sets_the_bundle(bundle):
    settings = VideoDBSettings.from_connection(_Conn(_ui_saved_extra(ca_bundle=f" {bundle} ")))
    assert settings.verify == bundle


@pytest.mark.parametrize("verify", [True, "true", None])
def test_verify_on_or_unset_with_a_bundle(bundle, verify):
    extra = {"ca_bundle": bundle} if verify is None else {"verify": verify, "ca_bundle": bundle}
    assert VideoDBSettings.from_connection(_Conn(extra)).verify == bundle


def test_verify_path_made_by_code_still_works(bundle):
    assert VideoDBSettings.from_connection(_Conn({"verify": bundle})).verify == bundle
    both = {"verify": bundle, "ca_bundle": bundle}
    assert VideoDBSettings.from_connection(_Conn(both)).verify == bundle


@pytest.mark.parametrize(
    ("verify", "text"),
    [(False, "is set while verify is false"), ("false", "is set while verify is false")],
)
def test_a_bundle_with_verification_off_is_refused(bundle, verify, text):
    with pytest.raises(VideoDBConfigError, match=text) as info:
        VideoDBSettings.from_connection(_Conn({"verify": verify, "ca_bundle": bundle}))
    assert "extra ca_bundle=" in str(info.value)


def test_two_different_bundles_are_refused(bundle, tmp_path):
    other = tmp_path / "other.pem"
    other.write_text("x")
    with pytest.raises(VideoDBConfigError, match="conflicts with verify="):
        VideoDBSettings.from_connection(_Conn({"verify": str(other), "ca_bundle": bundle}))


def test_a_missing_bundle_file_names_the_ca_bundle_field(tmp_path):
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(VideoDBConfigError, match=r"extra ca_bundle=.*names no CA bundle file"):
        VideoDBSettings.from_connection(_Conn({"ca_bundle": missing}))


@pytest.mark.parametrize("bad", [3, True, ["x"]])
def test_a_bundle_that_is_not_a_path_is_refused(bad):
    with pytest.raises(VideoDBConfigError, match="ca_bundle"):
        VideoDBSettings.from_connection(_Conn({"ca_bundle": bad}))


# -- the form as the Airflow 3 UI receives it -----------------------------------------------


@pytest.fixture(scope="module")
def hook_meta() -> dict[str, Any]:
    """The videodb entry of ``GET /ui/connections/hook_meta`` as the api-server serves it:
    built in a process of its own, as there (Airflow 3.1 installs stand-in WTForms modules
    while building it, which must not meet what other tests imported, nor they it)."""
    code = (
        "import json\n"
        "from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService\n"
        "[m] = [m for m in HookMetaService.hook_meta_data() if m.connection_type == 'videodb']\n"
        "print(json.dumps(m.model_dump(), default=str))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    meta: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert meta["extra_fields"], meta
    return meta


@pytest.fixture(scope="module")
def ui_fields(hook_meta: dict[str, Any]) -> dict[str, Any]:
    """The form's fields as the Airflow 3.2+ UI receives them (the provider info's schemas;
    3.1 builds its form from WTForms widgets instead, see ``test_airflow_below_3_2_widgets``
    and ``test_airflow_3_1_ui_fields``)."""
    if not schema_form():
        pytest.skip("this Airflow's UI builds the form from the hook's WTForms widgets")
    return {"extra": hook_meta["extra_fields"], "standard": hook_meta["standard_fields"]}


def _kinds(field: dict[str, Any]) -> set[str]:
    kind = field["schema"]["type"]
    return set([kind] if isinstance(kind, str) else kind) - {"null"}


def test_every_ui_field_has_one_type(ui_fields):
    """Two non-null types render as a multi-line JSON box (the old "TLS verification")."""
    for name, field in ui_fields["extra"].items():
        assert len(_kinds(field)) == 1, name


def test_ui_widget_kinds(ui_fields):
    extra = ui_fields["extra"]
    assert _kinds(extra["verify"]) == {"boolean"} and extra["verify"]["value"] is True
    for name in ("timeout", "connect_timeout", "retry_max_wait"):
        assert _kinds(extra[name]) == {"number"}, name
    assert _kinds(extra["max_retries"]) == {"integer"}
    assert _kinds(extra["ca_bundle"]) == {"string"} and _kinds(extra["collection_id"]) == {"string"}


def test_ui_fields_start_empty_except_the_verify_switch(ui_fields):
    values = {name: field["value"] for name, field in ui_fields["extra"].items()}
    assert values == {**dict.fromkeys(CONN_FIELDS), "verify": True}


def test_ui_standard_fields(ui_fields):
    standard = ui_fields["standard"]
    assert standard["login"]["hidden"] and standard["url_schema"]["hidden"]
    assert standard["host"] == {"hidden": False, "title": "Base URL", "placeholder": ANY_URL}
    assert standard["password"]["title"] == "API key" and not standard["password"]["hidden"]
    assert not standard["port"]["hidden"] and standard["port"]["title"] == "Port (optional)"


class _StartsWithHttps:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.startswith("https://")


ANY_URL = _StartsWithHttps()


def test_airflow_3_1_ui_fields(hook_meta: dict[str, Any]) -> None:
    """Airflow 3.1's UI gets the extra fields from the hook's widgets (through its stand-in
    WTForms): every field with its label, empty but for the TLS switch, which is on."""
    if schema_form():
        pytest.skip("this Airflow renders the provider info's schemas (test_ui_* above)")
    extra = hook_meta["extra_fields"]
    assert {name: field["schema"]["title"] for name, field in extra.items()} == {
        name: spec["label"] for name, spec in CONN_FIELDS.items()
    }
    values = {name: field["value"] for name, field in extra.items()}
    assert values == {**dict.fromkeys(CONN_FIELDS), "verify": True}
    assert extra["verify"]["schema"]["type"] == ["boolean", "null"]
    standard = hook_meta["standard_fields"]
    assert standard["port"]["title"] == "Port (optional)" and not standard["port"]["hidden"]


def test_airflow_below_3_2_widgets():
    require_real_wtforms()
    widgets = VideoDBHook.get_connection_form_widgets()
    classes = {name: widget.field_class.__name__ for name, widget in widgets.items()}
    assert classes == {
        "collection_id": "StringField",
        "timeout": "IntegerField",
        "connect_timeout": "IntegerField",
        "max_retries": "IntegerField",
        "retry_max_wait": "IntegerField",
        "verify": "BooleanField",
        "ca_bundle": "StringField",
    }
    assert widgets["verify"].kwargs["default"] is True
