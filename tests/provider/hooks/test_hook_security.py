"""The API key is contained: never logged, never in errors or reprs, only sent to its origin."""

from __future__ import annotations

import http.server
import logging
import threading
import uuid
from collections.abc import Iterator

import pytest

from airflow_provider_videodb import exceptions as exc
from airflow_provider_videodb.hooks.videodb import VideoDBHook
from airflow_provider_videodb.settings import VideoDBSettings
from airflow_provider_videodb.transport.async_http import fetch_job_status
from tests.provider.hook_support import fast_hook, hook_logs, set_conn
from videodb_local_server.control import LocalVideoDBServer


@pytest.fixture(scope="module")
def other_server(tmp_path_factory) -> Iterator[LocalVideoDBServer]:
    """A second, unrelated server: the place a malicious URL would point to."""
    other = LocalVideoDBServer.start(
        tmp_path_factory.mktemp("other-server"), api_keys=("sk-other-000",), demo=False
    )
    try:
        yield other
    finally:
        other.stop()


@pytest.fixture
def hook(server, monkeypatch):
    with fast_hook(monkeypatch, server, max_retries=1) as hook:
        yield hook


def _masked(text: str) -> str:
    try:
        from airflow.sdk._shared.secrets_masker import redact
    except ImportError:  # Airflow 3.1
        from airflow.sdk.execution_time.secrets_masker import redact
    return str(redact(text))


def test_key_never_in_logs_errors_or_reprs(hook, server, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    key = server.api_key
    video_id = server.video_ids()[0]
    errors: list[BaseException] = []
    server.set_faults([{"kind": "status", "status": 503, "path": "/video/*/stream"}])
    try:
        hook.generate_stream(video_id, None, length=10)
    except exc.VideoDBError as err:
        errors.append(err)
    server.set_faults([{"kind": "drop_after", "path": "/user"}])
    assert hook.test_connection()[0] is False
    for bad in [
        lambda: hook.get_video("m-missing"),
        lambda: hook.get_job_status("http://evil.example/async-response/x"),
        lambda: hook.start_clip(video_id, ""),
    ]:
        try:
            bad()
        except exc.VideoDBError as err:
            errors.append(err)
    assert len(errors) == 4
    texts = [hook_logs(capsys, caplog), repr(hook), repr(hook.settings), str(hook.settings)]
    texts += [str(err) for err in errors] + [repr(err) for err in errors]
    texts += [repr(vars(err)) for err in errors]
    assert "retrying in" in texts[0], "the retry was logged"
    for text in texts:
        assert key not in text


def test_key_is_registered_with_the_secrets_masker(hook, server, monkeypatch):
    from airflow_provider_videodb.hooks import videodb

    masked: list[object] = []
    monkeypatch.setattr(videodb, "mask_secret", lambda secret, name=None: masked.append(secret))
    assert hook.settings.api_key == server.api_key
    assert masked == [server.api_key]


def test_key_of_settings_made_in_code_is_masked_too():
    key = f"sk-made-in-code-{uuid.uuid4().hex}"
    assert key in _masked(f"x-access-token: {key}")  # unknown to the masker so far
    VideoDBHook.from_settings(VideoDBSettings("http://127.0.0.1:1", key))
    assert key not in _masked(f"x-access-token: {key}")


def test_foreign_output_url_is_refused_and_never_contacted(hook, server, other_server):
    other_server.clear_journal()
    foreign = f"{other_server.base_url}/async-response/0123456789"
    with pytest.raises(exc.VideoDBUnsafeURLError) as info:
        hook.get_job_status(foreign)
    assert server.base_url in str(info.value) and foreign in str(info.value)
    with pytest.raises(exc.VideoDBUnsafeURLError):
        hook.request("GET", foreign)
    assert other_server.journal() == []
    assert server.journal() == []


async def test_async_foreign_output_url_is_refused(hook, server, other_server):
    other_server.clear_journal()
    with pytest.raises(exc.VideoDBUnsafeURLError):
        await fetch_job_status(hook.settings, f"{other_server.base_url}/async-response/j")
    assert other_server.journal() == []


class _Redirector(http.server.BaseHTTPRequestHandler):
    """Answers every request with a redirect elsewhere (the local server never does)."""

    target = ""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirector(other_server) -> Iterator[str]:
    handler = type("Handler", (_Redirector,), {"target": other_server.base_url})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_redirects_are_not_followed(redirector, other_server, monkeypatch):
    other_server.clear_journal()
    set_conn(monkeypatch, "videodb_redirect", host=redirector, password="sk-redirected-0000")
    with pytest.raises(exc.VideoDBAPIError) as info:
        VideoDBHook("videodb_redirect").get_user()
    assert info.value.status == 302
    assert other_server.journal() == []


def test_bad_connections_are_config_errors_without_requests(server, monkeypatch):
    set_conn(monkeypatch, "videodb_nokey", host=server.base_url, password="")
    set_conn(monkeypatch, "videodb_badurl", host="ftp://127.0.0.1:1", password="sk-x-0000")
    set_conn(monkeypatch, "videodb_badextra", host=server.base_url, password="sk-x", timeout="soon")
    for conn_id, text in [
        ("videodb_nokey", "API key (field 'password') is empty"),
        ("videodb_badurl", "'ftp://127.0.0.1:1' is malformed"),
        ("videodb_badextra", "extra timeout='soon'"),
        ("videodb_missing", "'videodb_missing' is not defined"),
    ]:
        with pytest.raises(exc.VideoDBConfigError) as info:
            VideoDBHook(conn_id).get_user()
        assert text in str(info.value), conn_id
        ok, message = VideoDBHook(conn_id).test_connection()
        assert not ok and text in message
    assert server.journal() == []


async def test_async_redirects_are_not_followed(redirector, other_server):
    other_server.clear_journal()
    settings = VideoDBSettings(redirector, "sk-redirected-0000")
    with pytest.raises(exc.VideoDBAPIError) as info:
        await fetch_job_status(settings, f"{redirector}/async-response/j1")
    assert info.value.status == 302 and not info.value.retryable
    assert other_server.journal() == []
