"""The library calls of the local server over plain HTTP: uploads from URLs (a real job),
audio and images, collections, video deletion, thumbnails, and the ``/watch`` player URL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from library_support import (
    callback_receiver,
    demo_copy,
    file_server,
    make_audio,
    make_image,
    poll_until_terminal,
)
from server_support import TEST_API_KEY
from test_api import assert_error, data_of

from videodb_local_server.control import LocalVideoDBServer
from videodb_local_server.media import assets, hls

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG"


def register(server: Any, api: requests.Session, body: dict[str, Any], cid: str = "default"):
    full = {"name": None, "description": None, "callback_url": None, "media_type": None, **body}
    return api.post(f"{server.base_url}/collection/{cid}/upload", json=full, timeout=120)


def upload_file(server: Any, api: requests.Session, path: Path, **body: Any) -> dict[str, Any]:
    """The SDK's file flow: upload_url, POST the file (no key), register; the media object."""
    name = body.pop("name", path.stem)
    step1 = data_of(api.get(f"{server.base_url}/collection/default/upload_url",
                            params={"name": name}))  # fmt: skip
    with path.open("rb") as fh:
        assert requests.post(step1["upload_url"], files={"file": (name, fh)}).status_code == 200
    return data_of(register(server, api, {"url": step1["upload_url"], "name": name, **body}))


def started_job(resp: requests.Response) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["success"] is True and body["status"] == "processing", body
    assert set(body["data"]) == {"id", "output_url"}
    return body


def delete_video(server: Any, api: requests.Session, vid: str) -> None:
    data_of(api.delete(f"{server.base_url}/video/{vid}"))


@pytest.fixture
def demo_mp4(server: LocalVideoDBServer, tmp_path: Path) -> Path:
    return demo_copy(server, tmp_path / "science.mp4")


# --------------------------------------------------------------------------- URL uploads


def test_url_upload_is_a_job_whose_result_is_the_video(server, api, demo_mp4, tmp_path):
    server.configure(job_seconds=0)
    with file_server({"science.mp4": demo_mp4}, delay=1.5) as files:
        url = files.url("slow/science.mp4")
        job = started_job(register(server, api, {"url": url, "name": "from-url"}))
        # The clock says done (job_seconds 0) but the fetch has not finished: not done.
        early = api.get(job["data"]["output_url"]).json()
        assert early["status"] in ("processing", "in progress"), early
        again = started_job(register(server, api, {"url": url, "name": "from-url"}))
        assert again["data"]["id"] == job["data"]["id"]  # joins the running job
        done = poll_until_terminal(api, job["data"]["output_url"])
        assert files.hits.count("/slow/science.mp4") == 1
    assert done["success"] is True and done["status"] == "done", done
    video = done["data"]
    assert video["id"].startswith("m-") and video["name"] == "from-url"
    assert float(video["length"]) == pytest.approx(60.0, abs=1.0)
    try:
        # Registered again after it finished: the same video, answered at once.
        assert data_of(register(server, api, {"url": url, "name": "from-url"}))["id"] == video["id"]
        stream = data_of(api.post(f"{server.base_url}/video/{video['id']}/stream",
                                  json={"timeline": [[2, 6]]}))  # fmt: skip
        report = hls.decode(stream["stream_url"])
        assert report.errors == "" and report.video_frames > 0
    finally:
        delete_video(server, api, video["id"])


def test_url_upload_name_defaults_to_the_file_name_and_follows_loopback_redirects(
    server, api, demo_mp4
):
    server.configure(job_seconds=0)
    with file_server({"science.mp4": demo_mp4}) as files:
        url = f"{files.base_url}/redirect?to={files.url('science.mp4')}"
        job = started_job(register(server, api, {"url": url}))
        done = poll_until_terminal(api, job["data"]["output_url"])
    assert done["status"] == "done", done
    assert done["data"]["name"] == "redirect"  # the URL's own path names it
    delete_video(server, api, done["data"]["id"])


@pytest.mark.parametrize(
    ("path", "code", "words"),
    [
        ("missing.mp4", "fetch_failed", "HTTP 404"),
        ("notes.txt", "invalid_media", "could not process"),
        ("redirect?to=http://192.0.2.1/v.mp4", "fetch_failed", "loopback"),
        ("redirect?to=http://127.0.0.1:1/_twin/config", "fetch_failed", "admin API"),
        ("redirect?to=ftp://127.0.0.1/v.mp4", "fetch_failed", "http(s)"),
    ],
)
def test_url_upload_failures_fail_the_job_with_a_clear_message(
    server, api, tmp_path, path, code, words
):
    server.configure(job_seconds=0)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video at all\n" * 10)
    with file_server({"notes.txt": notes}) as files:
        job = started_job(register(server, api, {"url": files.url(path), "name": f"bad-{code}"}))
        done = poll_until_terminal(api, job["data"]["output_url"])
    assert done == {"success": False, "status": "failed", "message": done["message"],
                    "error_code": code}  # fmt: skip
    assert words in done["message"]
    names = {v["name"] for v in data_of(api.get(f"{server.base_url}/video"))["videos"]}
    assert f"bad-{code}" not in names


def test_url_upload_refuses_before_any_job(server, api):
    jobs_before = server.stats()["jobs_created"]
    cases = [
        ({"url": "https://example.invalid/v.mp4"}, "url"),
        ({"url": "http://127.0.0.1:1/_twin/faults"}, "url"),
        ({"url": "http://user:pw@127.0.0.1:1/v.mp4"}, "url"),
        ({"url": "http://127.0.0.1:1/v.mp4", "media_type": "hologram"}, "media_type"),
        ({"url": "http://127.0.0.1:1/v.mp4", "name": 7}, "name"),
        ({"url": "http://127.0.0.1:1/v.mp4", "name": "x" * 300}, "name"),
        ({"url": "http://127.0.0.1:1/v.mp4", "callback_url": "ftp://x"}, "callback_url"),
    ]
    for body, field in cases:
        assert field in assert_error(register(server, api, body), 400)["message"], body
    assert server.stats()["jobs_created"] == jobs_before


def test_url_upload_larger_than_the_limit_fails_the_job(tmp_path, demo_mp4):
    with LocalVideoDBServer.start(
        tmp_path / "small", api_keys=(TEST_API_KEY,), demo=False, job_seconds=0,
        extra_args=["--max-upload-bytes", "10000"],
    ) as small, requests.Session() as api, file_server({"v.mp4": demo_mp4}) as files:  # fmt: skip
        api.headers["x-access-token"] = small.api_key
        job = started_job(register(small, api, {"url": files.url("v.mp4")}))
        done = poll_until_terminal(api, job["data"]["output_url"])
        assert done["status"] == "failed" and done["error_code"] == "fetch_failed"
        assert "larger than 10000 bytes" in done["message"]
        assert not list((small.data_dir / "uploads").glob("url-*"))  # nothing left behind


def test_url_upload_lost_in_a_restart_ends_failed(tmp_path, demo_mp4):
    with (
        LocalVideoDBServer.start(
            tmp_path / "restarted", api_keys=(TEST_API_KEY,), demo=False, job_seconds=0
        ) as own,
        requests.Session() as api,
        file_server({"v.mp4": demo_mp4}, delay=5) as files,
    ):
        api.headers["x-access-token"] = own.api_key
        job = started_job(register(own, api, {"url": files.url("slow/v.mp4")}))
        own.restart()  # the fetch is still waiting for the file: its work dies here
        done = poll_until_terminal(api, job["data"]["output_url"])
        assert done["status"] == "failed" and done["error_code"] == "job_lost", done
        assert data_of(api.get(f"{own.base_url}/video"))["videos"] == []


def test_url_upload_callback_gets_the_media_object_once_the_work_is_done(server, api, demo_mp4):
    server.configure(job_seconds=0)
    with callback_receiver() as receiver, file_server({"v.mp4": demo_mp4}, delay=1.0) as files:
        url = files.url("slow/v.mp4")
        body = started_job(register(server, api, {"url": url, "callback_url": receiver.url}))
        assert body["request_type"] == "sync"  # the SDK's upload() reads the answer's data
        delivered = receiver.wait()
    assert delivered["status"] == "done" and delivered["data"]["id"].startswith("m-")
    assert delivered == poll_until_terminal(api, body["data"]["output_url"])
    delete_video(server, api, delivered["data"]["id"])


# --------------------------------------------------------------------------- audio and images


def test_audio_upload_get_list_url_delete(server, api, tmp_path):
    mp3 = make_audio(tmp_path / "tone.mp3", seconds=3.0)
    audio = upload_file(server, api, mp3, name="tone", media_type="audio")
    assert audio["id"].startswith("a-") and audio["name"] == "tone"
    assert audio["length"] == pytest.approx(3.0, abs=0.1)
    base = f"{server.base_url}/audio"
    assert data_of(api.get(f"{base}/{audio['id']}", params={"collection_id": "default"})) == audio
    listed = data_of(api.get(base, params={"collection_id": "default"}))["audios"]
    assert audio["id"] in [a["id"] for a in listed]
    signed = data_of(api.post(f"{base}/{audio['id']}/generate_url"))["signed_url"]
    served = requests.get(signed)  # no key: a browser or player fetches it
    assert served.status_code == 200 and served.content == mp3.read_bytes()
    assert_error(api.get(f"{server.base_url}/image/{audio['id']}"), 404)  # not an image
    assert data_of(api.delete(f"{base}/{audio['id']}"))["id"] == audio["id"]
    assert_error(api.get(f"{base}/{audio['id']}"), 404)
    assert_error(api.delete(f"{base}/{audio['id']}"), 404)
    assert requests.get(signed).status_code == 404


def test_image_upload_get_list_url_delete(server, api, tmp_path):
    png = make_image(tmp_path / "card.png")
    image = upload_file(server, api, png, name="card", media_type="image")
    assert image["id"].startswith("img-") and image["name"] == "card"
    served = requests.get(image["url"])
    assert served.status_code == 200 and served.content == png.read_bytes()
    assert served.content.startswith(PNG_MAGIC)
    base = f"{server.base_url}/image"
    assert data_of(api.get(f"{base}/{image['id']}"))["url"] == image["url"]
    listed = data_of(api.get(base, params={"collection_id": "default"}))["images"]
    assert image["id"] in [i["id"] for i in listed]
    assert data_of(api.post(f"{base}/{image['id']}/generate_url"))["signed_url"] == image["url"]
    data_of(api.delete(f"{base}/{image['id']}"))
    assert_error(api.get(f"{base}/{image['id']}"), 404)
    assert requests.get(image["url"]).status_code == 404


def test_files_that_are_not_the_media_type_are_refused(server, api, tmp_path, demo_mp4):
    png = make_image(tmp_path / "card.png")
    step = data_of(api.get(f"{server.base_url}/collection/default/upload_url"))
    for path, media_type in [(demo_mp4, "image"), (png, "audio"), (demo_mp4, "audio")]:
        with path.open("rb") as fh:
            requests.post(step["upload_url"], files={"file": ("x", fh)})
        body = {"url": step["upload_url"], "name": f"wrong-{media_type}", "media_type": media_type}
        error = assert_error(register(server, api, body), 400, "invalid_media")
        assert "media_type" in error["message"] and media_type in error["message"]
    for kind in ("audio", "image"):
        listed = data_of(api.get(f"{server.base_url}/{kind}"))[f"{kind}s"]
        assert not [a for a in listed if a["name"].startswith("wrong-")]


def test_url_upload_of_an_image(server, api, tmp_path):
    server.configure(job_seconds=0)
    jpg = make_image(tmp_path / "still.jpg")
    with file_server({"still.jpg": jpg}) as files:
        job = started_job(register(server, api, {"url": files.url("still.jpg"),
                                                 "media_type": "image"}))  # fmt: skip
        done = poll_until_terminal(api, job["data"]["output_url"])
    image = done["data"]
    assert image["id"].startswith("img-") and image["name"] == "still"
    assert requests.get(image["url"]).content == jpg.read_bytes()
    data_of(api.delete(f"{server.base_url}/image/{image['id']}"))


# --------------------------------------------------------------------------- collections


def test_collection_create_update_delete(server, api, tmp_path):
    base = f"{server.base_url}/collection"
    made = data_of(api.post(base, json={"name": "Clips", "description": "d", "is_public": True}))
    try:
        assert made["id"].startswith("c-")
        assert made == {"id": made["id"], "name": "Clips", "description": "d", "is_public": True}
        assert data_of(api.get(f"{base}/{made['id']}")) == made
        change = {"name": "Clips 2", "description": None}
        changed = data_of(api.patch(f"{base}/{made['id']}", json=change))
        assert changed == {**made, "name": "Clips 2"}
        listed = data_of(api.get(base))["collections"]
        assert [c["id"] for c in listed] == ["default", made["id"]]
        # Media in it go with it.
        png = make_image(tmp_path / "in-collection.png")
        step = data_of(api.get(f"{base}/{made['id']}/upload_url"))
        with png.open("rb") as fh:
            requests.post(step["upload_url"], files={"file": ("p", fh)})
        body = {"url": step["upload_url"], "name": "p", "media_type": "image"}
        image = data_of(register(server, api, body, cid=made["id"]))
        assert data_of(api.get(f"{server.base_url}/image", params={"collection_id": made["id"]}))
    finally:
        data_of(api.delete(f"{base}/{made['id']}"))
    assert_error(api.get(f"{base}/{made['id']}"), 404)
    assert_error(api.delete(f"{base}/{made['id']}"), 404)
    assert_error(api.get(f"{server.base_url}/image/{image['id']}"), 404)
    assert requests.get(image["url"]).status_code == 404
    assert [c["id"] for c in data_of(api.get(base))["collections"]] == ["default"]


def test_collection_input_is_checked(server, api):
    base = f"{server.base_url}/collection"
    for body, field in [
        ({}, "name"),
        ({"name": "   "}, "name"),
        ({"name": 5}, "name"),
        ({"name": "n" * 257}, "name"),
        ({"name": "ok", "description": 3}, "description"),
        ({"name": "ok", "is_public": "yes"}, "is_public"),
    ]:
        assert field in assert_error(api.post(base, json=body), 400)["message"], body
    assert_error(api.patch(f"{base}/default", json={"name": ""}), 400)
    assert_error(api.patch(f"{base}/c-missing", json={"name": "x"}), 404)
    refused = assert_error(api.delete(f"{base}/default"), 400)
    assert "default" in refused["message"]
    assert [c["id"] for c in data_of(api.get(base))["collections"]] == ["default"]


# --------------------------------------------------------------------------- deleting videos


def test_deleted_video_and_its_streams_answer_404(server, api, demo_mp4):
    video = upload_file(server, api, demo_mp4, name="to-delete")
    vid = video["id"]
    other = server.video_ids()[0]
    whole = data_of(api.post(f"{server.base_url}/video/{vid}/stream", json={"timeline": None}))
    part = data_of(api.post(f"{server.base_url}/video/{vid}/stream", json={"timeline": [[1, 3]]}))
    compiled = data_of(api.post(f"{server.base_url}/compile", json=[
        {"video_id": vid, "collection_id": "default", "shots": [[0, 2]]},
        {"video_id": other, "collection_id": "default", "shots": [[0, 2]]},
    ]))  # fmt: skip
    kept = data_of(api.post(f"{server.base_url}/video/{other}/stream",
                            json={"timeline": [[0, 2]]}))  # fmt: skip
    streams = [whole, part, compiled]
    segment = next(ln for ln in requests.get(whole["stream_url"]).text.splitlines()
                   if ln.endswith(".ts"))  # fmt: skip
    segment_url = requests.compat.urljoin(whole["stream_url"], segment)
    assert requests.get(segment_url).status_code == 200
    for s in streams:  # all served (and in the hot cache) before the delete
        assert requests.get(s["stream_url"]).status_code == 200

    deleted = api.delete(f"{server.base_url}/video/{vid}", params={"collection_id": "default"})
    assert data_of(deleted) == {"id": vid}
    assert_error(api.get(f"{server.base_url}/video/{vid}"), 404)
    for s in streams:
        assert requests.get(s["stream_url"]).status_code == 404
        assert requests.get(s["player_url"]).status_code == 404
    assert requests.get(segment_url).status_code == 404
    assert requests.get(video["thumbnail_url"]).status_code == 404
    assert_error(api.delete(f"{server.base_url}/video/{vid}"), 404)
    assert requests.get(kept["stream_url"]).status_code == 200  # other videos keep theirs
    assert vid not in server.video_ids()


def test_delete_checks_the_collection(server, api):
    vid = server.video_ids()[0]
    assert_error(api.delete(f"{server.base_url}/video/{vid}", params={"collection_id": "c-x"}), 404)
    assert vid in server.video_ids()


# --------------------------------------------------------------------------- thumbnails


def test_default_thumbnail_is_a_real_jpeg(server, api, tmp_path):
    vid = server.video_ids()[0]
    url = data_of(api.get(f"{server.base_url}/video/{vid}/thumbnail"))["thumbnail_url"]
    assert url == data_of(api.get(f"{server.base_url}/video/{vid}"))["thumbnail_url"]
    served = requests.get(url)
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"
    assert served.content.startswith(JPEG_MAGIC)
    (tmp_path / "t.jpg").write_bytes(served.content)
    assert assets.check_image(tmp_path / "t.jpg").width


def test_thumbnail_at_a_time_is_an_image_object(server, api, tmp_path):
    vid = next(v for v in data_of(api.get(f"{server.base_url}/video"))["videos"]
               if v["name"] == "Evening News Roundup")["id"]  # fmt: skip
    url = f"{server.base_url}/video/{vid}/thumbnail"
    early = data_of(api.post(url, json={"time": 5}))
    late = data_of(api.post(url, json={"time": 95.5}))
    assert early["id"].startswith("img-") and early["collection_id"] == "default"
    assert early["video_id"] == vid and early["time"] == 5
    assert data_of(api.post(url, json={"time": 5.0}))["id"] == early["id"]  # same time, same image
    pictures = [requests.get(i["url"]) for i in (early, late)]
    assert all(p.status_code == 200 and p.content.startswith(JPEG_MAGIC) for p in pictures)
    assert pictures[0].content != pictures[1].content  # different frames
    listed = data_of(api.get(f"{server.base_url}/video/{vid}/thumbnails"))
    assert {early["id"], late["id"]} <= {i["id"] for i in listed}
    assert data_of(api.get(f"{server.base_url}/image/{late['id']}"))["url"] == late["url"]
    uploaded = data_of(api.get(f"{server.base_url}/image"))["images"]
    assert early["id"] not in {i["id"] for i in uploaded}  # thumbnails belong to the video


@pytest.mark.parametrize("time_value", [-1, 10_000, "5", None, True, float("nan")])
def test_thumbnail_time_out_of_range_is_a_400_naming_time(server, api, time_value):
    vid = server.video_ids()[0]
    body = json.dumps({"time": time_value})  # NaN as the JSON extension some clients send
    resp = api.post(f"{server.base_url}/video/{vid}/thumbnail", data=body,
                    headers={"Content-Type": "application/json"})  # fmt: skip
    assert "time" in assert_error(resp, 400)["message"]


def test_thumbnail_and_media_404s(server, api):
    assert_error(api.get(f"{server.base_url}/video/m-missing/thumbnail"), 404)
    assert_error(api.post(f"{server.base_url}/video/m-missing/thumbnail", json={"time": 1}), 404)
    assert_error(api.get(f"{server.base_url}/video/m-missing/thumbnails"), 404)
    vid = server.video_ids()[0]
    for path in ("m-missing/thumbnail.jpg", f"{vid}/other.jpg", f"{vid}/..%2Fvideodb.sqlite3",
                 "img-missing/image.png"):  # fmt: skip
        assert requests.get(f"{server.base_url}/media/{path}").status_code == 404


# --------------------------------------------------------------------------- the player URL


def test_player_url_has_the_watch_shape_and_serves_the_player(server, api):
    vid = server.video_ids()[0]
    stream = data_of(api.post(f"{server.base_url}/video/{vid}/stream", json={"timeline": [[0, 4]]}))
    sid = stream["stream_url"].rsplit("/", 1)[-1].removesuffix(".m3u8")
    assert stream["player_url"] == f"{server.base_url}/watch?v={sid}"
    for page_url in (stream["player_url"], stream["player_url"].replace("/watch?", "/embed?")):
        page = requests.get(page_url)  # no key: a browser opens it
        assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
        assert stream["stream_url"] in page.text
    assert requests.get(f"{server.base_url}/watch", params={"v": "t-missing"}).status_code == 404
    assert requests.get(f"{server.base_url}/watch").status_code == 400
    old_form = requests.get(f"{server.base_url}/player", params={"url": stream["stream_url"]})
    assert old_form.status_code == 200 and stream["stream_url"] in old_form.text
