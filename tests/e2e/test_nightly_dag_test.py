"""The nightly highlights DAG, run in-process with ``dag.test()`` against the local server.

``dag.test()`` is real Airflow (scheduling loop, XCom, templating, dynamic mapping, deferral
with the trigger run inline) without separate processes. It does not raise when a task fails,
so the run state is asserted explicitly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from e2e_support import DEMO_PROMPT, NIGHTLY_DAG_ID

pytestmark = pytest.mark.e2e

VIDEO_ID = re.compile(r"^m-[0-9a-z]+$")


def _xcoms(run_id: str, task_id: str, key: str = "return_value") -> dict[int, Any]:
    """map_index -> deserialised XCom value for one task of the run."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(
            XComModel.get_many(run_id=run_id, dag_ids=NIGHTLY_DAG_ID, task_ids=task_id, key=key)
        ).all()
        return {row.map_index: XComModel.deserialize_value(row) for row in rows}


@pytest.fixture
def nightly_run(videodb_conn: str, example_dags: Path, tmp_path: Path) -> tuple[Any, Path]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(example_dags))
    assert not bag.import_errors
    dag = bag.get_dag(NIGHTLY_DAG_ID)
    assert dag is not None
    manifest_path = tmp_path / "out" / "manifest.json"
    run = dag.test(run_conf={"prompt": DEMO_PROMPT, "manifest_path": str(manifest_path)})
    return run, manifest_path


def test_nightly_dag_succeeds_with_the_documented_xcom_shapes(
    nightly_run: tuple[Any, Path], videodb_server: Any, demo: ModuleType
) -> None:
    run, manifest_path = nightly_run
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert all(state == "success" for state in states.values()), states

    video_ids = _xcoms(run.run_id, "list_videos")[-1]
    assert sorted(video_ids) == sorted(videodb_server.video_ids())
    assert len(video_ids) == 3 and all(VIDEO_ID.match(v) for v in video_ids)

    full = _xcoms(run.run_id, "full_stream")
    assert sorted(full) == [0, 1, 2]
    for index, stream in full.items():
        assert set(stream) == {"video_id", "stream_url", "player_url", "timeline"}
        assert stream["video_id"] == video_ids[index]
        assert stream["timeline"] is None
        assert stream["stream_url"].endswith(".m3u8")
        # The extra link reads this key.
        assert _xcoms(run.run_id, "full_stream", key="player_url")[index] == stream["player_url"]

    clips = _xcoms(run.run_id, "clip")
    assert sorted(clips) == [0, 1, 2]
    job_ids = _xcoms(run.run_id, "clip", key="job_id")
    for index, clip in clips.items():
        assert set(clip) == {"job_id", "video_id", "prompt", "shots", "stream_url", "player_url"}
        assert clip["video_id"] == video_ids[index]
        assert clip["prompt"] == DEMO_PROMPT  # rendered from the DAG param
        assert clip["job_id"] == job_ids[index]  # pushed before the wait
        assert clip["shots"], f"the demo prompt matches every demo video: {clip}"
        for shot in clip["shots"]:
            assert set(shot) == {"start", "end", "text", "score"}
            assert 0 <= shot["start"] < shot["end"]
            assert "water" in shot["text"].lower()
        assert clip["stream_url"].endswith(".m3u8")

    trailers = _xcoms(run.run_id, "trailer")
    plans = _xcoms(run.run_id, "plan_trailer")
    for index, trailer in trailers.items():
        assert trailer["video_id"] == plans[index]["video_id"]
        assert [list(seg) for seg in trailer["timeline"]] == plans[index]["timeline"]
        shot_spans = [[s["start"], s["end"]] for s in clips[index]["shots"]]
        assert all(seg in shot_spans for seg in plans[index]["timeline"])

    manifest = json.loads(manifest_path.read_text())
    assert manifest == _xcoms(run.run_id, "publish_manifest")[-1]
    assert manifest["prompt"] == DEMO_PROMPT and manifest["run_id"] == run.run_id
    assert [v["video_id"] for v in manifest["videos"]] == sorted(video_ids)
    for video in manifest["videos"]:
        assert video["shot_count"] >= 1
        assert video["trailer_timeline"]

    # Every stream the run produced plays: full, compiled clips and trailer.
    urls = [url for _, _, url in demo.manifest_streams(manifest)]
    assert len(urls) == 9
    failures = {url: demo.check_playable(url) for url in urls}
    assert not any(failures.values()), failures
