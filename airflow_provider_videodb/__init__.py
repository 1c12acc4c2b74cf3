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
                "ui-field-behaviour": {
                    # The base URL (with scheme and port) goes in host; the key in password.
                    "hidden-fields": ["schema", "login", "port", "extra"],
                    "relabeling": {"host": "Base URL", "password": "API key"},
                    "placeholders": {
                        "host": "https://api.videodb.io",
                        "password": "sk-...",
                        "collection_id": "default",
                    },
                },
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


def _field(label: str, types: str | list[str], default: Any, description: str) -> dict[str, Any]:
    kinds = [types] if isinstance(types, str) else list(types)
    return {
        "label": label,
        "schema": {"type": [*kinds, "null"], "default": default},
        "description": description,
    }


_CONN_FIELDS: dict[str, Any] = {
    "collection_id": _field(
        "Collection", "string", "default", "Default collection: 'default' or an id 'c-...'."
    ),
    "timeout": _field("Read timeout (s)", "number", 30.0, "Read timeout of each request."),
    "connect_timeout": _field("Connect timeout (s)", "number", 10.0, "TCP/TLS connect timeout."),
    "max_retries": _field(
        "Max retries", "integer", 5, "Retries after the first attempt for transient failures."
    ),
    "retry_max_wait": _field(
        "Max retry wait (s)", "number", 60.0, "Cap for backoff and for a Retry-After header."
    ),
    "verify": _field(
        "TLS verification",
        ["boolean", "string"],
        True,
        "true (default), false, or the path of a CA bundle.",
    ),
}
