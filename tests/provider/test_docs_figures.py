"""No figure in the README or the docs can go stale without a test failing.

A figure a user reads (a test count, a timing, a ratio, a throughput) is either included from a
file its command writes (``bench/README.md``, through ``literalinclude``) or stated in the same
paragraph as the command that produced it, so a reader can re-run it. This test enforces:

* no test counts at all ("625 passed", "1,015 tests"): they change with every test added;
* a measured figure (a number with a unit of time, a percentage, a multiplier, a rate, a size,
  or an "N of M" / "N / M" count) in prose names its command in the same paragraph: a
  ``bench/*.py``, ``scripts/*`` or ``tests/...`` path, ``pytest`` or ``.ci/run`` in a literal.
  A setting is not a measurement: a number right after "default", "every", "at most",
  "at least" or "up to", or right before "by default", is not a figure.

Code blocks and inline literals are commands, config and output: only the test-count rule
applies inside them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

_NUMBER = r"\d[\d,]*(?:\.\d+)?"
TEST_COUNT = re.compile(
    rf"\b{_NUMBER}\s*(?:\+\s*{_NUMBER}\s*)?"
    r"(?:passed|failed|skipped|xfailed|xpassed|errors|(?:\w+\s)?tests?\b)",
    re.IGNORECASE,
)
_UNIT = (  # a raw string, so the \u00d7 (multiplication sign) is the regex's escape
    r"ms|s|sec|secs|seconds?|min|minutes?|h|hours?|%|x|\u00d7|KiB|MiB|GiB|kB|MB|GB"
    r"|polls?/s|requests?/s|events?/s|videos?/h"
)
FIGURE = re.compile(
    rf"(?<![\w.])~?(?P<num>{_NUMBER})\s?(?:{_UNIT})(?![\w/])"
    rf"|(?<![\w.])\d+m\d+s\b"
    rf"|(?<![\w.]){_NUMBER} (?:of|/) {_NUMBER}(?![\w.])"
)
SETTING_BEFORE = re.compile(
    r"(?:\bdefault:?|\bdefaults to|\bevery|\bat most|\bat least|\bup to)\s*~?$", re.IGNORECASE
)
SETTING_AFTER = re.compile(r"^\s*by default", re.IGNORECASE)
COMMAND = re.compile(r"bench/\w+\.py|scripts/[\w.]+|tests/[\w/.]*|\bpytest\b|\.ci/run")
_RST_LITERAL = re.compile(r"(?::[\w:-]+:)?``.+?``|(?::[\w:-]+:)`[^`]+`")
_MD_LITERAL = re.compile(r"`[^`]+`")
_CODE_DIRECTIVES = ("code-block", "code", "sourcecode", "literalinclude", "include", "image")


@dataclass(frozen=True)
class Problem:
    """One stale-prone figure.

    :param line: the line it is on (1-based).
    :param text: the figure as written.
    :param why: which rule it breaks.
    """

    line: int
    text: str
    why: str


def _blocks(lines: list[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    """Paragraphs: split at blank lines and at every list item or table row."""
    blocks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for number, line in lines:
        starts_item = re.match(r"\s*(?:[*+-] |\d+\. |#\. |\|)", line) is not None
        if not line.strip() or starts_item:
            if current:
                blocks.append(current)
            current = []
        if line.strip():
            current.append((number, line))
    if current:
        blocks.append(current)
    return blocks


def split_markdown(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """``(prose lines, code lines)`` of a Markdown file (fenced code blocks are code).

    :param text: the file's text.
    """
    prose: list[tuple[int, str]] = []
    code: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        (code if fenced else prose).append((number, line))
    return prose, code


def split_rst(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """``(prose lines, code lines)`` of a reStructuredText file.

    Code: the body of a code-like directive, and the indented block after a paragraph that
    ends with ``::``. Directive lines and their options are neither.

    :param text: the file's text.
    """
    prose: list[tuple[int, str]] = []
    code: list[tuple[int, str]] = []
    literal_indent: int | None = None
    skip_options = False
    expect_literal = False
    for number, line in enumerate(text.splitlines(), 1):
        indent = len(line) - len(line.lstrip())
        if literal_indent is not None:
            if not line.strip() or indent > literal_indent:
                code.append((number, line))
                continue
            literal_indent = None
        if skip_options and line.strip().startswith(":"):
            continue
        skip_options = False
        directive = re.match(r"\s*\.\. ([\w:-]+)::", line)
        if directive:
            skip_options = True
            if directive[1] in _CODE_DIRECTIVES:
                literal_indent = indent
            prose.append((number, ""))  # a directive ends the paragraph
            continue
        if expect_literal and line.strip():
            expect_literal = False
            literal_indent = indent - 1
            code.append((number, line))
            continue
        if line.rstrip().endswith("::"):
            expect_literal = True
        prose.append((number, line))
    return prose, code


def check(text: str, markdown: bool) -> list[Problem]:
    """Every stale-prone figure of one file.

    :param text: the file's text.
    :param markdown: Markdown (the README) rather than reStructuredText.
    """
    prose, code = split_markdown(text) if markdown else split_rst(text)
    problems = [
        Problem(number, match[0].strip(), "a test count")
        for number, line in prose + code
        for match in TEST_COUNT.finditer(line)
    ]
    literal = _MD_LITERAL if markdown else _RST_LITERAL
    for block in _blocks(prose):
        has_command = any(COMMAND.search(m[0]) for _, line in block for m in literal.finditer(line))
        if has_command:
            continue
        for number, line in block:
            bare = literal.sub(lambda m: " " * len(m[0]), line)
            for match in FIGURE.finditer(bare):
                before, after = bare[: match.start()], bare[match.end() :]
                if SETTING_BEFORE.search(before) or SETTING_AFTER.match(after):
                    continue
                problems.append(Problem(number, match[0].strip(), "a figure without its command"))
    return sorted(problems, key=lambda p: p.line)


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts)]


@pytest.mark.parametrize("path", _documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_stale_figures(path: Path) -> None:
    problems = check(path.read_text(), markdown=path.suffix == ".md")
    assert not problems, "\n".join(
        f"{path.relative_to(ROOT)}:{p.line}: {p.text!r}: {p.why}" for p in problems
    )


def test_the_documents_are_found() -> None:
    names = {p.name for p in _documents()}
    assert {"README.md", "index.rst", "deferral-and-scale.rst"} <= names


# -- the rules can fail: figures a stale document would hold ----------------------------------


@pytest.mark.parametrize(
    "sentence",
    [
        "Both commands pass (tests 8 m 37 s, 625 + 494 passed).",
        "env A runs 1,015 provider tests.",
        "the 270 server tests pass",
        "A full run takes 37m16s on two CPUs.",
        "The demo takes 85 s the first time.",
        "10,000 clip jobs cost 0.27 ms of CPU per poll.",
        "a hook call is 1.15x a bare requests call",
        "0.27 ms per poll, 0.96\u00d7 the floor",
        "one core sustains ~4,400 polls/s",
        "the jobs went 92 / 58 to the two triggerers",
        "the other took 21 of 25 jobs over",
        "Growth halves the polls (-51 %).",
    ],
)
def test_a_planted_figure_is_found(sentence: str) -> None:
    for text, markdown in ((f"Intro.\n\n{sentence}\n", True), (f"Intro.\n\n{sentence}\n", False)):
        assert check(text, markdown), f"not flagged ({'md' if markdown else 'rst'}): {sentence}"


@pytest.mark.parametrize(
    "sentence",
    [
        "Measured with `bench/trigger_scale.py`: 0.27 ms per poll.",  # its command, same block
        "The wait polls every 5 s by default.",
        "A connect timeout (default 10 s) applies.",
        "Retries at most 20 times, waiting up to 60 s.",
        "HTTP 429 and 503 are retried; ports 1-65535.",
        "`timeout=30` in seconds.",  # a literal: config, not prose
    ],
)
def test_a_setting_or_a_figure_with_its_command_passes(sentence: str) -> None:
    assert check(f"{sentence}\n", markdown=True) == []


def test_a_rst_figure_names_its_command_in_its_paragraph_only() -> None:
    text = (
        "Measured with ``bench/triggerer.py``: 4.7 ms per poll.\n"
        "\n"
        "Another paragraph: 17.6 ms per poll.\n"
    )
    assert [p.text for p in check(text, markdown=False)] == ["17.6 ms"]


def test_code_blocks_are_skipped_but_test_counts_are_not() -> None:
    text = (
        "Run it::\n"
        "\n"
        "   $ bash scripts/demo.sh\n"
        "   trailer 1 seg / 5.5s\n"
        "\n"
        ".. code-block:: text\n"
        "\n"
        "   took 85 s\n"
        "   ===== 626 passed in 9m =====\n"
        "\n"
        "After: 12 ms.\n"
    )
    found = [(p.line, p.why) for p in check(text, markdown=False)]
    assert found == [(9, "a test count"), (11, "a figure without its command")]
