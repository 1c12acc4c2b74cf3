"""Helpers shared by the transport tests (plain functions; fixtures live in the test modules)."""

from __future__ import annotations

from airflow_provider_videodb.hooks.videodb import VideoDBHook
from airflow_provider_videodb.responses import JobStatus
from airflow_provider_videodb.transport.async_http import fetch_job_status


async def aget_job_status(
    hook: VideoDBHook, output_url: str, *, deadline: float | None = None
) -> JobStatus:
    """One async read of a job's status for ``hook``, as a trigger makes it: the settings
    resolved without blocking the loop (and kept on the hook), then one attempt."""
    if "settings" not in hook.__dict__:
        settings = await VideoDBHook.aget_settings(hook.videodb_conn_id)
        hook.__dict__["settings"] = hook._with_collection(settings)
    return await fetch_job_status(hook.settings, output_url, deadline=deadline)
