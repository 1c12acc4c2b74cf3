"""Local Sphinx extension of the provider's documentation.

* ``.. videodb-connection-fields::`` renders the connection form from
  ``airflow_provider_videodb.get_provider_info()["connection-types"]``: the standard fields
  the form shows (with their labels and placeholders), the hidden ones, and every
  ``conn-fields`` entry (label, type, default, description). The page is built from the
  code, so it cannot drift from it.
* Operators get a "Templated fields" line from their ``template_fields``.
* A cross-reference written in a docstring with the short name of a provider object
  (``:class:`ClipJobTrigger```) resolves to that object when exactly one documented provider
  object has that name; anything else stays a nitpicky warning.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.docutils import SphinxDirective

PACKAGE = "airflow_provider_videodb"
#: The form fields Airflow itself defines, in the order the form shows them.
STANDARD_FIELDS = ("host", "schema", "login", "password", "port", "extra")
_RST_SPECIAL = "\\`*_|[]<>"
#: JSON schema bounds, and how the table writes them.
_BOUNDS = (
    ("minimum", ">="),
    ("exclusiveMinimum", ">"),
    ("maximum", "<="),
    ("exclusiveMaximum", "<"),
    ("minLength", "length >="),
    ("maxLength", "length <="),
)


@dataclass(frozen=True)
class FieldRow:
    """One row of the connection-field table.

    :param name: where the value is stored: a standard field, or ``extra["name"]``.
    :param label: what the form shows.
    :param kind: the JSON schema type(s), ``null`` left out.
    :param default: the default (JSON), or an empty string.
    :param description: the field's description, or an empty string.
    :param placeholder: what the empty field shows, or an empty string.
    """

    name: str
    label: str
    kind: str
    default: str
    description: str
    placeholder: str


def _escape(text: str) -> str:
    return "".join(f"\\{ch}" if ch in _RST_SPECIAL else ch for ch in text)


def _literal(text: str) -> str:
    return f"``{text}``" if text and "`" not in text else _escape(text)


def connection_type(provider_info: dict[str, Any], conn_type: str) -> dict[str, Any]:
    """The ``connection-types`` entry of ``conn_type``.

    :param provider_info: what ``get_provider_info()`` returns.
    :param conn_type: the connection type, e.g. ``videodb``.
    """
    for entry in provider_info.get("connection-types", []):
        if entry.get("connection-type") == conn_type:
            return dict(entry)
    raise ValueError(f"no connection type {conn_type!r} in the provider info")


def _schema_type(schema: dict[str, Any]) -> str:
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    shown = [k for k in kinds if k != "null"]
    text = " or ".join(shown) or "any"
    if "enum" in schema:
        text += " (one of " + ", ".join(json.dumps(v) for v in schema["enum"]) + ")"
    if "format" in schema:
        text += f" ({schema['format']})"
    bounds = [f"{sign} {json.dumps(schema[key])}" for key, sign in _BOUNDS if key in schema]
    if bounds:
        text += ", " + ", ".join(bounds)
    return text


def field_rows(entry: dict[str, Any]) -> list[FieldRow]:
    """The fields of a connection type's form: the standard ones it shows, then its own.

    :param entry: one ``connection-types`` entry of the provider info.
    """
    behaviour = entry.get("ui-field-behaviour", {})
    hidden = set(behaviour.get("hidden-fields", []))
    relabel = behaviour.get("relabeling", {})
    placeholders = behaviour.get("placeholders", {})
    rows = [
        FieldRow(
            name=name,
            label=relabel.get(name, name.capitalize()),
            kind="string",
            default="",
            description="",
            placeholder=str(placeholders.get(name, "")),
        )
        for name in STANDARD_FIELDS
        if name not in hidden
    ]
    for name, spec in entry.get("conn-fields", {}).items():
        schema = spec.get("schema", {})
        has_default = "default" in schema and schema["default"] is not None
        rows.append(
            FieldRow(
                name=f'extra["{name}"]',
                label=str(spec.get("label", name)),
                kind=_schema_type(schema),
                default=json.dumps(schema["default"]) if has_default else "",
                description=str(spec.get("description", "")),
                placeholder=str(placeholders.get(name, "")),
            )
        )
    return rows


def _describe(row: FieldRow) -> str:
    parts = [_escape(row.description)] if row.description else []
    if row.placeholder:
        parts.append(f"Placeholder: {_literal(row.placeholder)}")
    return " ".join(parts)


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [list(header), *map(list, rows)]:
        first, *rest = row
        lines.append(f"   * - {first}")
        lines.extend(f"     - {cell}" for cell in rest)
    return lines


def connection_fields_rst(entry: dict[str, Any]) -> list[str]:
    """reStructuredText for one connection type's form (what the directive inserts).

    :param entry: one ``connection-types`` entry of the provider info.
    """
    behaviour = entry.get("ui-field-behaviour", {})
    hidden = list(behaviour.get("hidden-fields", []))
    lines = [
        f"Connection type {_literal(entry['connection-type'])} "
        f"(hook {_literal(entry['hook-class-name'])}, shown as "
        f"{_literal(entry.get('hook-name', ''))} in the form's type list).",
        "",
    ]
    rows = [
        [
            _literal(r.name),
            _escape(r.label),
            _escape(r.kind),
            _literal(r.default),
            _describe(r),
        ]
        for r in field_rows(entry)
    ]
    lines += _table(["stored in", "label in the form", "type", "default", "description"], rows)
    lines += ["", "Hidden in the form: " + (", ".join(_literal(h) for h in hidden) or "none") + "."]
    return lines


class ConnectionFieldsDirective(SphinxDirective):
    """``.. videodb-connection-fields:: [connection type]`` (default ``videodb``)."""

    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        from airflow_provider_videodb import get_provider_info

        conn_type = self.arguments[0] if self.arguments else "videodb"
        try:
            entry = connection_type(get_provider_info(), conn_type)
        except ValueError as error:
            raise self.error(str(error)) from error
        container = nodes.container()
        self.state.nested_parse(
            StringList(connection_fields_rst(entry), source="get_provider_info()"),
            self.content_offset,
            container,
        )
        return list(container.children)


def templated_fields_line(obj: Any) -> list[str]:
    """``Templated fields: ...`` for an operator class, nothing for anything else.

    :param obj: the object autodoc documents.
    """
    fields = getattr(obj, "template_fields", None) if inspect.isclass(obj) else None
    if not fields or not obj.__module__.startswith(f"{PACKAGE}.operators"):
        return []
    return ["", "**Templated fields:** " + ", ".join(f"``{f}``" for f in fields) + "."]


def _add_templated_fields(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    if what == "class":
        lines.extend(templated_fields_line(obj))


def _resolve_short_name(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.Element
) -> nodes.Element | None:
    if node.get("refdomain") != "py":
        return None
    target = str(node.get("reftarget", "")).lstrip("~.")
    if not target or target.rsplit(".", 1)[-1].startswith("_"):
        return None
    domain = env.get_domain("py")
    matches = {
        full
        for full, *_ in domain.get_objects()
        if full.startswith(f"{PACKAGE}.") and full.endswith(f".{target}")
    }
    if len(matches) != 1:
        return None
    (full,) = matches
    node["reftarget"] = full
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], full, node, contnode
    )


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("videodb-connection-fields", ConnectionFieldsDirective)
    app.connect("autodoc-process-docstring", _add_templated_fields)
    app.connect("missing-reference", _resolve_short_name)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
