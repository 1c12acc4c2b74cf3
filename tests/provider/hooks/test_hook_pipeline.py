"""VideoDBHook's pipeline calls against the local VideoDB server: upload, index, compile of
several videos, search, scene indexes, transcripts, thumbnails, delete.

The file POST of an upload goes to whatever host the upload URL names (a storage host in
production), so it is also tested against a tiny loopback HTTP server that records what
arrived: no VideoDB header, a known length, the file's exact bytes, retried when the host
fails transiently, and the URL's query string (presigned credentials) never in a log line.
"""

from __future__ import annotations

import email.parser
import email.policy
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_videodb import exceptions as exc
from airflow_provider_videodb.responses import (
    RequestInfo,
    Shot,
    Started,
    is_already_indexed,
    parse_clip_shots,
    parse_started,
    parse_uploaded_media,
    url_for_log,
)
from airflow_provider_videodb.transport.upload import MultipartFile, post_file
from airflow_provider_videodb.validation import (
    SceneIndexRequest,
    SearchRequest,
    SpokenIndexRequest,
    UploadRequest,
)
from tests.provider.hook_support import fast_hook, hook_logs, requests_to
from videodb_local_server.media import hls

SECRET_QUERY = "X-Amz-Signature=s3cr3t-signature-value&X-Amz-Credential=AKIAEXAMPLE"


@pytest.fixture
def hook(server, monkeypatch):
    with fast_hook(monkeypatch, server) as hook:
        yield hook


@pytest.fixture(scope="module")
def small_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s H.264 + AAC MP4 (short: other tests pick demo videos of 60 s and more)."""
    path = tmp_path_factory.mktemp("p1-media") / "tiny clip.mp4"
    cmd = [hls.ffmpeg_exe(), "-v", "error", "-nostdin", "-y",
           "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10",
           "-f", "lavfi", "-i", "sine=frequency=440",
           "-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
           "-c:a", "aac", str(path)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return path


@pytest.fixture
def uploaded(hook) -> Iterator[list[str]]:
    """Ids of media a test uploaded: deleted after it (the session server is shared)."""
    ids: list[str] = []
    yield ids
    for media_id in ids:
        hook.delete_video(media_id)


def demo_video(hook, name_part: str) -> dict[str, Any]:
    return next(v for v in hook.list_videos() if name_part in (v.get("name") or "").lower())


def wait_data(hook, started: Started, limit: float = 60.0) -> dict[str, Any]:
    """The result of a submit: at once, or its job's when done."""
    if started.job is None:
        return started.data or {}
    deadline = time.time() + limit
    while time.time() < deadline:
        status = hook.get_job_status(started.job.output_url)
        if status.state == "done":
            return status.data or {}
        assert status.state == "processing", status
        time.sleep(0.1)
    raise AssertionError("job did not finish")


# -- upload --------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["str", "path", "file_url"])
def test_upload_a_file_in_three_steps_without_the_key_on_the_file_post(
    hook, server, small_video, uploaded, form
):
    server.configure(job_seconds=0)
    source = {"str": str(small_video), "path": small_video, "file_url": small_video.as_uri()}[form]
    started = hook.submit_upload(UploadRequest(source, name=f"p1 upload {form}"))
    media = parse_uploaded_media(wait_data(hook, started))
    uploaded.append(media["id"])
    assert media["id"].startswith("m-") and media["media_type"] == "video"
    assert media["name"] == f"p1 upload {form}"
    assert isinstance(media["length"], float) and 2.5 < media["length"] < 3.5

    [ask] = requests_to(server, "GET", "/collection/default/upload_url")
    assert ask["auth"] == "ok" and f"name=p1 upload {form}" in ask["query"]
    [sent] = requests_to(server, "POST", "/upload/*")
    headers = sent["headers"]
    assert "x-access-token" not in headers and "x-videodb-client" not in headers
    assert headers["content-type"].startswith("multipart/form-data; boundary=")
    assert "transfer-encoding" not in headers
    assert int(headers["content-length"]) > small_video.stat().st_size
    assert sent["body"] == {"bytes": int(headers["content-length"])}
    [register] = requests_to(server, "POST", "/collection/default/upload")
    assert set(register["body"]) == {"url", "name", "description", "callback_url", "media_type"}
    assert register["body"]["url"].startswith(f"{server.base_url}/upload/")
    assert register["body"]["media_type"] == "video"
    assert register["body"]["description"] is None and register["body"]["callback_url"] is None


def test_upload_names_the_file_by_its_stem(hook, server, small_video, uploaded):
    server.configure(job_seconds=0)
    media = parse_uploaded_media(wait_data(hook, hook.submit_upload(UploadRequest(small_video))))
    uploaded.append(media["id"])
    assert media["name"] == "tiny clip"
    [register] = requests_to(server, "POST", "/collection/default/upload")
    assert register["body"]["name"] == "tiny clip"


def test_a_missing_file_is_refused_before_any_request(hook, server, tmp_path):
    with pytest.raises(exc.VideoDBValidationError) as info:
        hook.submit_upload(UploadRequest(tmp_path / "nope.mp4"))
    assert info.value.field == "source" and "nope.mp4" in str(info.value)
    with pytest.raises(exc.VideoDBValidationError, match="source"):
        hook.submit_upload(UploadRequest(str(tmp_path)))  # a folder is not a file
    assert server.journal() == []


def test_a_url_source_is_registered_directly(hook, server):
    # The local server fetches no remote URL: it refuses it (400) — after one register call.
    with pytest.raises(exc.VideoDBBadRequestError):
        hook.submit_upload(UploadRequest("https://media.example/videos/a.mp4", name="remote"))
    assert requests_to(server, "GET", "/collection/*/upload_url") == []
    [register] = requests_to(server, "POST", "/collection/default/upload")
    assert register["body"] == {
        "url": "https://media.example/videos/a.mp4",
        "name": "remote",
        "description": None,
        "callback_url": None,
        "media_type": "video",
    }


# -- the storage host: a loopback recorder -------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """Records each POST; answers the statuses queued in ``script`` (then 204)."""

    def do_POST(self) -> None:
        server: Any = self.server
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        server.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        status = server.script.pop(0) if server.script else 204
        self.send_response(status)
        self.send_header("Content-Length", "0")
        if status in (429, 503):
            self.send_header("Retry-After", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def storage_host() -> Iterator[Any]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    httpd.seen, httpd.script = [], []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def _file_part(entry: dict[str, Any]) -> tuple[str | None, bytes]:
    """(filename, bytes) of the one multipart part of a recorded POST."""
    raw = f"Content-Type: {entry['headers']['Content-Type']}\r\n\r\n".encode() + entry["body"]
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    [part] = list(message.iter_parts())
    assert part.get_param("name", header="content-disposition") == "file"
    return part.get_filename(), part.get_payload(decode=True)


def test_the_file_goes_to_the_storage_host_streamed_with_no_videodb_header(
    hook, storage_host, tmp_path
):
    data = bytes(range(256)) * 4099  # ~1 MiB, not a multiple of the read step
    src = tmp_path / "clip.bin"
    src.write_bytes(data)
    url = f"http://127.0.0.1:{storage_host.server_port}/bucket/key?{SECRET_QUERY}"
    hook._send_file(url, UploadRequest(src).storage_path(), len(data), 'we"ird\nname')
    [entry] = storage_host.seen
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    assert not {"x-access-token", "x-videodb-client", "authorization"} & set(headers)
    assert hook.settings.api_key not in repr(entry)
    assert "transfer-encoding" not in headers
    assert int(headers["content-length"]) == len(entry["body"])
    filename, payload = _file_part(entry)
    assert payload == data
    assert filename == "we_ird_name"
    assert entry["path"] == f"/bucket/key?{SECRET_QUERY}"


def test_a_transient_storage_failure_is_retried_and_the_query_never_logged(
    hook, storage_host, tmp_path, capsys, caplog
):
    src = tmp_path / "clip.bin"
    src.write_bytes(b"x" * 1000)
    storage_host.script[:] = [503, 502]
    url = f"http://127.0.0.1:{storage_host.server_port}/bucket/key?{SECRET_QUERY}"
    hook._send_file(url, UploadRequest(src).storage_path(), 1000, "clip")
    assert len(storage_host.seen) == 3
    assert all(_file_part(entry)[1] == b"x" * 1000 for entry in storage_host.seen)
    logs = hook_logs(capsys, caplog)
    assert "attempt 1 of" in logs and "/bucket/key" in logs
    assert "s3cr3t" not in logs and "AKIAEXAMPLE" not in logs


def test_a_refused_storage_post_is_not_retried_and_its_error_hides_the_query(
    hook, storage_host, tmp_path
):
    src = tmp_path / "clip.bin"
    src.write_bytes(b"y" * 10)
    storage_host.script[:] = [403]
    url = f"http://127.0.0.1:{storage_host.server_port}/bucket/key?{SECRET_QUERY}"
    with pytest.raises(exc.VideoDBPermissionError) as info:
        hook._send_file(url, UploadRequest(src).storage_path(), 10, "clip")
    assert len(storage_host.seen) == 1
    assert "s3cr3t" not in str(info.value) and "/bucket/key" in str(info.value)


def test_an_unreachable_storage_host_error_hides_the_query(hook, tmp_path):
    src = tmp_path / "clip.bin"
    src.write_bytes(b"z")
    url = f"http://127.0.0.1:9/bucket/key?{SECRET_QUERY}"  # discard port: refused
    with pytest.raises(exc.VideoDBTransportError) as info:
        hook._send_file(url, UploadRequest(src).storage_path(), 1, "clip")
    assert "s3cr3t" not in str(info.value)
    assert info.value.attempts == hook.settings.max_retries + 1


def test_a_file_that_shrinks_while_sent_fails_the_post(storage_host, tmp_path):
    src = tmp_path / "clip.bin"
    src.write_bytes(b"a" * 100)
    url = f"http://127.0.0.1:{storage_host.server_port}/k"
    with src.open("rb") as file, pytest.raises(exc.VideoDBTransportError, match="short"):
        post_file(
            RequestInfo("POST", "/k"),
            url,
            file,
            200,  # the size it had "when the upload started"
            "clip",
            timeout=(2.0, 2.0),
            verify=True,
            retry_max_wait=1.0,
        )


def test_multipart_length_is_exact_for_empty_and_odd_files(tmp_path):
    for size in (0, 1, 1024 * 1024 + 7):
        src = tmp_path / f"f{size}"
        src.write_bytes(b"q" * size)
        with src.open("rb") as file:
            body = MultipartFile(file, size, "f")
            raw = b"".join(iter(lambda b=body: b.read(5000), b""))
        assert len(raw) == len(body)
        assert raw.count(b"q") == size


def test_url_for_log_drops_the_query_and_userinfo():
    assert url_for_log(f"https://user:pw@store.example:8443/b/k?{SECRET_QUERY}") == (
        "https://store.example:8443/b/k?<hidden>"
    )
    assert url_for_log("http://h/p") == "http://h/p"


# -- index ---------------------------------------------------------------------------------


def test_spoken_index_sends_what_the_sdk_sends_and_waits(hook, server):
    server.configure(job_seconds=0)
    vid = demo_video(hook, "science")["id"]
    server.clear_journal()
    request = SpokenIndexRequest(vid, language_code="en_us", force=True)
    started = hook.submit_spoken_index(request)
    assert started.job is not None and started.job.output_url.startswith(server.base_url)
    assert wait_data(hook, started)
    [post] = requests_to(server, "POST", "/video/*/index")
    assert post["body"] == {
        "index_type": "spoken_word",
        "language_code": "en_us",
        "segmentation_type": "sentence",
        "force": True,
        "callback_url": None,
    }


def test_an_indexed_video_is_not_an_error(hook, server, capsys, caplog):
    server.configure(job_seconds=0)
    vid = demo_video(hook, "kitchen")["id"]
    wait_data(hook, hook.submit_spoken_index(SpokenIndexRequest(vid, force=True)))
    server.clear_journal()
    again = hook.submit_spoken_index(SpokenIndexRequest(vid))
    assert again == Started(data={"video_id": vid, "already_indexed": True})
    assert len(requests_to(server, "POST", "/video/*/index")) == 1  # a 400: not retried
    assert "already indexed" in hook_logs(capsys, caplog)


def test_an_index_that_is_refused_for_another_reason_is_an_error(hook, server):
    with pytest.raises(exc.VideoDBNotFoundError):
        hook.submit_spoken_index(SpokenIndexRequest("m-doesnotexist"))
    assert len(requests_to(server, "POST", "/video/*/index")) == 1


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("already_indexed", "whatever", True),
        (None, "Video is already indexed", True),
        (None, "Spoken index already exists for this video", True),
        (None, "Spoken word index for video m-a already exists", True),
        ("invalid_request", "language_code is not supported", False),
    ],
)
def test_already_indexed_is_told_by_code_or_message(code, message, expected):
    error = exc.VideoDBBadRequestError("POST", "/video/m-a/index", 400, message, code)
    assert is_already_indexed(error) is expected
    assert not is_already_indexed(exc.VideoDBServerError("POST", "/x", 500, message, code))


# -- compile of several videos -------------------------------------------------------------


def test_compile_shots_of_several_videos_one_entry_per_run(hook, server):
    news, science = demo_video(hook, "news")["id"], demo_video(hook, "science")["id"]
    server.clear_journal()
    shots = [
        Shot(0.0, 2.0, video_id=news),
        Shot(4.0, 5.0, video_id=news),
        Shot(1.0, 3.0, video_id=science),
        Shot(9.0, 10.0, video_id=news),
    ]
    assert hook.compile_shots(None, shots)["stream_url"].endswith(".m3u8")
    [entry] = requests_to(server, "POST", "/compile")
    assert entry["body"] == [
        {"video_id": news, "collection_id": "default", "shots": [[0.0, 2.0], [4.0, 5.0]]},
        {"video_id": science, "collection_id": "default", "shots": [[1.0, 3.0]]},
        {"video_id": news, "collection_id": "default", "shots": [[9.0, 10.0]]},
    ]


def test_compile_mappings_may_name_their_video_and_need_one(hook, server):
    news, science = demo_video(hook, "news")["id"], demo_video(hook, "science")["id"]
    server.clear_journal()
    hook.compile_shots(news, [{"start": 1, "end": 2}, {"start": 0, "end": 1, "video_id": science}])
    [entry] = requests_to(server, "POST", "/compile")
    assert [e["video_id"] for e in entry["body"]] == [news, science]
    with pytest.raises(exc.VideoDBValidationError) as info:
        hook.compile_shots(None, [Shot(0.0, 1.0)])
    assert info.value.field == "video_id" and "shots[0]" in str(info.value)
    with pytest.raises(exc.VideoDBValidationError) as info:
        hook.compile_shots(None, [{"start": 0, "end": 1, "video_id": "../etc"}])
    assert info.value.field == "shots[0].video_id"
    assert len(requests_to(server, "POST", "/compile")) == 1


# -- answers -------------------------------------------------------------------------------


def test_parse_started_tells_a_job_from_a_result():
    job = {"success": True, "status": "processing", "data": {"id": "j1", "output_url": "u"}}
    assert parse_started(job).job is not None and parse_started(job).data is None
    late = {"success": True, "request_type": "async", "data": {"id": "j1", "output_url": "u"}}
    assert parse_started(late).job is not None
    done = parse_started({"success": True, "data": {"id": "m-1"}})
    assert done.data == {"id": "m-1"} and done.job is None
    with pytest.raises(exc.VideoDBResponseError, match="'output_url'"):
        parse_started({"success": True, "status": "processing", "data": {"id": "j1"}})
    with pytest.raises(ValueError, match="exactly one"):
        Started()


def test_search_shots_carry_their_video_and_the_clip_shape_is_unchanged():
    data = {
        "results": [
            {"video_id": "m-a", "docs": [{"start": 1, "end": 2, "text": "x", "score": 0.5}]},
            {"video_id": "m-b", "docs": [{"start": 3, "end": 4}]},
            {"docs": [{"start": 5, "end": 6}]},
        ]
    }
    shots = parse_clip_shots(data)
    assert [s.video_id for s in shots] == ["m-a", "m-b", None]
    assert shots[0].to_dict() == {"start": 1.0, "end": 2.0, "text": "x", "score": 0.5}
    assert shots[0].to_dict(with_video=True)["video_id"] == "m-a"
    assert "video_id" not in shots[2].to_dict(with_video=True)
    with pytest.raises(exc.VideoDBResponseError, match="video_id"):
        parse_clip_shots({"results": [{"video_id": "m-a/../b", "docs": []}]})


def test_parse_uploaded_media_checks_the_answer():
    audio = parse_uploaded_media({"id": "a-1", "name": "song", "length": "12.5"})
    assert audio["media_type"] == "audio" and audio["length"] == 12.5
    image = parse_uploaded_media({"id": "img-1", "url": "https://cdn.example/i.png"})
    assert image["media_type"] == "image"
    for bad in (
        {"id": "x-1"},
        {"id": "m-1", "length": "long"},
        {"id": "img-1", "url": "javascript:alert(1)"},
        {"id": "m-1", "name": 5},
    ):
        with pytest.raises(exc.VideoDBResponseError):
            parse_uploaded_media(bad)


# -- search, scene indexes, transcripts, thumbnails, delete --------------------------------


def test_search_a_video_and_the_collection(hook, server):
    server.configure(job_seconds=0)
    news = demo_video(hook, "news")["id"]
    wait_data(hook, hook.submit_spoken_index(SpokenIndexRequest(news, force=True)))
    server.clear_journal()
    shots = hook.search(SearchRequest("weather forecast", video_id=news))
    assert shots and all(s.video_id == news for s in shots)
    [post] = requests_to(server, "POST", "/video/*/search")
    assert post["body"]["query"] == "weather forecast"
    assert post["body"]["search_type"] == "semantic" and post["body"]["index_type"] == "spoken_word"
    everywhere = hook.search(SearchRequest("weather forecast"))
    assert everywhere and all(s.video_id for s in everywhere)
    assert requests_to(server, "POST", "/collection/default/search")


def test_scene_index_lifecycle(hook, server):
    server.configure(job_seconds=0)
    vid = demo_video(hook, "science")["id"]
    server.clear_journal()
    request = SceneIndexRequest(vid, "time", {"time": 10, "select_frames": ["first"]}, name="p1")
    data = wait_data(hook, hook.submit_scene_index(request))
    from airflow_provider_videodb.responses import parse_scene_index_id

    sid = parse_scene_index_id(data)
    [post] = requests_to(server, "POST", "/video/*/index/scene")
    assert post["body"]["extraction_type"] == "time"
    assert post["body"]["extraction_config"] == {"time": 10, "select_frames": ["first"]}
    listed = hook.list_scene_indexes(vid)
    assert sid in [i["scene_index_id"] for i in listed]
    assert all({"scene_index_id", "name", "status"} <= set(i) for i in listed)
    records = hook.get_scene_index(vid, sid)
    assert isinstance(records, list)
    hook.delete_scene_index(vid, sid)
    assert sid not in [i["scene_index_id"] for i in hook.list_scene_indexes(vid)]


def test_transcript_words_and_text(hook, server):
    server.configure(job_seconds=0)
    vid = demo_video(hook, "science")["id"]
    transcript = hook.get_transcript(vid, start=0, end=30)
    assert transcript["text"] and transcript["word_timestamps"]
    first = transcript["word_timestamps"][0]
    assert isinstance(first["start"], float) and first["text"]
    [get] = requests_to(server, "GET", "/video/*/transcription")
    assert "segmenter=word" in get["query"] and "start=0" in get["query"]
    with pytest.raises(exc.VideoDBValidationError) as info:
        hook.get_transcript(vid, start=10, end=5)
    assert info.value.field == "end"


def test_thumbnail_urls(hook, server):
    vid = demo_video(hook, "kitchen")["id"]
    url = hook.generate_thumbnail(vid)
    assert url.startswith("http")
    at = hook.generate_thumbnail(vid, time=2.5)
    assert at.startswith("http")
    [post] = requests_to(server, "POST", "/video/*/thumbnail")
    assert post["body"] == {"time": 2.5}


def test_delete_an_uploaded_video(hook, server, small_video):
    server.configure(job_seconds=0)
    media = parse_uploaded_media(wait_data(hook, hook.submit_upload(UploadRequest(small_video))))
    hook.delete_video(media["id"])
    with pytest.raises(exc.VideoDBNotFoundError):
        hook.get_video(media["id"])
    with pytest.raises(exc.VideoDBNotFoundError):
        hook.delete_video(media["id"])  # nothing there, and no retry hid it


def test_a_delete_whose_answer_was_lost_is_done_after_the_retry(hook, server, small_video):
    server.configure(job_seconds=0)
    media = parse_uploaded_media(wait_data(hook, hook.submit_upload(UploadRequest(small_video))))
    server.set_faults([{"kind": "drop_after", "method": "DELETE", "path": "/video/*", "times": 1}])
    hook.delete_video(media["id"])  # deleted, answer lost; the retry's 404 means done
    assert len(requests_to(server, "DELETE", f"/video/{media['id']}")) == 2
    with pytest.raises(exc.VideoDBNotFoundError):
        hook.get_video(media["id"])


def test_upload_file_post_retried_after_a_lost_answer_register_is_not(
    hook, server, small_video, uploaded
):
    server.configure(job_seconds=0)
    server.set_faults([{"kind": "drop_after", "method": "POST", "path": "/upload/*", "times": 1}])
    media = parse_uploaded_media(wait_data(hook, hook.submit_upload(UploadRequest(small_video))))
    uploaded.append(media["id"])
    assert len(requests_to(server, "POST", "/upload/*")) == 2  # it overwrites the same object
    server.clear_journal()
    server.set_faults(
        [{"kind": "drop_after", "method": "POST", "path": "/collection/*/upload", "times": 1}]
    )
    with pytest.raises(exc.VideoDBTransportError):
        hook.submit_upload(UploadRequest(small_video, name="p1 lost register"))
    assert len(requests_to(server, "POST", "/collection/default/upload")) == 1
    lost = [v for v in hook.list_videos() if v.get("name") == "p1 lost register"]
    uploaded.extend(v["id"] for v in lost)


def test_a_job_answer_is_waited_for_on_the_worker(hook, server):
    """What get_transcript does when the service answers with a job (any job waits alike)."""
    server.configure(job_seconds=0.5)
    news = demo_video(hook, "news")["id"]
    data = hook._wait_here(hook.start_clip(news, "weather forecast"), 30.0, 0.2)
    assert parse_clip_shots(data)
    server.set_faults([{"kind": "fail_job", "method": "GET", "path": "/async-response/*"}])
    with pytest.raises(exc.VideoDBJobFailedError):
        hook._wait_here(hook.start_clip(news, "weather forecast"), 30.0, 0.2)
    server.clear_faults()
    server.configure(job_seconds=60)
    with pytest.raises(exc.VideoDBJobTimeoutError):
        hook._wait_here(hook.start_clip(news, "weather forecast"), 1.0, 0.2)
