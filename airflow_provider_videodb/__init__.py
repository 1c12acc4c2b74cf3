"""Apache Airflow provider for VideoDB."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_INTEGRATION = "VideoDB"
_PACKAGE = "airflow_provider_videodb"


def get_provider_info() -> dict[str, Any]:
    """Provider metadata for Airflow's ``apache_airflow_provider`` entry point.

    Kept free of imports so that ``ProvidersManager`` can read it (and render the
    connection form) without loading hooks, aiohttp or requests.
    """
    return {
        "package-name": "airflow-provider-videodb",
        "name": "VideoDB",
        "description": (
            "VideoDB (https://videodb.io): upload, index and search media, AI clips from a "
            "text prompt, and HLS streams of videos and timelines; every long job waited "
            "for on the triggerer."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://docs.videodb.io",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.hooks.videodb"]}
        ],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    f"{_PACKAGE}.operators.videodb",
                    f"{_PACKAGE}.operators.upload",
                    f"{_PACKAGE}.operators.index",
                    f"{_PACKAGE}.operators.search",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [f"{_PACKAGE}.triggers.videodb", f"{_PACKAGE}.triggers.events"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "videodb",
                "hook-class-name": f"{_PACKAGE}.hooks.videodb.VideoDBHook",
                "hook-name": "VideoDB",
                "conn-fields": _CONN_FIELDS,
                "ui-field-behaviour": _UI_FIELD_BEHAVIOUR,
            }
        ],
        # The videodb:// asset scheme (airflow_provider_videodb.assets). Airflow 3 reads only
        # "asset-uris" ("dataset-uris" is the deprecated Airflow 2 name, not read by 3.x).
        "asset-uris": [
            {
                "schemes": ["videodb"],
                "handler": f"{_PACKAGE}.assets.normalize_uri",
                "factory": f"{_PACKAGE}.assets.create_asset",
                "to_openlineage_converter": f"{_PACKAGE}.assets.to_openlineage_dataset",
            }
        ],
        "extra-links": [f"{_PACKAGE}.links.videodb.VideoDBPlayerLink"],
        "config": {
            "videodb": {
                "description": "Options for the VideoDB provider.",
                "options": {
                    "default_deferrable": {
                        "description": (
                            "Whether ClipVideoOperator waits on the triggerer when its "
                            "``deferrable`` argument is not given. True by default (Airflow's "
                            "own ``[operators] default_deferrable`` ships as false)."
                        ),
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "False",
                        "default": "True",
                    }
                },
            }
        },
    }


def _field(label: str, kind: str, description: str, **schema: Any) -> dict[str, Any]:
    """One extra field of the connection form (a JSON schema the Airflow 3 UI renders).

    No ``default``: the form then starts empty (``null``) and an empty field means "the
    provider's default" (``settings`` reads ``null`` as not set), so the default is stated
    in ``description`` rather than frozen into every connection the UI saves.

    :param label: the field's label in the form.
    :param kind: the JSON schema type (``null`` is always allowed too).
    :param description: the help text under the field.
    :param schema: more JSON schema keywords (``default``, ``minimum``, ``examples``...).
    """
    return {
        "label": label,
        "schema": {"type": [kind, "null"], **schema},
        "description": description,
    }


#: The standard fields. ``host`` takes the whole base URL, ``password`` the key. ``port`` stays
#: visible (optional): Airflow 3.3.0-3.3.2's Test button sends ``port: 0`` for a connection
#: whose stored port is empty and then refuses the test (apache/airflow#73298), so a port
#: typed here is what lets Test work on those versions. ``extra`` is hidden by the Airflow
#: 2 form; the Airflow 3 UI always shows its "Extra Fields JSON" editor.
_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "login", "extra"],
    "relabeling": {"host": "Base URL", "password": "API key", "port": "Port (optional)"},
    "placeholders": {
        "host": "https://api.videodb.io",
        "password": "sk-...",
        "port": "443 (the port of the base URL)",
        "collection_id": "default",
    },
}

_CONN_FIELDS: dict[str, Any] = {
    "collection_id": _field(
        "Collection",
        "string",
        "Empty: 'default' (the account's default collection); or a collection id 'c-...'.",
    ),
    "timeout": _field(
        "Read timeout (s)",
        "number",
        "Read timeout of each request. Empty: 30.",
        exclusiveMinimum=0,
        maximum=3600,
    ),
    "connect_timeout": _field(
        "Connect timeout (s)",
        "number",
        "TCP/TLS connect timeout. Empty: 10.",
        exclusiveMinimum=0,
        maximum=3600,
    ),
    "max_retries": _field(
        "Max retries",
        "integer",
        "Retries after the first attempt for transient failures. Empty: 5.",
        minimum=0,
        maximum=20,
    ),
    "retry_max_wait": _field(
        "Max retry wait (s)",
        "number",
        "Cap for backoff and for a Retry-After header. Empty: 60.",
        exclusiveMinimum=0,
        maximum=3600,
    ),
    # A switch has no "unset" state in the UI (null shows as off), so this one has a default:
    # on, as for connections made by code. A CA bundle path goes in its own field.
    "verify": _field(
        "TLS verification",
        "boolean",
        "Verify the server's TLS certificate (on by default). Off only for a test server.",
        default=True,
    ),
    "ca_bundle": _field(
        "CA bundle path",
        "string",
        "Path of a CA bundle file on the Airflow machines, to verify a server whose "
        "certificate is signed by a private CA. Empty: the system's CAs.",
    ),
}
