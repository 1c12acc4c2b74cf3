"""Transcripts, the spoken-word index state, search (legacy and V2) and scene indexes of the
local server, spoken to with plain ``requests``.

Every test that needs a fresh index state uploads its own copy of a demo video (with its SRT
sidecar), so the order the suite runs in does not matter.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import pytest
import requests
from search_support import COLOUR_WORDS, demo_file, make_colour_video, unique_name, upload

from videodb_local_server.media import hls

ERROR_KEYS = {"success", "message", "error_code"}


def error_of(resp: requests.Response, status: int, code: str, *words: str) -> str:
    """The message of an error answer, checked: status, envelope, code and the words."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == ERROR_KEYS and body["success"] is False
    assert body["error_code"] == code, body
    for word in words:
        assert word in body["message"], body
    return str(body["message"])


def data_of(resp: requests.Response) -> dict:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["success"] is True
    return dict(body["data"])


def finished(api: requests.Session, start: requests.Response) -> dict:
    """The terminal answer of the job ``start`` began (jobs take 0 s in these tests)."""
    data = data_of(start)
    assert set(data) == {"id", "output_url"}
    return dict(api.get(data["output_url"]).json())


@pytest.fixture
def talk(server, api, tmp_path) -> dict:
    """A fresh copy of the "Kitchen and Garden" demo (gardening, then baking) with its SRT."""
    server.configure(job_seconds=0)
    name = unique_name("talk")
    video = upload(server.base_url, api, demo_file(server.data_dir, "kitchen*.mp4", tmp_path), name)
    subtitle = upload(
        server.base_url, api, demo_file(server.data_dir, "kitchen*.srt", tmp_path), name
    )
    assert subtitle["video_id"] == video["id"]
    return video


@pytest.fixture
def silent(server, api, tmp_path) -> dict:
    """A fresh video with no transcript."""
    server.configure(job_seconds=0)
    src = demo_file(server.data_dir, "kitchen*.mp4", tmp_path)
    return upload(server.base_url, api, src, unique_name("silent"))


@pytest.fixture(scope="module")
def colour_source(tmp_path_factory) -> Path:
    return make_colour_video(tmp_path_factory.mktemp("colours") / "colours.mp4")


@pytest.fixture
def colours(server, api, colour_source) -> dict:
    server.configure(job_seconds=0)
    return upload(server.base_url, api, colour_source, unique_name("colours"))


def index_spoken(server, api, video: dict, **body) -> dict:
    url = f"{server.base_url}/video/{video['id']}/index"
    return finished(api, api.post(url, json={"index_type": "spoken_word", **body}))


# --------------------------------------------------------------------------- transcripts


def test_transcript_words_sentences_and_time_windows(server, api, talk):
    url = f"{server.base_url}/video/{talk['id']}/transcription"
    sentences = data_of(api.get(url, params={"segmenter": "sentence"}))["word_timestamps"]
    assert len(sentences) == 10
    first = sentences[0]
    assert first["text"].startswith("In the garden this week")
    assert first["start"] == pytest.approx(0.25) and first["end"] == pytest.approx(5.75)

    words = data_of(api.get(url, params={"segmenter": "word", "length": 1, "force": "false"}))
    first_words = [w for w in words["word_timestamps"] if w["end"] <= first["end"]]
    assert " ".join(w["text"] for w in first_words) == first["text"]
    assert first_words[0]["start"] == pytest.approx(first["start"])
    assert first_words[-1]["end"] == pytest.approx(first["end"])
    assert all(a["end"] == pytest.approx(b["start"]) for a, b in pairwise(first_words))
    assert words["text"] == " ".join(s["text"] for s in sentences)

    part = data_of(api.get(url, params={"start": 30, "end": 36}))
    assert part["text"] == "Time for baking: today we make a loaf of sourdough bread."
    assert all(30 <= w["start"] < 36 for w in part["word_timestamps"])

    windows = data_of(api.get(url, params={"segmenter": "time", "length": 15}))["word_timestamps"]
    assert [(w["start"], w["end"]) for w in windows] == [(0, 15), (15, 30), (30, 45), (45, 60)]
    assert "sourdough" in windows[2]["text"] and "sourdough" not in windows[1]["text"]


def test_transcript_refuses_bad_queries_and_explains_a_missing_transcript(server, api, silent):
    url = f"{server.base_url}/video/{silent['id']}/transcription"
    error_of(api.get(url), 400, "no_transcript", silent["id"], "speech recognition")
    error_of(api.get(url, params={"segmenter": "paragraph"}), 400, "invalid_request", "segmenter")
    error_of(api.get(url, params={"start": 10, "end": 5}), 400, "invalid_request", "start")
    error_of(api.get(url, params={"start": "soon"}), 400, "invalid_request", "start", "soon")
    error_of(api.get(url, params={"length": "-2"}), 400, "invalid_request", "length")
    error_of(api.get(url, params={"force": "maybe"}), 400, "invalid_request", "force")
    error_of(api.get(f"{server.base_url}/video/m-00/transcription"), 404, "not_found")


def test_generate_transcript_is_a_job(server, api, talk, silent):
    done = finished(
        api, api.post(f"{server.base_url}/video/{talk['id']}/transcription", json={"force": True})
    )
    assert done["success"] is True and done["status"] == "done"
    assert done["data"]["text"].startswith("In the garden")
    assert done["data"]["word_timestamps"][0]["text"] == "In"

    failed = finished(api, api.post(f"{server.base_url}/video/{silent['id']}/transcription"))
    assert failed["success"] is False and failed["status"] == "failed"
    assert failed["error_code"] == "no_transcript"

    bad = api.post(
        f"{server.base_url}/video/{talk['id']}/transcription", json={"language_code": "english!"}
    )
    error_of(bad, 400, "invalid_request", "language_code", "english!")


# --------------------------------------------------------------------------- spoken-word index


def test_index_is_a_state_refused_twice_unless_forced(server, api, talk):
    url = f"{server.base_url}/video/{talk['id']}/index"
    body = {"index_type": "spoken_word", "language_code": "en_us", "segmentation_type": "sentence"}
    first = data_of(api.post(url, json={**body, "force": False, "callback_url": None}))
    done = api.get(first["output_url"]).json()
    assert done["status"] == "done" and done["data"]["cues"] == 10
    again = api.post(url, json={**body, "force": False})
    assert again.status_code == 400
    assert again.json() == {
        "success": False,
        "message": f"Spoken word index for video {talk['id']} already exists",
        "error_code": "already_indexed",
    }
    forced = data_of(api.post(url, json={**body, "force": True}))
    assert forced["id"] != first["id"]
    assert api.get(forced["output_url"]).json()["status"] == "done"


def test_a_running_index_job_is_returned_not_duplicated(server, api, talk):
    server.configure(job_seconds=30)
    url = f"{server.base_url}/video/{talk['id']}/index"
    one = data_of(api.post(url, json={"index_type": "spoken_word"}))
    two = data_of(api.post(url, json={"index_type": "spoken_word", "force": True}))
    assert two == one
    assert api.get(one["output_url"]).json()["status"] in ("processing", "in progress")
    # still running: the video is not indexed yet
    search = api.post(f"{server.base_url}/video/{talk['id']}/search", json={"query": "bread"})
    error_of(search, 400, "not_indexed", talk["id"])


def test_index_refuses_bad_fields_before_anything_changes(server, api, talk):
    url = f"{server.base_url}/video/{talk['id']}/index"
    for body, field in (
        ({"language_code": "english please"}, "language_code"),
        ({"language_code": 7}, "language_code"),
        ({"segmentation_type": "paragraph"}, "segmentation_type"),
        ({"force": "yes"}, "force"),
    ):
        error_of(
            api.post(url, json={"index_type": "spoken_word", **body}), 400, "invalid_request", field
        )
    search = api.post(f"{server.base_url}/video/{talk['id']}/search", json={"query": "bread"})
    error_of(search, 400, "not_indexed")


def test_a_video_without_transcript_stays_unindexed(server, api, silent):
    failed = index_spoken(server, api, silent)
    assert failed["status"] == "failed" and failed["error_code"] == "no_transcript"
    search = api.post(f"{server.base_url}/video/{silent['id']}/search", json={"query": "bread"})
    error_of(search, 400, "not_indexed")


def test_the_index_survives_a_restart(server, api, talk):
    index_spoken(server, api, talk)
    server.restart()
    search = api.post(f"{server.base_url}/video/{talk['id']}/search", json={"query": "sourdough"})
    assert data_of(search)["results"][0]["docs"]
    again = api.post(f"{server.base_url}/video/{talk['id']}/index", json={})
    error_of(again, 400, "already_indexed")


# --------------------------------------------------------------------------- legacy search


def test_semantic_search_ranks_the_spoken_words(server, api, talk):
    index_spoken(server, api, talk)
    url = f"{server.base_url}/video/{talk['id']}/search"
    body = {
        "search_type": "semantic",
        "index_type": "spoken_word",
        "query": "sourdough bread",
        "score_threshold": 0.2,
        "result_threshold": 5,
        "dynamic_score_percentage": None,
        "filter": [],
    }
    results = data_of(api.post(url, json=body))["results"]
    assert len(results) == 1
    entry = results[0]
    assert set(entry) == {"video_id", "collection_id", "length", "title", "docs"}
    assert entry["video_id"] == talk["id"] and entry["title"] == talk["name"]
    assert entry["collection_id"] == "default" and entry["length"] == pytest.approx(60, abs=1)
    best = entry["docs"][0]
    assert set(best) == {"start", "end", "text", "score"}
    assert "sourdough" in best["text"] and 30 <= best["start"] < best["end"] <= 60
    scores = [d["score"] for d in entry["docs"]]
    assert scores == sorted(scores, reverse=True) and all(0.2 <= s <= 1 for s in scores)

    one = data_of(api.post(url, json={**body, "query": "dough", "result_threshold": 1}))
    assert len(one["results"][0]["docs"]) == 1
    by_start = data_of(
        api.post(url, json={**body, "query": "dough bread", "sort_docs_on": "start"})
    )
    starts = [d["start"] for d in by_start["results"][0]["docs"]]
    assert starts == sorted(starts)
    strict = data_of(
        api.post(
            url,
            json={
                **body,
                "query": "dough bread frost",
                "score_threshold": 0,
                "dynamic_score_percentage": 0,
            },
        )
    )
    top = [d["score"] for d in strict["results"][0]["docs"]]
    assert top and all(s == top[0] for s in top)
    # a threshold of 0 still only finds cues that share a word with the query
    loose = {**body, "query": "frost", "score_threshold": 0, "result_threshold": 100}
    docs = data_of(api.post(url, json=loose))["results"][0]["docs"]
    assert docs and all("frost" in d["text"] and d["score"] > 0 for d in docs)

    error_of(
        api.post(url, json={**body, "query": "zygomorphic quasar"}),
        400,
        "no_results",
        "No results found",
    )


def test_keyword_search_matches_exact_words_only(server, api, talk):
    index_spoken(server, api, talk)
    url = f"{server.base_url}/video/{talk['id']}/search"
    hits = data_of(api.post(url, json={"search_type": "keyword", "query": "dough"}))
    docs = hits["results"][0]["docs"]
    assert docs and all("dough" in d["text"].lower().replace(",", " ").split() for d in docs)
    # "rise" is in the transcript, "rises" is not: keyword search does not stem
    assert data_of(api.post(url, json={"search_type": "keyword", "query": "rise"}))["results"]
    error_of(api.post(url, json={"search_type": "keyword", "query": "rises"}), 400, "no_results")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": None}, "query"),
        ({"search_type": "fuzzy"}, "search_type"),
        ({"index_type": "faces"}, "index_type"),
        ({"score_threshold": 2}, "score_threshold"),
        ({"score_threshold": "high"}, "score_threshold"),
        ({"result_threshold": 0}, "result_threshold"),
        ({"result_threshold": 2.5}, "result_threshold"),
        ({"dynamic_score_percentage": 101}, "dynamic_score_percentage"),
        ({"filter": "all"}, "filter"),
        ({"scene_index_id": "../x"}, "scene_index_id"),
        ({"sort_docs_on": "length"}, "sort_docs_on"),
    ],
)
def test_search_refuses_bad_fields_naming_them(server, api, change, field):
    vid = server.video_ids()[0]
    body = {"search_type": "semantic", "index_type": "spoken_word", "query": "weather", **change}
    for url in (
        f"{server.base_url}/video/{vid}/search",
        f"{server.base_url}/collection/default/search",
    ):
        error_of(api.post(url, json=body), 400, "invalid_request", field)


def test_collection_search_covers_its_indexed_videos(server, api, talk, tmp_path):
    twin = upload(
        server.base_url,
        api,
        demo_file(server.data_dir, "kitchen*.mp4", tmp_path),
        unique_name("twin"),
    )
    upload(server.base_url, api, demo_file(server.data_dir, "kitchen*.srt", tmp_path), twin["name"])
    index_spoken(server, api, talk)  # the twin has the same words but no index
    url = f"{server.base_url}/collection/default/search"
    results = data_of(api.post(url, json={"query": "sourdough", "search_type": "semantic"}))[
        "results"
    ]
    ids = [r["video_id"] for r in results]
    assert talk["id"] in ids and twin["id"] not in ids
    assert all(r["docs"] for r in results)
    error_of(
        api.post(f"{server.base_url}/collection/c-none/search", json={"query": "x"}),
        404,
        "not_found",
    )


# --------------------------------------------------------------------------- Search V2


def test_search_v2_answers_shots_with_playable_clips(server, api, talk):
    url = f"{server.base_url}/video/{talk['id']}/search/v2"
    empty = data_of(api.post(url, json={"query": "sourdough"}))
    assert empty["response_type"] == "shots" and empty["results"] == []
    assert empty["warnings"][0]["code"] == "not_indexed"

    index_spoken(server, api, talk)
    answer = data_of(
        api.post(
            url,
            json={
                "query": "sourdough bread",
                "top_k": 1,
                "include_clip": True,
                "session_id": "sess-1",
                "mode": "default",
            },
        )
    )
    assert answer["session_id"] == "sess-1" and answer["warnings"] == []
    (entry,) = answer["results"]
    (doc,) = entry["docs"]
    assert "sourdough" in doc["text"]
    report = hls.decode(doc["stream_url"])
    assert report.errors == ""
    seconds = report.video_frames / 15  # the demo is 15 fps
    assert doc["end"] - doc["start"] <= seconds <= doc["end"] - doc["start"] + 4.5

    nothing = data_of(api.post(url, json={"query": "zygomorphic quasar"}))
    assert nothing["results"] == [] and nothing["warnings"] == []
    error_of(api.post(url, json={"query": "x", "top_k": 0}), 400, "invalid_request", "top_k")
    error_of(api.post(url, json={"query": "x", "config": []}), 400, "invalid_request", "config")
    error_of(api.post(url, json={"top_k": 3}), 400, "invalid_request", "query")

    coll = data_of(
        api.post(f"{server.base_url}/collection/default/search/v2", json={"query": "sourdough"})
    )
    assert talk["id"] in [r["video_id"] for r in coll["results"]]


# --------------------------------------------------------------------------- scene indexes


def scene_index(server, api, video: dict, **body) -> requests.Response:
    return api.post(f"{server.base_url}/video/{video['id']}/index/scene", json=body)


def records_of(server, api, video: dict, sid: str) -> list[dict]:
    got = data_of(api.get(f"{server.base_url}/video/{video['id']}/index/scene/{sid}"))
    assert got["scene_index_id"] == sid and got["status"] == "done"
    return list(got["scene_index_records"])


def test_shot_detection_finds_the_real_colour_changes(server, api, colours):
    done = finished(
        api,
        scene_index(
            server,
            api,
            colours,
            extraction_type="shot",
            extraction_config={"threshold": 20, "frame_count": 2},
        ),
    )
    assert done["status"] == "done"
    sid = done["data"]["scene_index_id"]
    records = records_of(server, api, colours, sid)
    spans = [(r["start"], r["end"]) for r in records]
    assert spans == [
        (0, pytest.approx(4, abs=0.15)),
        (pytest.approx(4, abs=0.15), pytest.approx(8, abs=0.15)),
        (pytest.approx(8, abs=0.15), pytest.approx(12, abs=0.15)),
    ]
    assert [r["description"] for r in records] == [
        f"a {COLOUR_WORDS[c]} scene" for c in ("red", "blue", "white")
    ]
    assert all(len(r["frames"]) == 2 for r in records)

    url = f"{server.base_url}/video/{colours['id']}/search"
    hits = data_of(
        api.post(url, json={"query": "red", "index_type": "scene", "scene_index_id": sid})
    )
    (doc,) = hits["results"][0]["docs"]
    assert doc["start"] == 0 and doc["end"] == pytest.approx(4, abs=0.15)
    assert doc["scene_index_id"] == sid and "red" in doc["text"]
    blue = data_of(api.post(url, json={"query": "blue", "search_type": "scene"}))["results"][0][
        "docs"
    ]
    assert [d["start"] for d in blue] == [pytest.approx(4, abs=0.15)]


def test_time_windows_with_chosen_frames(server, api, colours):
    done = finished(
        api,
        scene_index(
            server,
            api,
            colours,
            extraction_type="time",
            name="windows",
            extraction_config={"time": 2, "select_frames": ["first", "last"]},
        ),
    )
    records = records_of(server, api, colours, done["data"]["scene_index_id"])
    assert [(r["start"], r["end"]) for r in records] == [(n, n + 2) for n in range(0, 12, 2)]
    assert [len(r["frames"]) for r in records] == [2] * 6
    assert [r["description"] for r in records] == [
        f"a {COLOUR_WORDS[c]} scene" for c in ("red", "red", "blue", "blue", "white", "white")
    ]


def test_scene_index_list_get_delete_and_same_name(server, api, colours):
    url = f"{server.base_url}/video/{colours['id']}/index/scene"
    first = finished(
        api,
        scene_index(
            server, api, colours, extraction_type="time", name="look", extraction_config={"time": 6}
        ),
    )
    sid = first["data"]["scene_index_id"]
    assert len(sid) == 16 and int(sid, 16) >= 0  # the SDKs' shape: 16 hex characters
    same = scene_index(server, api, colours, extraction_type="shot", name="look")
    error_of(same, 400, "scene_index_exists", f"Scene index with id {sid} already exists")
    unnamed = {"extraction_type": "time", "extraction_config": {"time": 4}}
    other = finished(api, scene_index(server, api, colours, **unnamed))["data"]["scene_index_id"]
    error_of(scene_index(server, api, colours, **unnamed), 400, "scene_index_exists", other)

    listed = data_of(api.get(url, params={"collection_id": "default"}))["scene_indexes"]
    assert listed == [
        {"scene_index_id": sid, "name": "look", "status": "done"},
        {"scene_index_id": other, "name": None, "status": "done"},
    ]
    assert data_of(api.delete(f"{url}/{sid}"))["scene_index_id"] == sid
    error_of(api.get(f"{url}/{sid}"), 404, "not_found")
    error_of(api.delete(f"{url}/{sid}"), 404, "not_found")
    assert [i["scene_index_id"] for i in data_of(api.get(url))["scene_indexes"]] == [other]
    # the name is free again
    assert (
        finished(api, scene_index(server, api, colours, extraction_type="time", name="look"))[
            "status"
        ]
        == "done"
    )


def test_scene_index_is_processing_until_its_job_ends(server, api, colours):
    server.configure(job_seconds=30)
    start = data_of(scene_index(server, api, colours, extraction_type="time", name="slow"))
    listed = data_of(api.get(f"{server.base_url}/video/{colours['id']}/index/scene"))[
        "scene_indexes"
    ]
    (slow,) = [i for i in listed if i["name"] == "slow"]
    assert slow["status"] == "processing"
    got = data_of(
        api.get(f"{server.base_url}/video/{colours['id']}/index/scene/{slow['scene_index_id']}")
    )
    assert got["scene_index_records"] == []
    assert api.get(start["output_url"]).json()["status"] in ("processing", "in progress")
    search = api.post(
        f"{server.base_url}/video/{colours['id']}/search",
        json={"query": "red", "index_type": "scene", "scene_index_id": slow["scene_index_id"]},
    )
    error_of(search, 400, "not_indexed", "not ready")


def test_given_scenes_and_transcript_scenes_are_searchable(server, api, talk):
    given = [
        {
            "id": None,
            "video_id": talk["id"],
            "start": 0,
            "end": 10,
            "frames": [],
            "description": "a gardener kneels by the tulips",
            "metadata": {"camera": "a"},
        },
        {
            "id": None,
            "video_id": talk["id"],
            "start": 30,
            "end": 40,
            "frames": [],
            "description": "a loaf comes out of the oven",
            "metadata": {},
        },
    ]
    done = finished(api, scene_index(server, api, talk, scenes=given, name="mine"))
    sid = done["data"]["scene_index_id"]
    url = f"{server.base_url}/video/{talk['id']}/search"
    hit = data_of(
        api.post(url, json={"query": "tulips", "index_type": "scene", "scene_index_id": sid})
    )
    (doc,) = hit["results"][0]["docs"]
    assert (doc["start"], doc["end"], doc["metadata"]) == (0, 10, {"camera": "a"})

    spoken = finished(
        api,
        scene_index(
            server,
            api,
            talk,
            extraction_type="transcript",
            name="audio",
            extraction_config={"segmenter": "sentence", "segmentation_value": 5},
        ),
    )
    records = records_of(server, api, talk, spoken["data"]["scene_index_id"])
    assert [(r["start"], r["end"]) for r in records] == [(0.25, 29.75), (30.25, 59.75)]
    assert "sourdough" in records[1]["description"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"extraction_type": "faces"}, "extraction_type"),
        ({"extraction_type": "shot", "extraction_config": {"threshold": 150}}, "threshold"),
        ({"extraction_type": "shot", "extraction_config": {"frame_count": 0}}, "frame_count"),
        ({"extraction_type": "time", "extraction_config": {"time": 0}}, "time"),
        (
            {"extraction_type": "time", "extraction_config": {"select_frames": ["best"]}},
            "select_frames",
        ),
        ({"extraction_config": "fast"}, "extraction_config"),
        ({"name": 5}, "name"),
        ({"scenes": [{"start": 5, "end": 2, "description": "x"}]}, "scenes[0]"),
        ({"scenes": [{"start": 0, "end": 999, "description": "x"}]}, "scenes[0].end"),
        ({"metadata": []}, "metadata"),
        ({"callback_url": "http://example.invalid/hook"}, "callback_url"),
    ],
)
def test_scene_index_refuses_bad_fields_naming_them(server, api, colours, body, field):
    error_of(scene_index(server, api, colours, **body), 400, "invalid_request", field)
    listed = data_of(api.get(f"{server.base_url}/video/{colours['id']}/index/scene"))
    assert listed["scene_indexes"] == []


def test_the_same_scene_index_sent_twice_at_once_is_made_once(server, api, colours):
    body = {"extraction_type": "shot", "name": "race"}
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: scene_index(server, api, colours, **body), range(2)))
    assert sorted(a.status_code for a in answers) == [200, 400]
    listed = data_of(api.get(f"{server.base_url}/video/{colours['id']}/index/scene"))
    assert [i["name"] for i in listed["scene_indexes"]] == ["race"]
