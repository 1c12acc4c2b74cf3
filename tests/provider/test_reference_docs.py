"""The reference a user reads agrees with the code: README parameter tables and ``:param`` docs.

The README's operator tables are the reference most users read; the ``:param`` lines are what
an IDE and the API docs show. Both are checked against the signatures, so a parameter cannot
be added, renamed, re-defaulted or made templated without the docs following.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import BaseOperator

from airflow_provider_videodb import get_provider_info

README = Path(__file__).resolve().parents[2] / "README.md"
_SECTION = re.compile(r"^### `(?P<name>\w+)`\s*$")
_ROW = re.compile(r"^\|\s*`(?P<param>\w+)`\s*\|(?P<rest>.*)\|\s*$")
_PARAM_DOC = re.compile(r":param (?P<name>\w+):")


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
        for name, p in inspect.signature(klass.__init__).parameters.items():
            if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                found.setdefault(name, p)
    return found


def _readme_table(name: str) -> dict[str, list[str]]:
    """``{param: [default, templated, meaning]}`` of the table under ``### `name```."""
    rows: dict[str, list[str]] = {}
    inside = False
    for line in README.read_text().splitlines():
        heading = _SECTION.match(line)
        if heading:
            inside = heading["name"] == name
            continue
        if inside and line.startswith("## "):
            break
        row = _ROW.match(line) if inside else None
        if row:
            rows[row["param"]] = [cell.strip() for cell in row["rest"].split("|")]
    return rows


def _documented_default(cell: str) -> tuple[bool, Any]:
    """``(True, value)`` when the cell is exactly one backticked Python literal."""
    match = re.fullmatch(r"`([^`]+)`", cell)
    if not match:
        return False, None
    try:
        return True, ast.literal_eval(match[1])
    except (ValueError, SyntaxError):
        return False, None


def test_every_provider_module_is_found() -> None:
    assert OPERATORS and TRIGGERS and HOOKS


@pytest.mark.parametrize("operator", OPERATORS, ids=lambda c: c.__name__)
def test_readme_table_lists_exactly_the_signature(operator: type) -> None:
    table = _readme_table(operator.__name__)
    assert table, f"README has no parameter table under ### `{operator.__name__}`"
    params = _init_params(operator)
    assert sorted(table) == sorted(params), (
        f"README table of {operator.__name__} and its signature disagree: "
        f"only in README {sorted(set(table) - set(params))}, "
        f"only in code {sorted(set(params) - set(table))}"
    )
    templated = set(getattr(operator, "template_fields", ()))
    for name, (default_cell, templated_cell, *_) in table.items():
        param = params[name]
        if param.default is inspect.Parameter.empty:
            assert default_cell == "required", f"{operator.__name__}.{name} has no default"
        else:
            assert default_cell != "required", f"{operator.__name__}.{name} has a default"
            literal, value = _documented_default(default_cell)
            if literal:
                assert value == param.default, (
                    f"{operator.__name__}.{name}: README default {default_cell}, "
                    f"code {param.default!r}"
                )
        assert templated_cell == ("yes" if name in templated else "no"), (
            f"{operator.__name__}.{name}: README says templated={templated_cell}"
        )


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
