"""What every VideoDB operator shares: the default connection, the deferrable default, the
player link and how a hook is made.

Imported at DAG parse time: nothing here imports a hook or an HTTP client at module level.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

from airflow_provider_videodb.compat import conf
from airflow_provider_videodb.links.videodb import PLAYER_URL_XCOM_KEY, VideoDBPlayerLink
from airflow_provider_videodb.validation import validate_collection_id

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_videodb.hooks.videodb import VideoDBHook

DEFAULT_CONN_ID = "videodb_default"
#: Airflow's own deferral timeout is a backstop behind the trigger's deadline: it fires only
#: if the trigger could not report, and then ``execute_complete`` is skipped.
DEFERRAL_MARGIN_SECONDS = 120.0


def default_deferrable() -> bool:
    """``deferrable`` when not given: ``[videodb] default_deferrable``, True unless set.

    Airflow's own ``[operators] default_deferrable`` ships as false, which would make every
    job task hold a worker slot while it waits; this provider is deferrable by default
    and lets a deployment opt out (``AIRFLOW__VIDEODB__DEFAULT_DEFERRABLE=false``).
    """
    return conf.getboolean("videodb", "default_deferrable", fallback=True)


class PlayerLinkMixin:
    """Pushes the player URL for :class:`VideoDBPlayerLink` and remembers it for the link."""

    operator_extra_links: Collection[BaseOperatorLink] = (VideoDBPlayerLink(),)
    pushed_player_url: str | None = None

    def _push_player_url(self, context: Context, player_url: str | None) -> None:
        if player_url:
            context["ti"].xcom_push(key=PLAYER_URL_XCOM_KEY, value=player_url)
            self.pushed_player_url = player_url


def optional_collection(collection_id: Any) -> str | None:
    """A rendered ``collection_id``: None (the connection's) or a checked id.

    :param collection_id: the operator's rendered field.
    """
    return None if collection_id is None else validate_collection_id(collection_id)


def make_hook(conn_id: str, collection_id: str | None) -> VideoDBHook:
    """The hook of one task run (imported here, when the task runs, not at parse time).

    :param conn_id: the Airflow connection of type ``videodb``.
    :param collection_id: the collection the task works in (None: the connection's).
    """
    from airflow_provider_videodb.hooks.videodb import VideoDBHook

    return VideoDBHook(conn_id, collection_id=collection_id)
