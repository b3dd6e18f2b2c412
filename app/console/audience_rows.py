"""The audience builder's rows (attribute, operator, value) and the GrowthBook condition
JSON the API stores, each to the other. Rows show the common case, a conjunction of simple
tests; any condition they cannot show exactly stays JSON (``rows_of`` answers ``None``)."""

from dataclasses import dataclass
from typing import Any

import orjson

# operator name in the form → (label, GrowthBook operator)
OPERATORS: dict[str, tuple[str, str]] = {
    "eq": ("is", "$eq"),
    "ne": ("is not", "$ne"),
    "in": ("is one of", "$in"),
    "nin": ("is none of", "$nin"),
    "gt": ("is greater than", "$gt"),
    "gte": ("is at least", "$gte"),
    "lt": ("is less than", "$lt"),
    "lte": ("is at most", "$lte"),
    "regex": ("matches the pattern", "$regex"),
    "exists": ("is set", "$exists"),
    "missing": ("is not set", "$exists"),
}
_BY_OPERATOR = {op: name for name, (_, op) in OPERATORS.items() if name != "missing"}
_LISTS = ("in", "nin")
_NO_VALUE = ("exists", "missing")


@dataclass(frozen=True)
class Row:
    attribute: str
    operator: str
    value: str


def rows_of(condition: dict[str, Any] | None) -> list[Row] | None:
    """The rows that say exactly what ``condition`` says, or ``None`` if rows cannot."""
    if not condition:
        return []
    tests = condition["$and"] if list(condition) == ["$and"] else [condition]
    if not isinstance(tests, list):
        return None
    rows: list[Row] = []
    for test in tests:
        if not isinstance(test, dict):
            return None
        for attribute, check in test.items():
            row = _row(attribute, check)
            if row is None:
                return None
            rows.append(row)
    return rows


def _row(attribute: str, check: Any) -> Row | None:
    if attribute.startswith("$") or not attribute:
        return None
    if not isinstance(check, dict):
        return Row(attribute, "eq", _text(check)) if _is_scalar(check) else None
    if len(check) != 1:
        return None
    ((operator, operand),) = check.items()
    if operator == "$exists" and isinstance(operand, bool):
        return Row(attribute, "exists" if operand else "missing", "")
    name = _BY_OPERATOR.get(operator)
    if name is None:
        return None
    if name in _LISTS:
        if not isinstance(operand, list) or not all(_is_scalar(item) for item in operand):
            return None
        if any(isinstance(item, str) and "," in item for item in operand):
            return None  # a comma inside a value cannot be told from the separator
        return Row(attribute, name, ", ".join(_text(item) for item in operand))
    if name == "regex":
        return Row(attribute, name, operand) if isinstance(operand, str) else None
    return Row(attribute, name, _text(operand)) if _is_scalar(operand) else None


def condition_of(rows: list[Row]) -> dict[str, Any] | None:
    """The condition the rows say (all of them must hold); ``None`` for no rows."""
    tests: list[dict[str, Any]] = []
    for row in rows:
        if not row.attribute.strip():
            continue
        _, operator = OPERATORS.get(row.operator, OPERATORS["eq"])
        if row.operator in _NO_VALUE:
            operand: Any = row.operator == "exists"
        elif row.operator in _LISTS:
            operand = [_value(part.strip()) for part in row.value.split(",") if part.strip()]
        elif row.operator == "regex":
            operand = row.value
        else:
            operand = _value(row.value.strip())
        tests.append({row.attribute.strip(): {operator: operand}})
    if not tests:
        return None
    attributes = [next(iter(test)) for test in tests]
    if len(set(attributes)) == len(attributes):  # each attribute once: one flat object
        return {
            attribute: test[attribute] for attribute, test in zip(attributes, tests, strict=True)
        }
    return {"$and": tests}


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _text(value: Any) -> str:
    """A value as typed in a row: strings bare, unless they would read as something else."""
    if isinstance(value, str):
        return orjson.dumps(value).decode() if _value(value) != value else value
    return orjson.dumps(value).decode()


def _value(text: str) -> Any:
    """A typed value: numbers, true/false/null and "quoted" strings as JSON, else text."""
    if text in ("true", "false", "null") or text.startswith('"') or _is_number(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text and text.lower() not in ("nan", "inf", "-inf", "infinity")
