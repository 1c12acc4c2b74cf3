"""Prompt ranking over transcript cues (the twin's clip answers), on the demo transcript."""

from __future__ import annotations

import pytest

from videodb_local_server.media.demo import DEMO_SPECS, spec_cues
from videodb_local_server.media.ranking import TranscriptIndex, rank, stem, tokenize
from videodb_local_server.media.transcript import Cue

NEWS = DEMO_SPECS[0]
TOPIC = {t.title: (i * 30.0, (i + 1) * 30.0) for i, t in enumerate(NEWS.topics)}


@pytest.fixture(scope="module")
def index() -> TranscriptIndex:
    return TranscriptIndex(spec_cues(NEWS))


def inside(shot: dict, topic: str) -> bool:
    start, end = TOPIC[topic]
    return start <= float(shot["start"]) and float(shot["end"]) <= end


def test_the_part_about_the_weather_is_the_weather_segment(index: TranscriptIndex) -> None:
    shots = index.search("the part about the weather")
    assert shots, "no shot for the weather"
    best = shots[0]
    assert inside(best, "Weather")
    # The whole weather talk, as one shot, not just the sentences that say "weather".
    assert best["start"] == pytest.approx(0.25)
    assert best["end"] == pytest.approx(29.75)
    assert "forecast" in str(best["text"])
    assert all(inside(s, "Weather") for s in shots)


@pytest.mark.parametrize(
    ("prompt", "topic"),
    [
        ("football goals and the penalty", "Football"),
        ("how to cook tomato pasta sauce", "Cooking"),
        ("interest rates and stock markets", "Markets"),
        ("telescope launch into orbit", "Space"),
        ("orchestra concert", "Music"),
    ],
)
def test_each_topic_is_found(index: TranscriptIndex, prompt: str, topic: str) -> None:
    shots = index.search(prompt)
    assert shots and inside(shots[0], topic), shots


@pytest.mark.parametrize("prompt", ["elephants in the savannah", "the", "", "!!!"])
def test_unrelated_or_empty_prompt_yields_no_shots(index: TranscriptIndex, prompt: str) -> None:
    assert index.search(prompt) == []


def test_shots_are_dicts_with_scores_in_range_best_first(index: TranscriptIndex) -> None:
    shots = index.search("weather rain football goals")
    assert len(shots) >= 2
    assert all(set(s) == {"start", "end", "text", "score"} for s in shots)
    scores = [float(s["score"]) for s in shots]
    assert all(0.0 < s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert all(float(s["start"]) < float(s["end"]) for s in shots)


def test_partial_prompt_scores_lower_than_a_full_match(index: TranscriptIndex) -> None:
    full = index.search("weather forecast")[0]["score"]
    diluted = index.search("weather forecast zebra giraffe")
    assert not diluted or float(diluted[0]["score"]) < float(full)


def test_adjacent_matches_merge_but_distant_ones_do_not() -> None:
    cues = [
        Cue(0, 5, "rain today"),
        Cue(5, 10, "clouds later"),
        Cue(10, 15, "more rain tomorrow"),
        Cue(15, 20, "sports"),
        Cue(20, 25, "sports again"),
        Cue(25, 30, "and the cinema"),
        Cue(30, 35, "rain at the weekend"),
    ]
    shots = sorted(rank("rain", cues), key=lambda s: s["start"])
    assert [(s["start"], s["end"]) for s in shots] == [(0, 15), (30, 35)]
    assert shots[0]["text"] == "rain today clouds later more rain tomorrow"


def test_min_score_and_limit() -> None:
    index = TranscriptIndex(spec_cues(NEWS))
    assert len(index.search("weather football music", limit=1)) == 1
    assert index.search("weather", min_score=1.01) == []


def test_normalisation() -> None:
    assert tokenize("Show me the FORECASTS, forecasting & forecast!") == ["forecast"] * 3
    assert tokenize("Café") == ["caf"]
    assert stem("parties") == stem("party")
    assert stem("running") == "run"
    assert stem("classes") == stem("class")
    assert rank("weather", []) == []


def test_matches_of_different_prompt_terms_stay_separate_shots(index: TranscriptIndex) -> None:
    shots = index.search("weather rain football goals")
    assert any(inside(s, "Weather") for s in shots)
    assert any(inside(s, "Football") for s in shots)
    assert all(inside(s, "Weather") or inside(s, "Football") for s in shots)
