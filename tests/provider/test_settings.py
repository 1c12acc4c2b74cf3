"""Connection → settings: base URL forms, extras, same-origin rule, headers, secrecy."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from airflow_provider_videodb import __version__
from airflow_provider_videodb.exceptions import VideoDBConfigError, VideoDBUnsafeURLError
from airflow_provider_videodb.settings import DEFAULT_BASE_URL, VideoDBSettings

KEY = "sk-settings-secret-0123456789"


@dataclass
class FakeConn:
    """The attributes ``from_connection`` reads (a real Connection is tested below too)."""

    host: str | None = None
    password: str | None = KEY
    schema: str | None = None
    port: int | None = None
    extra: dict = field(default_factory=dict)
    conn_id: str = "videodb_test"

    @property
    def extra_dejson(self) -> dict:
        return self.extra


@pytest.mark.parametrize(
    ("host", "schema", "port", "expected"),
    [
        (None, None, None, DEFAULT_BASE_URL),
        ("", None, None, DEFAULT_BASE_URL),
        ("api.videodb.io", None, None, "https://api.videodb.io"),
        ("API.VideoDB.io/", None, None, "https://api.videodb.io"),
        ("127.0.0.1", "http", 8080, "http://127.0.0.1:8080"),
        ("127.0.0.1", "postgres", 8080, "https://127.0.0.1:8080"),  # meaningless schema ignored
        ("http://127.0.0.1:9000", None, None, "http://127.0.0.1:9000"),
        ("http://127.0.0.1:9000", None, 9000, "http://127.0.0.1:9000"),  # same port twice: fine
        ("http://127.0.0.1", "https", 1234, "http://127.0.0.1:1234"),  # scheme in host kept
        ("https://gw.example.com/videodb/", None, None, "https://gw.example.com/videodb"),
        ("[::1]", "http", 8080, "http://[::1]:8080"),
    ],
)
def test_base_url_forms(host, schema, port, expected):
    settings = VideoDBSettings.from_connection(FakeConn(host=host, schema=schema, port=port))
    assert settings.base_url == expected


def test_port_field_conflicting_with_the_host_port_is_a_config_error():
    # It used to be silently ignored ("URL port wins"): the port the user typed was not used.
    with pytest.raises(VideoDBConfigError, match=r"'port' = 1234 conflicts .* 9000"):
        VideoDBSettings.from_connection(FakeConn(host="http://127.0.0.1:9000", port=1234))


@pytest.mark.parametrize(
    "host",
    [
        "ftp://files.example.com",
        "http://",
        "http://user:pw@example.com",
        "https://example.com/?q=1",
        "https://exa mple.com",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:port",
    ],
)
def test_malformed_base_url_is_a_config_error_naming_the_field(host):
    with pytest.raises(VideoDBConfigError) as info:
        VideoDBSettings.from_connection(FakeConn(host=host))
    text = str(info.value)
    assert "videodb_test" in text and "host" in text and "malformed" in text


@pytest.mark.parametrize("password", [None, ""])
def test_missing_key(password):
    with pytest.raises(VideoDBConfigError, match=r"API key .*password.* is empty"):
        VideoDBSettings.from_connection(FakeConn(password=password))


def test_extras_parsed_from_strings_and_prefixed_names():
    extra = {
        "collection_id": "c-abc123",
        "timeout": "12.5",
        "extra__videodb__connect_timeout": 3,
        "max_retries": "2",
        "retry_max_wait": 7,
        "verify": "false",
        "unrelated": "ignored",
        "extra__videodb__timeout": "",  # empty form field: default, and plain key wins anyway
    }
    settings = VideoDBSettings.from_connection(FakeConn(extra=extra))
    assert (
        settings.collection_id,
        settings.timeout,
        settings.connect_timeout,
        settings.max_retries,
        settings.retry_max_wait,
        settings.verify,
    ) == ("c-abc123", 12.5, 3.0, 2, 7.0, False)
    assert settings.requests_timeout == (3.0, 12.5)


def test_defaults_and_tls_verification_on_by_default():
    settings = VideoDBSettings.from_connection(FakeConn())
    assert settings.verify is True
    assert (settings.timeout, settings.connect_timeout) == (30.0, 10.0)
    assert (settings.max_retries, settings.retry_max_wait, settings.collection_id) == (
        5,
        60.0,
        "default",
    )
    assert VideoDBSettings("h", KEY).verify is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("TRUE", True), ("0", False), ("{bundle}", "{bundle}")],
)
def test_verify_forms(value, expected, tmp_path):
    bundle = tmp_path / "ca.pem"  # a CA bundle path must name an existing file
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    if value == "{bundle}":
        value = expected = str(bundle)
    assert VideoDBSettings.from_connection(FakeConn(extra={"verify": value})).verify == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("timeout", "soon"),
        ("timeout", 0),
        ("timeout", -1),
        ("timeout", "nan"),
        ("timeout", True),
        ("connect_timeout", "inf"),
        ("max_retries", -1),
        ("max_retries", 1.5),
        ("max_retries", "many"),
        ("retry_max_wait", [1]),
        ("verify", 3),
        ("verify", "  "),
        ("collection_id", "m-abc"),
    ],
)
def test_bad_extra_names_field_and_value(name, value):
    with pytest.raises(VideoDBConfigError) as info:
        VideoDBSettings.from_connection(FakeConn(extra={name: value}))
    assert f"extra {name}={value!r}" in str(info.value)


def test_url_and_same_origin():
    settings = VideoDBSettings("http://127.0.0.1:8080/api", KEY)
    assert settings.url("/user") == "http://127.0.0.1:8080/api/user"
    assert settings.url("video/m-a") == "http://127.0.0.1:8080/api/video/m-a"
    ok = settings.check_same_origin("http://127.0.0.1:8080/async-response/j1")
    assert ok == "http://127.0.0.1:8080/async-response/j1"
    assert settings.check_same_origin("/async-response/j1") == ok  # relative: resolved here
    assert settings.check_same_origin("HTTP://127.0.0.1:8080/x").endswith("/x")
    https = VideoDBSettings("api.videodb.io", KEY)
    assert https.check_same_origin("https://api.videodb.io:443/x") == "https://api.videodb.io:443/x"
    for url in [
        "http://127.0.0.1:8081/async-response/j1",  # other port
        "https://127.0.0.1:8080/async-response/j1",  # other scheme
        "http://localhost:8080/async-response/j1",  # other host name
        "http://127.0.0.1:8080@evil.example/x",  # userinfo trick
        "http://evil.example/?u=http://127.0.0.1:8080",
        "//evil.example/x",  # scheme-relative
        "file:///etc/passwd",
        "",
        None,
    ]:
        with pytest.raises(VideoDBUnsafeURLError) as info:
            settings.check_same_origin(url)  # type: ignore[arg-type]
        assert "http://127.0.0.1:8080" in str(info.value)


def test_headers_and_secrecy():
    settings = VideoDBSettings("http://127.0.0.1:1", KEY)
    headers = settings.headers()
    assert headers["x-access-token"] == KEY
    assert headers["x-videodb-client"] == f"airflow-provider-videodb/{__version__}"
    assert headers["User-Agent"] == headers["x-videodb-client"]
    assert headers["Content-Type"] == "application/json"
    headers["x-access-token"] = "changed"
    assert settings.headers()["x-access-token"] == KEY  # copies; the shared one is built once
    assert settings.shared_headers is settings.shared_headers
    assert KEY not in repr(settings) and KEY not in str(settings)


def test_env_var_connection_json_and_uri(monkeypatch):
    from airflow.sdk import BaseHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_VIDEODB_JSON",
        json.dumps(
            {
                "conn_type": "videodb",
                "host": "127.0.0.1",
                "port": 8080,
                "schema": "http",
                "password": KEY,
                "extra": {"timeout": 5, "collection_id": "c-1"},
            }
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_VIDEODB_URI", f"videodb://:{KEY}@api.example.com:8443/?timeout=5&verify=false"
    )
    from_json = VideoDBSettings.from_connection(BaseHook.get_connection("videodb_json"))
    assert (from_json.base_url, from_json.timeout, from_json.collection_id) == (
        "http://127.0.0.1:8080",
        5.0,
        "c-1",
    )
    from_uri = VideoDBSettings.from_connection(BaseHook.get_connection("videodb_uri"))
    assert (from_uri.base_url, from_uri.timeout, from_uri.verify, from_uri.api_key) == (
        "https://api.example.com:8443",
        5.0,
        False,
        KEY,
    )
