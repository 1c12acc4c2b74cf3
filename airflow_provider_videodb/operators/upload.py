"""UploadVideoOperator: new media into a VideoDB collection, from a URL or a file.

Imported at DAG parse time: the hook, the trigger and HTTP clients only when a task runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_videodb.lineage import report_lineage, source_spec
from airflow_provider_videodb.operators.common import PlayerLinkMixin
from airflow_provider_videodb.operators.jobs import JobOutcome, VideoDBJobOperator
from airflow_provider_videodb.validation import UploadRequest

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_videodb.hooks.videodb import VideoDBHook
    from airflow_provider_videodb.responses import Started

#: task_state_store key of the upload a task started.
UPLOAD_JOB_STATE_KEY = "videodb_upload_job"


class UploadVideoOperator(PlayerLinkMixin, VideoDBJobOperator):
    """Upload a video (or an audio file or an image) into a collection.

    ``source`` is an ``http(s)`` URL the service fetches, or a file the worker reads: a local
    path, a ``file://`` URL, or any Airflow object-storage path (an ``ObjectStoragePath``, or
    a string such as ``s3://bucket/key`` or ``gs://bucket/key``, read through the provider a
    deployment already has for it). A file goes the API's upload way: an upload URL from the
    service, the file sent there (streamed, without the API key), then registered. Where the
    service answers the registration with a job (a URL it fetches), the wait is deferred to
    the triggerer like a clip's.

    Returns ``{"media_id", "video_id", "media_type", "name", "collection_id", "length",
    "stream_url", "player_url", "job_id"}`` (``video_id`` None for audio and images;
    ``job_id`` None when the service registered the media at once) and pushes the
    ``player_url`` for the "VideoDB Player" link.

    A retry of the task does not upload twice on Airflow >= 3.3: the upload's job, or the
    media the service registered at once, is kept in ``task_state_store``; where an earlier
    try sent the registration and recorded no answer, the log says that a second upload may
    follow.

    :param source: an ``http(s)`` URL, a local path, a ``file://`` URL or an object-storage
        path (templated).
    :param name: the media's name; default: the file's or the URL's base name (templated).
    :param description: a description (templated).
    :param media_type: ``video``, ``audio`` or ``image`` (templated).
    :param callback_url: an http(s) URL the service POSTs the result to; the task still
        polls (templated).

    The wait and connection parameters (``collection_id``, ``deferrable``,
    ``poll_interval``, ``timeout``, ``max_consecutive_failures``, ``max_poll_interval``,
    ``videodb_conn_id``) are those of
    :class:`~airflow_provider_videodb.operators.jobs.VideoDBJobOperator`.
    """

    template_fields: Sequence[str] = (
        "source",
        "name",
        "description",
        "media_type",
        "callback_url",
        "collection_id",
    )
    ui_color = "#d8f0e3"
    job_kind: ClassVar[str] = "upload"
    state_key: ClassVar[str] = UPLOAD_JOB_STATE_KEY

    def __init__(
        self,
        *,
        source: Any,
        name: str | None = None,
        description: str | None = None,
        media_type: str = "video",
        callback_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.name = name
        self.description = description
        self.media_type = media_type
        self.callback_url = callback_url

    def _request(self) -> UploadRequest:
        """The rendered fields as a checked request: every check happens before any I/O."""
        return UploadRequest(
            self.source,
            name=self.name,
            description=self.description,
            media_type=self.media_type,
            callback_url=self.callback_url,
            collection_id=self.collection_id,
        )

    def _submit(self, hook: VideoDBHook, request: UploadRequest) -> Started:
        return hook.submit_upload(request)

    def _finish(
        self, context: Context, hook: VideoDBHook, request: UploadRequest, outcome: JobOutcome
    ) -> dict[str, Any]:
        from airflow_provider_videodb.responses import parse_uploaded_media

        media = parse_uploaded_media(outcome.data, outcome.info)
        media_id = str(media["id"])
        player_url = media.get("player_url")
        self._push_player_url(context, player_url)
        self.log.info("Uploaded %s %s (%s)", request.media_type, media_id, media.get("name"))
        report_lineage(
            self,
            context,
            hook,
            reads=[None if request.is_url else source_spec(request.source)],
            writes=[{"video_id": media_id}],
            job_id=outcome.job_id,
        )
        return {
            "media_id": media_id,
            "video_id": media_id if request.media_type == "video" else None,
            "media_type": request.media_type,
            "name": media.get("name"),
            "collection_id": media.get("collection_id") or hook.settings.collection_id,
            "length": media.get("length"),
            "stream_url": media.get("stream_url"),
            "player_url": player_url,
            "job_id": outcome.job_id,
        }
