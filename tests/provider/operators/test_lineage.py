"""What each operator reports as lineage, run against the local VideoDB server.

The lineage collector is Airflow's own: Airflow turns it on only when a plugin registers a
hook-lineage reader (the OpenLineage provider does), so the ``collector`` fixture registers one
the way a deployment does, a plugin file in the plugins folder, and reads what the operators
reported. ``AssetAlias`` outlets are fed through Airflow's real ``OutletEventAccessors``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import AssetAlias
from airflow.sdk.execution_time.context import OutletEventAccessors

try:
    from airflow.sdk.lineage import HookLineageCollector
except ImportError:  # Airflow 3.1
    from airflow.lineage.hook import HookLineageCollector  # type: ignore[no-redef]

from airflow_provider_videodb.hooks.videodb import VideoDBHook
from airflow_provider_videodb.lineage import TaskLineage
from airflow_provider_videodb.operators.index import (
    IndexScenesOperator,
    IndexSpokenWordsOperator,
)
from airflow_provider_videodb.operators.search import SearchVideoOperator
from airflow_provider_videodb.operators.upload import UploadVideoOperator
from airflow_provider_videodb.operators.videodb import ClipVideoOperator, GenerateStreamOperator
from tests.e2e.e2e_support import DEMO_QUERY
from tests.provider.operators.operator_support import make_context
from tests.provider.operators.test_pipeline_operators import FAST, finish_deferred

_READER_PLUGIN = """
from airflow.plugins_manager import AirflowPlugin
from airflow.sdk.lineage import HookLineageReader


class VideoDBTestLineageReader(AirflowPlugin):
    name = "videodb_test_lineage_reader"
    hook_lineage_readers = [HookLineageReader]
"""


@pytest.fixture
def collector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HookLineageCollector]:
    """Airflow's hook-lineage collector, turned on by a reader plugin in the plugins folder."""
    try:
        from airflow.sdk import lineage, plugins_manager
    except ImportError:  # Airflow 3.1: the collector and its plugin state live in core
        yield _collector_on_airflow_3_1(monkeypatch)
        return
    from airflow import settings

    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "videodb_test_lineage_reader.py").write_text(_READER_PLUGIN)
    monkeypatch.setattr(settings, "PLUGINS_FOLDER", str(folder))
    caches = (
        plugins_manager._get_plugins,
        plugins_manager.get_hook_lineage_readers_plugins,
        lineage.get_hook_lineage_collector,
    )
    for cached in caches:
        cached.cache_clear()
    collected = lineage.get_hook_lineage_collector()
    assert type(collected) is HookLineageCollector  # not the no-op one
    yield collected
    for cached in caches:
        cached.cache_clear()


def _collector_on_airflow_3_1(monkeypatch: pytest.MonkeyPatch) -> HookLineageCollector:
    # 3.1 keeps the discovered reader classes and the collector in module globals: the reader
    # is registered there, as plugin discovery would have done, and the collector made anew.
    from airflow import plugins_manager
    from airflow.lineage import hook

    monkeypatch.setattr(plugins_manager, "hook_lineage_reader_classes", [hook.HookLineageReader])
    monkeypatch.setattr(hook, "_hook_lineage_collector", None)
    collected = hook.get_hook_lineage_collector()
    assert type(collected) is HookLineageCollector
    return collected


def uris(collected: HookLineageCollector) -> tuple[list[str], list[str]]:
    """The (inputs, outputs) that VideoDB hooks reported to the collector.

    (Airflow's ``ObjectStoragePath`` reports the file an upload reads by itself, with the
    path as its context: those entries are Airflow's, not the provider's.)
    """
    found = collected.collected_assets

    def ours(infos: list[Any]) -> list[str]:
        return [i.asset.uri for i in infos if isinstance(i.context, VideoDBHook)]

    return ours(found.inputs), ours(found.outputs)


def stream_id(url: str) -> str:
    return url.rsplit("/", 1)[-1].removesuffix(".m3u8")


def test_the_pipeline_reports_what_each_task_read_and_produced(
    videodb_conn: str,
    new_media: list[Path],
    fresh_collection: str,
    collector: HookLineageCollector,
) -> None:
    base = f"videodb://{fresh_collection}"
    upload = UploadVideoOperator(
        task_id="upload", source=str(new_media[0]), collection_id=fresh_collection, **FAST
    )
    media = upload.execute(make_context())
    video = media["video_id"]
    source = new_media[0].absolute().as_uri()
    assert uris(collector) == ([source], [f"{base}/{video}"])
    assert upload.videodb_lineage == TaskLineage((source,), (f"{base}/{video}",), {})

    index = IndexSpokenWordsOperator(
        task_id="index", video_id=video, collection_id=fresh_collection, **FAST
    )
    indexed = finish_deferred(index, make_context(), kind="index")  # lineage after resuming
    assert index.videodb_lineage == TaskLineage(
        (f"{base}/{video}",),
        (f"{base}/{video}/index/spoken_word",),
        {"job_id": indexed["job_id"]},
    )

    scenes = IndexScenesOperator(
        task_id="scenes",
        video_id=video,
        collection_id=fresh_collection,
        extraction_type="time",
        extraction_config={"time": 5},
        prompt="describe the scene",
        deferrable=False,
        **FAST,
    )
    scene_index = scenes.execute(make_context())["scene_index_id"]
    assert scenes.videodb_lineage is not None
    assert scenes.videodb_lineage.outputs == (f"{base}/{video}/index/scene/{scene_index}",)
    assert scenes.videodb_lineage.run_facts["prompt"] == "describe the scene"

    search = SearchVideoOperator(
        task_id="search",
        query=DEMO_QUERY,
        video_id=video,
        collection_id=fresh_collection,
        compile_stream=True,
    )
    found = search.execute(make_context())
    assert search.videodb_lineage == TaskLineage(
        (f"{base}/{video}",),
        (f"{base}/{video}/stream/{stream_id(found['stream_url'])}",),
        {"query": DEMO_QUERY},
    )
    # Across the collection, without a stream: the collection read, nothing produced.
    everywhere = SearchVideoOperator(
        task_id="all", query=DEMO_QUERY, collection_id=fresh_collection
    )
    everywhere.execute(make_context())
    assert everywhere.videodb_lineage == TaskLineage((base,), (), {"query": DEMO_QUERY})

    clip = ClipVideoOperator(
        task_id="clip",
        video_id=video,
        prompt=DEMO_QUERY,
        collection_id=fresh_collection,
        deferrable=False,
        **FAST,
    )
    clipped = clip.execute(make_context())
    assert clipped["stream_url"], clipped
    assert clip.videodb_lineage == TaskLineage(
        (f"{base}/{video}",),
        (f"{base}/{video}/stream/{stream_id(clipped['stream_url'])}",),
        {"job_id": clipped["job_id"], "prompt": DEMO_QUERY},
    )

    stream = GenerateStreamOperator(
        task_id="stream", video_id=video, timeline=[[0, 2]], collection_id=fresh_collection
    )
    streamed = stream.execute(make_context())
    stream_uri = f"{base}/{video}/stream/{stream_id(streamed['stream_url'])}"
    assert stream.videodb_lineage == TaskLineage((f"{base}/{video}",), (stream_uri,), {})

    # Everything reached Airflow's collector (one entry per asset and hook).
    inputs, outputs = uris(collector)
    assert set(inputs) == {source, f"{base}/{video}", base}
    for op in (upload, index, scenes, search, clip, stream):
        assert op.videodb_lineage is not None
        assert set(op.videodb_lineage.outputs) <= set(outputs)
    assert all("sk-" not in uri and "?" not in uri for uri in inputs + outputs)


def test_the_collection_of_the_connection_names_the_assets(
    videodb_conn: str, collector: HookLineageCollector
) -> None:
    # No collection_id on the task: the connection's ("default") is the asset's collection.
    hook = VideoDBHook(videodb_conn)
    try:
        video = hook.list_videos()[0]["id"]
    finally:
        hook.close()
    op = GenerateStreamOperator(task_id="stream", video_id=video)
    op.execute(make_context())
    assert op.videodb_lineage is not None
    assert op.videodb_lineage.inputs == (f"videodb://default/{video}",)
    assert op.videodb_lineage.outputs[0].startswith(f"videodb://default/{video}/stream/")


def test_asset_alias_outlets_receive_the_produced_assets(
    videodb_conn: str, new_media: list[Path], fresh_collection: str
) -> None:
    alias = AssetAlias("videodb-uploads")
    context = make_context()
    context["outlet_events"] = OutletEventAccessors()
    op = UploadVideoOperator(
        task_id="upload",
        source=str(new_media[1]),
        collection_id=fresh_collection,
        outlets=[alias],
        **FAST,
    )
    video = op.execute(context)["video_id"]
    (event,) = context["outlet_events"][alias].asset_alias_events
    assert event.source_alias_name == "videodb-uploads"
    assert event.dest_asset_key.uri == f"videodb://{fresh_collection}/{video}"


def test_without_outlet_events_an_alias_is_left_alone_and_the_task_succeeds(
    videodb_conn: str, new_media: list[Path], fresh_collection: str
) -> None:
    op = UploadVideoOperator(
        task_id="upload",
        source=str(new_media[2]),
        collection_id=fresh_collection,
        outlets=[AssetAlias("videodb-uploads")],
        **FAST,
    )
    assert op.execute(make_context())["video_id"]  # the stand-in context has no outlet_events


# -- OpenLineage -------------------------------------------------------------------------------


def test_parse_time_imports_load_no_openlineage() -> None:
    probe = textwrap.dedent(
        """
        import json, sys
        import airflow_provider_videodb.operators.videodb, airflow_provider_videodb.operators.upload
        import airflow_provider_videodb.operators.index, airflow_provider_videodb.operators.search
        print(json.dumps(sorted(sys.modules)))
        """
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert "airflow_provider_videodb.openlineage_facets" not in loaded
    # Airflow's own configuration reads every installed provider's metadata (its package and
    # get_provider_info); the OpenLineage client and the provider's code are what must not load.
    metadata = {"airflow.providers.openlineage", "airflow.providers.openlineage.get_provider_info"}
    loaded_ol = [
        m for m in loaded if m.startswith(("openlineage", "airflow.providers.openlineage"))
    ]
    assert not set(loaded_ol) - metadata, loaded_ol


def test_openlineage_methods_return_the_runs_datasets_and_facets(
    videodb_conn: str, new_media: list[Path], fresh_collection: str
) -> None:
    pytest.importorskip(
        "airflow.providers.openlineage",
        reason="the optional 'openlineage' extra (apache-airflow-providers-openlineage) is not "
        "installed in this environment",
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_provider_videodb.openlineage_facets import RUN_FACET_KEY

    op = SearchVideoOperator(task_id="s", query="nothing at all here", collection_id="default")
    failed = op.get_openlineage_facets_on_failure(None)  # before any run: the fields' facts
    assert isinstance(failed, OperatorLineage) and failed.inputs == [] == failed.outputs
    assert failed.run_facets[RUN_FACET_KEY].query == "nothing at all here"

    upload = UploadVideoOperator(
        task_id="upload", source=str(new_media[0]), collection_id=fresh_collection, **FAST
    )
    video = upload.execute(make_context())["video_id"]
    done = upload.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in done.outputs] == [
        (f"videodb://{fresh_collection}", video)
    ]
    # The file it read, and no run facet: registered at once, no job, no prompt.
    assert [(d.namespace, d.name) for d in done.inputs] == [("file", str(new_media[0]))]
    assert done.run_facets == {}

    clip = ClipVideoOperator(
        task_id="clip",
        video_id=video,
        prompt=DEMO_QUERY,
        collection_id=fresh_collection,
        deferrable=False,
        **FAST,
    )
    result = clip.execute(make_context())
    lineage = clip.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        (f"videodb://{fresh_collection}", video)
    ]
    assert lineage.outputs[0].name.startswith(f"{video}/stream/")
    facet = lineage.run_facets[RUN_FACET_KEY]
    assert (facet.jobId, facet.prompt, facet.query) == (result["job_id"], DEMO_QUERY, None)
    assert "sk-" not in json.dumps(facet.__dict__, default=str)


def test_a_failed_job_keeps_its_id_for_the_failure_facets(
    server: Any, videodb_conn: str, new_media: list[Path], fresh_collection: str
) -> None:
    from airflow_provider_videodb.exceptions import VideoDBJobFailedError

    upload = UploadVideoOperator(
        task_id="upload", source=str(new_media[0]), collection_id=fresh_collection, **FAST
    )
    video = upload.execute(make_context())["video_id"]
    server.set_faults([{"method": "POST", "path": "/video/*/clip", "kind": "fail_job"}])
    clip = ClipVideoOperator(
        task_id="clip",
        video_id=video,
        prompt=DEMO_QUERY,
        collection_id=fresh_collection,
        deferrable=False,
        **FAST,
    )
    context = make_context()
    with pytest.raises(VideoDBJobFailedError):
        clip.execute(context)
    assert clip.videodb_job_id == context["ti"].xcoms["job_id"]
    assert clip.videodb_lineage is None  # nothing was produced, nothing reported

    if importlib.util.find_spec("airflow.providers.openlineage") is None:
        pytest.skip(
            "the optional 'openlineage' extra (apache-airflow-providers-openlineage) is not "
            "installed in this environment: the OperatorLineage part is not run"
        )
    from airflow_provider_videodb.openlineage_facets import RUN_FACET_KEY

    failed = clip.get_openlineage_facets_on_failure(None)
    assert failed.inputs == [] == failed.outputs
    facet = failed.run_facets[RUN_FACET_KEY]
    assert (facet.jobId, facet.prompt) == (clip.videodb_job_id, DEMO_QUERY)
