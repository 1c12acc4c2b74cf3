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

#: Audio files, images and thumbnails: kept as they are (``path``), never cut.
#: ``kind`` is ``audio`` or ``image``; a thumbnail is an image with the ``video_id`` and
#: ``time`` it was cut from.
LIBRARY_SCHEMA = """
CREATE TABLE IF NOT EXISTS assets (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, collection_id TEXT NOT NULL, name TEXT,
    description TEXT, length REAL, path TEXT NOT NULL, video_id TEXT, time REAL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS assets_by_collection ON assets (collection_id, kind);
CREATE INDEX IF NOT EXISTS assets_by_video ON assets (video_id);
"""
#: Columns added after a table first shipped: (table, column, declaration).
ADDED_COLUMNS = (("jobs", "pending", "INTEGER NOT NULL DEFAULT 0"),)

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
        self.db.executescript(LIBRARY_SCHEMA)
        self._add_missing_columns()
        if self.get_collection("default") is None:
            self.add_collection(
                "default", DEFAULT_COLLECTION_NAME, DEFAULT_COLLECTION_DESCRIPTION, False
            )

    def close(self) -> None:
        self.db.close()

    def _add_missing_columns(self) -> None:
        """Bring a data dir written by an older server up to date (``ADDED_COLUMNS``)."""
        for table, column, declaration in ADDED_COLUMNS:
            have = {r["name"] for r in self._all(f"PRAGMA table_info({table})")}
            if column not in have:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

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

    # spoken-word and scene indexes (search.py); their tables are made on first use
    SEARCH_SCHEMA = """
    CREATE TABLE IF NOT EXISTS spoken_indexes (
        video_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, segmentation_type TEXT,
        language_code TEXT, created_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS scene_indexes (
        id TEXT PRIMARY KEY, video_id TEXT NOT NULL, name TEXT, job_id TEXT NOT NULL,
        settings TEXT NOT NULL, scenes TEXT NOT NULL, created_at REAL NOT NULL
    );
    CREATE INDEX IF NOT EXISTS scene_indexes_by_video ON scene_indexes (video_id);
    """

    def _search(self) -> sqlite3.Connection:
        """The connection, once the index tables exist (made on the first index call)."""
        if not getattr(self, "_search_ready", False):
            self.db.executescript(self.SEARCH_SCHEMA)
            self._search_ready = True
        return self.db

    def set_spoken_index(
        self, vid: str, job_id: str, segmentation_type: str, language_code: str | None
    ) -> None:
        """Record that job ``job_id`` indexes the spoken words of video ``vid`` (replacing an
        earlier index: ``force``)."""
        self._search().execute(
            "INSERT OR REPLACE INTO spoken_indexes VALUES (?, ?, ?, ?, ?)",
            (vid, job_id, segmentation_type, language_code, time.time()),
        )

    def get_spoken_index(self, vid: str) -> dict[str, Any] | None:
        row = self._search().execute("SELECT * FROM spoken_indexes WHERE video_id = ?", (vid,))
        found = row.fetchone()
        return dict(found) if found is not None else None

    def add_scene_index(
        self, *, sid: str, vid: str, name: str | None, job_id: str,
        settings: dict[str, Any], scenes: list[dict[str, Any]],
    ) -> None:  # fmt: skip
        """Store scene index ``sid`` of video ``vid``: how it was made and its scenes."""
        self._search().execute(
            "INSERT INTO scene_indexes VALUES (?, ?, ?, ?, ?, ?, ?)",
            (sid, vid, name, job_id, json.dumps(settings), json.dumps(scenes), time.time()),
        )

    def list_scene_indexes(self, vid: str) -> list[dict[str, Any]]:
        """The scene indexes of video ``vid``, oldest first, ``settings``/``scenes`` decoded."""
        rows = self._search().execute(
            "SELECT * FROM scene_indexes WHERE video_id = ? ORDER BY created_at, rowid", (vid,)
        )
        return [self._scene_index_row(dict(r)) for r in rows.fetchall()]

    def get_scene_index(self, sid: str) -> dict[str, Any] | None:
        query = self._search().execute("SELECT * FROM scene_indexes WHERE id = ?", (sid,))
        found = query.fetchone()
        return self._scene_index_row(dict(found)) if found is not None else None

    @staticmethod
    def _scene_index_row(row: dict[str, Any]) -> dict[str, Any]:
        row["settings"] = json.loads(row["settings"])
        row["scenes"] = json.loads(row["scenes"])
        return row

    def delete_scene_index(self, sid: str) -> None:
        self._search().execute("DELETE FROM scene_indexes WHERE id = ?", (sid,))

    def delete_search_state(self, vid: str) -> None:
        """Forget the spoken-word and scene indexes of video ``vid`` (when it is deleted)."""
        with self._search():
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM spoken_indexes WHERE video_id = ?", (vid,))
            self.db.execute("DELETE FROM scene_indexes WHERE video_id = ?", (vid,))

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
            "INSERT OR REPLACE INTO jobs (id, kind, video_id, created_at, duration, result, "
            "error, pending) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row["id"],
                row["kind"],
                row["video_id"],
                row["created_at"],
                row["duration"],
                json.dumps(row["result"]) if row["result"] is not None else None,
                json.dumps(row["error"]) if row["error"] is not None else None,
                int(row["pending"]),
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
                    pending=bool(row["pending"]),
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

    # collections: create, change, delete (the default one is never deleted: see backend)
    def update_collection(self, cid: str, changes: dict[str, Any]) -> None:
        """Set the given columns (``name``, ``description``, ``is_public``) of collection ``cid``.

        :param changes: column -> new value; only those three names are accepted.
        """
        allowed = {"name", "description", "is_public"}
        if not changes or not set(changes) <= allowed:
            raise ValueError(f"update_collection takes some of {sorted(allowed)}")
        columns = ", ".join(f"{name} = ?" for name in changes)
        self.db.execute(f"UPDATE collections SET {columns} WHERE id = ?", (*changes.values(), cid))

    def delete_collection(self, cid: str) -> None:
        """Remove the row of collection ``cid`` (its media are deleted one by one first)."""
        self.db.execute("DELETE FROM collections WHERE id = ?", (cid,))

    # deleting a video: its row, idempotency key, streams, transcript, subtitles, thumbnails
    def delete_video(self, vid: str) -> list[str]:
        """Remove video ``vid`` and everything that names it, in one transaction.

        :return: the ids of the streams removed (whole, timeline and compiled ones that use it),
            so the caller can drop them from its playlist cache.
        """
        pattern = f'%"{vid}"%'
        with self.db:
            self.db.execute("BEGIN")
            streams = [
                str(r["id"])
                for r in self._all(
                    "SELECT id FROM streams "
                    "WHERE video_id = ? OR (video_id IS NULL AND spec LIKE ?)",
                    vid,
                    pattern,
                )
            ]
            self.db.executemany("DELETE FROM streams WHERE id = ?", [(s,) for s in streams])
            self.db.execute("DELETE FROM videos WHERE id = ?", (vid,))
            self.db.execute("DELETE FROM video_sources WHERE video_id = ?", (vid,))
            self.db.execute("DELETE FROM transcripts WHERE video_id = ?", (vid,))
            self.db.execute("DELETE FROM subtitles WHERE video_id = ?", (vid,))
            self.db.execute("DELETE FROM assets WHERE video_id = ?", (vid,))
        return streams

    # audio, images and thumbnails (the assets table)
    def add_asset(
        self, *, aid: str, kind: str, collection_id: str, name: str, description: str | None,
        path: str, length: float | None = None, source: str | None = None,
        video_id: str | None = None, time_s: float | None = None,
    ) -> None:  # fmt: skip
        """Store an audio file or an image; with ``source``, also its idempotency key (the
        ``video_sources`` table holds the key of every kind of media), in one transaction."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT INTO assets (id, kind, collection_id, name, description, length, path, "
                "video_id, time, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (aid, kind, collection_id, name, description, length, path, video_id, time_s,
                 time.time()),
            )  # fmt: skip
            if source is not None:
                self.db.execute(
                    "INSERT INTO video_sources VALUES (?, ?, ?, ?)",
                    (collection_id, source, name, aid),
                )

    def get_asset(self, aid: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM assets WHERE id = ?", aid)

    def list_assets(self, cid: str, kind: str) -> list[dict[str, Any]]:
        """The uploaded audio files or images of collection ``cid`` (thumbnails not included)."""
        return self._all(
            "SELECT * FROM assets WHERE collection_id = ? AND kind = ? AND video_id IS NULL "
            "ORDER BY created_at",
            cid,
            kind,
        )

    def list_thumbnails(self, vid: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM assets WHERE video_id = ? ORDER BY created_at", vid)

    def find_thumbnail(self, vid: str, time_s: float) -> dict[str, Any] | None:
        return self._one("SELECT * FROM assets WHERE video_id = ? AND time = ?", vid, time_s)

    def delete_asset(self, aid: str) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM assets WHERE id = ?", (aid,))
            self.db.execute("DELETE FROM video_sources WHERE video_id = ?", (aid,))

    def find_source(self, cid: str, source: str, name: str) -> str | None:
        """The id of the media (video, audio or image) already made from ``source`` under
        ``name`` in collection ``cid``."""
        row = self._one(
            "SELECT video_id FROM video_sources WHERE collection_id = ? AND source = ? "
            "AND name = ?",
            cid,
            source,
            name,
        )
        return None if row is None else str(row["video_id"])
