"""The ``videodb://`` asset scheme as Airflow itself uses it: ``Asset(...)`` goes through the
provider's handler (found by Airflow's providers manager from the provider info), the lineage
collector builds assets with the provider's factory, and bad URIs fail with the part named."""

from __future__ import annotations

import urllib.parse
import warnings
from typing import Any

import pytest
from airflow.sdk import Asset

from airflow_provider_videodb import assets, get_provider_info

C, V = "c-night1", "m-a1B2"

GOOD = {
    # as written -> as Airflow keeps it
    f"videodb://{C}": f"videodb://{C}",
    f"VideoDB://{C}/": f"videodb://{C}",
    "videodb://default/m-1": "videodb://default/m-1",
    f"videodb://{C}/{V}//": f"videodb://{C}/{V}",
    f"videodb://{C}/a-9": f"videodb://{C}/a-9",
    f"videodb://{C}/img-9": f"videodb://{C}/img-9",
    f"videodb://{C}/{V}/index/spoken_word": f"videodb://{C}/{V}/index/spoken_word",
    f"videodb://{C}/{V}/index/scene/idx-7": f"videodb://{C}/{V}/index/scene/idx-7",
    f"videodb://{C}/{V}/stream/3f1c-77_a": f"videodb://{C}/{V}/stream/3f1c-77_a",
    f"videodb://{C}/stream/s1": f"videodb://{C}/stream/s1",
    f"videodb://{C}/{V}#part": f"videodb://{C}/{V}",  # Airflow drops a fragment first
}

BAD = [
    # (URI, the part the message names, the value it shows)
    ("videodb:///m-1", "the collection", "''"),
    ("videodb://", "the collection", "''"),
    ("videodb://prod/m-1", "the collection", "'prod'"),
    (f"videodb://{C}:8080/m-1", "the host", "'<hidden>'"),
    (f"videodb://admin@{C}/m-1", "the host", "'<hidden>'"),
    (f"videodb://{C}/m-1?api_key=sk-secret", "the query", "'<hidden>'"),
    (f"videodb://{C}/x-1", "the media id", "'x-1'"),
    (f"videodb://{C}/{V}/thumbnail", "the part after the video id", "'thumbnail'"),
    (f"videodb://{C}/a-1/stream/s1", "the video id", "'a-1'"),
    (f"videodb://{C}/{V}/index", "the index", "''"),
    (f"videodb://{C}/{V}/index/visual", "the index", "'visual'"),
    (f"videodb://{C}/{V}/index/spoken_word/x", "the index", "'spoken_word/x'"),
    (f"videodb://{C}/{V}/index/scene", "the scene index part", "''"),
    (f"videodb://{C}/{V}/index/scene/a/b", "the scene index part", "'a/b'"),
    (f"videodb://{C}/{V}/index/scene/a.b", "the scene index id", "'a.b'"),
    (f"videodb://{C}/{V}/stream", "the stream part", "''"),
    (f"videodb://{C}/{V}/stream/s1/more", "the stream part", "'s1/more'"),
    (f"videodb://{C}/stream/%2e%2e", "the stream id", "'%2e%2e'"),
    (f"videodb://{C}//{V}", "the path", f"'//{V}'"),
]


@pytest.mark.parametrize(("written", "kept"), sorted(GOOD.items()))
def test_airflow_normalises_a_videodb_uri_through_the_providers_handler(
    written: str, kept: str
) -> None:
    asset = Asset(written)
    assert asset.uri == kept
    assert asset.normalized_uri == kept
    assert Asset(asset.uri).uri == kept  # normalising is idempotent


@pytest.mark.parametrize(("uri", "part", "shown"), BAD)
def test_a_bad_uri_is_refused_naming_the_part(uri: str, part: str, shown: str) -> None:
    with pytest.raises(ValueError, match="videodb asset URI") as refused:
        Asset(uri)
    message = str(refused.value)
    assert f"{part} {shown}" in message
    assert "sk-secret" not in message and "admin" not in message


def test_the_handler_itself_refuses_a_query_and_a_user_and_another_scheme() -> None:
    # Called directly (as Airflow calls it), without Airflow's own clean-up in front.
    split = urllib.parse.urlsplit
    with pytest.raises(ValueError, match="the query '<hidden>'"):
        assets.normalize_uri(split(f"videodb://{C}/{V}?key=sk-1"))
    with pytest.raises(ValueError, match="the host '<hidden>'") as refused:
        assets.normalize_uri(split(f"videodb://u:sk-1@{C}/{V}"))
    assert "sk-1" not in str(refused.value)
    with pytest.raises(ValueError, match="the fragment 'x'"):
        assets.normalize_uri(split(f"videodb://{C}/{V}#x"))
    with pytest.raises(ValueError, match="the scheme 's3'"):
        assets.normalize_uri(split("s3://bucket/key"))


def test_a_password_in_the_uri_is_dropped_by_airflow_and_never_kept() -> None:
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        asset = Asset(f"videodb://user:sk-secret@{C}/{V}")
    assert asset.uri == f"videodb://{C}/{V}"


def test_constructors_round_trip_through_airflow() -> None:
    made = {
        assets.collection_asset(C).uri: f"videodb://{C}",
        assets.video_asset(C, V).uri: f"videodb://{C}/{V}",
        assets.index_asset(C, V).uri: f"videodb://{C}/{V}/index/spoken_word",
        assets.index_asset(C, V, "idx-1").uri: f"videodb://{C}/{V}/index/scene/idx-1",
        assets.stream_asset(
            C, V, "https://stream.videodb.io/v3/published/manifests/9c39c8a9-62a2.m3u8?t=1"
        ).uri: f"videodb://{C}/{V}/stream/9c39c8a9-62a2",
        assets.stream_asset(C, None, "http://127.0.0.1:8/hls/s-1.m3u8").uri: (
            f"videodb://{C}/stream/s-1"
        ),
    }
    for uri, expected in made.items():
        assert uri == expected
        assert Asset(uri).uri == uri


@pytest.mark.parametrize(
    "url", ["https://h/manifests/", "https://h/a%2Fb.m3u8", "https://h/x/.m3u8", "not a url"]
)
def test_a_stream_url_without_a_usable_file_name_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="cannot take a stream id from the stream URL path"):
        assets.stream_id_of(url)


def test_a_constructor_checks_its_ids() -> None:
    with pytest.raises(ValueError, match="the collection 'prod'"):
        assets.video_asset("prod", V)
    with pytest.raises(ValueError, match="the media id 'v-1'"):
        assets.video_asset(C, "v-1")


def test_factory_builds_every_kind_and_keeps_the_extra() -> None:
    factory = assets.create_asset
    assert factory(collection_id=C).uri == f"videodb://{C}"
    assert factory(collection_id=C, video_id=V, extra={"k": 1}).extra == {"k": 1}
    assert factory(collection_id=C, video_id=V, index=True).uri.endswith("/index/spoken_word")
    assert factory(collection_id=C, video_id=V, scene_index_id="i-1").uri.endswith(
        "/index/scene/i-1"
    )
    assert factory(collection_id=C, video_id=V, stream_url="http://h/hls/s9.m3u8").uri.endswith(
        f"/{V}/stream/s9"
    )
    with pytest.raises(ValueError, match="an index needs its video_id"):
        factory(collection_id=C, index=True)


def test_provider_info_declares_the_scheme_and_airflow_registers_its_parts() -> None:
    (entry,) = get_provider_info()["asset-uris"]
    assert entry["schemes"] == ["videodb"]
    assert "dataset-uris" not in get_provider_info()  # Airflow 3 reads only asset-uris
    # What the worker's providers manager registered from it (the task runtime's, >= 3.2,
    # and the core one that the scheduler and the API server use).
    from airflow.providers_manager import ProvidersManager

    managers: list[Any] = [ProvidersManager()]
    try:
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
    except ImportError:  # Airflow 3.1: the workers use the core one too
        pass
    else:
        managers.append(ProvidersManagerTaskRuntime())
    for manager in managers:
        assert manager.asset_uri_handlers["videodb"] is assets.normalize_uri
        assert manager.asset_factories["videodb"] is assets.create_asset
        converter = manager.asset_to_openlineage_converters["videodb"]
        assert converter is assets.to_openlineage_dataset


def test_airflows_lineage_collector_builds_the_asset_with_the_providers_factory() -> None:
    try:
        from airflow.sdk.lineage import HookLineageCollector
    except ImportError:  # Airflow 3.1
        from airflow.lineage.hook import HookLineageCollector  # type: ignore[no-redef]

    collector = HookLineageCollector()
    asset = collector.create_asset(
        scheme="videodb", asset_kwargs={"collection_id": C, "video_id": V, "index": True}
    )
    assert asset is not None and asset.uri == f"videodb://{C}/{V}/index/spoken_word"
    # A factory error is the collector's to swallow (it logs and returns None).
    assert collector.create_asset(scheme="videodb", asset_kwargs={"collection_id": "x"}) is None


def test_openlineage_naming() -> None:
    assert assets.openlineage_name(f"videodb://{C}") == (f"videodb://{C}", "/")
    assert assets.openlineage_name(f"videodb://{C}/{V}/stream/s1") == (
        f"videodb://{C}",
        f"{V}/stream/s1",
    )


def test_openlineage_converter_gives_a_real_dataset() -> None:
    pytest.importorskip(
        "openlineage.client",
        reason="the optional 'openlineage' extra (apache-airflow-providers-openlineage) is not "
        "installed in this environment",
    )
    dataset = assets.to_openlineage_dataset(assets.video_asset(C, V))
    assert (dataset.namespace, dataset.name) == (f"videodb://{C}", V)
