"""The nightly pipeline DAG, run in-process with ``dag.test()`` against the local server.

``dag.test()`` is real Airflow (scheduling loop, XCom, templating, dynamic mapping, deferral
with the trigger run inline) without separate processes. It does not raise when a task fails,
so the run state is asserted explicitly. The night's new media are the demo videos (captions
embedded) in a folder, given as the ``source_folder`` param (a ``file://`` object-storage
path), uploaded into a fresh collection.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from e2e_support import DEMO_PROMPT, DEMO_QUERY, NIGHTLY_DAG_ID

pytestmark = pytest.mark.e2e

VIDEO_ID = re.compile(r"^m-[0-9a-z]+$")
UPLOAD_KEYS = {
    "media_id",
    "video_id",
    "media_type",
    "name",
    "collection_id",
    "length",
    "stream_url",
    "player_url",
    "job_id",
}
INDEX_KEYS = {
    "video_id",
    "index_type",
    "language_code",
    "segmentation_type",
    "already_indexed",
    "job_id",
}
SEARCH_KEYS = {
    "query",
    "video_id",
    "collection_id",
    "search_type",
    "index_type",
    "shots",
    "stream_url",
    "player_url",
}


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
def nightly_run(
    videodb_conn: str,
    example_dags: Path,
    tmp_path: Path,
    new_media: list[Path],
    fresh_collection: str,
) -> tuple[Any, Path]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(example_dags))
    assert not bag.import_errors
    dag = bag.get_dag(NIGHTLY_DAG_ID)
    assert dag is not None
    manifest_path = tmp_path / "out" / "manifest.json"
    run = dag.test(
        run_conf={
            "source_folder": new_media[0].parent.as_uri(),
            "collection_id": fresh_collection,
            "prompt": DEMO_PROMPT,
            "search_query": DEMO_QUERY,
            "manifest_path": str(manifest_path),
        }
    )
    return run, manifest_path


def test_nightly_pipeline_succeeds_with_the_documented_xcom_shapes(
    nightly_run: tuple[Any, Path],
    server: Any,
    demo: ModuleType,
    new_media: list[Path],
    fresh_collection: str,
) -> None:
    run, manifest_path = nightly_run
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert all(state == "success" for state in states.values()), states

    sources = _xcoms(run.run_id, "find_new_media")[-1]
    assert sources == [path.as_uri() for path in new_media]

    uploads = _xcoms(run.run_id, "upload")
    assert sorted(uploads) == [0, 1, 2]
    video_ids = [uploads[i]["video_id"] for i in range(3)]
    assert sorted(video_ids) == sorted(server.video_ids(fresh_collection))
    for index, media in uploads.items():
        assert set(media) == UPLOAD_KEYS
        assert VIDEO_ID.match(media["video_id"]) and media["media_id"] == media["video_id"]
        assert media["media_type"] == "video" and media["collection_id"] == fresh_collection
        assert media["name"] == new_media[index].stem
        assert media["length"] > 0

    indexes = _xcoms(run.run_id, "index_spoken_words")
    assert sorted(indexes) == [0, 1, 2]
    for index, result in indexes.items():
        assert set(result) == INDEX_KEYS
        assert result["video_id"] == video_ids[index]
        assert result["already_indexed"] is False and result["job_id"]

    clips = _xcoms(run.run_id, "clip")
    assert sorted(clips) == [0, 1, 2]
    for index, clip in clips.items():
        assert set(clip) == {"job_id", "video_id", "prompt", "shots", "stream_url", "player_url"}
        assert clip["video_id"] == video_ids[index]
        assert clip["prompt"] == DEMO_PROMPT  # rendered from the DAG param
        assert clip["shots"], f"the demo prompt matches every demo video: {clip}"
        assert all("water" in shot["text"].lower() for shot in clip["shots"])

    searches = _xcoms(run.run_id, "search")
    assert sorted(searches) == [0, 1, 2]
    for index, found in searches.items():
        assert set(found) == SEARCH_KEYS
        assert found["video_id"] == video_ids[index] and found["query"] == DEMO_QUERY
        assert found["shots"], found
        for shot in found["shots"]:
            assert 0 <= shot["start"] < shot["end"]
            assert shot["video_id"] == video_ids[index]
            assert "water" in shot["text"].lower()
        assert found["stream_url"].endswith(".m3u8")

    # Exactly one upload and one index job per video (retries would show here).
    journal = server.journal()
    registers = [e for e in journal if e["method"] == "POST" and e["path"].endswith("/upload")]
    assert len(registers) == 3, registers
    index_posts = [e for e in journal if e["method"] == "POST" and e["path"].endswith("/index")]
    assert sorted(e["path"] for e in index_posts) == sorted(f"/video/{v}/index" for v in video_ids)

    manifest = json.loads(manifest_path.read_text())
    assert manifest == _xcoms(run.run_id, "publish_manifest")[-1]
    assert manifest["prompt"] == DEMO_PROMPT and manifest["run_id"] == run.run_id
    assert [v["video_id"] for v in manifest["videos"]] == sorted(video_ids)
    for video in manifest["videos"]:
        assert video["shot_count"] >= 1 and video["search_shot_count"] >= 1
        assert video["trailer_timeline"]

    # Every stream the run produced plays: full, clips, search and trailer.
    urls = [url for _, _, url in demo.manifest_streams(manifest)]
    assert len(urls) == 12
    failures = {url: demo.check_playable(url) for url in urls}
    assert not any(failures.values()), failures
