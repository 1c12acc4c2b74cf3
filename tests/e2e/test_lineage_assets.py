"""The Assets view gets what a run produced: ``dag.test()`` against the local server, then
Airflow's own metadata DB (what the Assets view and its REST API read) holds the ``videodb://``
assets and their events. Two DAGs: one whose tasks name an ``AssetAlias`` outlet, and one that
writes nothing (the operators' default alias, a mapped upload among them), where a task with
``lineage_alias=None`` produces no asset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

DAG_ID = "videodb_lineage_assets"
_DAG_FILE = f'''
from airflow.sdk import AssetAlias, dag

from airflow_provider_videodb.operators.upload import UploadVideoOperator
from airflow_provider_videodb.operators.videodb import GenerateStreamOperator


@dag(dag_id="{DAG_ID}", schedule=None, params={{"source": "", "collection_id": "default"}})
def lineage_assets():
    upload = UploadVideoOperator(
        task_id="upload",
        source="{{{{ params.source }}}}",
        collection_id="{{{{ params.collection_id }}}}",
        outlets=[AssetAlias("videodb-uploads")],
    )
    stream = GenerateStreamOperator(
        task_id="stream",
        video_id="{{{{ ti.xcom_pull(task_ids='upload')['video_id'] }}}}",
        timeline=[[0, 2]],
        collection_id="{{{{ params.collection_id }}}}",
        outlets=[AssetAlias("videodb-streams")],
    )
    upload >> stream


lineage_assets()
'''


#: Nothing about assets written: the default alias of every operator, on a mapped task too.
_DAG_FILE_DEFAULTS = f'''
from airflow.sdk import dag

from airflow_provider_videodb.operators.upload import UploadVideoOperator
from airflow_provider_videodb.operators.videodb import GenerateStreamOperator


@dag(dag_id="{DAG_ID}", schedule=None, params={{"source": "", "collection_id": "default"}})
def lineage_assets():
    upload = UploadVideoOperator.partial(
        task_id="upload", collection_id="{{{{ params.collection_id }}}}"
    ).expand(source=["{{{{ params.source }}}}"])
    stream = GenerateStreamOperator(
        task_id="stream",
        video_id="{{{{ ti.xcom_pull(task_ids='upload', map_indexes=0)['video_id'] }}}}",
        timeline=[[0, 2]],
        collection_id="{{{{ params.collection_id }}}}",
    )
    unlisted = GenerateStreamOperator(
        task_id="unlisted",
        video_id="{{{{ ti.xcom_pull(task_ids='upload', map_indexes=0)['video_id'] }}}}",
        timeline=[[0, 1]],
        collection_id="{{{{ params.collection_id }}}}",
        lineage_alias=None,
    )
    upload >> [stream, unlisted]


lineage_assets()
'''


@pytest.mark.parametrize(
    "dag_file", [_DAG_FILE, _DAG_FILE_DEFAULTS], ids=["alias-outlets", "nothing-written"]
)
def test_a_run_puts_its_videos_and_streams_in_the_assets_view(
    dag_file: str,
    videodb_conn: str,
    airflow_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    new_media: list[Path],
    fresh_collection: str,
) -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "lineage_assets.py").write_text(dag_file)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(folder))
    monkeypatch.setattr("airflow.settings.DAGS_FOLDER", str(folder))
    bag = DagBag(str(folder))
    assert not bag.import_errors
    dag = bag.get_dag(DAG_ID)
    assert dag is not None
    run: Any = dag.test(run_conf={"source": str(new_media[0]), "collection_id": fresh_collection})
    assert run.state == "success"

    with create_session() as session:

        def returned(task_id: str) -> Any:
            row = session.scalars(
                XComModel.get_many(
                    run_id=run.run_id, dag_ids=DAG_ID, task_ids=task_id, key="return_value"
                )
            ).first()
            return XComModel.deserialize_value(row)

        video = returned("upload")["video_id"]
        stream_id = returned("stream")["stream_url"].rsplit("/", 1)[-1].removesuffix(".m3u8")
        expected = {
            f"videodb://{fresh_collection}/{video}": "upload",
            f"videodb://{fresh_collection}/{video}/stream/{stream_id}": "stream",
        }
        assets = session.scalars(select(AssetModel).where(AssetModel.uri.in_(list(expected)))).all()
        assert {asset.uri for asset in assets} == set(expected)
        for asset in assets:
            events = session.scalars(
                select(AssetEvent).where(AssetEvent.asset_id == asset.id)
            ).all()
            assert [(e.source_run_id, e.source_task_id) for e in events] == [
                (run.run_id, expected[asset.uri])
            ]

        if dag_file is _DAG_FILE_DEFAULTS:  # the opted-out task's stream is nobody's asset
            unlisted = returned("unlisted")["stream_url"].rsplit("/", 1)[-1]
            unlisted_uri = f"videodb://{fresh_collection}/{video}/stream/"
            unlisted_uri += unlisted.removesuffix(".m3u8")
            assert unlisted_uri not in expected
            assert not session.scalars(
                select(AssetModel).where(AssetModel.uri == unlisted_uri)
            ).all()
