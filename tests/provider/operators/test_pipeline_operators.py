"""The pipeline's operators against the local VideoDB server: upload, index, scene index, search.

Each runs the real operator against the real server (the task context is the small stand-in of
``operator_support``): a job is submitted, the task defers to ``VideoDBJobTrigger``, the trigger
runs for real, and ``execute_complete`` returns the documented XCom shape. The journal proves
what was (not) sent: a retry that remembers its job or result does not ask the service again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

from airflow_provider_videodb.exceptions import VideoDBError
from airflow_provider_videodb.operators.index import (
    IndexScenesOperator,
    IndexSpokenWordsOperator,
)
from airflow_provider_videodb.operators.search import SearchVideoOperator
from airflow_provider_videodb.operators.upload import UploadVideoOperator
from airflow_provider_videodb.triggers.videodb import VideoDBJobTrigger
from tests.provider.operators.operator_support import (
    MemoryStateStore,
    make_context,
    requests_of,
    run_trigger,
)

FAST = {"poll_interval": 0.05, "timeout": 60.0}


def finish_deferred(op: Any, context: dict[str, Any], *, kind: str) -> Any:
    """Run the task as Airflow would: execute -> defer -> the trigger -> execute_complete."""
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert type(trigger) is VideoDBJobTrigger and trigger.job_kind == kind
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_videodb.triggers.videodb.VideoDBJobTrigger"
    assert type(trigger)(**kwargs).serialize() == (classpath, kwargs)  # round trip
    event = run_trigger(trigger)
    assert event["status"] == "success", event
    assert context["ti"].xcoms["job_id"] == event["job_id"]  # pushed before the wait
    return op.execute_complete(context, event)


@pytest.fixture
def uploaded(videodb_conn: str, new_media: list[Path], fresh_collection: str) -> dict[str, Any]:
    """One of the night's videos (captions embedded), uploaded into a fresh collection."""
    op = UploadVideoOperator(
        task_id="upload", source=str(new_media[0]), collection_id=fresh_collection, **FAST
    )
    return dict(op.execute(make_context()))


# -- upload ------------------------------------------------------------------------------------


def test_upload_of_a_local_file_returns_the_new_video_and_a_retry_does_not_upload_again(
    server: Any, videodb_conn: str, new_media: list[Path], fresh_collection: str
) -> None:
    store = MemoryStateStore()
    op = UploadVideoOperator(
        task_id="upload",
        source=str(new_media[1]),
        name="night one",
        description="from the camera",
        collection_id=fresh_collection,
        **FAST,
    )
    context = make_context(store)
    media = op.execute(context)
    assert media["video_id"] == media["media_id"] and media["video_id"].startswith("m-")
    assert media["name"] == "night one" and media["collection_id"] == fresh_collection
    assert media["media_type"] == "video" and media["job_id"] is None
    assert media["length"] > 0
    assert context["ti"].xcoms.get("player_url") == media["player_url"]
    assert server.video_ids(fresh_collection) == [media["video_id"]]

    # The file went to the upload URL without the key (it may be a storage host).
    sent = requests_of(server, "POST", "/upload/")
    assert len(sent) == 1
    server.clear_journal()
    again = op.execute(make_context(store))  # a retry of the same task instance
    assert again == media
    assert requests_of(server, "POST") == []
    assert server.video_ids(fresh_collection) == [media["video_id"]]


def test_upload_takes_an_object_storage_path(
    videodb_conn: str, new_media: list[Path], fresh_collection: str
) -> None:
    from airflow.sdk import ObjectStoragePath

    source = ObjectStoragePath(new_media[2].as_uri())
    op = UploadVideoOperator(
        task_id="upload", source=source, collection_id=fresh_collection, **FAST
    )
    media = op.execute(make_context())
    assert media["name"] == new_media[2].stem and media["video_id"].startswith("m-")


def test_upload_from_a_url_is_a_job_waited_for_on_the_triggerer(
    server: Any,
    videodb_conn: str,
    new_media: list[Path],
    media_site: str,
    fresh_collection: str,
) -> None:
    op = UploadVideoOperator(
        task_id="upload",
        source=f"{media_site}/{new_media[0].name}",
        collection_id=fresh_collection,
        **FAST,
    )
    media = finish_deferred(op, make_context(MemoryStateStore()), kind="upload")
    assert media["job_id"] and media["video_id"] in server.video_ids(fresh_collection)
    assert media["name"] == new_media[0].stem
    registers = requests_of(server, "POST", f"/collection/{fresh_collection}/upload")
    assert len(registers) == 1


# -- index spoken words ----------------------------------------------------------------------


def test_index_spoken_words_defers_and_already_indexed_is_a_success(
    server: Any, uploaded: dict[str, Any]
) -> None:
    video_id = uploaded["video_id"]
    op = IndexSpokenWordsOperator(task_id="index", video_id=video_id, language_code="en", **FAST)
    result = finish_deferred(op, make_context(MemoryStateStore()), kind="index")
    assert result == {
        "video_id": video_id,
        "index_type": "spoken_word",
        "language_code": "en",
        "segmentation_type": "sentence",
        "already_indexed": False,
        "job_id": result["job_id"],
    }
    assert result["job_id"]

    server.clear_journal()
    again = IndexSpokenWordsOperator(task_id="index2", video_id=video_id, **FAST)
    second = again.execute(make_context())  # no deferral: there is nothing to wait for
    assert second["already_indexed"] is True and second["job_id"] is None
    assert len(requests_of(server, "POST", f"/video/{video_id}/index")) == 1

    forced = IndexSpokenWordsOperator(task_id="index3", video_id=video_id, force=True, **FAST)
    third = finish_deferred(forced, make_context(), kind="index")
    assert third["already_indexed"] is False and third["job_id"] not in (None, result["job_id"])


def test_a_retry_reattaches_to_the_index_job_of_an_earlier_try(
    server: Any, uploaded: dict[str, Any]
) -> None:
    store = MemoryStateStore()
    op = IndexSpokenWordsOperator(task_id="index", video_id=uploaded["video_id"], **FAST)
    with pytest.raises(TaskDeferred) as first:
        op.execute(make_context(store))
    # The worker died while deferred; the retry finds the job instead of starting another.
    with pytest.raises(TaskDeferred) as second:
        op.execute(make_context(store))
    assert second.value.trigger.job_id == first.value.trigger.job_id
    assert len(requests_of(server, "POST", "/index")) == 1


# -- scene index -------------------------------------------------------------------------------


def test_index_scenes_returns_its_id_and_reuses_an_index_of_the_same_name(
    server: Any, uploaded: dict[str, Any]
) -> None:
    video_id = uploaded["video_id"]
    args = {"video_id": video_id, "extraction_type": "time", "name": "every-5s", **FAST}
    op = IndexScenesOperator(task_id="scenes", extraction_config={"time": 5}, **args)
    result = finish_deferred(op, make_context(), kind="scene_index")
    assert result["scene_index_id"] and result["reused"] is False
    assert result["video_id"] == video_id and result["name"] == "every-5s"

    server.clear_journal()
    again = IndexScenesOperator(task_id="scenes2", extraction_config='{"time": 5}', **args)
    reused = again.execute(make_context())
    assert reused["scene_index_id"] == result["scene_index_id"] and reused["reused"] is True
    assert requests_of(server, "POST") == []


# -- search ------------------------------------------------------------------------------------


def test_search_finds_spoken_moments_in_a_video_and_in_its_collection(
    server: Any, uploaded: dict[str, Any], fresh_collection: str
) -> None:
    from tests.e2e.e2e_support import DEMO_QUERY

    video_id = uploaded["video_id"]
    index = IndexSpokenWordsOperator(task_id="index", video_id=video_id, deferrable=False, **FAST)
    index.execute(make_context())

    context = make_context()
    op = SearchVideoOperator(
        task_id="search",
        query=DEMO_QUERY,
        video_id=video_id,
        collection_id=fresh_collection,
        compile_stream=True,
    )
    found = op.execute(context)
    assert found["shots"] and found["stream_url"].endswith(".m3u8")
    assert context["ti"].xcoms["player_url"] == found["player_url"]
    for shot in found["shots"]:
        assert shot["video_id"] == video_id and DEMO_QUERY in shot["text"].lower()
        assert 0 <= shot["start"] < shot["end"] <= uploaded["length"] + 1e-3

    in_collection = SearchVideoOperator(
        task_id="search_all", query=DEMO_QUERY, collection_id=fresh_collection
    ).execute(make_context())
    assert {shot["video_id"] for shot in in_collection["shots"]} == {video_id}
    assert in_collection["stream_url"] is None  # compile_stream was not asked for

    # Nothing matched (the service says so with a 400): an empty result, or a failure if asked.
    args = {"query": "zzqx blorf", "video_id": video_id, "collection_id": fresh_collection}
    nothing = SearchVideoOperator(task_id="none", compile_stream=True, **args)
    assert nothing.execute(make_context())["shots"] == []
    strict = SearchVideoOperator(task_id="strict", fail_on_empty=True, **args)
    with pytest.raises(VideoDBError, match="matched nothing"):
        strict.execute(make_context())
