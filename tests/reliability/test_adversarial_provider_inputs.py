"""Issue 10 ("Trust"), classes 1, 7 and 8: what the provider accepts from its users.

* Class 1: the API key as it is really pasted (a trailing newline from ``cat key.txt``, CRLF,
  a leading space) is stripped with a warning that holds no key; a key that cannot go into
  an HTTP header (a control character, a non-ASCII character, only whitespace) is a
  ``VideoDBConfigError`` naming the field ``password`` and never the value, and no request
  is sent. Exercised through a real hook call against the local server.
* Class 7: numbers of seconds and the retry extras have upper bounds, a connection extra
  that is not a JSON object, a CA bundle that does not exist and a ``port`` field that
  contradicts the port in ``host`` are config errors naming the field, not an
  ``OverflowError``/``AttributeError``/``OSError`` later on.
* Class 8: the provider accepts what the API documents (the reference's own scene index id
  ``idx-12345``), and the provider and the local server accept and refuse the same ids;
  prompts that are invisible or hold control characters and callback URLs whose real host
  is not the host a reader sees are refused before any request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import pickle
from typing import Any

import pytest

from airflow_provider_videodb.exceptions import (
    VideoDBConfigError,
    VideoDBError,
    VideoDBValidationError,
)
from airflow_provider_videodb.hooks.videodb import VideoDBHook
from airflow_provider_videodb.settings import VideoDBSettings
from airflow_provider_videodb.validation import (
    validate_callback_url,
    validate_positive_seconds,
    validate_prompt,
    validate_scene_index_id,
)
from tests.reliability.conftest import ConnFactory, LogCapture, api_calls, clip_posts

THIRTY_DAYS = 30 * 24 * 3600


def _texts_of(error: BaseException) -> list[str]:
    """Every way an exception can be rendered, shipped or chained."""
    texts = [str(error), repr(error), repr(error.args), repr(vars(error))]
    texts.append(repr(pickle.dumps(error)))
    for linked in (error.__cause__, error.__context__):
        if linked is not None:
            texts += [str(linked), repr(linked)]
    return texts


def _assert_absent(secrets: list[str], texts: list[str]) -> None:
    for secret in secrets:
        for text in texts:
            assert secret not in text, f"{secret!r} leaked into: {text[:300]!r}"


def _requests_seen(server: Any) -> list[dict[str, Any]]:
    return api_calls(server.journal())


class _Conn:
    """The attributes ``from_connection`` reads (plain calls, where the point is validation)."""

    def __init__(self, **fields: Any) -> None:
        self.conn_id = fields.pop("conn_id", "videodb_adv")
        self.host = fields.pop("host", "http://127.0.0.1:8080")
        self.schema = fields.pop("schema", None)
        self.port = fields.pop("port", None)
        self.password = fields.pop("password", "sk-adversarial-0123456789")
        self._extra = fields.pop("extra", {})
        assert not fields, fields

    @property
    def extra_dejson(self) -> Any:
        return self._extra


# =========================================================================== class 1: the key


@pytest.mark.parametrize(
    "decorate",
    [
        pytest.param(lambda k: k + "\n", id="trailing-newline"),
        pytest.param(lambda k: k + "\r\n", id="trailing-crlf"),
        pytest.param(lambda k: " " + k, id="leading-space"),
        pytest.param(lambda k: "\t" + k + " \n", id="tab-and-spaces"),
    ],
)
def test_key_with_surrounding_whitespace_is_stripped_and_works(
    server: Any, make_conn: ConnFactory, api_key: str, logs: LogCapture, decorate: Any
) -> None:
    password = decorate(api_key)
    conn_id = make_conn("videodb_pasted", password=password)
    with VideoDBHook(conn_id) as hook:
        user = hook.get_user()
        assert hook.settings.api_key == api_key
    assert isinstance(user, dict)
    seen = api_calls(server.journal(), "GET", "/user")
    assert len(seen) == 1 and seen[0]["status"] == 200
    text = logs.text()
    assert "surrounding whitespace" in text and "'password'" in text and conn_id in text
    _assert_absent([api_key, password], [text])


BAD_KEYS = [
    pytest.param("{key}\r\nX-Evil: 1", "control character", id="crlf-header-injection"),
    pytest.param("{key}\nX-Evil: 1", "control character", id="lf-inside"),
    pytest.param("{key}\x00", "control character", id="nul"),
    pytest.param("{key}\x7f", "control character", id="del"),
    pytest.param("{key}é", "non-ASCII", id="latin-1-letter"),
    pytest.param("ключ-{key}", "non-ASCII", id="cyrillic"),
    pytest.param("ключ", "non-ASCII", id="cyrillic-only"),
    pytest.param("{key}\u200b", "non-ASCII", id="zero-width-space"),
    pytest.param("{key} {key}", "space", id="two-keys-pasted"),
    pytest.param("   ", "empty", id="spaces-only"),
    pytest.param("\r\n\t ", "empty", id="whitespace-only"),
]


@pytest.mark.parametrize(("template", "reason"), BAD_KEYS)
def test_key_that_cannot_be_a_header_is_refused_without_a_request(
    server: Any,
    make_conn: ConnFactory,
    api_key: str,
    logs: LogCapture,
    template: str,
    reason: str,
) -> None:
    password = template.format(key=api_key)
    conn_id = make_conn("videodb_badkey", password=password)
    server.clear_journal()
    with VideoDBHook(conn_id) as hook, pytest.raises(VideoDBConfigError) as raised:
        hook.get_user()
    error = raised.value
    assert "'password'" in str(error) and conn_id in str(error)
    assert reason in str(error)
    secrets = [api_key, password, repr(password)[1:-1]]
    secrets += [part for part in password.split() if len(part) >= 4]  # "X-Evil:", "ключ"
    _assert_absent(secrets, [*_texts_of(error), logs.text()])
    assert _requests_seen(server) == [], "a request was sent with an unusable key"


@pytest.mark.parametrize(
    "password", ["\x00", "sk-ok\r\nX-Evil: 1", "sk-ok\u00e9", "ключ", "  ", "sk ok"]
)
def test_settings_built_directly_check_the_key_too(password: str) -> None:
    with pytest.raises(VideoDBConfigError) as raised:
        VideoDBSettings(base_url="http://127.0.0.1:8080", api_key=password)
    assert "api_key" in str(raised.value)
    parts = [part for part in password.split() if len(part) >= 4]
    _assert_absent([password, *parts], _texts_of(raised.value))


def test_settings_built_directly_strip_surrounding_whitespace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    settings = VideoDBSettings(base_url="http://127.0.0.1:8080", api_key=" sk-direct-123\n")
    assert settings.api_key == "sk-direct-123"
    assert "stripped" in caplog.text and "sk-direct-123" not in caplog.text


# ============================================================= class 7: bounds and config shape


@pytest.mark.parametrize("value", [1e12, THIRTY_DAYS + 1, 1e300])
def test_wait_seconds_have_an_upper_bound(value: float) -> None:
    with pytest.raises(VideoDBValidationError) as raised:
        validate_positive_seconds("timeout", value)
    assert raised.value.field == "timeout" and "at most" in str(raised.value)


def test_wait_seconds_bound_is_inclusive_and_bools_and_non_finite_stay_refused() -> None:
    assert validate_positive_seconds("timeout", THIRTY_DAYS) == THIRTY_DAYS
    for bad in (True, False, math.nan, math.inf, -math.inf):
        with pytest.raises(VideoDBValidationError):
            validate_positive_seconds("timeout", bad)


@pytest.mark.parametrize("name", ["timeout", "poll_interval"])
def test_operator_refuses_a_huge_wait_up_front_not_with_overflow_later(name: str) -> None:
    from airflow_provider_videodb.operators.videodb import ClipVideoOperator

    with pytest.raises(VideoDBValidationError) as raised:
        ClipVideoOperator(task_id="clip", video_id="m-1", prompt="goal", **{name: 1e12})
    assert raised.value.field == name


@pytest.mark.parametrize(
    ("name", "value", "good"),
    [
        ("max_retries", 21, 20),
        ("max_retries", 10**9, 0),
        ("retry_max_wait", 3601, 3600),
        ("retry_max_wait", "1e12", "0.5"),
        ("timeout", 3601, 3600),
        ("timeout", 1e12, 30),
        ("connect_timeout", "86400", "10"),
    ],
)
def test_connection_extras_have_upper_bounds(name: str, value: Any, good: Any) -> None:
    with pytest.raises(VideoDBConfigError) as raised:
        VideoDBSettings.from_connection(_Conn(extra={name: value}))
    assert f"extra {name}=" in str(raised.value) and "at most" in str(raised.value)
    settings = VideoDBSettings.from_connection(_Conn(extra={name: good}))
    assert float(getattr(settings, name)) == float(good)


@pytest.mark.parametrize("extra", ["[1, 2]", '"timeout=5"', "42", "true"])
def test_extra_that_is_not_a_json_object_is_a_config_error(
    server: Any, monkeypatch: pytest.MonkeyPatch, extra: str
) -> None:
    conn = {"conn_type": "videodb", "host": server.base_url, "password": server.api_key}
    monkeypatch.setenv("AIRFLOW_CONN_VIDEODB_LISTY", json.dumps({**conn, "extra": extra}))
    with VideoDBHook("videodb_listy") as hook, pytest.raises(VideoDBConfigError) as raised:
        hook.get_user()
    assert "'extra'" in str(raised.value) and "videodb_listy" in str(raised.value)
    assert _requests_seen(server) == []
    # the async path (triggers) refuses it the same way
    with pytest.raises(VideoDBConfigError, match="'extra'"):
        asyncio.run(VideoDBHook.aget_settings("videodb_listy"))


@pytest.mark.parametrize("where", ["missing", "directory"])
def test_missing_ca_bundle_is_a_config_error_on_worker_and_trigger(
    server: Any, make_conn: ConnFactory, tmp_path: Any, where: str
) -> None:
    bundle = str(tmp_path / "no" / "such" / "ca.pem") if where == "missing" else str(tmp_path)
    conn_id = make_conn("videodb_noca", extra={"verify": bundle})
    with VideoDBHook(conn_id) as hook, pytest.raises(VideoDBConfigError) as raised:
        hook.get_user()
    assert "extra verify=" in str(raised.value) and conn_id in str(raised.value)
    assert not isinstance(raised.value, OSError)
    assert _requests_seen(server) == []
    with pytest.raises(VideoDBConfigError, match="extra verify="):
        asyncio.run(VideoDBHook.aget_settings(conn_id))


def test_existing_ca_bundle_is_accepted(tmp_path: Any) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = VideoDBSettings.from_connection(_Conn(extra={"verify": str(bundle)}))
    assert settings.verify == str(bundle)


def test_port_field_that_contradicts_the_host_is_refused(
    server: Any, make_conn: ConnFactory
) -> None:
    host_port = int(server.base_url.rsplit(":", 1)[1])
    other = 1 + host_port % 60000
    conn_id = make_conn("videodb_twoports", port=other)
    with VideoDBHook(conn_id) as hook, pytest.raises(VideoDBConfigError) as raised:
        hook.get_user()
    text = str(raised.value)
    assert "'port'" in text and str(other) in text and str(host_port) in text
    assert _requests_seen(server) == []


def test_port_field_equal_to_the_host_port_is_fine(server: Any, make_conn: ConnFactory) -> None:
    host_port = int(server.base_url.rsplit(":", 1)[1])
    conn_id = make_conn("videodb_sameport", port=host_port)
    with VideoDBHook(conn_id) as hook:
        hook.get_user()
    assert len(api_calls(server.journal(), "GET", "/user")) == 1


@pytest.mark.parametrize("port", [70000, -1])
def test_port_field_out_of_range_names_the_port(port: int) -> None:
    with pytest.raises(VideoDBConfigError, match="'port'"):
        VideoDBSettings.from_connection(_Conn(host="127.0.0.1", port=port))


# ================================================ class 8: ids as documented, both sides agree

#: (id, valid). Valid means: safe characters, bounded length; no format is guessed.
SCENE_INDEX_IDS: list[tuple[Any, bool]] = [
    ("idx-12345", True),  # the API reference's own example
    ("0123456789abcdef", True),  # what the SDKs show
    ("0123456789ABCDEF", True),
    ("abc_DEF-1", True),
    ("a", True),
    ("x" * 128, True),
    ("", False),
    ("../x", False),
    ("a/b", False),
    ("a b", False),
    ("x" * 129, False),
    ("%2e", False),
    ("abc\x00", False),
    ("abc\n", False),  # a `$` anchor lets this through
    ("-abc", False),
    ("_abc", False),
    ("idx.1", False),
    ("ıdx-1", False),  # noqa: RUF001 - dotless i: not ASCII
    ("idx-١٢٣", False),  # Arabic-Indic digits match \d but are not ASCII
    (16, False),
]


def _provider_accepts(value: Any) -> bool:
    try:
        assert validate_scene_index_id(value) == value
    except VideoDBValidationError as err:
        assert err.field == "scene_index_id" and err.value == value
        return False
    return True


def test_provider_and_local_server_agree_on_scene_index_ids(server: Any, api: Any) -> None:
    vid = server.video_ids()[0]
    url = f"{server.base_url}/video/{vid}/clip"
    disagreements = []
    for value, valid in SCENE_INDEX_IDS:
        provider = _provider_accepts(value)
        resp = api.post(url, json={"prompt": "weather", "scene_index_id": value})
        if resp.status_code == 400:
            body = resp.json()
            assert body["success"] is False and "scene_index_id" in body["message"], body
            served = False
        else:
            assert resp.status_code == 200, (value, resp.status_code, resp.text)
            served = True
        if not (provider == served == valid):
            disagreements.append(
                (value, {"expected": valid, "provider": provider, "server": served})
            )
    assert disagreements == []


@pytest.mark.parametrize("scene_index_id", ["idx-12345", "0123456789ABCDEF"])
def test_documented_scene_index_id_reaches_the_server(
    server: Any, fast_conn: str, video: dict[str, Any], scene_index_id: str
) -> None:
    with VideoDBHook() as hook:
        job = hook.start_clip(video["id"], "weather", scene_index_id=scene_index_id)
    assert job.output_url
    posts = clip_posts(server.journal())
    assert len(posts) == 1 and posts[0]["status"] == 200


INVISIBLE_PROMPTS = [
    "\u200b",  # zero-width space
    "\u200b\u200c\u200d",  # zero-width (non-)joiners
    "\u2060\ufeff",  # word joiner, BOM
    "\u00a0\u3000\u2003",  # no-break, ideographic and em spaces
    " \n\t\u200b ",
    "\u00ad\u2028",  # soft hyphen, line separator
]
CONTROL_PROMPTS = ["goal\x1b[31m", "goal\x07", "goal\rfake log line", "goal\x0b", "goal\x85"]


@pytest.mark.parametrize("prompt", INVISIBLE_PROMPTS + CONTROL_PROMPTS)
def test_prompt_invisible_or_with_control_characters_is_refused(prompt: str) -> None:
    with pytest.raises(VideoDBValidationError) as raised:
        validate_prompt(prompt)
    assert raised.value.field == "prompt" and raised.value.value == prompt


@pytest.mark.parametrize(
    "prompt",
    [
        "find the goals",
        "ゴールを探す",
        "goal\nsecond line\tindented",
        "pasted from Windows\r\nsecond line",
        "café 👍",
        "a\u200bb",
    ],
)
def test_ordinary_prompts_still_pass(prompt: str) -> None:
    assert validate_prompt(prompt) == prompt


def test_invisible_prompt_sends_no_request(
    server: Any, fast_conn: str, video: dict[str, Any]
) -> None:
    with VideoDBHook() as hook:
        for prompt in ("\u200b\ufeff", "goal\x1b[2J"):
            with pytest.raises(VideoDBValidationError, match="prompt"):
                hook.start_clip(video["id"], prompt)
    assert _requests_seen(server) == []


BAD_CALLBACKS = [
    "https://user@evil.example/",
    "https://good.example@evil.example/",
    "https://good.example:443@evil.example/",
    "https://user:pw@evil.example/cb",
    "https://good.example\\@evil.example/",
    "https://good.example\\evil.example/",
    "https:\\\\evil.example/",
    "https://good.example/cb\x00",
    "https://good.example/cb\x7f",
    "https://good.example/\u2028cb",
    "https://good.example/\u00a0",
    "https://good.example/a b",
    "ftp://good.example/cb",
    "https:///cb",
]


@pytest.mark.parametrize("url", BAD_CALLBACKS)
def test_callback_url_whose_real_host_is_hidden_is_refused(url: str) -> None:
    with pytest.raises(VideoDBValidationError) as raised:
        validate_callback_url(url)
    assert raised.value.field == "callback_url"
    if "@" in url and "\\" not in url:  # the user information (a password?) is not repeated
        host = url.split("@", 1)[1]
        assert raised.value.value.endswith(f"<user information>@{host}")
        userinfo = url.split("//", 1)[1].split("@")[0]
        assert f"//{userinfo}@" not in raised.value.value
    else:
        assert raised.value.value == url
    assert isinstance(raised.value, VideoDBError)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/videodb",
        "http://127.0.0.1:8080/cb?x=1",
        "https://hooks.example.com/cb?reply=ops@example.com",  # '@' outside the authority
        "http://[::1]:9000/cb",
    ],
)
def test_ordinary_callback_urls_still_pass(url: str) -> None:
    assert validate_callback_url(url) == url


def test_hidden_host_callback_sends_no_request(
    server: Any, fast_conn: str, video: dict[str, Any]
) -> None:
    with VideoDBHook() as hook:
        for url in ("https://good.example@evil.example/", "https://good.example\\@evil.example/"):
            with pytest.raises(VideoDBValidationError, match="callback_url"):
                hook.start_clip(video["id"], "weather", callback_url=url)
    assert _requests_seen(server) == []
