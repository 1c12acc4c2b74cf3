"""The local VideoDB server: an offline twin of the VideoDB API with real HLS streams.

Run it with ``videodb-local-server`` (or ``python -m videodb_local_server``);
drive it from Python with :class:`.control.LocalVideoDBServer`.

Modules: ``backend`` (state and rules, no HTTP), ``errors`` (error types), ``app`` (the
middleware, envelopes), ``api`` (VideoDB endpoints), ``player`` (what a video player fetches:
playlists, segments, the player page), ``admin`` (``/_twin/...``), ``callbacks`` (job callback
delivery, the one outbound HTTP call), ``webapp`` (the aiohttp application: middleware and
routes), ``jobs`` (clock-driven async jobs), ``store`` (SQLite), ``faults``, ``journal``,
``server`` (process lifecycle), ``control`` (subprocess handle); the media side, with no HTTP
in it, is the ``media`` package (``hls``, ``ingest``, ``transcript``, ``ranking``, ``demo``).
"""

from videodb_local_server.control import LocalVideoDBServer

__version__ = "0.1.0"

__all__ = ["LocalVideoDBServer"]
