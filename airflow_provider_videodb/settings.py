"""Connection → :class:`VideoDBSettings`: everything a client needs, parsed and checked once.

Connection fields: ``password`` holds the API key; ``host`` the base URL (a bare host gets
``https://``; a scheme in the host is kept; ``port`` and ``schema`` = ``http``/``https`` may
complete it). Extras (plain or ``extra__videodb__``-prefixed keys, strings accepted as the
URI form yields them): ``collection_id``, ``timeout``, ``connect_timeout``, ``max_retries``,
``retry_max_wait``, ``verify`` (true/false or a CA bundle path) and ``ca_bundle`` (a CA
bundle path: the form's field, beside its ``verify`` switch).

Everything is checked here, once, so that a bad connection is a :class:`VideoDBConfigError`
naming the field, never a late ``InvalidHeader``/``OSError``/``OverflowError`` from deep
inside an HTTP client. Messages about the API key never hold the key, any part of it, its
repr or its length.
"""

from __future__ import annotations

import logging
import math
import os
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
#: Upper bounds for the numeric extras: beyond them a value is a typo, not a wish.
MAX_TIMEOUT_SECONDS = 3600.0
MAX_RETRIES = 20
MAX_RETRY_WAIT_SECONDS = 3600.0
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


log = logging.getLogger(__name__)


class ConnectionLike(Protocol):
    """The part of ``airflow.sdk.Connection`` that is read here."""

    conn_id: str
    host: str | None
    schema: str | None
    port: int | None
    password: str | None

    @property
    def extra_dejson(self) -> dict: ...


def _key_problem(key: str) -> str | None:
    """Why ``key`` cannot be sent as the ``x-access-token`` header value, or ``None``.

    Only visible ASCII (0x21-0x7E) is accepted. Control characters (CR/LF above all) would
    split the header, and requests refuses them with an ``InvalidHeader`` whose text holds
    the whole key; non-ASCII cannot be encoded in a header portably. An inner space is legal
    in a header value, but no real key has one: it is a paste accident (two keys, a
    ``Bearer`` prefix) that would only turn into a puzzling 401, so it is refused as well.
    The answer describes the kind of character, never where it is or what the key holds.
    """
    for ch in key:
        if "\x21" <= ch <= "\x7e":
            continue
        if ch == " ":
            return "contains a space"
        if ch < " " or ch == "\x7f":
            return "contains a control character (a line break, say)"
        return "contains a non-ASCII character"
    return None


def _clean_api_key(raw: Any, where: str) -> tuple[str, bool]:
    """``(key, stripped)``: surrounding whitespace removed, the rest checked.

    ``where`` says which setting this is (``"VideoDB connection 'x': the API key (field
    'password')"``); the value itself is never put in a message.
    """
    if raw is None or raw == "":
        raise VideoDBConfigError(f"{where} is empty")
    if not isinstance(raw, str):
        raise VideoDBConfigError(f"{where} must be a string, not {type(raw).__name__}")
    key = raw.strip()
    if not key:
        raise VideoDBConfigError(f"{where} is empty (it holds only whitespace)")
    problem = _key_problem(key)
    if problem:
        raise VideoDBConfigError(
            f"{where} {problem}; only visible ASCII characters can be sent in the "
            "x-access-token header (the value is not shown)"
        )
    return key, key != raw


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
        key, stripped = _clean_api_key(
            self.api_key, "VideoDB API key (api_key; the connection's password)"
        )
        if stripped:
            log.warning("VideoDB API key (api_key) had surrounding whitespace; it was stripped")
            object.__setattr__(self, "api_key", key)
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
        where = f"VideoDB connection {conn_id!r}: the API key (field 'password')"
        api_key, stripped = _clean_api_key(conn.password, where)
        if stripped:
            log.warning("%s had surrounding whitespace; it was stripped", where)
        extras = _plain_extras(conn_id, conn.extra_dejson if extra is None else extra)
        base_url = _base_url_from_connection(conn_id, conn.host, conn.schema, conn.port)
        reader = _ExtraReader(conn_id, extras)
        return cls(
            base_url=base_url,
            api_key=api_key,
            collection_id=reader.collection_id(),
            timeout=reader.positive_float("timeout", cls.timeout, MAX_TIMEOUT_SECONDS),
            connect_timeout=reader.positive_float(
                "connect_timeout", cls.connect_timeout, MAX_TIMEOUT_SECONDS
            ),
            max_retries=reader.non_negative_int("max_retries", cls.max_retries, MAX_RETRIES),
            retry_max_wait=reader.positive_float(
                "retry_max_wait", cls.retry_max_wait, MAX_RETRY_WAIT_SECONDS
            ),
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

    @cached_property
    def headers_sendable(self) -> bool:
        """Whether every header value can travel as it is (no CR/LF/NUL or other control
        characters, nothing outside latin-1), decided once per settings so that both
        transports refuse alike before sending. Only settings whose key was put in past
        :meth:`__post_init__` can fail it."""
        for value in self._headers.values():
            if value.isascii() and value.isprintable():
                continue
            if any(
                (ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F or ord(ch) > 0xFF for ch in value
            ):
                return False
        return True


def _unsendable(ch: str) -> bool:
    """A character a header value cannot carry: a control character (tab aside), DEL, or
    anything outside latin-1."""
    return (ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F or ord(ch) > 0xFF


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
    try:
        base_url = normalise_base_url(raw)
    except VideoDBConfigError as err:
        raise VideoDBConfigError(f"VideoDB connection {conn_id!r}: {err} (field 'host')") from None
    if port is None or port == "" or port == 0:  # unset (0 is what an empty form field gives)
        return base_url
    return _with_port(conn_id, base_url, port)


def _with_port(conn_id: str, base_url: str, port: Any) -> str:
    """Complete ``base_url`` with the ``port`` field; a different port in the host is a
    conflict (silently preferring either would call a server the user did not name)."""
    try:
        if isinstance(port, bool):
            raise ValueError
        number = int(port)
    except (TypeError, ValueError):
        number = -1
    if not 0 < number < 65536:
        raise VideoDBConfigError(
            f"VideoDB connection {conn_id!r}: field 'port' = {port!r} is not a TCP port (1-65535)"
        )
    parts = urlsplit(base_url)
    if parts.port is not None:
        if parts.port != number:
            raise VideoDBConfigError(
                f"VideoDB connection {conn_id!r}: field 'port' = {number} conflicts with the "
                f"port {parts.port} in field 'host'; set the port in one place only"
            )
        return base_url
    return normalise_base_url(parts._replace(netloc=f"{parts.netloc}:{number}").geturl())


def _plain_extras(conn_id: str, extra: Any) -> dict[str, Any]:
    """Accept both ``timeout`` and the form-widget spelling ``extra__videodb__timeout``."""
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise VideoDBConfigError(
            f"VideoDB connection {conn_id!r}: field 'extra' must be a JSON object "
            f'(e.g. {{"timeout": 30}}), not a JSON {_json_kind(extra)}'
        )
    plain: dict[str, Any] = {}
    for key, value in extra.items():
        if not isinstance(key, str):
            continue  # not one of ours (JSON object keys are always strings anyway)
        name = key[len(_EXTRA_PREFIX) :] if key.startswith(_EXTRA_PREFIX) else key
        if value is None or value == "":
            continue  # empty form fields mean "use the default"
        plain.setdefault(name, value)
    return plain


def _json_kind(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


class _ExtraReader:
    def __init__(self, conn_id: str, extras: Mapping[str, Any]) -> None:
        self.conn_id = conn_id
        self.extras = extras

    def _bad(self, name: str, value: Any, reason: str) -> VideoDBConfigError:
        return VideoDBConfigError(
            f"VideoDB connection {self.conn_id!r}: extra {name}={value!r} {reason}"
        )

    def positive_float(self, name: str, default: float, maximum: float) -> float:
        value = self.extras.get(name, default)
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            raise self._bad(name, value, "is not a number of seconds") from None
        if not math.isfinite(number) or number <= 0:
            raise self._bad(name, value, "must be a finite number greater than zero")
        if number > maximum:
            raise self._bad(name, value, f"must be at most {maximum:g} seconds")
        return number

    def non_negative_int(self, name: str, default: int, maximum: int) -> int:
        value = self.extras.get(name, default)
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            number = int(value)
        except (TypeError, ValueError):
            raise self._bad(name, value, "is not a whole number") from None
        if number < 0:
            raise self._bad(name, value, "must not be negative")
        if number > maximum:
            raise self._bad(name, value, f"must be at most {maximum}")
        return number

    def verify(self) -> bool | str:
        """``verify`` (true, false or a CA bundle path) combined with ``ca_bundle``.

        The connection form has a switch (``verify``) and a path field (``ca_bundle``);
        connections made by code may put the path in ``verify`` itself. A bundle with
        verification switched off, or two different paths, is a conflict, not a guess.
        """
        verify = self._verify_value()
        bundle = self.extras.get("ca_bundle")
        if bundle is None:
            return verify
        if not isinstance(bundle, str) or not bundle.strip():
            raise self._bad("ca_bundle", bundle, "must be the path of a CA bundle file")
        path = bundle.strip()
        if verify is False:
            raise self._bad(
                "ca_bundle", path, "is set while verify is false; switch verification on"
            )
        if isinstance(verify, str) and verify != path:
            raise self._bad(
                "ca_bundle", path, f"conflicts with verify={verify!r}; set the path in one place"
            )
        return self._ca_bundle(path, "ca_bundle")

    def _verify_value(self) -> bool | str:
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
                return self._ca_bundle(value.strip())
        raise self._bad("verify", value, "must be true, false or a CA bundle path")

    def _ca_bundle(self, path: str, name: str = "verify") -> str:
        """A CA bundle path must name a readable file now, not fail later as an ``OSError``
        on the worker or a ``FileNotFoundError`` in the trigger. (A stat and an access
        check: cheap enough for the async path, which calls ``from_connection`` on the
        event loop.) A directory of certificates is not accepted: the async client loads
        a bundle file."""
        if not os.path.isfile(path):
            raise self._bad(name, path, "names no CA bundle file (no such file)")
        if not os.access(path, os.R_OK):
            raise self._bad(name, path, "names a CA bundle file that cannot be read")
        return path

    def collection_id(self) -> str:
        value = self.extras.get("collection_id", "default")
        try:
            return validate_collection_id(value)
        except VideoDBValidationError as err:
            raise self._bad("collection_id", value, err.reason) from None
