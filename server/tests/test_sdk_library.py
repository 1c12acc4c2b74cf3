"""The library calls through the official ``videodb`` SDK (0.5.1), unchanged: uploads from
URLs, audio and images, collections, deletion, thumbnails and the embeddable player URL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from library_support import callback_receiver, demo_copy, file_server, make_audio, make_image

from videodb_local_server.media import assets, hls
from videodb_local_server.media.demo import FPS

videodb = pytest.importorskip("videodb")

pytestmark = pytest.mark.sdk

FRAME = 1.0 / FPS


@pytest.fixture
def conn(server):
    # Jobs end with their work (the SDK's first poll may still see a running fetch: it then
    # sleeps its 5 s once).
    server.configure(job_seconds=0)
    return videodb.connect(api_key=server.api_key, base_url=server.base_url)


def decoded_seconds(url: str) -> float:
    report = hls.decode(url)
    assert report.errors == ""
    return report.video_frames * FRAME


def covered_seconds(playlist_url: str) -> float:
    text = requests.get(playlist_url, timeout=30).text
    return sum(float(d) for d in re.findall(r"#EXTINF:([\d.]+)", text))


def test_upload_from_a_url_makes_a_video_whose_streams_play(server, conn, tmp_path):
    mp4 = demo_copy(server, tmp_path / "science.mp4")
    coll = conn.get_collection()
    with file_server({"science.mp4": mp4}) as files:
        video = coll.upload(url=files.url("science.mp4"), name="sdk-from-url")
        assert isinstance(video, videodb.video.Video)
        again = coll.upload(url=files.url("science.mp4"), name="sdk-from-url")
        assert again.id == video.id  # the same registration: the same video
        assert files.hits == ["/science.mp4"]
    try:
        assert video.name == "sdk-from-url" and video.length == pytest.approx(60.0, abs=1.0)
        assert coll.get_video(video.id).length == pytest.approx(video.length)
        whole = video.generate_stream()
        assert decoded_seconds(whole) == pytest.approx(video.length, abs=2 * FRAME)
        part = video.generate_stream(timeline=[(4, 10), (30, 34)])
        covered = covered_seconds(part)
        assert 10 <= covered <= 10 + 4 * 2.0  # snapped outward to 2 s segments at each edge
        assert decoded_seconds(part) == pytest.approx(covered, abs=2 * FRAME + 1e-6)
    finally:
        video.delete()


def test_upload_from_a_url_with_a_callback(server, conn, tmp_path):
    mp4 = demo_copy(server, tmp_path / "kitchen.mp4", "kitchen*.mp4")
    with callback_receiver() as receiver, file_server({"k.mp4": mp4}) as files:
        video = conn.get_collection().upload(url=files.url("k.mp4"), callback_url=receiver.url)
        assert isinstance(video, videodb.video.Video)  # the SDK still gets the video
        delivered = receiver.wait()
    assert delivered["status"] == "done" and delivered["data"]["id"] == video.id
    video.delete()


def test_upload_url_failure_is_an_sdk_error(server, conn, tmp_path):
    with file_server({}) as files, pytest.raises(videodb.InvalidRequestError, match="404"):
        conn.get_collection().upload(url=files.url("missing.mp4"), name="sdk-missing")
    with pytest.raises(videodb.InvalidRequestError, match="loopback"):
        conn.get_collection().upload(url="http://192.0.2.1/v.mp4")


def test_audio_through_the_sdk(server, conn, tmp_path):
    coll = conn.get_collection()
    mp3 = make_audio(tmp_path / "sdk-tone.mp3", seconds=2.5)
    audio = coll.upload(file_path=str(mp3), media_type="audio")
    assert isinstance(audio, videodb.audio.Audio)
    assert audio.id.startswith("a-") and audio.name == "sdk-tone"
    assert audio.length == pytest.approx(2.5, abs=0.1)
    fetched = coll.get_audio(audio.id)
    assert (fetched.id, fetched.name, fetched.length) == (audio.id, audio.name, audio.length)
    assert audio.id in [a.id for a in coll.get_audios()]
    assert requests.get(audio.generate_url()).content == mp3.read_bytes()
    audio.delete()
    with pytest.raises(videodb.InvalidRequestError):
        coll.get_audio(audio.id)
    with pytest.raises(videodb.InvalidRequestError):
        coll.delete_audio(audio.id)


def test_images_through_the_sdk(server, conn, tmp_path):
    coll = conn.get_collection()
    png = make_image(tmp_path / "sdk-card.png")
    image = coll.upload(file_path=str(png), media_type="image")
    assert isinstance(image, videodb.image.Image) and image.id.startswith("img-")
    assert requests.get(image.url).content == png.read_bytes()
    assert coll.get_image(image.id).url == image.url
    assert image.id in [i.id for i in coll.get_images()]
    assert image.generate_url() == image.url
    coll.delete_image(image.id)
    with pytest.raises(videodb.InvalidRequestError):
        coll.get_image(image.id)
    with pytest.raises(videodb.InvalidRequestError, match="media_type"):
        coll.upload(file_path=str(png), media_type="audio")


def test_collections_through_the_sdk(server, conn):
    made = conn.create_collection("SDK clips", "made by the SDK", is_public=True)
    try:
        assert made.id.startswith("c-") and made.is_public is True
        changed = conn.update_collection(made.id, "SDK clips 2", "changed")
        assert changed.id == made.id
        assert (changed.name, changed.description) == ("SDK clips 2", "changed")
        assert [c.id for c in conn.get_collections()] == ["default", made.id]
        assert conn.get_collection(made.id).name == "SDK clips 2"
        with pytest.raises(videodb.InvalidRequestError, match="name"):
            conn.create_collection("", "no name")
    finally:
        made.delete()
    assert [c.id for c in conn.get_collections()] == ["default"]
    with pytest.raises(videodb.InvalidRequestError):
        conn.get_collection(made.id)
    with pytest.raises(videodb.InvalidRequestError, match="default"):
        conn.get_collection("default").delete()


def test_deleting_a_video_stops_its_streams(server, conn, tmp_path):
    coll = conn.get_collection()
    video = coll.upload(file_path=str(demo_copy(server, tmp_path / "sdk-doomed.mp4")))
    whole = video.generate_stream()
    part = video.generate_stream(timeline=[(0, 4)])
    assert requests.get(whole).status_code == 200 and requests.get(part).status_code == 200
    video.delete()
    assert requests.get(whole).status_code == 404 and requests.get(part).status_code == 404
    with pytest.raises(videodb.InvalidRequestError):
        coll.get_video(video.id)
    with pytest.raises(videodb.InvalidRequestError):
        coll.delete_video(video.id)


def test_thumbnails_through_the_sdk(server, conn, tmp_path):
    video = next(v for v in conn.get_collection().get_videos() if v.name == "Science Desk")
    assert video.thumbnail_url  # in the video object already: the SDK returns it as is
    video.thumbnail_url = None
    url = video.generate_thumbnail()  # GET /video/{id}/thumbnail
    assert isinstance(url, str) and url == conn.get_collection().get_video(video.id).thumbnail_url
    image = video.generate_thumbnail(time=12.5)  # POST: a frame cut at that second
    assert isinstance(image, videodb.image.Image) and image.id.startswith("img-")
    for n, picture_url in enumerate((url, image.url)):
        path = tmp_path / f"thumb-{n}.jpg"
        path.write_bytes(requests.get(picture_url).content)
        assert assets.check_image(path).width == 320  # a real picture of the video's size
    assert image.id in [i.id for i in video.get_thumbnails()]
    with pytest.raises(videodb.InvalidRequestError, match="time"):
        video.generate_thumbnail(time=video.length + 10)


def test_embed_code_opens_the_player(server, conn):
    video = next(v for v in conn.get_collection().get_videos() if v.name == "Science Desk")
    video.player_url = None
    code = video.get_embed_code()  # generates the stream; needs /watch?v=
    assert "/watch?v=" in video.player_url
    embed = re.search(r'src="([^"]+)"', code)
    assert embed is not None and "/embed?v=" in embed.group(1)
    page = requests.get(embed.group(1))
    assert page.status_code == 200 and video.stream_url in page.text
    assert Path(video.stream_url).suffix == ".m3u8"
