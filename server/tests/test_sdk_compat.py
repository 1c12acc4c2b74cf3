"""The official ``videodb`` SDK (0.5.1), unchanged, against the local server."""

from __future__ import annotations

import shutil

import pytest
import requests

videodb = pytest.importorskip("videodb")

pytestmark = pytest.mark.sdk


@pytest.fixture
def conn(server):
    # Jobs finish at once so the SDK's first poll is terminal (it sleeps 5 s between polls).
    server.configure(job_seconds=0)
    return videodb.connect(api_key=server.api_key, base_url=server.base_url)


def test_connect_collection_and_videos(server, conn):
    coll = conn.get_collection()
    assert coll.id == "default"
    videos = coll.get_videos()
    assert {v.name for v in videos} >= {"Evening News Roundup", "Science Desk"}
    one = coll.get_video(videos[0].id)
    assert one.id == videos[0].id
    assert one.length == pytest.approx(videos[0].length) and one.length > 0
    assert [c.id for c in conn.get_collections()] == ["default"]


def test_upload_local_file_and_streams(server, conn, tmp_path):
    src = tmp_path / "sdk-upload.mp4"
    shutil.copy(next((server.data_dir / "demo").glob("science*.mp4")), src)
    coll = conn.get_collection()
    video = coll.upload(file_path=str(src))
    assert isinstance(video, videodb.video.Video)
    assert video.name == "sdk-upload"
    assert video.length == pytest.approx(60.0, abs=1.0)

    whole = video.generate_stream()
    assert whole.startswith(server.base_url) and whole.endswith(".m3u8")
    assert video.generate_stream() == whole  # reused by the SDK without a request
    assert coll.get_video(video.id).stream_url == whole

    part = video.generate_stream(timeline=[(0, 4), (10, 14)])
    assert part != whole
    playlist = requests.get(part)
    assert playlist.status_code == 200
    assert playlist.text.count("#EXTINF") < requests.get(whole).text.count("#EXTINF")


def test_clip_returns_shots_and_compiles(server, conn):
    coll = conn.get_collection()
    video = next(v for v in coll.get_videos() if v.name == "Evening News Roundup")
    result = video.clip("the part about the weather", content_type="spoken", model_name="basic")
    assert isinstance(result, videodb.SearchResult)
    shots = result.get_shots()
    assert shots
    assert "weather" in shots[0].text.lower()
    assert shots[0].video_id == video.id
    assert 0 <= shots[0].start < shots[0].end <= video.length

    stream_url = result.compile()
    assert stream_url.startswith(server.base_url) and stream_url.endswith(".m3u8")
    assert result.player_url
    assert requests.get(stream_url).text.startswith("#EXTM3U")
    compiled = [e for e in server.journal() if e["path"] == "/compile"]
    assert compiled and isinstance(compiled[-1]["body"], list)


def test_clip_wrapped_shape_and_no_match(server, conn):
    server.configure(terminal_shape="wrapped")
    video = conn.get_collection().get_video(server.video_ids()[0])
    assert video.clip("weather", content_type="spoken", model_name="basic").get_shots()
    empty = video.clip("zygomorphic quasar", content_type="spoken", model_name="basic")
    assert len(empty) == 0


def test_sdk_errors(server, conn):
    with pytest.raises(videodb.InvalidRequestError):
        conn.get_collection().get_video("m-does-not-exist")
    video = conn.get_collection().get_video(server.video_ids()[0])
    with pytest.raises(videodb.InvalidRequestError):
        video.clip("weather", content_type="smell", model_name="basic")
    with pytest.raises(videodb.AuthenticationError):
        videodb.connect(api_key="sk-wrong", base_url=server.base_url).get_collection()


def test_sdk_index_spoken_words(server, conn):
    video = next(v for v in conn.get_collection().get_videos() if v.name == "Science Desk")
    # force: another test of the session may have indexed it already (then the SDK raises)
    video.index_spoken_words(force=True)
    assert any(e["path"].endswith("/index") for e in server.journal())
    with pytest.raises(videodb.InvalidRequestError, match="already exists"):
        video.index_spoken_words()
