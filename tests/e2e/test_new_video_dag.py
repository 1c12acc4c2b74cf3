"""The event-driven example DAG in a real Airflow: a run per video uploaded to the collection.

api-server, scheduler, dag-processor and triggerer as separate processes (``real_airflow``),
the DAG ``example_dags/videodb_new_video.py`` watching a fresh collection of the local
server, and a second small DAG (written here) watching the same collection with a trigger
that differs only in its ``name_pattern``. Videos are uploaded through the server's HTTP API
as the SDK uploads them. Proven here, on one deployment:

* an upload starts exactly one run within two poll intervals (the asset event is created by
  then); ten uploads, one per poll, give ten runs, each with its own video, although the
  triggerer is SIGKILLed between the fifth and the sixth (uploaded while it is down): no
  video is lost, none fires twice;
* a burst of uploads within one poll gives one event per video and each video is processed
  exactly once (one mapped ``per_video`` group per video), however many runs the scheduler
  makes of the burst. Airflow 3.3 cannot start a run per event of an event trigger (its
  asset events carry no partition key), and its scheduler takes into a run only the events
  stored up to when the asset was first queued: the rest of a burst waits for the asset's
  next event. So one more upload follows the burst, and every video, that one included,
  must be processed exactly once;
* the two DAGs' triggers share ONE poll per interval (the server's journal), and each DAG
  gets the runs of its own pattern;
* the cursors are in Airflow's own asset state store.
"""

from __future__ import annotations

import itertools
import json
import shutil
import signal
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
from e2e_support import DAGS_FOLDER
from real_airflow import Deployment, deployed, deployment_env, signal_group, wait_for

from tests.provider.triggers.collection_support import upload, video_polls

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

JOB_SECONDS = 4.0

DAG_ID = "videodb_new_video"
SECOND_DAG_ID = "videodb_second_watcher"
#: The second DAG's trigger: the example's, but for the even-numbered uploads only.
SECOND_PATTERN = "even-*"
POLL_INTERVAL = 2.0
STARTUP_TIMEOUT = 180.0
#: The scheduler's own latency on top of the trigger's (an asset-triggered run is created on
#: its next loop after the event).
RUN_TIMEOUT = 60.0
UPLOADS = 10
#: The upload (0-based) made while the triggerer is down.
WHILE_DOWN = 5
BURST = 3

_SECOND_DAG = f'''
"""Watches the collection of ``videodb_new_video`` too, for the videos named {SECOND_PATTERN}."""

import os

import pendulum
from airflow.sdk import Asset, AssetWatcher, dag, task

from airflow_provider_videodb.triggers.events import VideoDBNewVideoTrigger

COLLECTION = os.environ["VIDEODB_WATCH_COLLECTION"]
POLL_INTERVAL = float(os.environ["VIDEODB_WATCH_POLL_INTERVAL"])

# An asset of its own (an asset per URI is active at most once, and the example's events
# must not schedule this DAG): only the trigger's kwargs tie it to the collection.
watched = Asset(
    name="{SECOND_DAG_ID}",
    watchers=[
        AssetWatcher(
            name="{SECOND_DAG_ID}",
            trigger=VideoDBNewVideoTrigger(
                collection_id=COLLECTION,
                poll_interval=POLL_INTERVAL,
                name_pattern="{SECOND_PATTERN}",
            ),
        )
    ],
)


@dag(
    dag_id="{SECOND_DAG_ID}",
    schedule=[watched],
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
)
def second_watcher():
    @task
    def new_video_ids(*, triggering_asset_events=None):
        return [event.extra["payload"]["video_id"] for event in triggering_asset_events[watched]]

    new_video_ids()


second_watcher()
'''


@pytest.fixture
def deployment(
    server: Any, tmp_path: Path, demo: ModuleType, fresh_collection: str
) -> Iterator[Deployment]:
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(DAGS_FOLDER / "videodb_new_video.py", dags / "videodb_new_video.py")
    (dags / "videodb_second_watcher.py").write_text(_SECOND_DAG)
    home = tmp_path / "airflow-home"
    home.mkdir()
    base = demo.airflow_env(
        home, base_url=server.base_url, api_key=server.api_key, dags_folder=dags
    )
    env = deployment_env(
        base,
        parallelism=8,
        VIDEODB_WATCH_COLLECTION=fresh_collection,
        VIDEODB_WATCH_POLL_INTERVAL=str(POLL_INTERVAL),
        # Asset-triggered runs are created by the job schedule (the harness turns it off; no
        # DAG in this folder has a time schedule, so nothing else is scheduled).
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="True",
        # A dead triggerer's triggers are taken over once its heartbeat is this old.
        AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="1",
        AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD="5",
        # The example retries a task once; Airflow 3.3 sometimes fails a task that resumed
        # from a deferral quickly (the executor's event of its deferral arrives late): the
        # retry must not take the default five minutes.
        AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY="3",
    )
    with deployed(home, env) as deployment:
        yield deployment


def _event_videos(deployment: Deployment, asset_name: str) -> list[str]:
    """The video ids of the events of the asset named ``asset_name``, in stored order."""
    rows = deployment.query(
        "select e.extra from asset_event e join asset a on a.id = e.asset_id "
        "where a.name = ? order by e.id",
        asset_name,
    )
    return [json.loads(extra)["payload"]["video_id"] for (extra,) in rows]


def _first_event_time(deployment: Deployment, asset_name: str) -> float:
    """When the first event of the asset was stored (UTC seconds)."""
    rows = deployment.query(
        "select e.timestamp from asset_event e join asset a on a.id = e.asset_id "
        "where a.name = ? order by e.id limit 1",
        asset_name,
    )
    stamp = datetime.fromisoformat(rows[0][0])
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)).timestamp()


def _runs(deployment: Deployment, dag_id: str = DAG_ID) -> list[tuple[str, str]]:
    return deployment.query(
        "select run_id, state from dag_run where dag_id = ? order by id", dag_id
    )


def _processed(deployment: Deployment, dag_id: str = DAG_ID) -> list[list[str]]:
    """Per run (in creation order), the video ids its ``new_video_ids`` task returned."""
    rows = deployment.query(
        "select x.value from xcom x join dag_run r on r.id = x.dag_run_id "
        "where x.dag_id = ? and x.task_id = 'new_video_ids' and x.key = 'return_value' "
        "order by r.id",
        dag_id,
    )
    return [json.loads(value) for (value,) in rows]


def _cursor(deployment: Deployment, key: str) -> list[str]:
    rows = deployment.query("select value from asset_state_store where key = ?", key)
    return sorted(json.loads(rows[0][0])["seen"]) if rows else []


def _queued(deployment: Deployment) -> list[tuple[Any, ...]]:
    """The scheduler's queue of asset-triggered runs to create."""
    return deployment.query("select target_dag_id from asset_dag_run_queue")


def _unconsumed(deployment: Deployment, asset_name: str) -> list[str]:
    """Video ids of the asset's events that no run consumed."""
    rows = deployment.query(
        "select e.extra from asset_event e join asset a on a.id = e.asset_id where a.name = ? "
        "and not exists (select 1 from dagrun_asset_event d where d.event_id = e.id) "
        "order by e.id",
        asset_name,
    )
    return [json.loads(extra)["payload"]["video_id"] for (extra,) in rows]


def _finished(deployment: Deployment, dag_id: str, videos: list[str]) -> bool:
    """Every run of ``dag_id`` ended, and together they handled every one of ``videos``."""
    runs = _runs(deployment, dag_id)
    done = all(state in ("success", "failed") for _, state in runs)
    handled = {video for ids in _processed(deployment, dag_id) for video in ids}
    return bool(runs) and done and handled >= set(videos)


def _burst(server: Any, collection_id: str, media: list[Path]) -> list[str]:
    """Upload ``media`` at once (a session per upload), as fast as the server takes them."""

    def one(item: tuple[int, Path]) -> str:
        with requests.Session() as session:
            session.headers["x-access-token"] = server.api_key
            return upload(server, session, collection_id, item[1], f"burst-{item[0]}")

    with ThreadPoolExecutor(len(media)) as pool:
        return list(pool.map(one, enumerate(media)))


def test_a_run_per_new_video_across_a_triggerer_kill_and_one_poll_for_two_dags(
    deployment: Deployment,
    server: Any,
    api: Any,
    fresh_collection: str,
    new_media: list[Path],
) -> None:
    # Jobs last a few seconds: a trigger that fires at once after its task deferred meets
    # Airflow 3.3's stale defer-exit race (apache/airflow#72716: the scheduler fails the
    # resumed task); a few seconds keep the run clear of it on a loaded machine.
    server.configure(job_seconds=JOB_SECONDS)
    first_key = f"videodb.new_video/videodb_default/{fresh_collection}"
    second_key = f"{first_key}/{SECOND_PATTERN}"
    watched = f"videodb://{fresh_collection}"  # the example's asset (named by its URI)
    existing = upload(server, api, fresh_collection, new_media[0], "even-before-the-watchers")
    for dag_id in (DAG_ID, SECOND_DAG_ID):
        wait_for(
            f"{dag_id} to be parsed",
            lambda dag_id=dag_id: deployment.query(
                "select 1 from serialized_dag where dag_id = ?", dag_id
            ),
            deployment,
            STARTUP_TIMEOUT,
        )
    wait_for(
        "both watchers' baselines in the asset state store",
        lambda: _cursor(deployment, first_key) == _cursor(deployment, second_key) == [existing],
        deployment,
        STARTUP_TIMEOUT,
    )
    window_start = time.time()

    uploads: list[str] = []
    for number in range(UPLOADS):
        name = f"{'even' if number % 2 == 0 else 'odd'}-{number}"
        media = new_media[number % len(new_media)]
        if number == WHILE_DOWN:
            # The triggerer killed once the last upload is handled (event stored, both
            # cursors written); this one arrives while it is down.
            old = deployment.procs.pop("triggerer")
            signal_group(old.pid, signal.SIGKILL)
            old.wait(timeout=30)
            uploads.append(upload(server, api, fresh_collection, media, name))
            time.sleep(2 * POLL_INTERVAL)
            assert len(_event_videos(deployment, watched)) == number  # nobody watched
            deployment.start("triggerer")
            timeout = 120.0  # the triggerer's start-up, then the take-over of its triggers
        else:
            uploaded_at = time.time()
            uploads.append(upload(server, api, fresh_collection, media, name))
            timeout = RUN_TIMEOUT
        wait_for(
            f"the event of upload {number}",
            lambda number=number: len(_event_videos(deployment, watched)) > number,
            deployment,
            timeout,
        )
        if number == 0:  # "within two poll intervals": by the second poll after it at most
            stored_at = _first_event_time(deployment, watched)
            polls = [
                entry
                for entry in video_polls(server, fresh_collection)
                if uploaded_at <= entry["time"] <= stored_at
            ]
            assert 1 <= len(polls) <= 2, polls
        assert _event_videos(deployment, watched) == uploads
        wait_for(
            f"the run of upload {number}",
            lambda number=number: len(_runs(deployment)) > number,
            deployment,
            RUN_TIMEOUT,
        )
        assert len(_runs(deployment)) == number + 1
        wait_for(
            f"both cursors to hold upload {number}",
            lambda: (
                uploads[-1] in _cursor(deployment, first_key)
                and uploads[-1] in _cursor(deployment, second_key)
            ),
            deployment,
            30,
        )

    # A burst within one poll: one event per video, each video processed once, in however
    # many runs the scheduler makes of them. Airflow 3.3 (on sqlite at least) may leave the
    # events stored while it was creating a run out of its queue: they wait for the asset's
    # next event. So one more upload follows, once the scheduler has emptied its queue; it
    # must take whatever the burst left behind.
    burst = _burst(server, fresh_collection, new_media[:BURST])
    wait_for(
        "the burst's events",
        lambda: len(_event_videos(deployment, watched)) >= UPLOADS + BURST,
        deployment,
        RUN_TIMEOUT,
    )
    wait_for("the scheduler's queue to empty", lambda: not _queued(deployment), deployment, 60)
    stranded = _unconsumed(deployment, watched)
    flush = upload(server, api, fresh_collection, new_media[0], "odd-after-the-burst")
    everything = [*uploads, *burst, flush]
    even = [video for number, video in enumerate(uploads) if number % 2 == 0]
    wait_for(
        "every run of both DAGs to finish",
        lambda: (
            _finished(deployment, DAG_ID, everything) and _finished(deployment, SECOND_DAG_ID, even)
        ),
        deployment,
        300,
    )
    time.sleep(2 * POLL_INTERVAL)  # a late duplicate event would show by now
    window_end = time.time()

    # (a) Nothing lost, nothing twice: an event per upload, the spaced ones a run each.
    events = _event_videos(deployment, watched)
    assert events[:UPLOADS] == uploads
    assert sorted(events[UPLOADS:-1]) == sorted(burst)
    assert events[-1] == flush
    assert _unconsumed(deployment, watched) == []  # every event went into a run
    assert existing not in events
    runs = _runs(deployment)
    assert [state for _, state in runs] == ["success"] * len(runs), runs
    processed = _processed(deployment)
    assert processed[:UPLOADS] == [[video] for video in uploads]
    assert Counter(video for ids in processed for video in ids) == Counter(everything)
    assert UPLOADS + 1 <= len(runs) <= UPLOADS + BURST + 1
    rows = deployment.query(
        "select task_id, count(*) from task_instance where dag_id = ? and state = 'success' "
        "and task_id like 'per_video.%' group by task_id",
        DAG_ID,
    )
    count = len(everything)
    assert dict(rows) == {
        "per_video.index": count,
        "per_video.clip": count,
        "per_video.stream": count,
    }
    indexed = {
        entry["path"].split("/")[2]
        for entry in server.journal()
        if entry["method"] == "POST" and entry["path"].endswith("/index")
    }
    assert indexed == set(everything)  # the baseline video is never processed
    assert _cursor(deployment, first_key) == sorted([existing, *everything])

    # (b) The second DAG: the even uploads, a run each; its cursor follows the same poll.
    assert _event_videos(deployment, SECOND_DAG_ID) == even
    second_runs = _runs(deployment, SECOND_DAG_ID)
    assert [state for _, state in second_runs] == ["success"] * len(even), second_runs
    assert _processed(deployment, SECOND_DAG_ID) == [[video] for video in even]
    assert _cursor(deployment, second_key) == sorted([existing, *everything])

    # (b) One poll per interval for both triggers: a single poller sleeps a whole interval
    # between two polls, two pollers would poll about twice as often, with short gaps.
    polls = [
        entry["time"]
        for entry in video_polls(server, fresh_collection)
        if window_start <= entry["time"] <= window_end
    ]
    window = window_end - window_start
    gaps = [later - earlier for earlier, later in itertools.pairwise(polls)]
    short = [gap for gap in gaps if gap < 0.8 * POLL_INTERVAL]
    assert window / (4 * POLL_INTERVAL) <= len(polls) <= window / POLL_INTERVAL + 3, (
        len(polls),
        window,
    )
    assert len(short) <= 1, short
    print(
        f"\nNEW VIDEO DAG: uploads={count} runs={len(runs)} (burst of {BURST} + 1: "
        f"{len(runs) - UPLOADS} run(s), {len(stranded)} burst event(s) left for the next "
        f"upload) second-DAG runs={len(second_runs)} "
        f"polls={len(polls)} in {window:.0f}s (interval {POLL_INTERVAL:g}s), "
        f"shortest gap {min(gaps):.2f}s"
    )
