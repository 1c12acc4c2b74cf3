"""Connection → :class:`VideoDBSettings`: everything a client needs, parsed and checked once.

Connection fields: ``password`` holds the API key; ``host`` the base URL (a bare host gets
``https://``; a scheme in the host is kept; ``port`` and ``schema`` = ``http``/``https`` may
complete it). Extras (plain or ``extra__videodb__``-prefixed keys, strings accepted as the
URI form yields them): ``collection_id``, ``timeout``, ``connect_timeout``, ``max_retries``,
``retry_max_wait``, ``verify`` (true/false or a CA bundle path).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from airflow_provider_videodb import __version__
from airflow_provider_videodb.exceptions import (
    VideoDBConfigError,
    VideoDBUnsafeURLError,
    VideoDBValidationError,
)
from airflow_provider_videodb.validation import validate_collection_id

DEFAULT_BASE_URL = "https://api.videodb.io"
CLIENT_ID = f"airflow-provider-videodb/{__version__}"
CONN_TYPE = "videodb"
_EXTRA_PREFIX = f"extra__{CONN_TYPE}__"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class ConnectionLike(Protocol):
    """The part of ``airflow.sdk.Connection`` that is read here."""

    conn_id: str
    host: str | None
    schema: str | None
    port: int | None
    password: str | None

    @property
    def extra_dejson(self) -> dict: ...


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return scheme, (parts.hostname or "").lower(), port


@dataclass(frozen=True)
class VideoDBSettings:
    base_url: str
    api_key: str = field(repr=False)
    collection_id: str = "default"
    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_retries: int = 5
    retry_max_wait: float = 60.0
    verify: bool | str = True

    def __post_init__(self) -> None:
        if not self.api_key:
            raise VideoDBConfigError("VideoDB API key is empty (set the connection's password)")
        object.__setattr__(self, "base_url", normalise_base_url(self.base_url))

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_connection(
        cls, conn: ConnectionLike, *, extra: Mapping[str, Any] | None = None
    ) -> VideoDBSettings:
        """Build settings from an Airflow connection.

        ``extra`` may be passed when it was already decoded (the async path decodes it with
        ``aextra_dejson`` so that no sync secret masking happens on the event loop).
        """
        conn_id = getattr(conn, "conn_id", None) or "?"
        if not conn.password:
            raise VideoDBConfigError(
                f"VideoDB connection {conn_id!r}: the API key (field 'password') is empty"
            )
        extras = _plain_extras(conn.extra_dejson if extra is None else extra)
        base_url = _base_url_from_connection(conn_id, conn.host, conn.schema, conn.port)
        reader = _ExtraReader(conn_id, extras)
        return cls(
            base_url=base_url,
            api_key=conn.password,
            collection_id=reader.collection_id(),
            timeout=reader.positive_float("timeout", cls.timeout),
            connect_timeout=reader.positive_float("connect_timeout", cls.connect_timeout),
            max_retries=reader.non_negative_int("max_retries", cls.max_retries),
            retry_max_wait=reader.positive_float("retry_max_wait", cls.retry_max_wait),
            verify=reader.verify(),
        )

    # -- use --------------------------------------------------------------------------------

    @property
    def requests_timeout(self) -> tuple[float, float]:
        """``(connect, read)`` as requests wants it."""
        return (self.connect_timeout, self.timeout)

    @cached_property
    def origin(self) -> str:
        scheme, host, port = _origin(self.base_url)
        return f"{scheme}://{host}:{port}"

    def url(self, path: str) -> str:
        """Absolute URL of an API path (``/video/m-1`` or ``video/m-1``)."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def check_same_origin(self, url: str) -> str:
        """Return ``url`` made absolute if it is on the configured origin, else refuse it."""
        if not isinstance(url, str) or not url:
            raise VideoDBUnsafeURLError(repr(url), self.origin)
        absolute = urljoin(self.base_url + "/", url)
        try:
            parts = urlsplit(absolute)
            same = (
                parts.username is None
                and parts.password is None
                and _origin(absolute) == _origin(self.base_url)
            )
        except ValueError:  # malformed port and the like
            same = False
        if not same:
            raise VideoDBUnsafeURLError(url, self.origin)
        return absolute

    @cached_property
    def _headers(self) -> Mapping[str, str]:
        return {
            "x-access-token": self.api_key,
            "x-videodb-client": CLIENT_ID,
            "User-Agent": CLIENT_ID,
            "Accept": "application/json",
            "Content-Type": "application/json",
        }

    def headers(self) -> dict[str, str]:
        """Request headers (a fresh copy; the shared mapping is built once per settings)."""
        return dict(self._headers)

    @property
    def shared_headers(self) -> Mapping[str, str]:
        """The cached header mapping itself, for hot paths that do not modify it."""
        return self._headers


def normalise_base_url(raw: str) -> str:
    """``scheme://host[:port][/prefix]`` without trailing slash; bare host → https."""
    text = (raw or "").strip()
    if not text:
        raise VideoDBConfigError("VideoDB base URL is empty")
    if "://" not in text:
        text = f"https://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as err:
        raise VideoDBConfigError(f"VideoDB base URL {raw!r} is malformed: {err}") from None
    problem = None
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        problem = "the scheme must be http or https"
    elif not parts.hostname:
        problem = "it names no host"
    elif parts.username is not None or parts.password is not None:
        problem = "it must not carry credentials (the key goes in the password field)"
    elif parts.query or parts.fragment:
        problem = "it must not have a query or fragment"
    elif any(ch.isspace() for ch in text):
        problem = "it must not contain whitespace"
    if problem:
        raise VideoDBConfigError(f"VideoDB base URL {raw!r} is malformed: {problem}")
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}"


def _base_url_from_connection(
    conn_id: str, host: str | None, schema: str | None, port: int | None
) -> str:
    host = (host or "").strip()
    scheme = (schema or "").strip().lower()
    if scheme and scheme not in _DEFAULT_PORTS:
        scheme = ""  # the schema field means nothing else for this connection type
    if not host:
        raw = DEFAULT_BASE_URL
    elif "://" in host:
        raw = host
    else:
        raw = f"{scheme or 'https'}://{host}"
    if port:
        parts = urlsplit(raw)
        if parts.port is None and parts.hostname:
            raw = parts._replace(netloc=f"{parts.netloc}:{int(port)}").geturl()
    try:
        return normalise_base_url(raw)
    except VideoDBConfigError as err:
        raise VideoDBConfigError(f"VideoDB connection {conn_id!r}: {err} (field 'host')") from None


def _plain_extras(extra: Mapping[str, Any]) -> dict[str, Any]:
    """Accept both ``timeout`` and the form-widget spelling ``extra__videodb__timeout``."""
    plain: dict[str, Any] = {}
    for key, value in extra.items():
        name = key[len(_EXTRA_PREFIX) :] if key.startswith(_EXTRA_PREFIX) else key
        if value is None or value == "":
            continue  # empty form fields mean "use the default"
        plain.setdefault(name, value)
    return plain


class _ExtraReader:
    def __init__(self, conn_id: str, extras: Mapping[str, Any]) -> None:
        self.conn_id = conn_id
        self.extras = extras

    def _bad(self, name: str, value: Any, reason: str) -> VideoDBConfigError:
        return VideoDBConfigError(
            f"VideoDB connection {self.conn_id!r}: extra {name}={value!r} {reason}"
        )

    def positive_float(self, name: str, default: float) -> float:
        value = self.extras.get(name, default)
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            raise self._bad(name, value, "is not a number of seconds") from None
        if not math.isfinite(number) or number <= 0:
            raise self._bad(name, value, "must be a finite number greater than zero")
        return number

    def non_negative_int(self, name: str, default: int) -> int:
        value = self.extras.get(name, default)
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            number = int(value)
        except (TypeError, ValueError):
            raise self._bad(name, value, "is not a whole number") from None
        if number < 0:
            raise self._bad(name, value, "must not be negative")
        return number

    def verify(self) -> bool | str:
        value = self.extras.get("verify", True)
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            if value.strip():
                return value.strip()  # a CA bundle path
        raise self._bad("verify", value, "must be true, false or a CA bundle path")

    def collection_id(self) -> str:
        value = self.extras.get("collection_id", "default")
        try:
            return validate_collection_id(value)
        except VideoDBValidationError as err:
            raise self._bad("collection_id", value, err.reason) from None
