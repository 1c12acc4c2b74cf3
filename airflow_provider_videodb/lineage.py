"""What a task read and produced, as ``videodb://`` assets: one call per operator.

:func:`report_lineage` is called by every operator when its task has its result. It

1. keeps a :class:`TaskLineage` on the operator, for the OpenLineage methods of
   :class:`LineageMixin`;
2. reports every asset to Airflow's hook-level lineage collector
   (``airflow.sdk.lineage.get_hook_lineage_collector``), with the task's hook as the context.
   Airflow turns that collector on only when a hook-lineage reader is registered (the
   OpenLineage provider registers one); otherwise it is a no-op collector;
3. adds the produced assets to every ``AssetAlias`` among the task's ``outlets``, so that
   the Assets view of Airflow lists the videos, indexes and streams a run produced (the
   collector does not feed the Assets view: only outlets do). Every VideoDB operator has
   the alias :data:`DEFAULT_ALIAS` among its outlets unless told otherwise
   (``lineage_alias``, see :class:`LineageMixin`), so a DAG author who writes nothing gets
   them too. An ``Asset`` outlet a DAG author names himself is Airflow's own business and
   needs nothing from here.

Lineage never fails a task: an asset that cannot be named (a stream URL with an odd file
name, say) is logged and left out.

Imported at DAG-parse time (the operators import it): nothing heavy at module level; the
OpenLineage provider is imported only inside the OpenLineage methods.
"""

from __future__ import annotations

import dataclasses
import logging
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetAlias

from airflow_provider_videodb.assets import create_asset
from airflow_provider_videodb.exceptions import VideoDBValidationError

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_videodb.hooks.videodb import VideoDBHook

log = logging.getLogger(__name__)

#: The ``AssetAlias`` every VideoDB operator feeds unless given ``lineage_alias=None``: what
#: its tasks produced appears in the Assets view, and a DAG can be scheduled on it
#: (``schedule=[AssetAlias("videodb")]``: a run whenever any VideoDB task produced something).
DEFAULT_ALIAS = "videodb"

#: What names one asset: keyword arguments of :func:`~airflow_provider_videodb.assets.create_asset`
#: without the collection (``{"video_id": ...}``, ``{"video_id": ..., "stream_url": ...}``), or
#: ``{"uri": ...}`` for an asset of another scheme (the file an upload read).
AssetSpec = Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class TaskLineage:
    """What one task run read and produced, and the facts of its run.

    :param inputs: ``videodb://`` URIs it read.
    :param outputs: ``videodb://`` URIs it produced.
    :param run_facts: the job id, the prompt or query (never a key): strings only.
    """

    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    run_facts: Mapping[str, str] = dataclasses.field(default_factory=dict)


def source_spec(source: Any) -> AssetSpec | None:
    """The input asset of an upload's source: a file or an object-storage path.

    An http(s) URL is left out (the service fetches it; a signed URL carries a token in its
    query), and so is any query, fragment or user info of a storage URI.

    :param source: the checked ``source`` of an ``UploadRequest``.
    """
    text = str(source)
    if "://" not in text:
        return {"uri": Path(text).absolute().as_uri()}
    parts = urllib.parse.urlsplit(text)
    if parts.scheme.lower() in ("http", "https"):
        return None
    host = parts.netloc.rpartition("@")[2]
    return {"uri": urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))}


def _assets(collection_id: str, specs: Sequence[AssetSpec | None]) -> list[Asset]:
    assets = []
    for spec in specs:
        if spec is None or ("stream_url" in spec and not spec["stream_url"]):
            continue  # nothing produced (no shots, no stream)
        try:
            if "uri" in spec:
                assets.append(Asset(uri=spec["uri"]))
            else:
                assets.append(create_asset(collection_id=collection_id, **spec))
        except ValueError as error:
            log.warning("Lineage: leaving out an asset that cannot be named: %s", error)
    return assets


def report_lineage(
    operator: Any,
    context: Context,
    hook: VideoDBHook,
    *,
    reads: Sequence[AssetSpec | None] = (),
    writes: Sequence[AssetSpec | None] = (),
    **run_facts: Any,
) -> TaskLineage:
    """Report what a task read and produced (see the module's docstring).

    :param operator: the operator (it keeps the result as ``videodb_lineage``).
    :param context: the task's context (its ``outlet_events`` feed ``AssetAlias`` outlets).
    :param hook: the task's hook: the collector's context; its collection (the task's, or
        the connection's) is the collection of every asset.
    :param reads: the assets read, as :data:`AssetSpec` (None entries are skipped).
    :param writes: the assets produced, likewise; a spec whose ``stream_url`` is None is
        skipped (no stream was made).
    :param run_facts: ``job_id``, ``prompt``, ``query``...: kept as strings, None dropped.
    """
    collection = hook.settings.collection_id
    inputs = _assets(collection, reads)
    outputs = _assets(collection, writes)
    lineage = TaskLineage(
        tuple(asset.uri for asset in inputs),
        tuple(asset.uri for asset in outputs),
        {key: str(value) for key, value in run_facts.items() if value is not None},
    )
    operator.videodb_lineage = lineage
    _to_collector(hook, inputs, outputs)
    _to_alias_outlets(operator, context, outputs)
    return lineage


def _to_collector(hook: VideoDBHook, inputs: list[Asset], outputs: list[Asset]) -> None:
    try:
        from airflow.sdk.lineage import get_hook_lineage_collector
    except ImportError:  # Airflow 3.1: the collector lives in core
        from airflow.lineage.hook import get_hook_lineage_collector  # type: ignore[no-redef]

    collector = get_hook_lineage_collector()
    for asset in inputs:
        collector.add_input_asset(context=hook, uri=asset.uri)
    for asset in outputs:
        collector.add_output_asset(context=hook, uri=asset.uri)


def _to_alias_outlets(operator: Any, context: Context, outputs: list[Asset]) -> None:
    aliases = [outlet for outlet in operator.outlets or () if isinstance(outlet, AssetAlias)]
    events = context.get("outlet_events")
    if not aliases or not outputs:
        return
    if events is None:
        log.warning("Lineage: no outlet_events in this context; AssetAlias outlets not fed")
        return
    for alias in aliases:
        for asset in outputs:
            events[alias].add(asset)


class LineageMixin:
    """OpenLineage for every VideoDB operator: the ``videodb://`` inputs and outputs of the
    run as datasets, and a ``videodb`` run facet (job id, prompt or query).

    The OpenLineage provider (the optional ``openlineage`` extra) calls these methods after
    the task ran; they import it only then. What they return is what :func:`report_lineage`
    recorded during this run; a failure before that returns no datasets, only the job it
    waited for and the prompt or query of its fields.
    """

    videodb_lineage: TaskLineage | None = None
    #: The job this run waited for, once known (a job operator sets it before waiting).
    videodb_job_id: str | None = None

    def _add_lineage_alias(self, lineage_alias: str | None) -> None:
        """Add the ``AssetAlias`` named ``lineage_alias`` to the task's outlets (from
        ``__init__``: an operator's own signature takes the parameter, so that
        ``.partial()`` accepts it).

        :param lineage_alias: the alias the produced ``videodb://`` assets are added to
            (default :data:`DEFAULT_ALIAS`); ``None``: none beyond the ``outlets`` given.
        """
        if lineage_alias is not None and (not isinstance(lineage_alias, str) or not lineage_alias):
            raise VideoDBValidationError(
                "lineage_alias", lineage_alias, "must be a non-empty string or None"
            )
        self.lineage_alias = lineage_alias
        outlets: list[Any] = self.outlets  # type: ignore[attr-defined]
        if lineage_alias and not any(_is_alias(outlet, lineage_alias) for outlet in outlets):
            outlets.append(AssetAlias(lineage_alias))

    def _lineage_facts(self) -> dict[str, str]:
        """The run facts known without a result: the job waited for, the prompt or query."""
        facts = {"job_id": self.videodb_job_id} if self.videodb_job_id else {}
        for name in ("prompt", "query"):
            if isinstance(value := getattr(self, name, None), str):
                facts[name] = value
        return facts

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The run's inputs, outputs and ``videodb`` run facet (OpenLineage ``OperatorLineage``).

        :param task_instance: the finished task instance (unused: the operator kept it all).
        """
        from airflow_provider_videodb.openlineage_facets import operator_lineage

        return operator_lineage(
            self.videodb_lineage or TaskLineage(run_facts=self._lineage_facts())
        )

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """What was known when the task failed, as ``OperatorLineage``.

        :param task_instance: the failed task instance (unused).
        """
        return self.get_openlineage_facets_on_complete(task_instance)


def _is_alias(outlet: Any, name: str) -> bool:
    return isinstance(outlet, AssetAlias) and outlet.name == name
