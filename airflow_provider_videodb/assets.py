"""The ``videodb://`` asset URI scheme: collections, media, indexes and streams as Airflow assets.

One form, a path of ids under the collection (the API key, a base URL, a query never appear)::

    videodb://<collection>                                   a collection
    videodb://<collection>/<media id>                        a video (m-...), audio, image
    videodb://<collection>/<video id>/index/spoken_word      a video's spoken-word index
    videodb://<collection>/<video id>/index/scene/<index id> one of a video's scene indexes
    videodb://<collection>/<video id>/stream/<stream id>     a stream of (a timeline of) a video
    videodb://<collection>/stream/<stream id>                a stream compiled from several videos

``<collection>`` is ``default`` or ``c-...``; a media id is ``m-...`` (a video), ``a-...``
(audio) or ``img-...`` (an image), and only a video has indexes and streams; ids are
case-sensitive and checked by the rules of :mod:`~airflow_provider_videodb.validation`. A
stream id is the file name of the stream URL
without ``.m3u8`` (``https://.../manifests/3f1c....m3u8`` -> ``3f1c...``). The URI does not name
the account or the server: the same ids on two VideoDB deployments are the same asset.

Airflow reads this module through the provider info (``asset-uris``): :func:`normalize_uri`
(the ``handler``), :func:`create_asset` (the ``factory``) and :func:`to_openlineage_dataset`
(the ``to_openlineage_converter``). It is imported at DAG-parse time (an ``Asset("videodb://...")``
in a DAG file calls the handler) and imports nothing heavy.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset

from airflow_provider_videodb.validation import (
    is_media_id,
    is_safe_id,
    is_video_id,
    validate_collection_id,
)

if TYPE_CHECKING:
    from urllib.parse import SplitResult

SCHEME = "videodb"
#: The index kinds of the ``/index/`` part.
SPOKEN_WORD_INDEX = "spoken_word"
SCENE_INDEX = "scene"
_STREAM_SUFFIX = ".m3u8"


# -- constructors ----------------------------------------------------------------------------


def _uri(collection_id: str, *parts: str) -> str:
    return f"{SCHEME}://{'/'.join((collection_id, *parts))}"


def collection_uri(collection_id: str) -> str:
    """``videodb://<collection>``.

    :param collection_id: ``default`` or ``c-...``.
    """
    return normalize(_uri(collection_id))


def video_uri(collection_id: str, video_id: str) -> str:
    """``videodb://<collection>/<media id>`` (a video, or an uploaded audio file or image).

    :param collection_id: ``default`` or ``c-...``.
    :param video_id: ``m-...`` (or ``a-...``, ``img-...``).
    """
    return normalize(_uri(collection_id, video_id))


def index_uri(collection_id: str, video_id: str, scene_index_id: str | None = None) -> str:
    """A video's spoken-word index (no ``scene_index_id``) or one of its scene indexes.

    :param collection_id: ``default`` or ``c-...``.
    :param video_id: ``m-...``.
    :param scene_index_id: the scene index; None for the spoken-word index.
    """
    if scene_index_id is None:
        return normalize(_uri(collection_id, video_id, "index", SPOKEN_WORD_INDEX))
    return normalize(_uri(collection_id, video_id, "index", SCENE_INDEX, scene_index_id))


def stream_id_of(stream_url: str) -> str:
    """The stream id of a stream URL: its file name without ``.m3u8``.

    :param stream_url: an HLS playlist URL from the service.
    :raises ValueError: the URL's file name is not a safe id (named, with the URL's path only).
    """
    path = urllib.parse.urlsplit(str(stream_url)).path
    name = path.rsplit("/", 1)[-1]
    stream_id = name[: -len(_STREAM_SUFFIX)] if name.endswith(_STREAM_SUFFIX) else name
    if not is_safe_id(stream_id):
        raise ValueError(
            f"videodb asset: cannot take a stream id from the stream URL path {path!r}: its file "
            "name must be letters, digits, '-' or '_' (and '.m3u8')"
        )
    return stream_id


def stream_uri(collection_id: str, video_id: str | None, stream_url: str) -> str:
    """A stream, named by the file name of its URL, under its video (or its collection).

    :param collection_id: ``default`` or ``c-...``.
    :param video_id: the video streamed; None for a stream of shots of several videos.
    :param stream_url: the stream's URL (only its file name is kept).
    """
    stream_id = stream_id_of(stream_url)
    if video_id is None:
        return normalize(_uri(collection_id, "stream", stream_id))
    return normalize(_uri(collection_id, video_id, "stream", stream_id))


def collection_asset(collection_id: str) -> Asset:
    """The asset of a collection (see :func:`collection_uri`)."""
    return Asset(uri=collection_uri(collection_id))


def video_asset(collection_id: str, video_id: str) -> Asset:
    """The asset of a video (see :func:`video_uri`)."""
    return Asset(uri=video_uri(collection_id, video_id))


def index_asset(collection_id: str, video_id: str, scene_index_id: str | None = None) -> Asset:
    """The asset of a video's index (see :func:`index_uri`)."""
    return Asset(uri=index_uri(collection_id, video_id, scene_index_id))


def stream_asset(collection_id: str, video_id: str | None, stream_url: str) -> Asset:
    """The asset of a stream (see :func:`stream_uri`)."""
    return Asset(uri=stream_uri(collection_id, video_id, stream_url))


# -- what Airflow calls ----------------------------------------------------------------------


def _bad(uri: SplitResult, part: str, value: str, rule: str) -> ValueError:
    # The URI is rebuilt without user info or query: nothing secret goes into the message.
    shown = f"{uri.scheme}://{uri.netloc.rpartition('@')[2]}{uri.path}"
    return ValueError(f"videodb asset URI {shown!r}: {part} {value!r} {rule}")


def _check_path(uri: SplitResult, parts: list[str]) -> None:
    if not parts:
        return
    head, rest = parts[0], parts[1:]
    if head == "stream":
        _check_tail(uri, rest, "stream")
        return
    if not is_media_id(head):
        raise _bad(uri, "the media id", head, "must look like 'm-...', 'a-...' or 'img-...'")
    if not rest:
        return
    if not is_video_id(head):
        raise _bad(
            uri, "the video id", head, "must be a video ('m-...') to have an index or stream"
        )
    kind, tail = rest[0], rest[1:]
    if kind == "stream":
        _check_tail(uri, tail, "stream")
    elif kind == "index":
        _check_index(uri, tail)
    else:
        raise _bad(uri, "the part after the video id", kind, "must be 'index' or 'stream'")


def _check_index(uri: SplitResult, parts: list[str]) -> None:
    if parts == [SPOKEN_WORD_INDEX]:
        return
    if parts[:1] == [SCENE_INDEX]:
        _check_tail(uri, parts[1:], "scene index")
        return
    raise _bad(
        uri,
        "the index",
        "/".join(parts),
        f"must be '{SPOKEN_WORD_INDEX}' or '{SCENE_INDEX}/<scene index id>'",
    )


def _check_tail(uri: SplitResult, parts: list[str], what: str) -> None:
    if len(parts) != 1:
        raise _bad(uri, f"the {what} part", "/".join(parts), "must be exactly one id")
    if not is_safe_id(parts[0]):
        raise _bad(
            uri, f"the {what} id", parts[0], "must be letters, digits, '-' or '_' (at most 128)"
        )


def normalize_uri(uri: SplitResult) -> SplitResult:
    """The ``handler`` Airflow calls for every ``videodb://`` asset URI (after its own clean-up).

    Lowercases the scheme and drops a trailing slash; rejects with a :class:`ValueError` that
    names the part: no collection, a user name/password or port, a query or a fragment (a key
    never goes into a URI), an unknown or extra path part, an id that breaks its rule.

    :param uri: the split URI.
    """
    scheme = uri.scheme.lower()
    if scheme != SCHEME:
        raise _bad(uri, "the scheme", uri.scheme, f"must be {SCHEME!r}")
    uri = uri._replace(scheme=scheme)
    if "@" in uri.netloc or ":" in uri.netloc:
        raise _bad(uri, "the host", "<hidden>", "must be a collection id alone (no user, no port)")
    if uri.query:
        raise _bad(uri, "the query", "<hidden>", "is not allowed (keys never go in an asset URI)")
    if uri.fragment:
        raise _bad(uri, "the fragment", uri.fragment, "is not allowed")
    if not uri.netloc:
        raise _bad(uri, "the collection", "", "is required: videodb://<collection>/...")
    try:
        validate_collection_id(uri.netloc)
    except ValueError:
        raise _bad(
            uri, "the collection", uri.netloc, "must be 'default' or look like 'c-...'"
        ) from None
    path = uri.path.rstrip("/")
    parts = path.split("/")[1:] if path else []
    if any(part == "" for part in parts):
        raise _bad(uri, "the path", uri.path, "has an empty part ('//')")
    _check_path(uri, parts)
    return uri._replace(path=path)


def normalize(uri: str) -> str:
    """A ``videodb://`` URI string, normalised (see :func:`normalize_uri`).

    :param uri: the URI.
    """
    return urllib.parse.urlunsplit(normalize_uri(urllib.parse.urlsplit(uri)))


def create_asset(
    *,
    collection_id: str,
    video_id: str | None = None,
    scene_index_id: str | None = None,
    index: bool = False,
    stream_url: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Asset:
    """The ``factory`` Airflow's lineage collector calls with ``scheme="videodb"``.

    :param collection_id: ``default`` or ``c-...``.
    :param video_id: the media; None for the collection (or a stream of several videos).
    :param scene_index_id: a scene index of the video.
    :param index: the video's spoken-word index (when no ``scene_index_id``).
    :param stream_url: a stream of the video (or of the collection's videos).
    :param extra: the asset's extra.
    """
    if stream_url is not None:
        uri = stream_uri(collection_id, video_id, stream_url)
    elif video_id is None:
        if index or scene_index_id is not None:
            raise ValueError("videodb asset: an index needs its video_id")
        uri = collection_uri(collection_id)
    elif index or scene_index_id is not None:
        uri = index_uri(collection_id, video_id, scene_index_id)
    else:
        uri = video_uri(collection_id, video_id)
    return Asset(uri=uri, extra=extra or {})


def openlineage_name(uri: str) -> tuple[str, str]:
    """OpenLineage ``(namespace, name)`` of an asset URI.

    By OpenLineage's naming of URI-shaped datasets: the namespace is ``scheme://authority``
    and the name the path below it. For ``videodb://``: namespace ``videodb://<collection>``,
    name the path without its leading slash (``m-1/stream/abc``), ``/`` for the collection
    itself. Another scheme (the file an upload read): ``file`` and the path for a local file,
    ``s3://bucket`` and the key for object storage; a query or user info is never kept.

    :param uri: an asset URI.
    """
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme.lower() != SCHEME:
        host = parsed.netloc.rpartition("@")[2]
        if not host:
            return parsed.scheme or "file", parsed.path or "/"
        return f"{parsed.scheme}://{host}", parsed.path.lstrip("/") or "/"
    parsed = normalize_uri(parsed)
    return f"{SCHEME}://{parsed.netloc}", parsed.path.lstrip("/") or "/"


def openlineage_dataset(uri: str) -> Any:
    """The OpenLineage ``Dataset`` of an asset URI (see :func:`openlineage_name`).

    Imports the OpenLineage client only when called (the optional ``openlineage`` extra).

    :param uri: an asset URI.
    """
    from openlineage.client.event_v2 import Dataset

    namespace, name = openlineage_name(uri)
    return Dataset(namespace=namespace, name=name)


def to_openlineage_dataset(asset: Asset, lineage_context: Any = None) -> Any:
    """The ``to_openlineage_converter``: an Airflow asset as an OpenLineage ``Dataset``.

    :param asset: a ``videodb://`` asset.
    :param lineage_context: what reported it (unused).
    """
    return openlineage_dataset(asset.uri)
