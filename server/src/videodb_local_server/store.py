"""SQLite persistence for the local server: everything a restart must keep.

The store is deliberately dumb: rows in, rows out. Hot job state also lives in memory
(see ``jobs.py``); this file is what makes it survive a restart.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

from .jobs import Job

SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, is_public INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY, collection_id TEXT NOT NULL, name TEXT, description TEXT,
    length REAL NOT NULL, created_at REAL NOT NULL, media_dir TEXT NOT NULL,
    stream_id TEXT
);
CREATE TABLE IF NOT EXISTS transcripts (
    video_id TEXT PRIMARY KEY, source TEXT, cues TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS subtitles (
    id TEXT PRIMARY KEY, collection_id TEXT NOT NULL, name TEXT, cues TEXT NOT NULL,
    video_id TEXT, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS streams (
    id TEXT PRIMARY KEY, video_id TEXT, spec TEXT NOT NULL, playlist TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, video_id TEXT, created_at REAL NOT NULL,
    duration REAL NOT NULL, result TEXT, error TEXT
);
CREATE TABLE IF NOT EXISTS video_sources (
    collection_id TEXT NOT NULL, source TEXT NOT NULL, name TEXT NOT NULL,
    video_id TEXT NOT NULL, PRIMARY KEY (collection_id, source, name)
);
CREATE TABLE IF NOT EXISTS uploads (
    token TEXT PRIMARY KEY, collection_id TEXT NOT NULL, name TEXT, path TEXT,
    created_at REAL NOT NULL
);
"""

DEFAULT_COLLECTION_NAME = "Default Collection"
DEFAULT_COLLECTION_DESCRIPTION = "Default collection of the local VideoDB server"


def new_id(prefix: str, nbytes: int = 8) -> str:
    return f"{prefix}-{secrets.token_hex(nbytes)}"


class Store:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        if self.get_collection("default") is None:
            self.add_collection(
                "default", DEFAULT_COLLECTION_NAME, DEFAULT_COLLECTION_DESCRIPTION, False
            )

    def close(self) -> None:
        self.db.close()

    def _one(self, sql: str, *args: Any) -> dict[str, Any] | None:
        row = self.db.execute(sql, args).fetchone()
        return dict(row) if row is not None else None

    def _all(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(sql, args).fetchall()]

    # collections
    def add_collection(self, id: str, name: str, description: str, is_public: bool) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO collections VALUES (?, ?, ?, ?)",
            (id, name, description, int(is_public)),
        )

    def get_collection(self, cid: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM collections WHERE id = ?", cid)
        if row is not None:
            row["is_public"] = bool(row["is_public"])
        return row

    def list_collections(self) -> list[dict[str, Any]]:
        rows = self._all("SELECT * FROM collections ORDER BY rowid")
        for row in rows:
            row["is_public"] = bool(row["is_public"])
        return rows

    # videos
    def add_video(
        self, *, vid: str, collection_id: str, name: str, description: str | None,
        length: float, media_dir: str, source: str | None = None,
    ) -> None:  # fmt: skip
        """Store a video; with ``source``, also its idempotency key, in the same transaction.

        :param source: where the media came from (the upload URL, a demo file); a later
            :meth:`find_video_by_source` with the same collection, source and name finds it.
        """
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT INTO videos VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (vid, collection_id, name, description, length, time.time(), media_dir),
            )
            if source is not None:
                self.db.execute(
                    "INSERT INTO video_sources VALUES (?, ?, ?, ?)",
                    (collection_id, source, name, vid),
                )

    def find_video_by_source(self, cid: str, source: str, name: str) -> dict[str, Any] | None:
        """The video already made from ``source`` under ``name`` in collection ``cid``."""
        return self._one(
            "SELECT v.* FROM video_sources s JOIN videos v ON v.id = s.video_id "
            "WHERE s.collection_id = ? AND s.source = ? AND s.name = ?",
            cid,
            source,
            name,
        )

    def get_video(self, vid: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM videos WHERE id = ?", vid)

    def list_videos(self, cid: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM videos WHERE collection_id = ? ORDER BY created_at", cid)

    def find_video_by_name(self, cid: str, name: str) -> dict[str, Any] | None:
        return self._one(
            "SELECT * FROM videos WHERE collection_id = ? AND name = ? "
            "ORDER BY created_at DESC LIMIT 1",
            cid,
            name,
        )

    def set_whole_stream(self, vid: str, stream_id: str) -> None:
        self.db.execute("UPDATE videos SET stream_id = ? WHERE id = ?", (stream_id, vid))

    # transcripts and sidecar subtitles
    def set_transcript(self, vid: str, cues: list[dict[str, Any]], source: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO transcripts VALUES (?, ?, ?)", (vid, source, json.dumps(cues))
        )

    def get_transcript(self, vid: str) -> list[dict[str, Any]] | None:
        row = self._one("SELECT cues FROM transcripts WHERE video_id = ?", vid)
        return json.loads(row["cues"]) if row else None

    def add_subtitle(
        self, sid: str, cid: str, name: str, cues: list[dict[str, Any]], video_id: str | None
    ) -> None:
        self.db.execute(
            "INSERT INTO subtitles VALUES (?, ?, ?, ?, ?, ?)",
            (sid, cid, name, json.dumps(cues), video_id, time.time()),
        )

    def take_pending_subtitle(self, cid: str, name: str, vid: str) -> list[dict[str, Any]] | None:
        """Claim the newest unattached subtitle uploaded under this name for video ``vid``."""
        row = self._one(
            "SELECT id, cues FROM subtitles WHERE collection_id = ? AND name = ? "
            "AND video_id IS NULL ORDER BY created_at DESC LIMIT 1",
            cid,
            name,
        )
        if row is None:
            return None
        self.db.execute("UPDATE subtitles SET video_id = ? WHERE id = ?", (vid, row["id"]))
        return list(json.loads(row["cues"]))

    # streams
    def add_stream(self, sid: str, video_id: str | None, spec: Any, playlist: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO streams VALUES (?, ?, ?, ?, ?)",
            (sid, video_id, json.dumps(spec), playlist, time.time()),
        )

    def get_stream(self, sid: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM streams WHERE id = ?", sid)

    # jobs
    def save_job(self, job: Job) -> None:
        row = job.to_row()
        self.db.execute(
            "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                row["id"],
                row["kind"],
                row["video_id"],
                row["created_at"],
                row["duration"],
                json.dumps(row["result"]) if row["result"] is not None else None,
                json.dumps(row["error"]) if row["error"] is not None else None,
            ),
        )

    def load_jobs(self) -> list[Job]:
        jobs = []
        for row in self._all("SELECT * FROM jobs"):
            jobs.append(
                Job(
                    id=row["id"],
                    kind=row["kind"],
                    video_id=row["video_id"],
                    created_at=row["created_at"],
                    duration=row["duration"],
                    result=json.loads(row["result"]) if row["result"] else None,
                    error=json.loads(row["error"]) if row["error"] else None,
                )
            )
        return jobs

    # uploads (the twin's stand-in for presigned upload URLs)
    def add_upload(self, token: str, cid: str, name: str | None) -> None:
        self.db.execute(
            "INSERT INTO uploads VALUES (?, ?, ?, NULL, ?)", (token, cid, name, time.time())
        )

    def get_upload(self, token: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM uploads WHERE token = ?", token)

    def set_upload_path(self, token: str, path: str) -> None:
        self.db.execute("UPDATE uploads SET path = ? WHERE token = ?", (path, token))
