"""SearchVideoOperator: the moments of a video, or of a collection, that match a query.

Imported at DAG parse time: the hook and HTTP clients only when a task runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_videodb.lineage import DEFAULT_ALIAS, LineageMixin, report_lineage
from airflow_provider_videodb.operators.common import (
    DEFAULT_CONN_ID,
    PlayerLinkMixin,
    make_hook,
)
from airflow_provider_videodb.validation import SearchRequest, validate_bool

if TYPE_CHECKING:
    from airflow.sdk import Context


class SearchVideoOperator(LineageMixin, PlayerLinkMixin, BaseOperator):
    """Search a video (``video_id``) or a whole collection (no ``video_id``).

    Semantic or keyword search over the spoken words (the video must have been indexed, see
    :class:`~airflow_provider_videodb.operators.index.IndexSpokenWordsOperator`), or over a
    scene index (``search_type="scene"``, ``index_type="scene"``, ``scene_index_id``). A
    search starts no job and changes nothing: it runs on the worker and is retried like any
    read.

    Returns ``{"query", "video_id", "collection_id", "search_type", "index_type", "shots":
    [{"video_id", "start", "end", "text", "score"}], "stream_url", "player_url"}``; with
    ``compile_stream=True`` the shots are also compiled, in order, into one stream (and the
    "VideoDB Player" link opens it), otherwise ``stream_url``/``player_url`` are None. No
    match returns ``shots: []``, or raises
    :class:`~airflow_provider_videodb.exceptions.VideoDBError` when ``fail_on_empty=True``.

    :param query: what to find, in words (templated).
    :param video_id: the video to search, ``m-...``; None searches the collection
        (templated).
    :param collection_id: the collection; default: the connection's (templated).
    :param search_type: ``semantic``, ``keyword`` or ``scene`` (templated).
    :param index_type: ``spoken_word`` or ``scene`` (templated).
    :param scene_index_id: the scene index to search (``index_type="scene"``) (templated).
    :param score_threshold: the lowest score a shot may have (templated).
    :param result_threshold: at most this many shots (templated).
    :param compile_stream: also compile the shots into one stream.
    :param fail_on_empty: fail when nothing matched.
    :param videodb_conn_id: the Airflow connection of type ``videodb``.
    :param lineage_alias: the ``AssetAlias`` the produced ``videodb://`` assets are added
        to, so that they appear in the Assets view (default ``videodb``); None: only the
        ``outlets`` given.
    """

    template_fields: Sequence[str] = (
        "query",
        "video_id",
        "collection_id",
        "search_type",
        "index_type",
        "scene_index_id",
        "score_threshold",
        "result_threshold",
    )
    ui_color = "#fff3c4"

    def __init__(
        self,
        *,
        query: str,
        video_id: str | None = None,
        collection_id: str | None = None,
        search_type: str = "semantic",
        index_type: str = "spoken_word",
        scene_index_id: str | None = None,
        score_threshold: float | None = None,
        result_threshold: int | None = None,
        compile_stream: bool = False,
        fail_on_empty: bool = False,
        videodb_conn_id: str = DEFAULT_CONN_ID,
        lineage_alias: str | None = DEFAULT_ALIAS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._add_lineage_alias(lineage_alias)
        self.query = query
        self.video_id = video_id
        self.collection_id = collection_id
        self.search_type = search_type
        self.index_type = index_type
        self.scene_index_id = scene_index_id
        self.score_threshold = score_threshold
        self.result_threshold = result_threshold
        self.compile_stream = validate_bool("compile_stream", compile_stream)
        self.fail_on_empty = validate_bool("fail_on_empty", fail_on_empty)
        self.videodb_conn_id = videodb_conn_id

    def _request(self) -> SearchRequest:
        """The rendered fields as a checked request: every check happens before any I/O."""
        return SearchRequest(
            self.query,
            video_id=self.video_id,
            collection_id=self.collection_id,
            search_type=self.search_type,
            index_type=self.index_type,
            scene_index_id=self.scene_index_id,
            score_threshold=self.score_threshold,
            result_threshold=self.result_threshold,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_videodb.exceptions import VideoDBError

        request = self._request()
        hook = make_hook(self.videodb_conn_id, request.collection_id)
        try:
            shots = hook.search(request)
            where = f"video {request.video_id}" if request.video_id else "the collection"
            self.log.info("Search %r in %s: %d shot(s)", request.query, where, len(shots))
            if not shots and self.fail_on_empty:
                raise VideoDBError(f"Search {request.query!r} in {where} matched nothing")
            stream: dict[str, Any] = {"stream_url": None, "player_url": None}
            if shots and self.compile_stream:
                stream = hook.compile_shots(
                    request.video_id, shots, collection_id=request.collection_id
                )
                self._push_player_url(context, stream.get("player_url"))
            report_lineage(
                self,
                context,
                hook,
                reads=[{"video_id": request.video_id}],
                writes=[{"video_id": request.video_id, "stream_url": stream.get("stream_url")}],
                query=request.query,
            )
            return {
                "query": request.query,
                "video_id": request.video_id,
                "collection_id": request.collection_id or hook.settings.collection_id,
                "search_type": request.search_type,
                "index_type": request.index_type,
                "shots": [
                    {"video_id": shot.video_id or request.video_id, **shot.to_dict()}
                    for shot in shots
                ],
                "stream_url": stream.get("stream_url"),
                "player_url": stream.get("player_url"),
            }
        finally:
            hook.close()
