"""A task's lineage as OpenLineage: datasets of the ``videodb://`` scheme and a run facet.

Imported only from :class:`~airflow_provider_videodb.lineage.LineageMixin`'s OpenLineage
methods, which the OpenLineage provider calls: this module needs the optional ``openlineage``
extra (``apache-airflow-providers-openlineage``) and imports it at its top. Never imported at
DAG-parse time.

Naming (OpenLineage's rule for URI-shaped datasets, see
:func:`~airflow_provider_videodb.assets.openlineage_name`): namespace ``videodb://<collection>``,
name the path below it (``m-1``, ``m-1/index/spoken_word``, ``m-1/stream/<stream id>``), ``/``
for the collection itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
from airflow.providers.openlineage.extractors import OperatorLineage
from openlineage.client.facet_v2 import RunFacet

from airflow_provider_videodb.assets import openlineage_dataset

if TYPE_CHECKING:
    from airflow_provider_videodb.lineage import TaskLineage

#: The key of the run facet in an OpenLineage run's ``facets``.
RUN_FACET_KEY = "videodb"


@attrs.define
class VideoDBRunFacet(RunFacet):
    """The VideoDB facts of one task run (never a key or a URL with a token).

    Its fields are the facet's JSON keys (camelCase, as OpenLineage's own facets).

    :param jobId: the service's job (None: nothing had to run, or not a job).
    :param prompt: the clip prompt, where there is one.
    :param query: the search query, where there is one.
    """

    jobId: str | None = attrs.field(default=None)
    prompt: str | None = attrs.field(default=None)
    query: str | None = attrs.field(default=None)


def operator_lineage(lineage: TaskLineage) -> OperatorLineage:
    """``OperatorLineage`` of what the task recorded.

    :param lineage: what :func:`~airflow_provider_videodb.lineage.report_lineage` recorded.
    """
    facts = lineage.run_facts
    facet = VideoDBRunFacet(
        jobId=facts.get("job_id"), prompt=facts.get("prompt"), query=facts.get("query")
    )
    return OperatorLineage(
        inputs=[openlineage_dataset(uri) for uri in lineage.inputs],
        outputs=[openlineage_dataset(uri) for uri in lineage.outputs],
        run_facets={RUN_FACET_KEY: facet} if any(facts.values()) else {},
    )
