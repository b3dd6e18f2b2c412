r"""Audience conditions: GrowthBook's condition language, compiled once and evaluated fast.

``compile_condition`` validates a condition at write time and returns a
``CompiledCondition`` whose ``evaluate`` never raises on JSON-like attributes and whose
``explain`` says, line by line, why a user matches or not. The semantics, where they
follow GrowthBook's JS SDK and where they deliberately differ, and the error paths:
docs/conditions.md.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import json
import math
import operator
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import re2

__all__ = [
    "MAX_ATTRIBUTE_ARRAY_ITEMS",
    "MAX_DEPTH",
    "MAX_EVALUATION_COST",
    "MAX_EVALUATION_STEPS",
    "MAX_LIST_ITEMS",
    "MAX_NODES",
    "MAX_REGEX_LENGTH",
    "OPERATORS",
    "TYPE_NAMES",
    "CompiledCondition",
    "ConditionError",
    "compile_condition",
    "evaluate_condition",
    "padded_version",
]

MAX_DEPTH: Final = 16
"""How deeply JSON objects and arrays may nest inside one condition (the root is 1)."""
MAX_NODES: Final = 500
"""How many clauses and operators one condition may hold."""
MAX_LIST_ITEMS: Final = 1000
"""How many items one ``$in``/``$nin``/``$all`` list may hold (use segments for more)."""
MAX_REGEX_LENGTH: Final = 1000
MAX_ATTRIBUTE_ARRAY_ITEMS: Final = 100
"""How many items any array in a user's attributes may hold (``identify`` refuses more)."""
MAX_EVALUATION_COST: Final = 100_000
"""The most value tests a condition may take in the worst case, with the longest arrays
allowed: past it, a condition is refused when written."""
MAX_EVALUATION_STEPS: Final = 5_000
"""The most array items one evaluation may go through (``$all``, ``$elemMatch``, ``$in``
and array-to-string conversions). Past it the evaluation stops and the user does not
match: a few milliseconds of one core at worst (tests/targeting/test_condition_cost.py)."""

TYPE_NAMES: Final = frozenset(
    {"string", "number", "boolean", "array", "object", "null", "undefined"}
)

_LOGICAL_OPERATORS: Final = frozenset({"$and", "$or", "$nor", "$not"})
_COMPARISON_OPERATORS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "$lt": operator.lt,
    "$lte": operator.le,
    "$gt": operator.gt,
    "$gte": operator.ge,
}
_VERSION_OPERATORS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "$veq": operator.eq,
    "$vne": operator.ne,
    "$vlt": operator.lt,
    "$vlte": operator.le,
    "$vgt": operator.gt,
    "$vgte": operator.ge,
}
_VALUE_OPERATORS: Final = frozenset(
    {
        "$eq",
        "$ne",
        *_COMPARISON_OPERATORS,
        *_VERSION_OPERATORS,
        "$in",
        "$nin",
        "$ini",
        "$nini",
        "$all",
        "$alli",
        "$elemMatch",
        "$size",
        "$exists",
        "$type",
        "$regex",
        "$regexi",
        "$notRegex",
        "$notRegexi",
        "$not",
    }
)
OPERATORS: Final = _LOGICAL_OPERATORS | _VALUE_OPERATORS

# Array joins recurse into nested attribute arrays; attributes are small, but a hostile
# "[[[[...]]]]" must not reach Python's recursion limit.
_MAX_ATTRIBUTE_NESTING: Final = 32

# The characters JavaScript's Number() trims: WhiteSpace and LineTerminator.
_JS_WHITESPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_JS_LINE_TERMINATORS: Final = "\n\r\u2028\u2029"
_DECIMAL_CHARS: Final = frozenset("0123456789+-.eE")
_RADIX_DIGITS: Final = {
    16: frozenset("0123456789abcdefABCDEF"),
    8: frozenset("01234567"),
    2: frozenset("01"),
}
_RADIX_PREFIXES: Final = {"x": 16, "X": 16, "o": 8, "O": 8, "b": 2, "B": 2}
_MAX_SAFE_INTEGER: Final = 2**53
_MAX_JSON_INTEGER: Final = int(1.7976931348623157e308)  # the largest a double holds
_RENDER_LIMIT: Final = 80
# isinstance() against a prebuilt tuple is twice as fast as against an inline X | Y.
_ARRAY_TYPES: Final = (list, tuple)
_NUMBER_TYPES: Final = (int, float)
_RENDER_DEPTH: Final = 4
_RENDER_ITEMS: Final = 12


class _Budget(threading.local):
    """What is left of the current evaluation's MAX_EVALUATION_STEPS, per thread."""

    steps_left: int = MAX_EVALUATION_STEPS


_budget = _Budget()


class _OverBudget(Exception):
    pass


def _charge(steps: int) -> None:
    """Count array items an evaluation goes through; stop it past its budget."""
    budget = _budget
    budget.steps_left -= steps
    if budget.steps_left < 0:
        raise _OverBudget


class ConditionError(ValueError):
    """A condition that cannot be compiled; ``path`` locates the offending node."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '(root)'}: {message}")
        self.path = path
        self.message = message


# --- JavaScript value semantics -------------------------------------------------------
# GrowthBook's reference evaluator is JavaScript; these helpers reproduce the coercions
# its operators rely on (String(x), Number(x), truthiness, typeof, relational compare).


def _is_number(value: object) -> bool:
    return isinstance(value, _NUMBER_TYPES) and not isinstance(value, bool)


def _js_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, _NUMBER_TYPES):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, _ARRAY_TYPES):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return "unknown"


def _js_truthy(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, _NUMBER_TYPES):
        return value == value and value != 0  # NaN is falsy
    if isinstance(value, str):
        return value != ""
    return True


def _js_number_to_string(number: float) -> str:
    """Number.prototype.toString(): shortest round-trip digits, JS exponent rules."""
    if isinstance(number, int):
        if -_MAX_SAFE_INTEGER < number < _MAX_SAFE_INTEGER:
            return str(number)
        try:
            number = float(number)
        except OverflowError:
            return "Infinity" if number > 0 else "-Infinity"
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    if number.is_integer() and abs(number) < _MAX_SAFE_INTEGER:
        return str(int(number))
    sign = "-" if number < 0 else ""
    mantissa, _, exponent_text = repr(abs(number)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    # The value is 0.<digits> x 10**point; normalise away leading and trailing zeros.
    point = len(whole) + (int(exponent_text) if exponent_text else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    count = len(digits)
    if count <= point <= 21:
        return sign + digits + "0" * (point - count)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    exponent = point - 1
    exponent_sign = "+" if exponent >= 0 else "-"
    head = digits if count == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{head}e{exponent_sign}{abs(exponent)}"


def _js_string(value: object, nesting: int = 0) -> str | None:
    """String(value), or None where JavaScript would produce "null" or "[object Object]"."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _NUMBER_TYPES):
        return _js_number_to_string(value)
    if isinstance(value, _ARRAY_TYPES):
        if nesting >= _MAX_ATTRIBUTE_NESTING:
            return None
        _charge(len(value))
        parts: list[str] = []
        for item in value:
            if item is None:
                parts.append("")  # Array.prototype.join renders null as ""
                continue
            part = _js_string(item, nesting + 1)
            if part is None:
                return None
            parts.append(part)
        return ",".join(parts)
    return None


def _js_string_to_number(text: str) -> float | None:
    """Number(text); None stands for NaN."""
    text = text.strip(_JS_WHITESPACE)
    if not text:
        return 0.0
    if text in ("Infinity", "+Infinity"):
        return math.inf
    if text == "-Infinity":
        return -math.inf
    radix = _RADIX_PREFIXES.get(text[1]) if len(text) > 2 and text[0] == "0" else None
    if radix is not None:
        body = text[2:]
        if not all(char in _RADIX_DIGITS[radix] for char in body):
            return None
        try:
            return float(int(body, radix))
        except OverflowError:
            return math.inf
    # Python's float() also accepts "nan", "inf" and "1_000"; JavaScript does not.
    if not _DECIMAL_CHARS.issuperset(text):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _js_number(value: object) -> float | None:
    """Number(value) for relational comparison (null is 0); None stands for NaN."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, _NUMBER_TYPES):
        return value
    if value is None:
        return 0.0
    if isinstance(value, str):
        return _js_string_to_number(value)
    text = _js_string(value) if isinstance(value, _ARRAY_TYPES) else None
    return None if text is None else _js_string_to_number(text)


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-be", "surrogatepass")


_Comparator = Callable[[Any, Any], bool]


def _compare_js_strings(compare: _Comparator, left: str, right: str) -> bool:
    # JavaScript orders strings by UTF-16 code units; code points order them the same
    # way except around astral characters, so only those pay for the encoding.
    if left.isascii() and right.isascii():
        return compare(left, right)
    return compare(_utf16(left), _utf16(right))


def _json_equal(actual: object, expected: object) -> bool:
    """Strict JSON equality; ``expected`` comes from a compiled condition, so is bounded."""
    if expected is None:
        return actual is None
    if isinstance(expected, bool):
        return isinstance(actual, bool) and actual == expected
    if isinstance(expected, _NUMBER_TYPES):
        return _is_number(actual) and actual == expected
    if isinstance(expected, str):
        return isinstance(actual, str) and actual == expected
    if isinstance(expected, list):
        return (
            isinstance(actual, _ARRAY_TYPES)
            and len(actual) == len(expected)
            and all(_json_equal(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, Mapping)
            and len(actual) == len(expected)
            and all(key in actual and _json_equal(actual[key], e) for key, e in expected.items())
        )
    return False


def padded_version(value: object) -> str:
    """GrowthBook's paddedVersionString: a string whose order is the version order.

    ``v1.2.3-rc.1+build`` becomes ``"    1-    2-    3-rc-    1"``; a release gets a
    trailing ``~`` so it sorts after its pre-releases; non-versions read as ``"0"``.
    """
    if isinstance(value, _NUMBER_TYPES) and not isinstance(value, bool):
        value = _js_number_to_string(value)
    return _pad_version_text(value if isinstance(value, str) and value else "0")


# Few distinct app versions exist at a time, and every version operator pads the user's.
@functools.lru_cache(maxsize=4096)
def _pad_version_text(text: str) -> str:
    if text.startswith("v"):
        text = text[1:]
    # JS strips /\+.*$/: the first "+" after the last line terminator.
    plus = text.find("+")
    if plus != -1 and any(char in text for char in _JS_LINE_TERMINATORS):
        last_break = max(text.rfind(char) for char in _JS_LINE_TERMINATORS)
        plus = text.find("+", last_break + 1)
    if plus != -1:
        text = text[:plus]
    parts = text.replace("-", ".").split(".")
    if len(parts) == 3:
        parts.append("~")
    return "-".join(part.rjust(5) if part.isascii() and part.isdigit() else part for part in parts)


def _render(value: object) -> str:
    """Compact JSON for explain lines, bounded however large or deep the value is."""
    text = _render_bounded(value, _RENDER_DEPTH)
    return text if len(text) <= _RENDER_LIMIT else text[: _RENDER_LIMIT - 1] + "…"


def _render_bounded(value: object, depth: int) -> str:
    if value is None or isinstance(value, bool):
        return "null" if value is None else ("true" if value else "false")
    if isinstance(value, _NUMBER_TYPES):
        return _js_number_to_string(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        if depth == 0:
            return "{…}"
        entries = [
            f"{json.dumps(str(key), ensure_ascii=False)}:{_render_bounded(item, depth - 1)}"
            for key, item in itertools.islice(value.items(), _RENDER_ITEMS)
        ]
        if len(value) > _RENDER_ITEMS:
            entries.append("…")
        return "{" + ",".join(entries) + "}"
    if isinstance(value, _ARRAY_TYPES):
        if depth == 0:
            return "[…]"
        entries = [_render_bounded(item, depth - 1) for item in value[:_RENDER_ITEMS]]
        if len(value) > _RENDER_ITEMS:
            entries.append("…")
        return "[" + ",".join(entries) + "]"
    try:
        return repr(value)[:_RENDER_LIMIT]
    except Exception:  # a foreign object's repr is not ours to trust
        return f"<{type(value).__name__}>"


# --- Compiled nodes -------------------------------------------------------------------
# Two kinds of node mirror GrowthBook's two recursive functions: a _Condition tests an
# object (evalCondition), a _ValueTest tests one value (evalConditionValue and the
# operators). Both are immutable and safe to share between threads.

_MISSING: Final = object()
_INDENT: Final = "  "


def _verdict(passed: bool) -> str:
    return "pass" if passed else "fail"


class _ValueTest:
    __slots__ = ()

    def matches(self, value: object) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def parts(self) -> Sequence[_ValueTest]:
        """The tests shown on separate explain lines (several operators on one path)."""
        return (self,)

    def cost(self) -> int:
        """The most value tests one ``matches`` may take (a test of one value by default)."""
        return 1


class _Condition:
    __slots__ = ()

    def matches(self, obj: object) -> bool:
        raise NotImplementedError

    def explain(self, obj: object, depth: int, lines: list[str]) -> bool:
        raise NotImplementedError

    def cost(self) -> int:
        """The most value tests one ``matches`` may take."""
        raise NotImplementedError


class _EqualsString(_ValueTest):
    __slots__ = ("expected", "insensitive")

    def __init__(self, expected: str, *, insensitive: bool = False) -> None:
        self.expected = expected.lower() if insensitive else expected
        self.insensitive = insensitive

    def matches(self, value: object) -> bool:
        text = value if type(value) is str else _js_string(value)
        if text is None:
            return False
        return (text.lower() if self.insensitive else text) == self.expected

    def describe(self) -> str:
        return f"{'equals (any case)' if self.insensitive else 'equals'} {_render(self.expected)}"


class _EqualsNumber(_ValueTest):
    __slots__ = ("expected",)

    def __init__(self, expected: float) -> None:
        self.expected = expected

    def matches(self, value: object) -> bool:
        if value is None:
            return False
        kind = type(value)
        if kind is int or kind is float:
            return value == self.expected
        return _js_number(value) == self.expected

    def describe(self) -> str:
        return f"equals {_render(self.expected)}"


class _EqualsBoolean(_ValueTest):
    __slots__ = ("expected",)

    def __init__(self, expected: bool) -> None:
        self.expected = expected

    def matches(self, value: object) -> bool:
        return value is not None and _js_truthy(value) == self.expected

    def describe(self) -> str:
        return f"equals {_render(self.expected)}"


class _IsNull(_ValueTest):
    __slots__ = ()

    def matches(self, value: object) -> bool:
        return value is None

    def describe(self) -> str:
        return "equals null"


class _EqualsJson(_ValueTest):
    __slots__ = ("expected", "label")

    def __init__(self, expected: object, label: str = "equals") -> None:
        self.expected = expected
        self.label = label

    def matches(self, value: object) -> bool:
        return _json_equal(value, self.expected)

    def describe(self) -> str:
        return f"{self.label} {_render(self.expected)}"


class _NotEqualsJson(_EqualsJson):
    __slots__ = ()

    def matches(self, value: object) -> bool:
        return not _json_equal(value, self.expected)


class _Compare(_ValueTest):
    __slots__ = ("compare", "name", "operand", "operand_number")

    def __init__(self, name: str, operand: str | float) -> None:
        self.name = name
        self.compare = _COMPARISON_OPERATORS[name]
        self.operand = operand
        self.operand_number = _js_string_to_number(operand) if isinstance(operand, str) else operand

    def matches(self, value: object) -> bool:
        if isinstance(value, _ARRAY_TYPES):
            value = _js_string(value)  # ToPrimitive: an array compares as its joined text
            if value is None:
                return False
        if isinstance(value, str) and isinstance(self.operand, str):
            return _compare_js_strings(self.compare, value, self.operand)
        number = _js_number(value)
        if number is None or self.operand_number is None:
            return False  # NaN: every comparison is false
        return self.compare(number, self.operand_number)

    def describe(self) -> str:
        return f"{self.name} {_render(self.operand)}"


class _Version(_ValueTest):
    __slots__ = ("compare", "name", "operand", "padded_operand")

    def __init__(self, name: str, operand: str) -> None:
        self.name = name
        self.compare = _VERSION_OPERATORS[name]
        self.operand = operand
        self.padded_operand = padded_version(operand)

    def matches(self, value: object) -> bool:
        return _compare_js_strings(self.compare, padded_version(value), self.padded_operand)

    def describe(self) -> str:
        return f"{self.name} {_render(self.operand)}"


class _In(_ValueTest):
    __slots__ = (
        "booleans",
        "has_null",
        "insensitive",
        "name",
        "negate",
        "numbers",
        "operand",
        "strings",
    )

    def __init__(self, name: str, operand: list[object]) -> None:
        self.name = name
        self.operand = operand
        self.negate = name in ("$nin", "$nini")
        self.insensitive = name in ("$ini", "$nini")
        # One set per JSON type, because Python's sets conflate True with 1 and JS does not.
        self.strings = frozenset(
            item.lower() if self.insensitive else item for item in operand if isinstance(item, str)
        )
        self.numbers = frozenset(item for item in operand if _is_number(item))
        self.booleans = frozenset(item for item in operand if isinstance(item, bool))
        self.has_null = any(item is None for item in operand)

    def _contains(self, value: object) -> bool:
        if isinstance(value, str):
            return (value.lower() if self.insensitive else value) in self.strings
        if value is None:
            return self.has_null
        if isinstance(value, bool):
            return value in self.booleans
        if isinstance(value, _NUMBER_TYPES):
            return value in self.numbers
        return False

    def matches(self, value: object) -> bool:
        if isinstance(value, _ARRAY_TYPES):
            _charge(len(value))
            found = any(self._contains(item) for item in value)
        else:
            found = self._contains(value)
        return found != self.negate

    def describe(self) -> str:
        return f"{self.name} {_render(self.operand)}"

    def cost(self) -> int:
        return 1 + MAX_ATTRIBUTE_ARRAY_ITEMS  # one set lookup per item of an array


class _All(_ValueTest):
    __slots__ = ("items", "name", "operand")

    def __init__(self, name: str, operand: list[object], items: tuple[_ValueTest, ...]) -> None:
        self.name = name
        self.operand = operand
        self.items = items

    def matches(self, value: object) -> bool:
        if not isinstance(value, _ARRAY_TYPES):
            return False
        for item in self.items:
            _charge(len(value))
            if not any(item.matches(element) for element in value):
                return False
        return True

    def describe(self) -> str:
        return f"{self.name} {_render(self.operand)}"

    def cost(self) -> int:
        return 1 + MAX_ATTRIBUTE_ARRAY_ITEMS * sum(item.cost() for item in self.items)


class _ElemMatch(_ValueTest):
    __slots__ = ("element_test", "operand")

    def __init__(self, operand: object, element_test: _ValueTest | _Condition) -> None:
        self.operand = operand
        self.element_test = element_test

    def matches(self, value: object) -> bool:
        if not isinstance(value, _ARRAY_TYPES):
            return False
        _charge(len(value))
        return any(self.element_test.matches(element) for element in value)

    def describe(self) -> str:
        return f"$elemMatch {_render(self.operand)}"

    def cost(self) -> int:
        return 1 + MAX_ATTRIBUTE_ARRAY_ITEMS * self.element_test.cost()


class _Size(_ValueTest):
    __slots__ = ("operand", "size_test")

    def __init__(self, operand: object, size_test: _ValueTest) -> None:
        self.operand = operand
        self.size_test = size_test

    def matches(self, value: object) -> bool:
        return isinstance(value, _ARRAY_TYPES) and self.size_test.matches(len(value))

    def describe(self) -> str:
        return f"$size {_render(self.operand)}"

    def cost(self) -> int:
        return 1 + self.size_test.cost()


class _Exists(_ValueTest):
    __slots__ = ("expected",)

    def __init__(self, expected: bool) -> None:
        self.expected = expected

    def matches(self, value: object) -> bool:
        return (value is not None) == self.expected

    def describe(self) -> str:
        return f"$exists {_render(self.expected)}"


class _Type(_ValueTest):
    __slots__ = ("expected",)

    def __init__(self, expected: str) -> None:
        self.expected = expected

    def matches(self, value: object) -> bool:
        return _js_type(value) == self.expected

    def describe(self) -> str:
        return f"$type {_render(self.expected)}"


class _Regex(_ValueTest):
    __slots__ = ("name", "negate", "operand", "pattern")

    def __init__(self, name: str, operand: str, pattern: re2._Regexp) -> None:
        self.name = name
        self.operand = operand
        self.pattern = pattern
        self.negate = name.startswith("$not")

    def matches(self, value: object) -> bool:
        text = value if type(value) is str else _js_string(value)
        if text is None:
            return self.negate
        try:
            # Bytes skip re2's per-call str offset bookkeeping: about 3x faster.
            encoded = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, e.g. from "\ud800" in JSON
            encoded = text.encode("utf-8", "replace")
        return (self.pattern.search(encoded) is not None) != self.negate

    def describe(self) -> str:
        return f"{self.name} {_render(self.operand)}"


class _NotValue(_ValueTest):
    __slots__ = ("inner", "operand")

    def __init__(self, operand: object, inner: _ValueTest) -> None:
        self.operand = operand
        self.inner = inner

    def matches(self, value: object) -> bool:
        return not self.inner.matches(value)

    def describe(self) -> str:
        return f"$not {_render(self.operand)}"

    def cost(self) -> int:
        return 1 + self.inner.cost()


class _AllOperators(_ValueTest):
    """An operator object such as ``{"$gte": 18, "$lt": 65}``: every operator must pass."""

    __slots__ = ("tests",)

    def __init__(self, tests: tuple[_ValueTest, ...]) -> None:
        self.tests = tests

    def matches(self, value: object) -> bool:
        # A plain loop: all() over a generator costs 2-3x more on this hot path.
        for test in self.tests:  # noqa: SIM110
            if not test.matches(value):
                return False
        return True

    def describe(self) -> str:
        return " and ".join(test.describe() for test in self.tests)

    def parts(self) -> Sequence[_ValueTest]:
        return self.tests

    def cost(self) -> int:
        return sum(test.cost() for test in self.tests)


def _resolve(root: object, segments: tuple[str, ...], missing: object) -> object:
    """GrowthBook's getPath: walk objects by key and arrays by index."""
    current = root
    for segment in segments:
        if isinstance(current, Mapping):
            if segment not in current:
                return missing
            current = current[segment]
        elif isinstance(current, _ARRAY_TYPES) and segment.isascii() and segment.isdigit():
            index = int(segment)
            if index >= len(current) or segment != str(index):
                return missing
            current = current[index]
        else:
            return missing
    return current


class _Field(_Condition):
    __slots__ = ("is_top_level", "key", "segments", "test")

    def __init__(self, key: str, test: _ValueTest) -> None:
        self.key = key
        self.segments = tuple(key.split("."))
        self.is_top_level = len(self.segments) == 1
        self.test = test

    def matches(self, obj: object) -> bool:
        if self.is_top_level and type(obj) is dict:
            return self.test.matches(obj.get(self.key))  # the common case, kept cheap
        return self.test.matches(_resolve(obj, self.segments, None))

    def explain(self, obj: object, depth: int, lines: list[str]) -> bool:
        found = _resolve(obj, self.segments, _MISSING)
        value = None if found is _MISSING else found
        shown = "missing" if found is _MISSING else _render(found)
        passed = True
        for part in self.test.parts():
            part_passed = part.matches(value)
            passed = passed and part_passed
            lines.append(
                f"{_INDENT * depth}{self.key}: {shown} {part.describe()} → {_verdict(part_passed)}"
            )
        return passed

    def cost(self) -> int:
        return self.test.cost()


class _And(_Condition):
    """``$and``, or an object's keys (``label`` None), which are ANDed implicitly."""

    __slots__ = ("children", "label")

    def __init__(self, children: tuple[_Condition, ...], label: str | None) -> None:
        self.children = children
        self.label = label

    def matches(self, obj: object) -> bool:
        # A plain loop: all() over a generator costs 2-3x more on this hot path.
        for child in self.children:  # noqa: SIM110
            if not child.matches(obj):
                return False
        return True

    def explain(self, obj: object, depth: int, lines: list[str]) -> bool:
        if self.label is None:
            results = [child.explain(obj, depth, lines) for child in self.children]
            return all(results)
        header = len(lines)
        lines.append("")
        results = [child.explain(obj, depth + 1, lines) for child in self.children]
        passed = all(results)
        summary = f"all of {len(self.children)}" if self.children else "empty"
        lines[header] = f"{_INDENT * depth}{self.label} ({summary}) → {_verdict(passed)}"
        return passed

    def cost(self) -> int:
        return 1 + sum(child.cost() for child in self.children)


class _Or(_Condition):
    """``$or`` (empty passes) and ``$nor`` (its negation, so empty fails)."""

    __slots__ = ("children", "negate")

    def __init__(self, children: tuple[_Condition, ...], *, negate: bool) -> None:
        self.children = children
        self.negate = negate

    def matches(self, obj: object) -> bool:
        if not self.children:
            return not self.negate
        for child in self.children:
            if child.matches(obj):
                return not self.negate
        return self.negate

    def explain(self, obj: object, depth: int, lines: list[str]) -> bool:
        header = len(lines)
        lines.append("")
        results = [child.explain(obj, depth + 1, lines) for child in self.children]
        passed = (any(results) or not self.children) != self.negate
        label, quantity = ("$nor", "none") if self.negate else ("$or", "any")
        summary = f"{quantity} of {len(self.children)}" if self.children else "empty"
        lines[header] = f"{_INDENT * depth}{label} ({summary}) → {_verdict(passed)}"
        return passed

    def cost(self) -> int:
        return 1 + sum(child.cost() for child in self.children)


class _Not(_Condition):
    __slots__ = ("child",)

    def __init__(self, child: _Condition) -> None:
        self.child = child

    def matches(self, obj: object) -> bool:
        return not self.child.matches(obj)

    def explain(self, obj: object, depth: int, lines: list[str]) -> bool:
        header = len(lines)
        lines.append("")
        passed = not self.child.explain(obj, depth + 1, lines)
        lines[header] = f"{_INDENT * depth}$not → {_verdict(passed)}"
        return passed

    def cost(self) -> int:
        return 1 + self.child.cost()


class _Always(_Condition):
    __slots__ = ()

    def matches(self, obj: object) -> bool:
        return True

    def explain(self, obj: object, depth: int, lines: list[str]) -> bool:
        lines.append(f"{_INDENT * depth}(no condition) → pass")
        return True

    def cost(self) -> int:
        return 1


# --- Compilation ----------------------------------------------------------------------


def _child_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_operator_object(value: dict[object, object]) -> bool:
    """GrowthBook's isOperatorObject: non-empty, and every key starts with "$"."""
    return bool(value) and all(isinstance(key, str) and key.startswith("$") for key in value)


def _unknown_operator(path: str, name: str) -> ConditionError:
    suggestions = difflib.get_close_matches(name, sorted(OPERATORS), n=1)
    hint = f"; did you mean {suggestions[0]}?" if suggestions else ""
    return ConditionError(path, f"unknown operator {name}{hint}")


class _Compiler:
    def __init__(self) -> None:
        self.nodes = 0
        self.regex_options = re2.Options()
        self.regex_options.log_errors = False  # failures become ConditionErrors, not stderr
        self.regex_options.never_capture = True  # we only ask "does it match"
        self.regex_options.max_mem = 2 << 20  # bounds memory per regex; RE2 stays linear

    def count_node(self, path: str) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ConditionError(path, f"condition is too large (more than {MAX_NODES} clauses)")

    def check_depth(self, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ConditionError(path, f"condition nests too deeply (more than {MAX_DEPTH} levels)")

    def check_json(self, value: object, path: str, depth: int) -> None:
        """A literal must be plain JSON of bounded depth (it is compared recursively)."""
        if value is None or isinstance(value, str | bool):
            return
        if isinstance(value, _NUMBER_TYPES):
            if isinstance(value, int) and not -_MAX_JSON_INTEGER <= value <= _MAX_JSON_INTEGER:
                raise ConditionError(path, "number too large (JSON numbers stay within ±1e308)")
            if not math.isfinite(value):
                raise ConditionError(path, "numbers must be finite")
            return
        if isinstance(value, list):
            self.check_depth(path, depth)
            for index, item in enumerate(value):
                self.check_json(item, f"{path}[{index}]", depth + 1)
            return
        if isinstance(value, dict):
            self.check_depth(path, depth)
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ConditionError(path, "object keys must be strings")
                self.check_json(item, _child_path(path, key), depth + 1)
            return
        raise ConditionError(path, f"{type(value).__name__} is not a JSON value")

    def condition(self, condition: object, path: str, depth: int) -> _Condition:
        if not isinstance(condition, dict):
            raise ConditionError(path, "a condition must be a JSON object")
        self.check_depth(path, depth)
        clauses: list[_Condition] = []
        for key, value in condition.items():
            if not isinstance(key, str):
                raise ConditionError(path, "object keys must be strings")
            key_path = _child_path(path, key)
            self.count_node(key_path)
            if key in ("$and", "$or", "$nor"):
                children = self.condition_list(value, key_path, depth + 1)
                if key == "$and":
                    clauses.append(_And(children, label="$and"))
                else:
                    clauses.append(_Or(children, negate=key == "$nor"))
            elif key == "$not":
                clauses.append(_Not(self.condition(value, key_path, depth + 1)))
            elif key in _VALUE_OPERATORS:
                raise ConditionError(
                    key_path, f'{key} tests an attribute; write {{"plan": {{"{key}": ...}}}}'
                )
            elif key.startswith("$"):
                raise _unknown_operator(key_path, key)
            else:
                if "" in key.split("."):
                    raise ConditionError(key_path, "attribute path has an empty segment")
                clauses.append(_Field(key, self.value(value, key_path, depth + 1)))
        if not clauses:
            return _Always()
        return clauses[0] if len(clauses) == 1 else _And(tuple(clauses), label=None)

    def condition_list(self, value: object, path: str, depth: int) -> tuple[_Condition, ...]:
        if not isinstance(value, list):
            raise ConditionError(path, "must be a list of conditions")
        self.check_depth(path, depth)
        return tuple(
            self.condition(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)
        )

    def value(
        self, value: object, path: str, depth: int, *, insensitive: bool = False
    ) -> _ValueTest:
        """Compile what GrowthBook's evalConditionValue receives: a literal or operators."""
        if isinstance(value, str):
            return _EqualsString(value, insensitive=insensitive)
        if isinstance(value, bool):
            return _EqualsBoolean(value)
        if isinstance(value, _NUMBER_TYPES):
            self.check_json(value, path, depth)
            return _EqualsNumber(value)
        if value is None:
            return _IsNull()
        if isinstance(value, dict) and value:
            operators = [key for key in value if isinstance(key, str) and key.startswith("$")]
            if operators and len(operators) != len(value):
                plain = [key for key in value if key not in operators]
                raise ConditionError(
                    path,
                    f"mixes operators ({', '.join(operators)}) with plain keys "
                    f"({', '.join(map(str, plain))}); use one or the other",
                )
            if operators:
                self.check_depth(path, depth)
                tests = tuple(
                    self.operator(name, value[name], _child_path(path, name), depth + 1)
                    for name in operators
                )
                return tests[0] if len(tests) == 1 else _AllOperators(tests)
        self.check_json(value, path, depth)
        return _EqualsJson(value)

    def operator(self, name: str, operand: object, path: str, depth: int) -> _ValueTest:
        self.count_node(path)
        if name in ("$and", "$or", "$nor"):
            # GrowthBook would treat it as an unknown value operator and never match.
            raise ConditionError(
                path, f"{name} combines conditions; it cannot apply to a value, move it up"
            )
        if name not in _VALUE_OPERATORS:
            raise _unknown_operator(path, name)
        if name in ("$eq", "$ne"):
            self.check_json(operand, path, depth)
            return _EqualsJson(operand, "$eq") if name == "$eq" else _NotEqualsJson(operand, "$ne")
        if name in _COMPARISON_OPERATORS:
            if isinstance(operand, bool) or not isinstance(operand, str | int | float):
                raise ConditionError(path, f"{name} needs a number or a string")
            self.check_json(operand, path, depth)
            return _Compare(name, operand)
        if name in _VERSION_OPERATORS:
            if not isinstance(operand, str):
                raise ConditionError(path, f'{name} needs a version string such as "1.2.0"')
            return _Version(name, operand)
        if name in ("$in", "$nin", "$ini", "$nini"):
            items = self.list_operand(name, operand, path, depth)
            for index, item in enumerate(items):
                if isinstance(item, list | dict):
                    raise ConditionError(
                        f"{path}[{index}]", "items must be strings, numbers, booleans or null"
                    )
                self.check_json(item, f"{path}[{index}]", depth + 1)
            return _In(name, items)
        if name in ("$all", "$alli"):
            items = self.list_operand(name, operand, path, depth)
            tests = []
            for index, item in enumerate(items):
                # Each item is a test of every element: a clause like any other.
                self.count_node(f"{path}[{index}]")
                tests.append(
                    self.value(item, f"{path}[{index}]", depth + 1, insensitive=name == "$alli")
                )
            return _All(name, items, tuple(tests))
        if name == "$elemMatch":
            if not isinstance(operand, dict):
                raise ConditionError(path, "$elemMatch needs an object")
            is_operator_object = _is_operator_object(operand)
            element_test: _ValueTest | _Condition = (
                self.value(operand, path, depth)
                if is_operator_object
                else self.condition(operand, path, depth)
            )
            return _ElemMatch(operand, element_test)
        if name == "$size":
            is_operator_object = isinstance(operand, dict) and _is_operator_object(operand)
            if not (_is_number(operand) or is_operator_object):
                raise ConditionError(path, "$size needs a number or an operator object")
            return _Size(operand, self.value(operand, path, depth))
        if name == "$exists":
            if not isinstance(operand, bool):
                raise ConditionError(path, "$exists needs true or false")
            return _Exists(operand)
        if name == "$type":
            if not isinstance(operand, str) or operand not in TYPE_NAMES:
                names = ", ".join(sorted(TYPE_NAMES))
                raise ConditionError(path, f"$type needs one of {names}")
            return _Type(operand)
        if name in ("$regex", "$regexi", "$notRegex", "$notRegexi"):
            return self.regex(name, operand, path)
        # Only $not is left: it negates a literal or an operator object.
        return _NotValue(operand, self.value(operand, path, depth))

    def list_operand(self, name: str, operand: object, path: str, depth: int) -> list[object]:
        if not isinstance(operand, list):
            raise ConditionError(path, f"{name} needs a list")
        if len(operand) > MAX_LIST_ITEMS:
            raise ConditionError(
                path, f"{name} holds more than {MAX_LIST_ITEMS} items; use a segment instead"
            )
        self.check_depth(path, depth)
        return operand

    def regex(self, name: str, operand: object, path: str) -> _Regex:
        if not isinstance(operand, str):
            raise ConditionError(path, f"{name} needs a regular expression string")
        if len(operand) > MAX_REGEX_LENGTH:
            raise ConditionError(path, f"regular expression longer than {MAX_REGEX_LENGTH}")
        options = self.regex_options
        options.case_sensitive = not name.endswith("i")
        try:
            pattern = re2.compile(operand, options)
        except re2.error as error:
            reason = error.args[0] if error.args else "invalid"
            if isinstance(reason, bytes):
                reason = reason.decode("utf-8", "replace")
            raise ConditionError(path, f"invalid regular expression: {reason}") from None
        return _Regex(name, operand, pattern)


class CompiledCondition:
    """A validated condition, ready to evaluate many times (immutable, thread-safe: the
    evaluation budget is per thread)."""

    __slots__ = ("_root", "source")

    def __init__(self, root: _Condition, source: Mapping[str, object]) -> None:
        self._root = root
        self.source = source

    def evaluate(self, attributes: Mapping[str, object]) -> bool:
        """Whether a user with these attributes matches; never raises on JSON-like input.

        An evaluation past MAX_EVALUATION_STEPS stops: the user does not match.
        """
        _budget.steps_left = MAX_EVALUATION_STEPS
        try:
            return self._root.matches(attributes)
        except _OverBudget:
            return False

    def explain(self, attributes: Mapping[str, object]) -> tuple[bool, list[str]]:
        """The same verdict as ``evaluate``, with one readable line per sub-condition.

        Every branch is evaluated (no short-circuit), so all reasons show, e.g.::

            plan: "pro" $in ["pro","team"] → pass
            $or (any of 2) → fail
              country: "FR" equals "DE" → fail
              beta: missing equals true → fail
        """
        lines: list[str] = []
        _budget.steps_left = MAX_EVALUATION_STEPS
        try:
            return self._root.explain(attributes, 0, lines), lines
        except _OverBudget:
            lines.append(
                f"evaluation stopped: it went through more than {MAX_EVALUATION_STEPS:,} array "
                "items (long arrays in the attributes against $all, $elemMatch or $in) → fail"
            )
            return False, lines

    def __repr__(self) -> str:
        return f"CompiledCondition({_render(self.source)})"


def compile_condition(condition: object) -> CompiledCondition:
    """Validate ``condition`` and compile it; raises ``ConditionError`` with a path."""
    root = _Compiler().condition(condition, "", 1)
    assert isinstance(condition, dict)  # the compiler has checked it
    cost = root.cost()
    if cost > MAX_EVALUATION_COST:
        raise ConditionError(
            "",
            f"condition is too costly: up to {cost:,} value tests per user, more than the "
            f"{MAX_EVALUATION_COST:,} allowed: $all, $elemMatch and $in go through arrays of "
            f"up to {MAX_ATTRIBUTE_ARRAY_ITEMS} items, multiplying the cost of what they hold; "
            "use fewer items in $all, simpler $elemMatch conditions, or a segment",
        )
    return CompiledCondition(root, condition)


def evaluate_condition(condition: object, attributes: Mapping[str, object]) -> bool:
    """Compile and evaluate once; compile and keep the result when evaluating often."""
    return compile_condition(condition).evaluate(attributes)
