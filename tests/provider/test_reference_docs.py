"""The reference a user reads agrees with the code.

The API reference (``docs/reference/*.rst``) is autodoc of the docstrings, so what it shows
comes from the code; these tests make sure it covers everything: every class the provider
info names has its directive, every constructor parameter and public hook method has its
``:param`` doc (what the reference and an IDE show), the connection-field table the docs'
extension generates holds exactly the provider info's fields, every exception is in the
troubleshooting table, and the README's links, example DAG and version claims hold.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import BaseOperator

from airflow_provider_videodb import get_provider_info

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
_PARAM_DOC = re.compile(r":param (?P<name>\w+):")
_DIRECTIVE = re.compile(
    r"^\.\. auto(?P<kind>class|exception|function|data|module):: (?P<target>[\w.]+)", re.M
)


def _provider_classes(kind: str, base: type | None = None) -> list[type]:
    classes = []
    for entry in get_provider_info()[kind]:
        for module_name in entry["python-modules"]:
            module = importlib.import_module(module_name)
            for _, value in vars(module).items():
                if (
                    inspect.isclass(value)
                    and value.__module__ == module_name
                    and not value.__name__.startswith("_")
                    and (base is None or issubclass(value, base))
                ):
                    classes.append(value)
    return classes


OPERATORS = _provider_classes("operators", BaseOperator)
TRIGGERS = _provider_classes("triggers")
HOOKS = _provider_classes("hooks")


def _init_params(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword parameters a user can pass: the class's own ``__init__`` and those of
    the provider's base classes it passes ``**kwargs`` on to (e.g. the job operators')."""
    found: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if not klass.__module__.startswith("airflow_provider_videodb") or "__init__" not in vars(
            klass
        ):
            continue
        for name, p in inspect.signature(vars(klass)["__init__"]).parameters.items():
            if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                found.setdefault(name, p)
    return found


def _reference_directives() -> dict[str, str]:
    """``{documented target: directive kind}`` of every autodoc directive in the docs."""
    found: dict[str, str] = {}
    for path in sorted(DOCS.rglob("*.rst")):
        for match in _DIRECTIVE.finditer(path.read_text()):
            found[match["target"]] = match["kind"]
    return found


def test_every_provider_module_is_found() -> None:
    assert OPERATORS and TRIGGERS and HOOKS


@pytest.mark.parametrize("cls", OPERATORS + TRIGGERS + HOOKS, ids=lambda c: c.__name__)
def test_every_provider_class_has_its_reference_entry(cls: type) -> None:
    target = f"{cls.__module__}.{cls.__qualname__}"
    kind = _reference_directives().get(target)
    assert kind in ("class", "exception"), f"docs/reference has no autoclass for {target}"


def test_the_hook_reference_lists_every_public_method() -> None:
    text = (DOCS / "reference" / "hook.rst").read_text()
    block = re.search(
        r"^\.\. autoclass:: airflow_provider_videodb\.hooks\.videodb\.VideoDBHook\n"
        r"(?P<options>(?:   :.*\n(?:      .*\n)*)*)",
        text,
        re.M,
    )
    assert block, "hook.rst has no autoclass for VideoDBHook"
    options = block["options"]
    assert re.search(r"^   :members:\s*$", options, re.M), "VideoDBHook: :members: must be all"
    excluded = re.search(r":exclude-members:(?P<names>.*)", options)
    names = {n.strip() for n in (excluded["names"] if excluded else "").split(",") if n.strip()}
    # Only what Airflow calls to draw the connection form stays out of the reference.
    assert names <= {"get_ui_field_behaviour", "get_connection_form_widgets"}, names


def _docs_extension() -> Any:
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        return importlib.import_module("videodb_docs")
    finally:
        sys.path.remove(str(DOCS / "_ext"))


def test_the_connection_field_table_is_the_provider_info() -> None:
    ext = _docs_extension()
    entry = ext.connection_type(get_provider_info(), "videodb")
    behaviour = entry["ui-field-behaviour"]
    rows = {row.name: row for row in ext.field_rows(entry)}
    shown = [f for f in ext.STANDARD_FIELDS if f not in behaviour["hidden-fields"]]
    extras = [f'extra["{name}"]' for name in entry["conn-fields"]]
    assert list(rows) == shown + extras
    assert "password" in rows and "host" in rows
    for name, label in behaviour.get("relabeling", {}).items():
        if name in rows:
            assert rows[name].label == label
    for name, placeholder in behaviour.get("placeholders", {}).items():
        row = rows.get(name) or rows.get(f'extra["{name}"]')
        if row is not None:
            assert row.placeholder == placeholder
    for name, spec in entry["conn-fields"].items():
        row = rows[f'extra["{name}"]']
        assert row.label == spec["label"] and row.description == spec.get("description", "")
        default = spec["schema"].get("default")
        assert row.default == ("" if default is None else json.dumps(default))
    rst = "\n".join(ext.connection_fields_rst(entry))
    for hidden in behaviour["hidden-fields"]:
        assert f"``{hidden}``" in rst.split("Hidden in the form:")[1]


def test_the_connection_reference_uses_the_generated_table() -> None:
    text = (DOCS / "reference" / "connection.rst").read_text()
    assert re.search(r"^\.\. videodb-connection-fields:: videodb$", text, re.M)


def test_every_exception_is_in_the_troubleshooting_table() -> None:
    from airflow_provider_videodb import exceptions
    from airflow_provider_videodb.triggers import events

    table = (DOCS / "troubleshooting.rst").read_text()
    errors = {
        name
        for module in (exceptions, events)
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, exceptions.VideoDBError)
        and value is not exceptions.VideoDBError
        and value.__module__ == module.__name__
    }
    assert errors, "no exception classes found"
    missing = sorted(e for e in errors if f"   * - ``{e}``" not in table)
    assert not missing, f"docs/troubleshooting.rst has no row for {missing}"


def _readme_links() -> list[str]:
    text = README.read_text()
    return sorted(
        {
            target.split("#")[0]
            for target in re.findall(r"\]\(([^)\s]+)\)", text)
            if "://" not in target and not target.startswith("#")
        }
    )


def test_the_readme_links_into_the_docs() -> None:
    links = _readme_links()
    pages = {p.relative_to(ROOT).as_posix() for p in DOCS.glob("*.rst")}
    assert pages - {"docs/index.rst"} <= set(links), "a docs page the README does not link"


@pytest.mark.parametrize("target", _readme_links())
def test_every_readme_link_exists(target: str) -> None:
    assert (ROOT / target).exists(), f"README links {target}, which does not exist"


def _readme_section(title: str) -> str:
    match = re.search(
        rf"^## {re.escape(title)}\n(?P<body>.*?)(?=^## |\Z)", README.read_text(), re.M | re.S
    )
    assert match, f"README has no section '## {title}'"
    return match["body"]


def test_the_readme_keeps_the_two_commands() -> None:
    body = _readme_section("Two commands")
    code = re.search(r"```bash\n(?P<code>.*?)```", body, re.S)
    assert code
    commands = [line.split("#")[0].strip() for line in code["code"].splitlines()]
    assert "bash scripts/demo.sh" in commands and "bash scripts/test.sh" in commands
    assert "bash scripts/docs.sh" in README.read_text()


def test_the_readme_first_dag_parses() -> None:
    from airflow.sdk import DAG

    code = re.search(r"```python\n(?P<code>.*?)```", _readme_section("A first DAG"), re.S)
    assert code, "README's 'A first DAG' has no python block"
    (dag_function,) = [
        node.name
        for node in ast.parse(code["code"]).body
        if isinstance(node, ast.FunctionDef)
        and any(ast.unparse(d).startswith("dag") for d in node.decorator_list)
    ]
    namespace: dict[str, Any] = {"__name__": "readme_first_dag"}
    exec(compile(code["code"], "README.md", "exec"), namespace)
    built = namespace[dag_function]()
    assert isinstance(built, DAG)
    assert {t.task_type for t in built.tasks} == {"GenerateStreamOperator", "ClipVideoOperator"}


def test_the_readme_states_the_supported_versions() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    python = re.search(r'^requires-python = "(?P<spec>[^"]+)"$', pyproject, re.M)
    airflow = re.search(r'^    "(?P<spec>apache-airflow[<>=!,.\d]+)",$', pyproject, re.M)
    assert python and airflow, "pyproject.toml has no requires-python or apache-airflow pin"
    text = README.read_text()
    assert f'`requires-python = "{python["spec"]}"`' in text
    assert f"`{airflow['spec']}`" in text


def _missing_param_docs(doc: str | None, names: list[str]) -> list[str]:
    documented = set(_PARAM_DOC.findall(inspect.cleandoc(doc or "")))
    return [name for name in names if name not in documented]


@pytest.mark.parametrize("cls", OPERATORS + TRIGGERS + HOOKS, ids=lambda c: c.__name__)
def test_every_constructor_parameter_has_a_param_doc(cls: type) -> None:
    # A parameter a provider base class takes is documented there (what an IDE shows too).
    docs = "\n".join(
        inspect.cleandoc(klass.__doc__ or "")
        for klass in cls.__mro__
        if klass.__module__.startswith("airflow_provider_videodb")
    )
    missing = _missing_param_docs(docs, list(_init_params(cls)))
    assert not missing, f"{cls.__name__}: no ':param' for {missing}"


def _public_methods(cls: type) -> list[tuple[str, Any]]:
    own = []
    for name, value in vars(cls).items():
        func = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
        if name.startswith("_") or not inspect.isfunction(func):
            continue
        own.append((name, func))
    return own


@pytest.mark.parametrize("hook", HOOKS, ids=lambda c: c.__name__)
def test_every_public_hook_method_documents_its_parameters(hook: type) -> None:
    problems = {}
    for name, func in _public_methods(hook):
        params = [
            p.name
            for p in inspect.signature(func).parameters.values()
            if p.name not in ("self", "cls") and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        missing = _missing_param_docs(func.__doc__, params)
        if missing:
            problems[name] = missing
    assert not problems, f"{hook.__name__} methods without ':param' docs: {problems}"
