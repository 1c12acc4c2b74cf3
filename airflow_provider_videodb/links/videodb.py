"""Extra link from a task to the VideoDB player of the stream it produced."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: XCom key under which the operators push the player URL of their stream.
PLAYER_URL_XCOM_KEY = "player_url"
#: Operator attribute holding the player URL pushed in this run (None: nothing pushed).
PUSHED_ATTR = "pushed_player_url"
_UNKNOWN = object()


class VideoDBPlayerLink(BaseOperatorLink):
    """The "VideoDB Player" button: the ``player_url`` the task pushed to XCom.

    Airflow 3 resolves the link on the worker when the task finishes (also when it defers
    or fails) and stores it under :attr:`xcom_key`, which the UI then reads; an empty
    string means "no link". The operator that has just run knows what it pushed
    (:data:`PUSHED_ATTR`), which saves a lookup and an error line from Airflow's XCom
    client on every deferral and failure; any other caller reads the XCom.
    """

    name = "VideoDB Player"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        pushed = getattr(operator, PUSHED_ATTR, _UNKNOWN)
        if pushed is _UNKNOWN:
            from airflow.sdk.execution_time.xcom import XCom

            pushed = XCom.get_value(ti_key=ti_key, key=PLAYER_URL_XCOM_KEY)
        # Lazy: responses is not needed to parse DAGs. The operators only push URLs that
        # passed this check, but an XCom may hold anything (an older run, another writer):
        # a link that is not http(s) with a host (``javascript:``, ``data:``...) is no link.
        from airflow_provider_videodb.responses import is_service_url

        return pushed if isinstance(pushed, str) and is_service_url(pushed) else ""
