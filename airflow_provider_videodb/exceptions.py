"""One exception hierarchy for the provider, rooted at Airflow's ``AirflowException``.

Messages say what was asked (method, path, video id), the HTTP status and the service's
own ``message``/``error_code``. They are built from attributes only, never from request
headers, so the API key cannot end up in them.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_videodb.compat import AirflowException

_VALUE_REPR_LIMIT = 100


def _short_repr(value: Any, limit: int = _VALUE_REPR_LIMIT) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class VideoDBError(AirflowException):
    """Base class of every error raised by this provider."""


class VideoDBConfigError(VideoDBError, ValueError):
    """The connection is unusable: missing, no key, malformed base URL or a bad extra."""


class VideoDBValidationError(VideoDBError, ValueError):
    """An input was refused before any request was sent."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"Invalid {field}={_short_repr(value)}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.field, self.value, self.reason))


class VideoDBAPIError(VideoDBError):
    """A request to the VideoDB API failed.

    ``retryable`` says whether the failure is transient in nature; whether a given request
    may actually be repeated is decided by :func:`~airflow_provider_videodb.responses.may_retry`.
    """

    def __init__(
        self,
        method: str,
        path: str,
        status: int | None,
        message: str,
        error_code: str | None = None,
        video_id: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.message = message
        self.error_code = error_code
        self.video_id = video_id
        self.retryable = retryable
        self.retry_after = retry_after
        #: how many attempts were made before giving up (set by the retrying caller)
        self.attempts = 1
        super().__init__(message)

    def _what(self) -> str:
        what = f"{self.method} {self.path}".strip() or "VideoDB request"
        if self.video_id:
            what += f" (video {self.video_id})"
        return what

    def _outcome(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else "no HTTP answer"

    def __str__(self) -> str:
        text = f"{self._what()}: {self._outcome()}"
        if self.error_code:
            text += f" [{self.error_code}]"
        if self.message:
            text += f" {self.message}"
        if self.attempts > 1:
            text += f" (gave up after {self.attempts} attempts)"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            type(self),
            (
                self.method,
                self.path,
                self.status,
                self.message,
                self.error_code,
                self.video_id,
                self.retryable,
                self.retry_after,
            ),
        )


class VideoDBBadRequestError(VideoDBAPIError):
    """HTTP 400: the service refused the request as invalid."""


class VideoDBAuthenticationError(VideoDBAPIError):
    """HTTP 401: missing or wrong API key."""


class VideoDBInsufficientCreditsError(VideoDBAPIError):
    """HTTP 402: the account has no credits left."""


class VideoDBPermissionError(VideoDBAPIError):
    """HTTP 403: the plan does not include this feature."""


class VideoDBNotFoundError(VideoDBAPIError):
    """HTTP 404: the video, collection or job does not exist."""


class VideoDBRateLimitError(VideoDBAPIError):
    """HTTP 429: too many requests; ``retry_after`` holds the (capped) advised wait."""


class VideoDBServerError(VideoDBAPIError):
    """HTTP 5xx: trouble on the service side."""


class VideoDBResponseError(VideoDBAPIError):
    """An answer that cannot be used: malformed JSON, an unexpected shape, or
    HTTP 200 with ``success: false``."""


class VideoDBUnknownJobStatusError(VideoDBResponseError):
    """A job answer with a status that means neither running, done nor failed.

    It ends a wait at once (never an empty success, and no polling on a job whose state
    cannot be told); the message names the status that arrived.
    """


class VideoDBTransportError(VideoDBAPIError):
    """No HTTP answer: connection refused, dropped connection, timeout.

    ``sent`` is False only when the request surely never reached the service
    (e.g. connection refused or connect timeout), which makes a retry of a
    non-idempotent call safe.
    """

    def __init__(
        self,
        method: str,
        path: str,
        message: str,
        *,
        sent: bool,
        video_id: str | None = None,
        retryable: bool = True,
    ) -> None:
        self.sent = sent
        super().__init__(method, path, None, message, None, video_id, retryable, None)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_transport_error,
            (
                type(self),
                self.method,
                self.path,
                self.message,
                self.sent,
                self.video_id,
                self.retryable,
            ),
        )


def _rebuild_transport_error(
    cls: type[VideoDBTransportError],
    method: str,
    path: str,
    message: str,
    sent: bool,
    video_id: str | None,
    retryable: bool,
) -> VideoDBTransportError:
    return cls(method, path, message, sent=sent, video_id=video_id, retryable=retryable)


class VideoDBUnsafeURLError(VideoDBError):
    """A URL taken from a response points at another origin than the configured API.

    It is never followed: the API key is only ever sent to the configured origin.
    """

    def __init__(self, url: str, expected_origin: str) -> None:
        self.url = url
        self.expected_origin = expected_origin
        super().__init__(
            f"Refusing to follow {_short_repr(url, 200)}: it is not on the configured "
            f"VideoDB origin {expected_origin!r}, and the API key is only sent there"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.url, self.expected_origin))


class VideoDBJobFailedError(VideoDBError):
    """An asynchronous job ended in failure; carries the service's reason."""

    def __init__(self, job_id: str, message: str, error_code: str | None = None) -> None:
        self.job_id = job_id
        self.message = message
        self.error_code = error_code
        code = f" [{error_code}]" if error_code else ""
        super().__init__(f"VideoDB job {job_id} failed{code}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.job_id, self.message, self.error_code))


class VideoDBJobTimeoutError(VideoDBError):
    """An asynchronous job did not finish within the allowed time."""

    def __init__(self, job_id: str, timeout: float) -> None:
        self.job_id = job_id
        self.timeout = timeout
        super().__init__(f"VideoDB job {job_id} did not finish within {timeout:g} s")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.job_id, self.timeout))
