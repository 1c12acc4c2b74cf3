"""What a run produced, as Airflow and OpenLineage show it, in a real Airflow.

api-server, scheduler, dag-processor and triggerer as separate processes (``real_airflow``),
the OpenLineage provider on with a file transport, and a DAG written here whose VideoDB
tasks name NO outlets: upload a video, index it, clip it from a prompt (deferred to the
triggerer) and stream it. The run is started through the api-server's REST API. Proven,
on one deployment:

* the Assets view: ``GET /api/v2/assets`` lists the ``videodb://<collection>/<video>``
  asset and those of its index and streams, each tied to the operators' default
  ``AssetAlias`` and with its event from this run (``GET /api/v2/assets/events``), the
  task that produced it named;
* OpenLineage: a COMPLETE event per VideoDB task whose inputs and outputs are the
  ``videodb://`` datasets and whose ``videodb`` run facet holds the job id and the prompt;
  the API key appears in none of it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
from e2e_support import DEMO_PROMPT
from real_airflow import Deployment, deployed, deployment_env, port_open, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

JOB_SECONDS = 4.0

DAG_ID = "videodb_assets_openlineage"
TASKS = ("upload", "index", "clip", "stream")
#: The alias every VideoDB operator feeds unless told otherwise.
DEFAULT_ALIAS = "videodb"
STARTUP_TIMEOUT = 180.0
RUN_TIMEOUT = 240.0
OPENLINEAGE_NAMESPACE = "videodb-e2e"

_DAG = '''
"""Upload, index, clip and stream a video; no outlets named anywhere."""

import pendulum
from airflow.sdk import dag

from airflow_provider_videodb.operators.index import IndexSpokenWordsOperator
from airflow_provider_videodb.operators.upload import UploadVideoOperator
from airflow_provider_videodb.operators.videodb import ClipVideoOperator, GenerateStreamOperator

COLLECTION = {collection!r}
VIDEO = "{{{{ ti.xcom_pull(task_ids='upload')['video_id'] }}}}"


@dag(
    dag_id={dag_id!r},
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    params={{"prompt": "anything"}},
    default_args={{"retries": 1}},
)
def assets_openlineage():
    upload = UploadVideoOperator(task_id="upload", source={source!r}, collection_id=COLLECTION)
    index = IndexSpokenWordsOperator(task_id="index", video_id=VIDEO, collection_id=COLLECTION)
    clip = ClipVideoOperator(
        task_id="clip", video_id=VIDEO, prompt="{{{{ params.prompt }}}}", collection_id=COLLECTION
    )
    stream = GenerateStreamOperator(task_id="stream", video_id=VIDEO, collection_id=COLLECTION)
    upload >> index >> clip
    upload >> stream


assets_openlineage()
'''


@pytest.fixture
def openlineage_file(tmp_path: Path) -> Path:
    return tmp_path / "openlineage.jsonl"


@pytest.fixture
def deployment(
    server: Any,
    tmp_path: Path,
    demo: ModuleType,
    fresh_collection: str,
    new_media: list[Path],
    openlineage_file: Path,
) -> Iterator[Deployment]:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "assets_openlineage.py").write_text(
        _DAG.format(collection=fresh_collection, dag_id=DAG_ID, source=str(new_media[0]))
    )
    home = tmp_path / "airflow-home"
    home.mkdir()
    base = demo.airflow_env(
        home, base_url=server.base_url, api_key=server.api_key, dags_folder=dags
    )
    transport = {"type": "file", "log_file_path": str(openlineage_file), "append": True}
    env = deployment_env(
        base,
        parallelism=4,
        AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps(transport),
        AIRFLOW__OPENLINEAGE__NAMESPACE=OPENLINEAGE_NAMESPACE,
        # The event is written by a fork of the task process; on a busy machine the
        # default 10 s can pass before it is.
        AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT="60",
        # Airflow 3.3 sometimes fails a task that resumed from a deferral quickly (the
        # executor's event of its deferral arrives late); the DAG retries once, soon.
        AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY="3",
        # How often the scheduler activates the assets named only by alias events (60 s).
        AIRFLOW__SCHEDULER__PARSING_CLEANUP_INTERVAL="5",
    )
    with deployed(home, env) as deployment:
        yield deployment


def _xcom(deployment: Deployment, run_id: str, task_id: str) -> Any:
    rows = deployment.query(
        "select value from xcom where dag_id = ? and run_id = ? and task_id = ? "
        "and key = 'return_value'",
        DAG_ID,
        run_id,
        task_id,
    )
    return json.loads(rows[0][0])


def _stream_id(stream_url: str) -> str:
    return stream_url.rsplit("/", 1)[-1].removesuffix(".m3u8")


def _openlineage_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _complete(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The COMPLETE event of each of this DAG's tasks, by task id."""
    found = {}
    for event in events:
        name = event.get("job", {}).get("name", "")
        if event.get("eventType") == "COMPLETE" and name.startswith(f"{DAG_ID}."):
            found[name.removeprefix(f"{DAG_ID}.")] = event
    return found


def _videodb_datasets(datasets: list[dict[str, Any]]) -> set[str]:
    return {
        f"{dataset['namespace']}/{dataset['name']}"
        for dataset in datasets
        if dataset["namespace"].startswith("videodb://")
    }


def test_a_run_shows_its_videodb_assets_and_openlineage(
    deployment: Deployment, server: Any, fresh_collection: str, openlineage_file: Path
) -> None:
    # Jobs last a few seconds: a trigger that fires at once after its task deferred meets
    # Airflow 3.3's stale defer-exit race (apache/airflow#72716: the scheduler fails the
    # resumed task); a few seconds keep the run clear of it on a loaded machine.
    server.configure(job_seconds=JOB_SECONDS)
    wait_for(
        "the DAG to be parsed",
        lambda: deployment.query("select 1 from serialized_dag where dag_id = ?", DAG_ID),
        deployment,
        STARTUP_TIMEOUT,
    )
    wait_for("the api-server", lambda: port_open(deployment.api_port), deployment, STARTUP_TIMEOUT)
    with requests.Session() as rest:  # the simple auth manager's all-admins mode: no login
        _check(deployment, rest, server, fresh_collection, openlineage_file)


def _check(
    deployment: Deployment, rest: requests.Session, server: Any, collection: str, ol_file: Path
) -> None:
    """Start the run through the REST API, then check the Assets view and OpenLineage."""
    api = f"http://127.0.0.1:{deployment.api_port}/api/v2"

    run_id = f"e2e_{secrets.token_hex(4)}"
    started = rest.post(
        f"{api}/dags/{DAG_ID}/dagRuns",
        json={"dag_run_id": run_id, "logical_date": None, "conf": {"prompt": DEMO_PROMPT}},
        timeout=60,
    )
    assert started.status_code == 200, started.text

    def finished() -> str | None:
        rows = deployment.query(
            "select state from dag_run where dag_id = ? and run_id = ?", DAG_ID, run_id
        )
        state = rows[0][0] if rows else None
        return state if state in ("success", "failed") else None

    state = wait_for("the run to finish", finished, deployment, RUN_TIMEOUT)
    assert state == "success", deployment.query(
        "select task_id, state from task_instance where run_id = ?", run_id
    )

    video = _xcom(deployment, run_id, "upload")["video_id"]
    clip = _xcom(deployment, run_id, "clip")
    assert clip["shots"], clip  # the prompt matched: the clip made a stream
    base = f"videodb://{collection}/{video}"
    produced = {
        base: "upload",
        f"{base}/index/spoken_word": "index",
        f"{base}/stream/{_stream_id(clip['stream_url'])}": "clip",
        f"{base}/stream/{_stream_id(_xcom(deployment, run_id, 'stream')['stream_url'])}": (
            "stream"
        ),
    }

    # (c) The Assets view (its REST API): the produced assets, on the default alias, with
    # this run's events naming the task that produced each.
    # An asset first named by an alias event is shown (made active) by the scheduler's
    # periodic orphanage check, every [scheduler] parsing_cleanup_interval (5 s here).
    def listed_assets() -> requests.Response | None:
        answer = rest.get(
            f"{api}/assets",
            params={"uri_pattern": f"videodb://{collection}", "limit": "100"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        uris = {asset["uri"] for asset in answer.json()["assets"]}
        return answer if uris >= set(produced) else None

    listed = wait_for("the produced assets in the Assets view", listed_assets, deployment, 60)
    assets = {asset["uri"]: asset for asset in listed.json()["assets"]}
    assert set(assets) == set(produced), sorted(assets)
    for uri, asset in assets.items():
        assert DEFAULT_ALIAS in [alias["name"] for alias in asset["aliases"]], (uri, asset)
        assert asset["last_asset_event"] is not None, (uri, asset)
    answer = rest.get(
        f"{api}/assets/events", params={"source_run_id": run_id, "limit": "100"}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    events = [
        (event["uri"], event["source_task_id"], event["source_dag_id"])
        for event in answer.json()["asset_events"]
    ]
    assert sorted(events) == sorted((uri, task, DAG_ID) for uri, task in produced.items())

    # (d) OpenLineage: a COMPLETE event per task, its datasets the videodb ones.
    wait_for(
        "a COMPLETE OpenLineage event per task",
        lambda: set(TASKS) <= set(_complete(_openlineage_events(ol_file))),
        deployment,
        60,
    )
    complete = _complete(_openlineage_events(ol_file))
    by_task = {
        task: (
            _videodb_datasets(complete[task].get("inputs", [])),
            _videodb_datasets(complete[task].get("outputs", [])),
        )
        for task in TASKS
    }
    output_of = {task: uri for uri, task in produced.items()}
    assert by_task == {
        "upload": (set(), {base}),
        "index": ({base}, {output_of["index"]}),
        "clip": ({base}, {output_of["clip"]}),
        "stream": ({base}, {output_of["stream"]}),
    }
    assert {d["namespace"] for d in complete["upload"]["inputs"]} == {"file"}  # the file read
    facets = {task: complete[task]["run"]["facets"].get("videodb") for task in TASKS}
    index_job, clip_job = facets["index"], facets["clip"]
    assert index_job is not None and str(index_job["jobId"]).strip(), facets
    assert clip_job is not None and str(clip_job["jobId"]).strip(), facets
    assert clip_job["prompt"] == DEMO_PROMPT
    assert clip_job["jobId"] == clip["job_id"]
    text = ol_file.read_text()
    assert server.api_key not in text
    assert server.api_key not in listed.text + answer.text
    print(
        f"\nASSETS/OPENLINEAGE: {len(assets)} videodb assets listed, "
        f"{len(_openlineage_events(ol_file))} OpenLineage events"
    )
