"""Extra link from a task to the VideoDB player of the stream it produced."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: XCom key under which the operators push the player URL of their stream.
PLAYER_URL_XCOM_KEY = "player_url"


class VideoDBPlayerLink(BaseOperatorLink):
    """ "VideoDB Player" button: the ``player_url`` the task pushed to XCom.

    Airflow 3 resolves the link on the worker when the task finishes and stores it under
    :attr:`xcom_key`, which the UI then reads; an empty string means "no link".
    """

    name = "VideoDB Player"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        value: Any = XCom.get_value(ti_key=ti_key, key=PLAYER_URL_XCOM_KEY)
        return value if isinstance(value, str) else ""
