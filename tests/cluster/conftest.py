"""Fixtures of the cluster tests: one real Airflow cluster for the module, and its media.

The cluster (``tests/cluster/cluster.py``: Postgres, Redis, CeleryExecutor with two workers,
scheduler, dag-processor, api-server, two triggerers) talks to the session's local VideoDB
server (``videodb_server`` from ``tests/conftest.py``). Its DAGs folder holds the nightly
pipeline (``example_dags/videodb_nightly_pipeline.py``), ``KILL_DAG_ID`` and ``FAULTS_DAG_ID``,
DAGs of deferrable job tasks for the triggerer-crash test (clean, and under the soak's faults),
and ``WORKER_CRASH_DAG_ID``. The night's media are the three demo
videos (captions muxed in, ``new_media``) under many names, served over HTTP on loopback:
the server keeps every upload as a video of its own (it does not dedup by content).
"""

from __future__ import annotations

import functools
import http.server
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.cluster.cluster import Cluster, running_cluster
from tests.e2e.e2e_support import DAGS_FOLDER, NIGHTLY_DAG_ID

#: Videos of the nightly run (the DAG's own ``max_videos`` default caps the fan-out at 50).
NIGHT_VIDEOS = 50
#: The crash test's DAG: this many of each kind of job (index: one per demo video).
KILL_DAG_ID = "cluster_triggerer_crash"
KILL_CLIPS = 12
KILL_UPLOADS = 10
WORKERS = 2
WORKER_CONCURRENCY = 3
#: The worker-crash test's DAG: one clip task whose first try stalls between recording its
#: job and deferring, so that its Celery worker can be killed exactly there.
WORKER_CRASH_DAG_ID = "cluster_worker_crash"
WORKER_CRASH_PROMPT = "the worker crash"
#: A task whose worker died is failed (and retried) once its heartbeat is this old.
TASK_HEARTBEAT_TIMEOUT = 45

#: The triggerer-crash test under the soak's fault rates: the same tasks, which retry (a
#: POST /clip dropped before the service took it fails the try; the retry submits again).
FAULTS_DAG_ID = "cluster_triggerer_crash_under_faults"


def job_tasks_dag(dag_id: str, collection_env: str, retries: int) -> str:
    """The source of a DAG of deferrable job tasks that all wait at once (``KILL_CLIPS``
    clips, an upload from each kill URL into the collection named by ``collection_env``, a
    spoken-word index of each video), each task with ``retries`` retries 2 s apart."""
    return f'''
"""Deferrable job tasks that all wait at once: clips, uploads from a URL, spoken-word indexes."""
import os
from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG

from airflow_provider_videodb.operators.index import IndexSpokenWordsOperator
from airflow_provider_videodb.operators.upload import UploadVideoOperator
from airflow_provider_videodb.operators.videodb import ClipVideoOperator

VIDEOS = os.environ["CLUSTER_KILL_VIDEO_IDS"].split(",")
URLS = os.environ["CLUSTER_KILL_MEDIA_URLS"].split(",")
FAST = dict(
    deferrable=True, poll_interval=1.0, retries={retries}, retry_delay=timedelta(seconds=2)
)

with DAG(
    "{dag_id}",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_tasks=64,
):
    for index in range({KILL_CLIPS}):
        # No lineage alias for the clips: clips of one video often compile to the same
        # stream, and two tasks that record one new asset through an alias in the same
        # instant race in Airflow's metadata DB (a UniqueViolation on the asset table fails
        # one of them; docs/troubleshooting.rst). This test is about the triggerer.
        ClipVideoOperator(
            task_id=f"clip_{{index}}",
            video_id=VIDEOS[index % len(VIDEOS)],
            prompt=f"goal {{index}}",
            lineage_alias=None,
            **FAST,
        )
    for index, url in enumerate(URLS):
        UploadVideoOperator(
            task_id=f"upload_{{index}}",
            source=url,
            collection_id=os.environ["{collection_env}"],
            **FAST,
        )
    for index, video in enumerate(VIDEOS):
        # force: a new job even for a video indexed before; one video each (the server
        # hands a second index of a video that is being indexed the running job)
        IndexSpokenWordsOperator(task_id=f"index_{{index}}", video_id=video, force=True, **FAST)
'''


WORKER_CRASH_DAG = f'''
"""A clip whose first try stops between recording its job and deferring (where a worker dies)."""
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow.sdk import DAG

from airflow_provider_videodb.operators.videodb import ClipVideoOperator


class ClipThatStallsBeforeDeferring(ClipVideoOperator):
    """Try 1 writes its pid to a marker file once the job is recorded, then hangs instead of
    deferring; later tries run as shipped."""

    def execute(self, context):
        self.stall = context["ti"].try_number == 1
        return super().execute(context)

    def defer(self, *args, **kwargs):
        if self.stall:
            marker = Path(os.environ["CLUSTER_STALL_DIR"]) / f"{{self.task_id}}.pid"
            marker.write_text(str(os.getpid()))
            time.sleep(3600)
        super().defer(*args, **kwargs)


with DAG(
    "{WORKER_CRASH_DAG_ID}",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
):
    ClipThatStallsBeforeDeferring(
        task_id="clip",
        video_id=os.environ["CLUSTER_KILL_VIDEO_IDS"].split(",")[0],
        prompt="{WORKER_CRASH_PROMPT}",
        deferrable=True,
        poll_interval=1.0,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
'''


@dataclass
class MediaSite:
    """Media files served over HTTP on loopback."""

    base_url: str
    folder: Path

    def urls(self, prefix: str) -> list[str]:
        """The URLs of the files whose names start with ``prefix``, sorted."""
        names = sorted(p.name for p in self.folder.iterdir() if p.name.startswith(prefix))
        return [f"{self.base_url}/{name}" for name in names]


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _link(source: Path, target: Path) -> None:
    """``target`` as a hard link of ``source`` (a copy across file systems)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


@pytest.fixture(scope="module")
def cluster_media(
    new_media: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MediaSite]:
    """``night-NN-<name>.mp4`` (``NIGHT_VIDEOS`` of them) and ``kill-NN-<name>.mp4``
    (``KILL_UPLOADS``): the demo videos under many names, served on loopback."""
    folder = tmp_path_factory.mktemp("cluster-media")
    for prefix, count in (("night", NIGHT_VIDEOS), ("kill", KILL_UPLOADS)):
        for number in range(count):
            source = new_media[number % len(new_media)]
            _link(source, folder / f"{prefix}-{number:02d}-{source.name}")
    handler = functools.partial(_QuietFiles, directory=str(folder))
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield MediaSite(f"http://127.0.0.1:{site.server_address[1]}", folder)
    finally:
        site.shutdown()
        site.server_close()
        thread.join(5)


def new_collection(server: Any, name: str) -> str:
    """A new, empty collection on ``server``; its id."""
    answer = requests.post(
        f"{server.base_url}/collection",
        json={"name": f"{name}-{secrets.token_hex(4)}", "description": name, "is_public": False},
        headers={"x-access-token": server.api_key},
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["data"]["id"])


@dataclass
class KillSetup:
    """What the crash DAGs were parsed with (each DAG uploads into its own collection: the
    server keeps one video per collection, source URL and name)."""

    collection_id: str
    faults_collection_id: str
    video_ids: list[str]
    media_urls: list[str]

    @property
    def tasks(self) -> int:
        return KILL_CLIPS + len(self.media_urls) + len(self.video_ids)


@pytest.fixture(scope="module")
def kill_setup(videodb_server: Any, cluster_media: MediaSite) -> KillSetup:
    return KillSetup(
        collection_id=new_collection(videodb_server, "cluster-kill"),
        faults_collection_id=new_collection(videodb_server, "cluster-kill-faults"),
        video_ids=videodb_server.video_ids(),
        media_urls=cluster_media.urls("kill-"),
    )


@pytest.fixture(scope="module")
def cluster(
    videodb_server: Any, kill_setup: KillSetup, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """The running cluster (stopped, every process of it, when the module's tests are done)."""
    workdir = tmp_path_factory.mktemp("cluster")
    dags = workdir / "dags"
    dags.mkdir()
    shutil.copy(DAGS_FOLDER / f"{NIGHTLY_DAG_ID}.py", dags / f"{NIGHTLY_DAG_ID}.py")
    (dags / f"{KILL_DAG_ID}.py").write_text(
        job_tasks_dag(KILL_DAG_ID, "CLUSTER_KILL_COLLECTION", retries=0)
    )
    (dags / f"{FAULTS_DAG_ID}.py").write_text(
        job_tasks_dag(FAULTS_DAG_ID, "CLUSTER_FAULTS_COLLECTION", retries=3)
    )
    (dags / f"{WORKER_CRASH_DAG_ID}.py").write_text(WORKER_CRASH_DAG)
    stall_dir = workdir / "stalled"
    stall_dir.mkdir()
    extra = {
        "CLUSTER_KILL_VIDEO_IDS": ",".join(kill_setup.video_ids),
        "CLUSTER_KILL_MEDIA_URLS": ",".join(kill_setup.media_urls),
        "CLUSTER_KILL_COLLECTION": kill_setup.collection_id,
        "CLUSTER_FAULTS_COLLECTION": kill_setup.faults_collection_id,
        "CLUSTER_STALL_DIR": str(stall_dir),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(TASK_HEARTBEAT_TIMEOUT),
    }
    with running_cluster(
        workdir,
        base_url=videodb_server.base_url,
        api_key=videodb_server.api_key,
        dags_folder=dags,
        workers=WORKERS,
        worker_concurrency=WORKER_CONCURRENCY,
        triggerers=2,
        extra_env=extra,
    ) as running:
        yield running
