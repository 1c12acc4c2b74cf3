"""Transcripts, spoken-word indexes, search (legacy and V2) and scene indexes through the
official ``videodb`` SDK (0.5.1), unchanged, against the local server.

Streams made from search results are decoded with FFmpeg and must last what was asked
(HLS cuts at segment boundaries, so up to a segment more at each edge of each shot).
"""

from __future__ import annotations

import re
import webbrowser
from pathlib import Path

import pytest
from search_support import COLOUR_WORDS, demo_file, make_colour_video, unique_name

from videodb_local_server.media import hls

videodb = pytest.importorskip("videodb")
from videodb import IndexType, SceneExtractionType, SearchType, Segmenter  # noqa: E402
from videodb._utils._video import PLAYER_URL  # noqa: E402
from videodb.exceptions import InvalidRequestError  # noqa: E402
from videodb.search import SearchResponse, SearchResult  # noqa: E402

pytestmark = pytest.mark.sdk

#: Frame rates of the media used here: the demo videos and the colour video.
DEMO_FPS, COLOUR_FPS = 15, 10
#: Longest HLS segment the server cuts (s): a shot may gain up to this at each edge.
SEGMENT_SLACK = 2.5


@pytest.fixture
def conn(server):
    # Jobs finish at once so the SDK's first poll is terminal (it sleeps 5 s between polls).
    server.configure(job_seconds=0)
    return videodb.connect(api_key=server.api_key, base_url=server.base_url)


@pytest.fixture
def talk(server, conn, tmp_path):
    """A fresh "Kitchen and Garden" (gardening, then baking) uploaded with its SRT sidecar."""
    coll = conn.get_collection()
    name = unique_name("sdk-talk")
    video = coll.upload(
        file_path=str(demo_file(server.data_dir, "kitchen*.mp4", tmp_path)), name=name
    )
    coll.upload(file_path=str(demo_file(server.data_dir, "kitchen*.srt", tmp_path)), name=name)
    return video


@pytest.fixture(scope="module")
def colour_source(tmp_path_factory) -> Path:
    return make_colour_video(tmp_path_factory.mktemp("sdk-colours") / "colours.mp4")


@pytest.fixture
def colours(conn, colour_source):
    return conn.get_collection().upload(file_path=str(colour_source), name=unique_name("sdk-col"))


def played_seconds(stream_url: str, fps: int) -> float:
    report = hls.decode(stream_url)
    assert report.errors == "", report.errors
    return report.video_frames / fps


def assert_lasts(stream_url: str, shots, fps: int) -> None:
    asked = sum(s.end - s.start for s in shots)
    seconds = played_seconds(stream_url, fps)
    assert asked - 0.2 <= seconds <= asked + 2 * SEGMENT_SLACK * len(shots), (asked, seconds)


# --------------------------------------------------------------------------- transcripts


def test_transcripts(server, conn, talk, tmp_path):
    words = talk.get_transcript()
    first = "In the garden this week, plant tulip bulbs before the first frost arrives."
    share = 5.5 * len("In ") / sum(len(w) + 1 for w in first.split())  # its part of the cue
    assert words[0] == {"start": 0.25, "end": pytest.approx(0.25 + share, abs=0.001), "text": "In"}
    assert all(w["start"] < w["end"] for w in words)
    sentences = talk.get_transcript(segmenter=Segmenter.sentence)
    assert len(sentences) == 10 and sentences[5]["text"].startswith("Time for baking")
    windows = talk.get_transcript(segmenter=Segmenter.time, length=30)
    assert [(w["start"], w["end"]) for w in windows] == [(0, 30), (30, 60)]
    assert talk.get_transcript_text(start=30, end=36) == (
        "Time for baking: today we make a loaf of sourdough bread."
    )
    assert talk.get_transcript_text().startswith("In the garden this week")
    assert talk.generate_transcript(force=True) == {
        "success": True,
        "message": "Transcript generated successfully",
    }

    silent = conn.get_collection().upload(
        file_path=str(demo_file(server.data_dir, "kitchen*.mp4", tmp_path)),
        name=unique_name("mute"),
    )
    with pytest.raises(InvalidRequestError, match="no transcript"):
        silent.get_transcript()
    with pytest.raises(InvalidRequestError, match="no transcript"):
        silent.generate_transcript()
    with pytest.raises(InvalidRequestError, match="language_code"):
        talk.generate_transcript(language_code="not a language")


# --------------------------------------------------------------------------- spoken-word index


def test_index_spoken_words_is_refused_twice_unless_forced(conn, talk):
    assert talk.index_spoken_words(language_code="en", segmentation_type="sentence") is None
    with pytest.raises(
        InvalidRequestError, match=f"Spoken word index for video {talk.id} already exists"
    ):
        talk.index_spoken_words()
    talk.index_spoken_words(force=True)
    with pytest.raises(InvalidRequestError, match="segmentation_type"):
        talk.index_spoken_words(segmentation_type="paragraph", force=True)


# --------------------------------------------------------------------------- legacy search


def test_legacy_search_video_and_collection(conn, talk):
    with pytest.raises(InvalidRequestError, match="not found"):
        talk.search("sourdough", search_type=SearchType.semantic)  # not indexed yet
    talk.index_spoken_words()

    result = talk.search("sourdough bread", search_type=SearchType.semantic)
    assert isinstance(result, SearchResult)
    shots = result.get_shots()
    assert shots and "sourdough" in shots[0].text and shots[0].video_id == talk.id
    assert shots[0].video_title == talk.name and 0.2 <= shots[0].search_score <= 1
    assert_lasts(result.compile(), shots, DEMO_FPS)
    assert_lasts(shots[0].generate_stream(), shots[:1], DEMO_FPS)

    keyword = talk.search("dough", search_type=SearchType.keyword)
    assert keyword.get_shots() and all("dough" in s.text for s in keyword.get_shots())
    with pytest.raises(InvalidRequestError, match="No results found"):
        talk.search("zygomorphic", search_type=SearchType.keyword)

    legacy = talk.legacy_search("frost", result_threshold=1, score_threshold=0.1)
    assert len(legacy) == 1 and "frost" in legacy[0].text

    in_collection = conn.get_collection().search("sourdough", search_type=SearchType.semantic)
    assert isinstance(in_collection, SearchResult)
    assert talk.id in {s.video_id for s in in_collection}


# --------------------------------------------------------------------------- Search V2


def test_search_v2_compiles_plays_and_embeds(conn, talk):
    empty = talk.search("sourdough")
    assert isinstance(empty, SearchResponse) and len(empty) == 0
    assert empty.warnings and empty.warnings[0]["code"] == "not_indexed"
    talk.index_spoken_words()

    response = talk.search("sourdough bread", top_k=2, mode="default")
    assert isinstance(response, SearchResponse) and response.response_type == "shots"
    assert response.session_id and 1 <= len(response) <= 2
    assert "sourdough" in response.shots[0].text
    stream_url = response.compile()
    assert_lasts(stream_url, response.shots, DEMO_FPS)
    assert "/embed?" in response.get_embed_code()
    # play() compiles, then opens the SDK's player page on the stream: a browser command that
    # does nothing stands in for the browser
    webbrowser.register("twin-noop", None, webbrowser.GenericBrowser("true"), preferred=True)
    again = talk.search("sourdough bread", top_k=2)
    assert again.results.stream_url is None
    assert again.play() == f"{PLAYER_URL}?url={stream_url}"  # same shots, same stream
    assert again.results.stream_url == stream_url

    clipped = talk.search("oven crust", include_clip=True, session_id=response.session_id)
    assert clipped.session_id == response.session_id
    shot = clipped.shots[0]
    assert shot.stream_url and "oven" in shot.text
    assert_lasts(shot.stream_url, [shot], DEMO_FPS)

    in_collection = conn.get_collection().search("sourdough")
    assert talk.id in {s.video_id for s in in_collection.shots}


# --------------------------------------------------------------------------- scene indexes


def test_scene_indexes_find_and_search_real_colours(conn, colours):
    sid = colours.index_scenes(
        extraction_type=SceneExtractionType.shot_based,
        extraction_config={"threshold": 20, "frame_count": 1},
        prompt="Describe the scene",
        name="shots",
    )
    assert re.fullmatch(r"[0-9a-f]{16}", sid)
    assert colours.list_scene_index() == [
        {"scene_index_id": sid, "name": "shots", "status": "done"}
    ]
    records = colours.get_scene_index(sid)
    assert [r["description"] for r in records] == [
        f"a {COLOUR_WORDS[c]} scene" for c in ("red", "blue", "white")
    ]
    assert [round(r["start"]) for r in records] == [0, 4, 8]

    red = colours.search("red", index_type=IndexType.scene, scene_index_id=sid)
    (shot,) = red.get_shots()
    assert (shot.start, round(shot.end)) == (0, 4) and shot.scene_index_id == sid
    assert shot.scene_index_name == "shots"
    assert_lasts(red.compile(), [shot], COLOUR_FPS)
    blue = colours.search("blue", search_type="scene", scene_index_id=sid)
    assert [round(s.start) for s in blue] == [4]
    v2 = colours.search("white")
    assert [round(s.start) for s in v2.shots] == [8]

    with pytest.raises(InvalidRequestError, match="already exists") as refused:
        colours.index_scenes(extraction_type=SceneExtractionType.time_based, name="shots")
    # how users recover the existing id from the message (the service's own shape)
    assert re.search(r"id\s+([a-f0-9]+)", str(refused.value)).group(1) == sid

    windows = colours.index_visuals(batch_config={"type": "time", "value": 6, "frame_count": 1})
    assert len(colours.get_scene_index(windows)) == 2
    default = colours.index_visuals(name="default windows")
    assert len(colours.get_scene_index(default)) == 2  # 10 s windows over 12 s

    colours.delete_scene_index(sid)
    assert sid not in {i["scene_index_id"] for i in colours.list_scene_index()}
    with pytest.raises(InvalidRequestError, match="not found"):
        colours.get_scene_index(sid)


def test_index_audio_makes_transcript_scenes(conn, talk):
    sid = talk.index_audio(batch_config={"type": "sentence", "value": 5}, name="audio")
    records = talk.get_scene_index(sid)
    assert len(records) == 2 and "sourdough" in records[1]["description"]
    shots = talk.search("sourdough", index_type=IndexType.scene, scene_index_id=sid).get_shots()
    assert [round(s.start) for s in shots] == [30]
