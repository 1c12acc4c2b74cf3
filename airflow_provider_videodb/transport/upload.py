"""One attempt of the file POST to an upload URL (step 2 of an upload), streamed.

The upload URL may be a storage host's presigned URL, not the VideoDB API: it gets none of
the VideoDB headers (no key), goes through its own plain session, and its query string (the
presigned credentials) never appears in a log line or an error. The file is streamed as a
``multipart/form-data`` body with one field, ``file``, and a known ``Content-Length``: a
multi-gigabyte file is never held in memory, and storage hosts that refuse chunked uploads
accept it. The hook keeps the retries (re-opening the file for each attempt).
"""

from __future__ import annotations

import secrets
from typing import IO, Any

import requests

from airflow_provider_videodb.exceptions import VideoDBError
from airflow_provider_videodb.responses import (
    MAX_ANSWER_BYTES,
    RequestInfo,
    interpret_upload_answer,
    transport_error,
)
from airflow_provider_videodb.transport.sync_http import _root_cause, _was_sent

#: Bytes read from the file per step.
CHUNK_BYTES = 1024 * 1024
_FILENAME_UNSAFE = frozenset('"\\\r\n')


class SourceChangedError(OSError):
    """The file ended before the size it had when the upload started."""


def _header_filename(name: str) -> str:
    """``name`` as a safe multipart ``filename`` (printable ASCII, no quote or backslash)."""
    safe = "".join(
        ch if 0x20 <= ord(ch) < 0x7F and ch not in _FILENAME_UNSAFE else "_" for ch in name
    )
    return safe or "upload"


class MultipartFile:
    """A ``multipart/form-data`` body of one file field, read in steps.

    ``len()`` is the exact body size (``Content-Length``); ``read(n)`` gives the preamble,
    then the file (``size`` bytes, checked), then the closing boundary.

    :param file: the open binary file, at its start.
    :param size: its size in bytes.
    :param filename: the name given in the part's headers.
    :param field: the form field's name.
    """

    def __init__(self, file: IO[bytes], size: int, filename: str, field: str = "file") -> None:
        self.boundary = secrets.token_hex(16)
        self._head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; '
            f'filename="{_header_filename(filename)}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode("ascii")
        self._tail = f"\r\n--{self.boundary}--\r\n".encode("ascii")
        self._file = file
        self._size = size
        self._left = size
        self._pending = self._head
        self._tail_queued = False

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes of the body (``-1`` or None: one step's worth); ``b""`` at
        its end.

        :param size: how many bytes at most.
        """
        want = CHUNK_BYTES if size is None or size < 0 else size
        if not self._pending and self._left == 0 and not self._tail_queued:
            self._pending, self._tail_queued = self._tail, True
        if self._pending:
            out, self._pending = self._pending[:want], self._pending[want:]
            return out
        if self._left == 0:
            return b""
        chunk = self._file.read(min(want, self._left))
        if not chunk:
            raise SourceChangedError(
                f"the file ended {self._left} bytes short of its size when the upload "
                "started (it changed while it was sent)"
            )
        self._left -= len(chunk)
        return chunk

    def __iter__(self) -> Any:
        while chunk := self.read(CHUNK_BYTES):
            yield chunk


def post_file(
    info: RequestInfo,
    url: str,
    file: IO[bytes],
    size: int,
    filename: str,
    *,
    timeout: tuple[float, float],
    verify: bool | str,
    retry_max_wait: float,
) -> None:
    """POST ``file`` to the upload URL once, with a plain session (no VideoDB header).

    Raises the typed error of a failed attempt (from
    :mod:`airflow_provider_videodb.responses`), whose text never holds the URL's query.

    :param info: what the request is (path only).
    :param url: the upload URL (a credential: never logged).
    :param file: the open file, at its start.
    :param size: its size in bytes.
    :param filename: the name given in the multipart part.
    :param timeout: (connect, read) seconds, per socket operation: a big file takes as long
        as it takes.
    :param verify: TLS verification (True, False or a CA bundle path).
    :param retry_max_wait: cap of a honoured ``Retry-After``.
    """
    query = url.split("?", 1)[1] if "?" in url else ""
    body = MultipartFile(file, size, filename)
    failure: VideoDBError | None = None
    with requests.Session() as session:
        try:
            with session.post(
                url,
                data=body,
                headers={"Content-Type": body.content_type},
                timeout=timeout,
                verify=verify,
                allow_redirects=False,  # a streamed body cannot be sent again to a new place
                stream=True,
            ) as response:
                status, headers = response.status_code, response.headers
                drained = 0  # read (a bounded part of) the answer: it is not used
                for chunk in response.iter_content(64 * 1024):
                    drained += len(chunk)
                    if drained > MAX_ANSWER_BYTES:
                        break
        except requests.RequestException as exc:
            failure = transport_error(info, _root_cause(exc), sent=_was_sent(exc), hide=query)
        except OSError as exc:
            failure = transport_error(info, exc, sent=True, hide=query)
    if failure is not None:
        raise failure  # outside the handler: no __context__ quoting the URL
    interpret_upload_answer(info, status, headers, retry_max_wait=retry_max_wait)
