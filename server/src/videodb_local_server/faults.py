"""Fault injection rules for the local server.

A rule matches a request by method and path (``fnmatch`` pattern over the path without a
trailing slash) and fires with probability ``rate`` drawn from one seeded RNG, at most
``times`` times when set. The first rule that matches *and* fires decides the fault.
"""

from __future__ import annotations

import fnmatch
import json
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

KINDS = frozenset(
    {
        "status",  # answer with an error envelope and this HTTP status (no processing)
        "drop_before",  # close the connection before processing (nothing happens)
        "drop_after",  # process the request, then close without answering
        "delay",  # wait `seconds`, then process normally
        "malformed_json",  # process, then answer 200 with a truncated JSON body
        "success_false",  # answer HTTP 200 with success:false (no processing)
        "fail_job",  # the async job created (or polled) by this request fails
    }
)


class FaultRuleError(ValueError):
    """A fault rule that cannot be used."""


@dataclass
class FaultRule:
    kind: str
    method: str = "*"
    path: str = "*"
    status: int = 503
    retry_after: float | None = None
    seconds: float = 1.0
    rate: float = 1.0
    times: int | None = None
    message: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FaultRule:
        """Parse one rule, checking every field's type and range before anything is kept.

        :param raw: the rule as JSON gives it.
        :raises FaultRuleError: naming the field and the value that cannot be used.
        """
        if not isinstance(raw, dict):
            raise FaultRuleError(f"fault rule must be an object, got {raw!r}")
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise FaultRuleError(f"unknown fault rule fields: {sorted(unknown)}")
        if "kind" not in raw:
            raise FaultRuleError(f"fault rule needs a kind: {raw!r}")
        for name, value in raw.items():
            _check_field(name, value)
        rule = cls(**raw)
        if rule.kind not in KINDS:
            raise FaultRuleError(f"unknown fault kind {rule.kind!r}; one of {sorted(KINDS)}")
        if not 0.0 <= rule.rate <= 1.0:
            raise FaultRuleError(f"rate must be within [0, 1], got {rule.rate!r}")
        if rule.kind == "status" and not 400 <= rule.status <= 599:
            raise FaultRuleError(f"status must be an HTTP error status, got {rule.status!r}")
        rule.method = rule.method.upper()
        rule.path = rule.path.rstrip("/") or "/"
        return rule

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method != "*" and self.method != method:
            return False
        return fnmatch.fnmatchcase(path, self.path)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Type of each rule field: "str", "int" or "number" (a trailing "?" allows null).
_FIELD_TYPES = {
    "kind": "str",
    "method": "str",
    "path": "str",
    "status": "int",
    "retry_after": "number?",
    "seconds": "number",
    "rate": "number",
    "times": "int?",
    "message": "str?",
}


def _check_field(name: str, value: Any) -> None:
    """Refuse a rule field of the wrong type, or a number that is not finite and >= 0."""
    expected = _FIELD_TYPES[name]
    if value is None and expected.endswith("?"):
        return
    kind = expected.rstrip("?")
    if kind == "str":
        if not isinstance(value, str):
            raise FaultRuleError(f"{name} must be a string, got {value!r}")
        return
    numeric = (int,) if kind == "int" else (int, float)
    if isinstance(value, bool) or not isinstance(value, numeric):
        what = "an integer" if kind == "int" else "a number"
        raise FaultRuleError(f"{name} must be {what}, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise FaultRuleError(f"{name} must be a finite number >= 0, got {value!r}")


class FaultSet:
    """The active rules plus the seeded RNG that decides whether a rate-limited rule fires."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self._rng = random.Random(0)
        self.seed: int | None = None

    def replace(self, rules: list[dict[str, Any]], seed: int | None = None) -> None:
        """Swap in ``rules`` only once every one of them parsed (the old ones stay otherwise).

        :param rules: the new rules, as JSON objects.
        :param seed: seed of the RNG behind ``rate``; None for a fresh unseeded one.
        """
        if not isinstance(rules, list):
            raise FaultRuleError(f"rules must be a list, got {rules!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise FaultRuleError(f"seed must be an integer, got {seed!r}")
        parsed = [FaultRule.from_dict(r) for r in rules]
        self.rules = parsed
        self.seed = seed
        self._rng = random.Random(seed)

    def clear(self) -> None:
        self.replace([], seed=None)

    def pick(self, method: str, path: str) -> FaultRule | None:
        """Return the fault to apply to this request, if any (counts down `times`)."""
        for rule in self.rules:
            if not rule.matches(method, path):
                continue
            if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                continue
            if rule.times is not None:
                rule.times -= 1
            return rule
        return None

    def describe(self) -> dict[str, Any]:
        return {"seed": self.seed, "rules": [r.to_dict() for r in self.rules]}


def load_rules(spec: str) -> list[dict[str, Any]]:
    """Parse ``--faults``: inline JSON, or ``@file`` / a path to a JSON file.

    Accepts a list of rules or an object ``{"rules": [...]}``.
    """
    text = spec
    if spec.startswith("@"):
        text = Path(spec[1:]).read_text()
    elif not spec.lstrip().startswith(("[", "{")):
        text = Path(spec).read_text()
    data = json.loads(text)
    if isinstance(data, dict):
        data = data.get("rules", [])
    if not isinstance(data, list):
        raise FaultRuleError("faults must be a JSON list of rules or {'rules': [...]}")
    for raw in data:
        FaultRule.from_dict(dict(raw))
    return data
