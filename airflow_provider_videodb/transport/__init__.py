"""The provider's transport: how one request travels, sync (``requests``) or async (aiohttp).

* :mod:`.sync_http`: one attempt of one request of the hook, ended by its total deadline;
* :mod:`.async_http`: one async read of a job's status;
* :mod:`.loop`: :class:`~.loop.LoopTransport`, what the async side keeps per event loop
  (the session, the CA contexts, the settings cache, the poller), with the loop's lifetime;
* :mod:`.poller`: the loop's job poller, which polls every waiting job of the loop.

Retries, the API calls and the meaning of answers are not here: they live in the hook and
in :mod:`airflow_provider_videodb.responses`.
"""
