"""GenerateStreamOperator and ClipVideoOperator against the local VideoDB server.

The task context is a small stand-in (XCom pushes recorded, ``task_state_store`` a dict):
what the server does is real, what Airflow's task runner provides is not needed here. The
DAG-level runs (dag.test, mapping) live in the end-to-end suite and test_operators_dag.py.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

from airflow_provider_videodb.exceptions import (
    VideoDBError,
    VideoDBJobFailedError,
    VideoDBJobTimeoutError,
    VideoDBValidationError,
)
from airflow_provider_videodb.operators.videodb import (
    CLIP_JOB_STATE_KEY,
    ClipVideoOperator,
    GenerateStreamOperator,
)
from airflow_provider_videodb.polling import make_event
from airflow_provider_videodb.triggers.videodb import ClipJobTrigger
from tests.provider.operators.operator_support import (
    MemoryStateStore,
    clip_posts,
    make_context,
    requests_of,
    run_trigger,
)

PROMPT = "weather forecast"
NO_MATCH = "zzqx blorf"


@pytest.fixture
def videos(server, api) -> dict[str, dict]:
    listing = api.get(f"{server.base_url}/video", params={"collection_id": "default"}).json()
    server.clear_journal()  # tests count only their own requests
    return {v["name"].split()[0].lower(): v for v in listing["data"]["videos"]}


@pytest.fixture
def news(videos) -> dict:
    return videos["evening"]


def clip_op(video_id: str, **kwargs: Any) -> ClipVideoOperator:
    args: dict[str, Any] = {"task_id": "clip", "video_id": video_id, "prompt": PROMPT}
    args.update({"poll_interval": 0.05, "timeout": 30.0})
    args.update(kwargs)
    return ClipVideoOperator(**args)


# -- GenerateStreamOperator -------------------------------------------------------------------


def test_whole_video_reuses_the_existing_stream_without_a_post(server, videodb_conn, news):
    GenerateStreamOperator(task_id="warm", video_id=news["id"]).execute(make_context())
    server.clear_journal()
    context = make_context()
    result = GenerateStreamOperator(task_id="s", video_id=news["id"]).execute(context)
    assert requests_of(server, "POST") == []
    assert [e["method"] for e in server.journal()] == ["GET"]
    assert result["video_id"] == news["id"]
    assert result["stream_url"].endswith(".m3u8")
    assert result["timeline"] is None
    assert context["ti"].xcoms["player_url"] == result["player_url"]


@pytest.mark.parametrize("timeline", [[[0, 10], [30.5, 40]], "[[0, 10], [30.5, 40]]"])
def test_timeline_stream_is_posted_after_a_length_check(server, videodb_conn, news, timeline):
    context = make_context()
    result = GenerateStreamOperator(task_id="s", video_id=news["id"], timeline=timeline).execute(
        context
    )
    assert result["timeline"] == [[0.0, 10.0], [30.5, 40.0]]
    assert result["stream_url"].endswith(".m3u8")
    (post,) = requests_of(server, "POST", "/stream")
    assert post["body"]["timeline"] == [[0.0, 10.0], [30.5, 40.0]]
    assert post["body"]["length"] == pytest.approx(180.0)
    assert [e["method"] for e in server.journal()] == ["GET", "POST"]
    assert context["ti"].xcoms["player_url"] == result["player_url"]


def test_timeline_beyond_the_video_is_refused_before_the_post(server, videodb_conn, news):
    op = GenerateStreamOperator(task_id="s", video_id=news["id"], timeline=[[0, 10], [170, 181]])
    with pytest.raises(VideoDBValidationError) as info:
        op.execute(make_context())
    assert info.value.field == "timeline[1]"
    assert requests_of(server, "POST") == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"timeline": [[5, 1]]}, "timeline[0]"),
        ({"timeline": "not json"}, "timeline"),
        ({"video_id": "v-nope"}, "video_id"),
        ({"collection_id": "nope"}, "collection_id"),
    ],
)
def test_stream_input_is_refused_before_any_request(server, videodb_conn, news, kwargs, field):
    args = {"task_id": "s", "video_id": news["id"], **kwargs}
    with pytest.raises(VideoDBValidationError) as info:
        GenerateStreamOperator(**args).execute(make_context())
    assert info.value.field == field
    assert server.journal() == []


def test_stream_template_fields():
    assert set(GenerateStreamOperator.template_fields) == {"video_id", "timeline", "collection_id"}


# -- ClipVideoOperator: deferral --------------------------------------------------------------


def test_clip_defers_to_the_trigger_after_pushing_job_id_and_storing_it(server, videodb_conn, news):
    store = MemoryStateStore()
    context = make_context(store)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        clip_op(news["id"], timeout=100.0, poll_interval=2.0).execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, ClipJobTrigger)
    assert deferred.value.method_name == "execute_complete"
    # Airflow's own timeout is only a backstop behind the trigger's deadline.
    assert deferred.value.timeout > timedelta(seconds=100)
    assert before + 100 <= trigger.wait.end_time <= time.time() + 100
    assert trigger.wait.policy.poll_interval == 2.0
    assert trigger.video_id == news["id"]

    (post,) = clip_posts(server)
    assert post["body"]["prompt"] == PROMPT
    xcoms = context["ti"].xcoms
    assert xcoms["job_id"] == trigger.job_id
    assert xcoms["output_url"] == trigger.output_url
    assert json.loads(store.data[CLIP_JOB_STATE_KEY])["job_id"] == trigger.job_id
    _, kwargs = trigger.serialize()
    assert server.api_key not in json.dumps(kwargs)


def test_clip_deferred_then_resumed_returns_shots_and_one_stream(server, videodb_conn, news):
    server.configure(job_seconds=0.3)
    context = make_context(MemoryStateStore())
    op = clip_op(news["id"])
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "success"

    result = op.execute_complete(context, event)
    assert set(result) == {"job_id", "video_id", "prompt", "shots", "stream_url", "player_url"}
    assert result["job_id"] == event["job_id"]
    assert result["prompt"] == PROMPT
    assert result["shots"]
    assert set(result["shots"][0]) == {"start", "end", "text", "score"}
    assert "weather" in result["shots"][0]["text"].lower()
    assert result["stream_url"].endswith(".m3u8")
    (compile_,) = requests_of(server, "POST", "/compile")
    assert compile_["body"][0]["video_id"] == news["id"]
    assert context["ti"].xcoms["player_url"] == result["player_url"]
    assert len(clip_posts(server)) == 1


def test_execute_complete_error_raises_with_the_reason(videodb_conn, news):
    event = make_event("error", "job-9", "http://x/async-response/job-9", "No transcript [x]")
    with pytest.raises(VideoDBJobFailedError) as info:
        clip_op(news["id"]).execute_complete(make_context(), event)
    assert info.value.job_id == "job-9"
    assert "No transcript" in str(info.value)


def test_execute_complete_timeout_raises_a_distinct_error(videodb_conn, news):
    event = make_event("timeout", "job-9", "http://x/async-response/job-9", "still processing")
    with pytest.raises(VideoDBJobTimeoutError) as info:
        clip_op(news["id"], timeout=12.0).execute_complete(make_context(), event)
    assert info.value.timeout == 12.0


@pytest.mark.parametrize("event", [None, {}, {"status": "weird", "job_id": "j"}])
def test_execute_complete_refuses_an_unknown_event(videodb_conn, news, event):
    with pytest.raises(VideoDBError, match="Unexpected event"):
        clip_op(news["id"]).execute_complete(make_context(), event)


def test_failed_job_end_to_end_raises_job_failed(server, videodb_conn, news):
    server.set_faults([{"method": "POST", "path": "/video/*/clip", "kind": "fail_job"}])
    with pytest.raises(VideoDBJobFailedError, match="Injected job failure"):
        clip_op(news["id"], deferrable=False).execute(make_context())


# -- ClipVideoOperator: waiting on the worker ---------------------------------------------------


def test_clip_non_deferrable_end_to_end(server, videodb_conn, news):
    server.configure(job_seconds=0.3)
    context = make_context(MemoryStateStore())
    result = clip_op(news["id"], deferrable=False).execute(context)
    assert result["shots"] and result["stream_url"]
    keys = [key for key, _ in context["ti"].pushed]
    assert keys[:2] == ["job_id", "output_url"]  # before the wait
    assert keys[-1] == "player_url"
    assert len(clip_posts(server)) == 1


def test_worker_wait_survives_transient_poll_failures_one_attempt_each(server, videodb_conn, news):
    server.configure(job_seconds=0)
    server.set_faults(
        [
            {
                "method": "GET",
                "path": "/async-response/*",
                "kind": "status",
                "status": 503,
                "times": 2,
            }
        ]
    )
    result = clip_op(news["id"], deferrable=False, max_consecutive_failures=2).execute(
        make_context()
    )
    assert result["shots"]
    statuses = [e["status"] for e in requests_of(server, "GET", "/async-response/")]
    assert statuses[:3] == [503, 503, 200]


def test_worker_wait_times_out_by_the_wall_clock(server, videodb_conn, news):
    server.configure(job_seconds=60)
    with pytest.raises(VideoDBJobTimeoutError):
        clip_op(news["id"], deferrable=False, timeout=0.3).execute(make_context())


def test_empty_result_returns_no_stream(server, videodb_conn, news):
    server.configure(job_seconds=0)
    context = make_context()
    result = clip_op(news["id"], prompt=NO_MATCH, deferrable=False).execute(context)
    assert result["shots"] == []
    assert result["stream_url"] is None and result["player_url"] is None
    assert "player_url" not in context["ti"].xcoms
    assert requests_of(server, "POST", "/compile") == []


def test_empty_result_fails_when_asked(server, videodb_conn, news):
    server.configure(job_seconds=0)
    op = clip_op(news["id"], prompt=NO_MATCH, deferrable=False, fail_on_empty=True)
    with pytest.raises(VideoDBJobFailedError) as info:
        op.execute(make_context())
    assert info.value.error_code == "empty_result"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x" * 5000}, "prompt"),
        ({"content_type": "smell"}, "content_type"),
        ({"model_name": "huge"}, "model_name"),
        ({"scene_index_id": "x/y"}, "scene_index_id"),
        ({"callback_url": "ftp://example.com/hook"}, "callback_url"),
        ({"video_id": "m-"}, "video_id"),
        ({"collection_id": "c_bad!"}, "collection_id"),
    ],
)
def test_clip_input_is_refused_before_any_request(server, videodb_conn, news, kwargs, field):
    with pytest.raises(VideoDBValidationError) as info:
        clip_op(**{"video_id": news["id"], **kwargs}).execute(make_context(MemoryStateStore()))
    assert info.value.field == field
    assert server.journal() == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"poll_interval": 0},
        {"timeout": -1},
        {"poll_interval": float("nan")},
        {"max_poll_interval": 0.01},
        {"max_consecutive_failures": -1},
    ],
)
def test_bad_wait_settings_are_refused_when_the_task_is_built(kwargs):
    with pytest.raises(VideoDBValidationError):
        clip_op("m-abc", **kwargs)


def test_deferrable_by_default_unless_the_deployment_opts_out(monkeypatch):
    assert clip_op("m-abc").deferrable is True
    monkeypatch.setenv("AIRFLOW__VIDEODB__DEFAULT_DEFERRABLE", "False")
    assert clip_op("m-abc").deferrable is False
    assert clip_op("m-abc", deferrable=True).deferrable is True


def test_clip_template_fields():
    assert set(ClipVideoOperator.template_fields) == {
        "video_id",
        "prompt",
        "content_type",
        "model_name",
        "scene_index_id",
        "callback_url",
        "collection_id",
    }


# -- retries reattach instead of submitting again ----------------------------------------------


def test_retry_while_running_reattaches_to_the_same_job(server, videodb_conn, news):
    server.configure(job_seconds=60)
    store = MemoryStateStore()
    with pytest.raises(TaskDeferred) as first:
        clip_op(news["id"]).execute(make_context(store))
    with pytest.raises(TaskDeferred) as second:
        clip_op(news["id"]).execute(make_context(store))
    assert second.value.trigger.job_id == first.value.trigger.job_id
    assert second.value.trigger.wait.started_at == first.value.trigger.wait.started_at
    assert len(clip_posts(server)) == 1


def test_retry_after_the_job_finished_completes_without_waiting(server, videodb_conn, news):
    server.configure(job_seconds=0)
    store = MemoryStateStore()
    with pytest.raises(TaskDeferred):
        clip_op(news["id"]).execute(make_context(store))
    result = clip_op(news["id"]).execute(make_context(store))  # no TaskDeferred
    assert result["shots"] and result["stream_url"]
    assert len(clip_posts(server)) == 1


def test_retry_non_deferrable_reattaches_too(server, videodb_conn, news):
    server.configure(job_seconds=0.5)
    store = MemoryStateStore()
    with pytest.raises(TaskDeferred):
        clip_op(news["id"]).execute(make_context(store))
    result = clip_op(news["id"], deferrable=False).execute(make_context(store))
    assert result["shots"]
    assert len(clip_posts(server)) == 1


def test_retry_after_a_failed_job_submits_a_fresh_one(server, videodb_conn, news):
    store = MemoryStateStore()
    server.configure(job_seconds=0)
    server.set_faults([{"method": "POST", "path": "/video/*/clip", "kind": "fail_job", "times": 1}])
    with pytest.raises(TaskDeferred) as first:
        clip_op(news["id"]).execute(make_context(store))
    with pytest.raises(TaskDeferred) as second:
        clip_op(news["id"]).execute(make_context(store))
    assert second.value.trigger.job_id != first.value.trigger.job_id
    assert len(clip_posts(server)) == 2
    assert json.loads(store.data[CLIP_JOB_STATE_KEY])["job_id"] == second.value.trigger.job_id


def test_retry_with_an_unknown_stored_job_submits_a_fresh_one(server, videodb_conn, news):
    store = MemoryStateStore()
    with pytest.raises(TaskDeferred):
        clip_op(news["id"]).execute(make_context(store))
    stored = json.loads(store.data[CLIP_JOB_STATE_KEY])
    stored["output_url"] = stored["output_url"].rsplit("/", 1)[0] + "/gone"
    store.set(CLIP_JOB_STATE_KEY, stored)
    with pytest.raises(TaskDeferred):
        clip_op(news["id"]).execute(make_context(store))
    assert len(clip_posts(server)) == 2


def test_retry_when_the_job_state_is_unreadable_reattaches_rather_than_guessing(
    server, videodb_conn, news
):
    store = MemoryStateStore()
    with pytest.raises(TaskDeferred) as first:
        clip_op(news["id"]).execute(make_context(store))
    server.set_faults(
        [{"method": "GET", "path": "/async-response/*", "kind": "status", "status": 503}]
    )
    with pytest.raises(TaskDeferred) as second:
        clip_op(news["id"]).execute(make_context(store))
    assert second.value.trigger.job_id == first.value.trigger.job_id
    assert len(clip_posts(server)) == 1


def test_changed_request_does_not_reattach_to_the_old_job(server, videodb_conn, news):
    store = MemoryStateStore()
    with pytest.raises(TaskDeferred):
        clip_op(news["id"]).execute(make_context(store))
    with pytest.raises(TaskDeferred):
        clip_op(news["id"], prompt="football results").execute(make_context(store))
    assert [p["body"]["prompt"] for p in clip_posts(server)] == [PROMPT, "football results"]


def test_without_task_state_store_each_try_submits(server, videodb_conn, news):
    for _ in range(2):
        with pytest.raises(TaskDeferred):
            clip_op(news["id"]).execute(make_context(store=None))
    assert len(clip_posts(server)) == 2


# -- extra link ---------------------------------------------------------------------------------


def test_player_link_is_what_the_task_pushed(server, videodb_conn, news):
    from airflow_provider_videodb.links.videodb import VideoDBPlayerLink

    op = GenerateStreamOperator(task_id="s", video_id=news["id"], timeline=[[0, 3]])
    link = VideoDBPlayerLink()
    assert link.get_link(op, ti_key=None) == ""  # nothing pushed yet: no link, no lookup
    result = op.execute(make_context())
    assert link.get_link(op, ti_key=None) == result["player_url"]
    assert [type(x) for x in op.operator_extra_links] == [VideoDBPlayerLink]
    assert [type(x) for x in clip_op(news["id"]).operator_extra_links] == [VideoDBPlayerLink]


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "job-1",
        {"job_id": "job-1", "output_url": "http://x/async-response/job-1"},  # no fingerprint
        {"job_id": 7, "output_url": "http://x/async-response/job-1", "request": "FP"},
        {"job_id": "job-1", "request": "FP"},
    ],
)
def test_job_memory_ignores_what_it_cannot_trust(stored):
    from airflow_provider_videodb.job_memory import ClipJobMemory

    store = MemoryStateStore()
    if stored is not None:
        store.set(CLIP_JOB_STATE_KEY, stored)
    assert ClipJobMemory(store, "FP").recall() is None


def test_job_memory_round_trip_and_fingerprint_scope():
    from airflow_provider_videodb.job_memory import (
        ClipJobMemory,
        request_fingerprint,
    )
    from airflow_provider_videodb.responses import AsyncJob

    request = {"video_id": "m-1", "prompt": "weather"}
    fingerprint = request_fingerprint("videodb_default", request)
    assert fingerprint == request_fingerprint("videodb_default", dict(reversed(request.items())))
    assert fingerprint != request_fingerprint("other_conn", request)
    store = MemoryStateStore()
    job = AsyncJob(job_id="job-1", output_url="http://x/async-response/job-1")
    ClipJobMemory(store, fingerprint).remember(job, 123.5)
    assert ClipJobMemory(store, fingerprint).recall() == (job, 123.5)
    assert ClipJobMemory(store, "another request").recall() is None
    assert ClipJobMemory(None, fingerprint).recall() is None
