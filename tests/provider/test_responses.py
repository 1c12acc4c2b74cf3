"""The one response interpreter: statuses, envelopes, shapes, retry decisions."""

from __future__ import annotations

import email.utils
import json
import time

import pytest

from airflow_provider_videodb import exceptions as exc
from airflow_provider_videodb.responses import (
    RequestInfo,
    interpret_response,
    may_retry,
    parse_async_start,
    parse_clip_shots,
    parse_job_status,
    parse_retry_after,
    parse_stream,
    parse_video,
    poll_request_info,
    transport_error,
)

CLIP = RequestInfo("POST", "/video/m-abc/clip", "m-abc")
GET_VIDEO = RequestInfo("GET", "/video/m-abc", "m-abc")
STREAM = RequestInfo("POST", "/video/m-abc/stream", "m-abc")


def _body(**payload) -> bytes:
    return json.dumps(payload).encode()


def _raise(info, status, body=b"", headers=None, cap=60.0):
    return interpret_response(info, status, headers or {}, body, retry_max_wait=cap)


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (400, exc.VideoDBBadRequestError, False),
        (401, exc.VideoDBAuthenticationError, False),
        (402, exc.VideoDBInsufficientCreditsError, False),
        (403, exc.VideoDBPermissionError, False),
        (404, exc.VideoDBNotFoundError, False),
        (409, exc.VideoDBAPIError, False),
        (429, exc.VideoDBRateLimitError, True),
        (500, exc.VideoDBServerError, False),
        (502, exc.VideoDBServerError, True),
        (503, exc.VideoDBServerError, True),
        (504, exc.VideoDBServerError, True),
        (302, exc.VideoDBAPIError, False),  # redirects are never followed
    ],
)
def test_status_maps_to_class_and_message(status, cls, retryable):
    body = _body(success=False, message="Video not found", error_code="not_found")
    with pytest.raises(cls) as info:
        _raise(GET_VIDEO, status, body)
    err = info.value
    assert type(err) is cls
    assert (err.status, err.retryable, err.error_code) == (status, retryable, "not_found")
    assert str(err) == f"GET /video/m-abc (video m-abc): HTTP {status} [not_found] Video not found"


def test_spec_message_example():
    body = _body(success=False, message="Video not found", error_code="not_found")
    with pytest.raises(exc.VideoDBNotFoundError) as info:
        _raise(CLIP, 404, body)
    assert (
        str(info.value)
        == "POST /video/m-abc/clip (video m-abc): HTTP 404 [not_found] Video not found"
    )


def test_error_without_json_body_uses_text_or_reason():
    with pytest.raises(exc.VideoDBServerError, match="HTTP 502 Bad gateway from proxy"):
        _raise(GET_VIDEO, 502, b"<html>Bad gateway from proxy</html>"[6:-7])
    with pytest.raises(exc.VideoDBRateLimitError, match="HTTP 429 Too Many Requests"):
        _raise(GET_VIDEO, 429, b"")


@pytest.mark.parametrize(
    ("header", "expected"),
    [("2", 2.0), ("0.5", 0.5), ("120", 10.0), ("-3", 0.0), ("soon", None), (None, None)],
)
def test_retry_after_is_parsed_and_capped(header, expected):
    headers = {} if header is None else {"Retry-After": header}
    with pytest.raises(exc.VideoDBRateLimitError) as info:
        _raise(GET_VIDEO, 429, b"{}", headers, cap=10.0)
    assert info.value.retry_after == expected


def test_retry_after_header_lookup_is_case_insensitive_and_http_date():
    with pytest.raises(exc.VideoDBServerError) as info:
        _raise(GET_VIDEO, 503, b"{}", {"retry-after": "4"})
    assert info.value.retry_after == 4.0
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 20.0 < (parse_retry_after(when, cap=60.0) or 0) <= 30.0


def test_success_returns_payload():
    payload = _raise(GET_VIDEO, 200, _body(success=True, data={"id": "m-abc"}))
    assert payload["data"] == {"id": "m-abc"}


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"", b"[1, 2]", b'"text"'])
def test_unusable_success_answers(body):
    with pytest.raises(exc.VideoDBResponseError) as info:
        _raise(GET_VIDEO, 200, body)
    assert info.value.status == 200
    assert info.value.retryable  # a well-behaved service answers properly next time
    assert "GET /video/m-abc" in str(info.value)


def test_http_200_with_success_false_is_an_error():
    body = _body(success=False, message="Quota exceeded", error_code="quota")
    with pytest.raises(exc.VideoDBResponseError) as info:
        _raise(STREAM, 200, body)
    assert (
        str(info.value) == "POST /video/m-abc/stream (video m-abc): HTTP 200 [quota] Quota exceeded"
    )


def test_job_poll_may_carry_success_false_as_job_failure():
    info = poll_request_info("http://127.0.0.1:1/async-response/j1?x=1")
    assert (info.method, info.path, info.job_poll) == ("GET", "/async-response/j1", True)
    body = _body(success=False, status="failed", message="model crashed", error_code="boom")
    status = parse_job_status(_raise(info, 200, body))
    assert (status.state, status.message, status.error_code) == ("failed", "model crashed", "boom")
    with pytest.raises(exc.VideoDBResponseError):  # no "status": a failed request, not a job
        _raise(info, 200, _body(success=False, message="internal"))


def test_transport_error_and_retry_policy():
    sent = transport_error(CLIP, TimeoutError("read timed out"), sent=True)
    refused = transport_error(CLIP, ConnectionRefusedError("refused"), sent=False)
    assert sent.status is None and sent.retryable
    assert "no HTTP answer" in str(sent) and "after the request was sent" in str(sent)
    assert "before the request was sent" in str(refused)
    # idempotent calls retry any transient failure
    assert may_retry(GET_VIDEO, sent) and may_retry(STREAM, sent)
    assert may_retry(RequestInfo("POST", "/compile"), sent)
    # POST /clip only where the service cannot have taken it
    assert not may_retry(CLIP, sent)
    assert may_retry(CLIP, refused)
    for status, allowed in [(429, True), (503, True), (502, False), (504, False), (500, False)]:
        with pytest.raises(exc.VideoDBAPIError) as info:
            _raise(CLIP, status, b"{}")
        assert may_retry(CLIP, info.value) is allowed, status
    with pytest.raises(exc.VideoDBResponseError) as info:
        _raise(CLIP, 200, b"{garbage")
    assert not may_retry(CLIP, info.value)  # it was received: the job may exist
    assert may_retry(GET_VIDEO, info.value)


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 500])
def test_permanent_statuses_never_retried(status):
    with pytest.raises(exc.VideoDBAPIError) as info:
        _raise(GET_VIDEO, status, b"{}")
    assert not may_retry(GET_VIDEO, info.value)


def test_non_api_errors_are_not_retried():
    assert not may_retry(GET_VIDEO, exc.VideoDBConfigError("x"))
    certificate = transport_error(GET_VIDEO, OSError("cert"), sent=False, retryable=False)
    assert not may_retry(GET_VIDEO, certificate)


def test_parse_async_start():
    job = parse_async_start(
        {
            "success": True,
            "status": "processing",
            "data": {"id": "j1", "output_url": "http://h/async-response/j1"},
        }
    )
    assert (job.job_id, job.output_url) == ("j1", "http://h/async-response/j1")
    for data in [
        None,
        {},
        {"id": "j1"},
        {"id": "", "output_url": "u"},
        {"id": 3, "output_url": "u"},
    ]:
        with pytest.raises(exc.VideoDBResponseError):
            parse_async_start({"success": True, "data": data}, CLIP)


@pytest.mark.parametrize(
    ("payload", "state", "percentage"),
    [
        ({"success": True, "status": "processing", "data": {"percentage": 40}}, "processing", 40.0),
        ({"status": "in progress", "data": {"percentage": "55.5"}}, "processing", 55.5),
        ({"status": "In Progress"}, "processing", None),
        ({"status": "processing", "data": {"percentage": "soon"}}, "processing", None),
        ({"status": "processing", "data": {"percentage": 140}}, "processing", 100.0),
        ({"success": True, "status": "done", "data": {"results": []}}, "done", 100.0),
        ({"status": "done", "response": {"success": True, "data": {"results": []}}}, "done", 100.0),
        ({"status": "done", "response": {"success": False, "message": "no"}}, "failed", None),
        ({"success": False, "status": "failed", "message": "no"}, "failed", None),
        ({"status": "done"}, "failed", None),  # terminal without success: not a success
    ],
)
def test_parse_job_status_shapes(payload, state, percentage):
    status = parse_job_status(payload)
    assert (status.state, status.percentage) == (state, percentage)
    if state == "done":
        assert status.data == {"results": []}
    if state == "failed":
        assert status.message


def test_parse_clip_shots_and_lengths_as_strings():
    data = {
        "results": [
            {
                "video_id": "m-abc",
                "length": "60.0",
                "docs": [
                    {"start": "1.5", "end": 4, "text": "goal", "score": "0.9"},
                    {"start": 10, "end": 10, "text": "empty"},
                    {"start": 20, "end": 25.25, "text": None},
                ],
            },
            {"video_id": "m-abc", "docs": []},
        ]
    }
    shots = parse_clip_shots(data)
    assert [s.to_dict() for s in shots] == [
        {"start": 1.5, "end": 4.0, "text": "goal", "score": 0.9},
        {"start": 20.0, "end": 25.25, "text": "", "score": None},
    ]
    assert parse_clip_shots({"results": []}) == []
    with pytest.raises(exc.VideoDBResponseError, match="'results' is not a list"):
        parse_clip_shots({})  # no results at all is not an empty result
    with pytest.raises(exc.VideoDBResponseError, match="shot start is not a number"):
        parse_clip_shots({"results": [{"docs": [{"start": "x", "end": 1}]}]})


def test_parse_video_and_stream():
    assert parse_video({"id": "m-a", "length": "191.146667"})["length"] == pytest.approx(191.146667)
    assert parse_video({"id": "m-a", "length": 12})["length"] == 12.0
    assert "length" not in parse_video({"id": "m-a"})
    with pytest.raises(exc.VideoDBResponseError, match="video length is not"):
        parse_video({"id": "m-a", "length": "long"})
    stream_url = "https://stream.example/s.m3u8"
    assert parse_stream({"data": {"stream_url": stream_url}}) == {
        "stream_url": stream_url,
        "player_url": None,
    }
    with pytest.raises(exc.VideoDBResponseError, match="stream_url from the service"):
        parse_stream({"data": {"stream_url": "s.m3u8"}})  # relative: not a URL to click
    with pytest.raises(exc.VideoDBResponseError, match="no 'stream_url'"):
        parse_stream({"data": {"player_url": "p"}}, STREAM)


def test_exceptions_pickle_round_trip():
    import pickle

    samples = [
        exc.VideoDBNotFoundError("GET", "/x", 404, "gone", "not_found", "m-a", False, None),
        transport_error(CLIP, ConnectionResetError("reset"), sent=True),
        exc.VideoDBValidationError("timeline", [1], "bad"),
        exc.VideoDBUnsafeURLError("http://evil/x", "http://127.0.0.1:1"),
        exc.VideoDBJobFailedError("j1", "crashed", "boom"),
        exc.VideoDBJobTimeoutError("j1", 30.0),
    ]
    for err in samples:
        copy = pickle.loads(pickle.dumps(err))
        assert type(copy) is type(err) and str(copy) == str(err)
