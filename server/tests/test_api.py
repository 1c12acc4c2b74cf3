"""The VideoDB API of the local server, spoken to with plain ``requests``."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import requests
from server_support import BROKE_API_KEY, FREE_API_KEY

from videodb_local_server.control import LocalVideoDBServer

ENVELOPE_ERROR_KEYS = {"success", "message", "error_code"}


def assert_error(resp: requests.Response, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == ENVELOPE_ERROR_KEYS
    assert body["success"] is False
    assert body["message"]
    if code is not None:
        assert body["error_code"] == code
    return body


def data_of(resp: requests.Response) -> dict:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["success"] is True
    return body["data"]


def first_video(server: LocalVideoDBServer, api: requests.Session, name: str) -> dict:
    videos = data_of(api.get(f"{server.base_url}/video", params={"collection_id": "default"}))
    return next(v for v in videos["videos"] if v["name"] == name)


def test_user(server, api):
    data = data_of(api.get(f"{server.base_url}/user"))
    assert data["default_collection"] == "default"
    assert "default" in data["collections"]
    assert {"user_id", "user_name", "user_email"} <= set(data)


def test_missing_and_wrong_key_are_401(server):
    assert_error(requests.get(f"{server.base_url}/user"), 401, "unauthorized")
    bad = {"x-access-token": "sk-wrong"}
    assert_error(requests.get(f"{server.base_url}/video", headers=bad), 401, "unauthorized")


def test_trailing_slash_is_accepted(server, api):
    plain = data_of(api.get(f"{server.base_url}/collection/default"))
    slashed = data_of(api.get(f"{server.base_url}/collection/default/"))
    assert plain == slashed
    assert plain["id"] == "default"


def test_collections(server, api):
    data = data_of(api.get(f"{server.base_url}/collection"))
    assert [c["id"] for c in data["collections"]] == ["default"]
    assert {"id", "name", "description", "is_public"} <= set(data["collections"][0])
    assert_error(api.get(f"{server.base_url}/collection/c-missing"), 404, "not_found")


def test_list_and_get_videos(server, api):
    videos = data_of(api.get(f"{server.base_url}/video", params={"collection_id": "default"}))
    names = {v["name"] for v in videos["videos"]}
    assert "Evening News Roundup" in names
    video = videos["videos"][0]
    keys = {"id", "collection_id", "name", "description", "stream_url", "player_url"}
    assert keys | {"thumbnail_url", "length", "created_at"} <= set(video)
    assert video["id"].startswith("m-")
    assert isinstance(video["length"], str) and float(video["length"]) > 0
    one = data_of(
        api.get(f"{server.base_url}/video/{video['id']}", params={"collection_id": "default"})
    )
    assert one["id"] == video["id"]
    server.configure(length_style="number")
    one = data_of(api.get(f"{server.base_url}/video/{video['id']}"))
    assert isinstance(one["length"], float)


def test_video_not_found_and_wrong_collection(server, api):
    assert_error(api.get(f"{server.base_url}/video/m-0000"), 404, "not_found")
    vid = server.video_ids()[0]
    url = f"{server.base_url}/video/{vid}"
    assert_error(api.get(url, params={"collection_id": "c-other"}), 404, "not_found")


def test_video_pagination(server, api):
    url = f"{server.base_url}/video"
    all_ids = [v["id"] for v in data_of(api.get(url))["videos"]]
    page = data_of(api.get(url, params={"page_index": 1, "count": 1}))["videos"]
    assert [v["id"] for v in page] == all_ids[1:2]
    assert_error(api.get(url, params={"count": "many"}), 400)


def test_unknown_endpoint_is_enveloped_404(server, api):
    assert_error(api.get(f"{server.base_url}/no/such/thing"), 404, "not_found")


def test_whole_stream_is_created_once_and_reused(server, api):
    video = first_video(server, api, "Kitchen and Garden")
    url = f"{server.base_url}/video/{video['id']}/stream"
    first = data_of(api.post(url, json={"timeline": None, "length": float(video["length"])}))
    again = data_of(api.post(url, json={"timeline": None, "length": float(video["length"])}))
    assert first == again
    assert first["stream_url"].startswith(server.base_url + "/")
    assert first["stream_url"].endswith(".m3u8")
    shown = data_of(api.get(f"{server.base_url}/video/{video['id']}"))
    assert shown["stream_url"] == first["stream_url"]
    assert shown["player_url"] == first["player_url"]


def test_hls_content_types_and_player(server, api):
    video = first_video(server, api, "Evening News Roundup")
    stream = data_of(
        api.post(f"{server.base_url}/video/{video['id']}/stream", json={"timeline": [[5, 9]]})
    )
    playlist = requests.get(stream["stream_url"])
    assert playlist.status_code == 200
    assert playlist.headers["Content-Type"].startswith("application/vnd.apple.mpegurl")
    assert playlist.text.startswith("#EXTM3U")
    segment_uri = next(ln for ln in playlist.text.splitlines() if ln and not ln.startswith("#"))
    segment = requests.get(requests.compat.urljoin(stream["stream_url"], segment_uri))
    assert segment.status_code == 200
    assert segment.headers["Content-Type"] == "video/mp2t"
    assert segment.content[:1] == b"\x47"  # MPEG-TS sync byte
    page = requests.get(stream["player_url"])
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert stream["stream_url"] in page.text
    assert requests.get(f"{server.base_url}/hls/s-missing.m3u8").status_code == 404


def test_timeline_stream_is_deterministic(server, api):
    vid = server.video_ids()[0]
    url = f"{server.base_url}/video/{vid}/stream"
    one = data_of(api.post(url, json={"timeline": [[10, 20], [40, 45.5]], "length": 180}))
    two = data_of(api.post(url, json={"timeline": [[10, 20], [40, 45.5]], "length": 180}))
    other = data_of(api.post(url, json={"timeline": [[40, 45.5], [10, 20]], "length": 180}))
    assert one == two
    assert other["stream_url"] != one["stream_url"]


def test_invalid_timelines_are_400(server, api):
    vid = server.video_ids()[0]
    url = f"{server.base_url}/video/{vid}/stream"
    for timeline in ([], [[5, 5]], [[-1, 3]], [[3, 1]], [[0, 10_000]], [["a", 2]], [[True, 2]]):
        assert_error(api.post(url, json={"timeline": timeline}), 400)
    json_header = {"Content-Type": "application/json"}
    assert_error(api.post(url, data=b"{not json", headers=json_header), 400)
    assert_error(api.post(f"{server.base_url}/video/m-missing/stream", json={}), 404)


def test_clip_validation(server, api):
    vid = server.video_ids()[0]
    url = f"{server.base_url}/video/{vid}/clip"
    jobs_before = server.stats()["jobs_created"]
    assert_error(api.post(url, json={"content_type": "spoken"}), 400)
    assert_error(api.post(url, json={"prompt": "   "}), 400)
    assert_error(api.post(url, json={"prompt": "x", "content_type": "smell"}), 400)
    assert_error(api.post(url, json={"prompt": "x", "model_name": "huge"}), 400)
    assert_error(api.post(url, json={"prompt": "x", "scene_index_id": "not/an id"}), 400)
    assert_error(api.post(url, json={"prompt": "x", "callback_url": "ftp://x"}), 400)
    assert_error(api.post(f"{server.base_url}/video/m-missing/clip", json={"prompt": "x"}), 404)
    assert server.stats()["jobs_created"] == jobs_before


def test_plan_errors_402_and_403(server):
    vid = server.video_ids()[0]
    url = f"{server.base_url}/video/{vid}/clip"
    broke_key = {"x-access-token": BROKE_API_KEY}
    broke = requests.post(url, json={"prompt": "weather"}, headers=broke_key)
    assert_error(broke, 402, "insufficient_credits")
    free = {"x-access-token": FREE_API_KEY}
    gated = requests.post(url, json={"prompt": "weather", "model_name": "pro"}, headers=free)
    assert_error(gated, 403)
    basic = requests.post(url, json={"prompt": "weather", "model_name": "basic"}, headers=free)
    assert basic.status_code == 200


def start_clip(server, api, prompt: str, name: str = "Evening News Roundup") -> dict:
    video = first_video(server, api, name)
    resp = api.post(
        f"{server.base_url}/video/{video['id']}/clip",
        json={"prompt": prompt, "content_type": "spoken", "model_name": "basic"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["success"] is True and body["status"] == "processing"
    return body["data"]


def test_clip_job_reports_progress_then_shots(server, api):
    server.configure(job_seconds=600, progress_style="processing")
    job = start_clip(server, api, "the part about the weather")
    assert job["output_url"] == f"{server.base_url}/async-response/{job['id']}"
    running = api.get(job["output_url"]).json()
    assert running["status"] == "processing"
    assert 0 <= running["data"]["percentage"] < 100
    server.configure(progress_style="in progress")
    assert api.get(job["output_url"]).json()["status"] == "in progress"

    server.configure(job_seconds=0)
    job = start_clip(server, api, "the part about the weather")
    done = api.get(job["output_url"]).json()
    assert done["success"] is True and done["status"] == "done"
    (result,) = done["data"]["results"]
    assert result["docs"], done
    best = result["docs"][0]
    assert {"start", "end", "text", "score"} <= set(best)
    assert "weather" in best["text"].lower()
    assert 0 <= best["start"] < best["end"] <= float(result["length"])


def test_wrapped_terminal_shape(server, api):
    server.configure(job_seconds=0, terminal_shape="wrapped")
    job = start_clip(server, api, "weather forecast")
    body = api.get(job["output_url"]).json()
    assert body["status"] == "done"
    assert body["response"]["success"] is True
    assert body["response"]["data"]["results"][0]["docs"]


def test_clip_without_match_is_done_with_no_shots(server, api):
    server.configure(job_seconds=0)
    job = start_clip(server, api, "quantum chromodynamics lattice")
    body = api.get(job["output_url"]).json()
    assert body["status"] == "done"
    assert all(not r["docs"] for r in body["data"]["results"])


def test_unknown_job_is_404(server, api):
    assert_error(api.get(f"{server.base_url}/async-response/nope"), 404, "not_found")


def test_compile_needs_an_array_and_builds_one_stream(server, api):
    ids = server.video_ids()
    url = f"{server.base_url}/compile"
    body = [
        {"video_id": ids[0], "collection_id": "default", "shots": [[1, 4]]},
        {"video_id": ids[1], "collection_id": "default", "shots": [[2, 6], [8, 9]]},
    ]
    data = data_of(api.post(url, json=body))
    playlist = requests.get(data["stream_url"]).text
    assert ids[0] in playlist and ids[1] in playlist
    assert "#EXT-X-DISCONTINUITY" in playlist
    assert_error(api.post(url, json={"video_id": ids[0], "shots": [[1, 2]]}), 400)
    assert_error(api.post(url, json=[]), 400)
    assert_error(api.post(url, json=[{"video_id": "m-none", "shots": [[1, 2]]}]), 404)


def test_index_job(server, api):
    server.configure(job_seconds=0)
    vid = first_video(server, api, "Science Desk")["id"]
    url = f"{server.base_url}/video/{vid}/index"
    body = {"index_type": "spoken_word", "language_code": None, "force": False}
    start = data_of(api.post(url, json={**body, "callback_url": None}))
    done = api.get(start["output_url"]).json()
    assert done["status"] == "done" and done["data"]["cues"] > 0
    assert_error(api.post(url, json={"index_type": "scene"}), 400)


def upload_file(server, api, path, name: str | None = None) -> dict:
    cid = "default"
    step1 = data_of(
        api.get(f"{server.base_url}/collection/{cid}/upload_url", params={"name": name})
    )
    with open(path, "rb") as fh:  # like the SDK: no VideoDB headers on the upload itself
        posted = requests.post(step1["upload_url"], files={"file": (name, fh)})
    assert posted.status_code == 200, posted.text
    register = {
        "url": step1["upload_url"],
        "name": name,
        "description": None,
        "callback_url": None,
        "media_type": None,
    }
    return data_of(api.post(f"{server.base_url}/collection/{cid}/upload", json=register))


def test_upload_video_then_sidecar_transcript(server, api):
    server.configure(job_seconds=0)
    src = next((server.data_dir / "demo").glob("kitchen*.mp4"))
    vtt = next((server.data_dir / "demo").glob("kitchen*.srt"))
    video = upload_file(server, api, src, name="my-upload")
    assert video["id"].startswith("m-") and video["name"] == "my-upload"
    assert abs(float(video["length"]) - 60.0) < 1.0
    job = data_of(api.post(f"{server.base_url}/video/{video['id']}/index", json={}))
    failed = api.get(job["output_url"]).json()
    assert failed["success"] is False and failed["status"] == "failed"
    assert failed["error_code"] == "no_transcript"

    subtitle = upload_file(server, api, vtt, name="my-upload")
    assert subtitle["video_id"] == video["id"] and subtitle["cues"] > 0
    job = data_of(
        api.post(f"{server.base_url}/video/{video['id']}/clip", json={"prompt": "baking bread"})
    )
    docs = api.get(job["output_url"]).json()["data"]["results"][0]["docs"]
    assert docs and "bread" in docs[0]["text"].lower()


def test_register_rejects_foreign_and_empty_urls(server, api):
    url = f"{server.base_url}/collection/default/upload"
    assert_error(api.post(url, json={"url": "https://example.com/v.mp4", "name": "x"}), 400)
    step1 = data_of(api.get(f"{server.base_url}/collection/default/upload_url"))
    assert_error(api.post(url, json={"url": step1["upload_url"], "name": "x"}), 400)
    garbage = requests.post(step1["upload_url"], files={"file": ("x", b"not a video at all")})
    assert garbage.status_code == 200
    assert_error(api.post(url, json={"url": step1["upload_url"], "name": "x"}), 400)


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[dict] = []
    arrived = threading.Event()

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()
        type(self).arrived.set()

    def log_message(self, *args: object) -> None:
        pass


def test_callback_url_gets_the_terminal_payload(server, api):
    server.configure(job_seconds=0)
    receiver = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        callback = f"http://127.0.0.1:{receiver.server_port}/hook"
        vid = first_video(server, api, "Evening News Roundup")["id"]
        resp = api.post(
            f"{server.base_url}/video/{vid}/clip",
            json={"prompt": "weather", "callback_url": callback},
        )
        body = resp.json()
        assert body["request_type"] == "async" and body["data"]["output_url"]
        assert _Receiver.arrived.wait(30)
        (payload,) = _Receiver.bodies
        assert payload["status"] == "done" and payload["data"]["results"][0]["docs"]
        assert payload == api.get(body["data"]["output_url"]).json()
    finally:
        receiver.shutdown()
        receiver.server_close()
