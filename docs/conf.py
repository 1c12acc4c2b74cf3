"""Sphinx configuration of the airflow-provider-videodb documentation.

Built by ``bash scripts/docs.sh`` (warnings are errors, nitpicky). The reference is generated
from the docstrings (autodoc); the connection-field table from ``get_provider_info()`` by the
local extension in ``_ext/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))

from airflow_provider_videodb import __version__  # noqa: E402

project = "airflow-provider-videodb"
author = "airflow-provider-videodb developers"
copyright = "airflow-provider-videodb developers"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "videodb_docs",
]

exclude_patterns = ["_build"]
templates_path: list[str] = []
html_theme = "alabaster"
html_static_path: list[str] = []
html_theme_options = {"description": "Apache Airflow provider for VideoDB", "fixed_sidebar": True}

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": True}

nitpicky = True
# No intersphinx (the build runs offline): names outside this provider (Airflow, the
# standard library, requests, aiohttp) cannot be resolved, so they are not reported.
# Every name of the provider itself must resolve.
_EXTERNAL = (
    "airflow|requests|aiohttp|tenacity|pendulum|urllib3|yarl|wtforms|flask_appbuilder"
    "|collections|typing|typing_extensions|asyncio|concurrent|datetime|pathlib|logging|enum"
    "|dataclasses|types|contextlib|functools|os|ssl|urllib|ipaddress|json|re|io|abc|builtins"
    "|_asyncio|pydantic|http|email|numbers|decimal|fractions|uuid|socket|threading|weakref|inspect"
)
_BUILTINS = (
    "str|int|float|bool|bytes|dict|list|tuple|set|frozenset|object|type|None|Any|Callable"
    "|Iterator|Iterable|Mapping|Sequence|Hashable|AsyncIterator|ClassVar|Literal|Self"
    "|TypeVar|Protocol|BaseException|Exception|ValueError|TypeError|KeyError|OSError"
    "|Path|SplitResult|Context|Asset|AssetAlias|BaseOperator|BaseHook|BaseTrigger"
    "|BaseEventTrigger|BaseOperatorLink|TriggerEvent|TaskInstanceKey|Connection"
    "|AirflowException|ObjectStoragePath|Session|ClientSession|T"
)
nitpick_ignore_regex = [
    (r"py:.*", rf"(~?({_EXTERNAL})(\..*)?)|({_BUILTINS})"),
    # Private names (``_delete``, ``__post_init__``) are not part of the documentation.
    (r"py:.*", r"~?\.?_.*"),
    # Airflow's BaseOperatorLink attribute, named in VideoDBPlayerLink's docstring.
    (r"py:attr", r"xcom_key"),
    # Generic aliases in signatures that Sphinx splits at the comma (``tuple[str, ...]``).
    (r"py:class", r"(tuple|dict|list|Mapping|Sequence|Iterable)\[.*"),
]
