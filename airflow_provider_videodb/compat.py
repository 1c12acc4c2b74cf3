"""Every difference between the Airflow versions this provider supports, in one place.

The provider runs on Airflow 3.1 and newer. Where a name moved or appeared later, it is
resolved here once; the rest of the package imports it from this module and never writes an
``except ImportError`` of its own. Delete a shim when the floor passes the version named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Connection

try:  # Airflow >= 3.2
    from airflow.sdk.exceptions import AirflowException, AirflowNotFoundException
except ImportError:  # pragma: no cover - Airflow 3.1 keeps them in airflow.exceptions only
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined,unused-ignore]
        AirflowException,
        AirflowNotFoundException,
    )

try:  # Airflow >= 3.2
    from airflow.sdk.log import mask_secret
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.sdk.execution_time.secrets_masker import (  # type: ignore[no-redef,unused-ignore]
        mask_secret,
    )

try:  # Airflow >= 3.2
    from airflow.sdk.log import amask_secret
except ImportError:  # pragma: no cover - Airflow 3.1: no async variant

    async def amask_secret(secret: Any, name: str | None = None) -> None:  # type: ignore[misc,unused-ignore]
        """Mask ``secret`` in logs (3.1 has only the sync form, which is quick)."""
        mask_secret(secret, name)


try:  # Airflow >= 3.2
    from airflow.sdk import conf
except ImportError:  # pragma: no cover - Airflow 3.1 has no airflow.sdk.conf
    from airflow.configuration import conf  # type: ignore[assignment,unused-ignore]


async def aget_connection(conn_id: str) -> Connection:
    """``BaseHook.aget_connection`` where it exists; else the sync lookup off the loop.

    :param conn_id: the Airflow connection id.
    """
    from airflow.sdk import BaseHook  # here: parse-time importers of this module skip it

    aget = getattr(BaseHook, "aget_connection", None)
    if aget is not None:
        return await aget(conn_id)
    from asgiref.sync import sync_to_async  # pragma: no cover - Airflow 3.1

    return await sync_to_async(BaseHook.get_connection)(conn_id)  # pragma: no cover


__all__ = [
    "AirflowException",
    "AirflowNotFoundException",
    "aget_connection",
    "amask_secret",
    "conf",
    "mask_secret",
]
