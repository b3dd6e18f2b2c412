"""The condition evaluator against GrowthBook's published semantics, and our own edges.

The tables re-express the important cases of GrowthBook's shared SDK test suite
(``cases.json``, section ``evalCondition``, spec 0.7.x) next to edge cases of our own.
"""

import time
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.targeting.conditions import (
    MAX_DEPTH,
    MAX_LIST_ITEMS,
    MAX_NODES,
    MAX_REGEX_LENGTH,
    CompiledCondition,
    ConditionError,
    compile_condition,
    evaluate_condition,
    padded_version,
)

Case = tuple[str, dict[str, Any], dict[str, Any], bool]


def _params(cases: list[Case]) -> list[Any]:
    return [
        pytest.param(condition, attrs, expected, id=name)
        for name, condition, attrs, expected in cases
    ]


def _check(condition: dict[str, Any], attributes: Mapping[str, object], expected: bool) -> None:
    compiled = compile_condition(condition)
    assert compiled.evaluate(attributes) is expected
    verdict, _ = compiled.explain(attributes)
    assert verdict is expected


SANTA = {
    "$and": [
        {"father.age": {"$gt": 65}},
        {"$or": [{"bday": {"$regex": "-12-25$"}}, {"name": "santa"}]},
    ]
}

LOGICAL: list[Case] = [
    ("$not pass", {"$not": {"name": "hello"}}, {"name": "world"}, True),
    ("$not fail", {"$not": {"name": "hello"}}, {"name": "hello"}, False),
    (
        "$and/$or all true",
        SANTA,
        {"name": "santa", "bday": "1980-12-25", "father": {"age": 70}},
        True,
    ),
    (
        "$and/$or first or true",
        SANTA,
        {"name": "santa", "bday": "1980-12-20", "father": {"age": 70}},
        True,
    ),
    (
        "$and/$or second or true",
        SANTA,
        {"name": "bob", "bday": "1980-12-25", "father": {"age": 70}},
        True,
    ),
    (
        "$and/$or first and false",
        SANTA,
        {"name": "santa", "bday": "1980-12-25", "father": {"age": 65}},
        False,
    ),
    (
        "$and/$or both or false",
        SANTA,
        {"name": "bob", "bday": "1980-11-25", "father": {"age": 70}},
        False,
    ),
    (
        "$nor pass",
        {"$nor": [{"name": "john"}, {"age": {"$lt": 30}}]},
        {"name": "jim", "age": 40},
        True,
    ),
    (
        "$nor fail both",
        {"$nor": [{"name": "john"}, {"age": {"$lt": 30}}]},
        {"name": "john", "age": 20},
        False,
    ),
    (
        "$nor fail first",
        {"$nor": [{"name": "john"}, {"age": {"$lt": 30}}]},
        {"name": "john", "age": 40},
        False,
    ),
    (
        "$nor fail second",
        {"$nor": [{"name": "john"}, {"age": {"$lt": 30}}]},
        {"name": "jim", "age": 20},
        False,
    ),
    ("empty $or passes", {"$or": []}, {"hello": "world"}, True),
    ("empty $and passes", {"$and": []}, {"hello": "world"}, True),
    ("empty $nor fails (negated empty $or)", {"$nor": []}, {"hello": "world"}, False),
    ("empty condition passes", {}, {"hello": "world"}, True),
    (
        "$or passes but sibling key fails",
        {"$or": [{"foo": 1}, {"bar": 1}], "baz": 2},
        {"foo": 1, "bar": 2, "baz": 1},
        False,
    ),
    (
        "$or and sibling key pass",
        {"$or": [{"foo": 1}, {"bar": 1}], "baz": 2},
        {"foo": 1, "bar": 2, "baz": 2},
        True,
    ),
    (
        "$and passes but $or fails",
        {"$and": [{"foo": 1}, {"bar": 1}], "$or": [{"baz": 1}, {"empty": 1}]},
        {"foo": 1, "bar": 1, "baz": 2},
        False,
    ),
    (
        "$and and $or pass",
        {"$and": [{"foo": 1}, {"bar": 1}], "$or": [{"baz": 1}, {"empty": 1}]},
        {"foo": 1, "bar": 1, "baz": 2, "empty": 1},
        True,
    ),
    (
        "keys are ANDed",
        {"str": "str", "num": 10, "flag": False},
        {"str": "str", "num": 10, "flag": False},
        True,
    ),
]

EXISTS_AND_NULL: list[Case] = [
    ("$exists false, missing", {"pets.dog.name": {"$exists": False}}, {"hello": "world"}, True),
    (
        "$exists false, present",
        {"pets.dog.name": {"$exists": False}},
        {"pets": {"dog": {"name": "fido"}}},
        False,
    ),
    ("$exists true, missing", {"pets.dog.name": {"$exists": True}}, {"hello": "world"}, False),
    (
        "$exists true, present",
        {"pets.dog.name": {"$exists": True}},
        {"pets": {"dog": {"name": "fido"}}},
        True,
    ),
    ("$exists true, null", {"a": {"$exists": True}}, {"a": None}, False),
    ("$exists true, falsy but present", {"a": {"$exists": True}}, {"a": 0}, True),
    ("null literal, null", {"userId": None}, {"userId": None}, True),
    ("null literal, missing", {"userId": None}, {}, True),
    ("null literal, string", {"userId": None}, {"userId": "123"}, False),
    ("null literal, zero", {"userId": None}, {"userId": 0}, False),
    ("null literal, empty string", {"userId": None}, {"userId": ""}, False),
    ("null literal, false", {"userId": None}, {"userId": False}, False),
    ("false literal, missing", {"userId": False}, {}, False),
    ("$eq false, missing", {"userId": {"$eq": False}}, {}, False),
    ("$eq null, missing", {"userId": {"$eq": None}}, {}, True),
    ("nested path through null", {"address.state": "CA"}, {"address": None}, False),
    ("nested path through a number", {"address.state": "CA"}, {"address": 123}, False),
    ("nested path through a string", {"address.state": "CA"}, {"address": "CA"}, False),
    ("missing attribute with $in", {"pets.dog.name": {"$in": ["fido"]}}, {"hello": "world"}, False),
    ("array index in path", {"tags.1": "b"}, {"tags": ["a", "b"]}, True),
    ("array index out of range", {"tags.5": {"$exists": False}}, {"tags": ["a", "b"]}, True),
    ("array index must be canonical", {"tags.01": {"$exists": False}}, {"tags": ["a", "b"]}, True),
    (
        "path into an object inside an array",
        {"teams.0.role": "admin"},
        {"teams": [{"role": "admin"}]},
        True,
    ),
]

EQUALITY: list[Case] = [
    ("$eq pass", {"occupation": {"$eq": "engineer"}}, {"occupation": "engineer"}, True),
    ("$eq fail", {"occupation": {"$eq": "engineer"}}, {"occupation": "civil engineer"}, False),
    ("$ne pass", {"level": {"$ne": "senior"}}, {"level": "junior"}, True),
    ("$ne fail", {"level": {"$ne": "senior"}}, {"level": "senior"}, False),
    ("$ne vs missing", {"country": {"$ne": "de"}}, {}, True),
    ("$ne vs null", {"country": {"$ne": "de"}}, {"country": None}, True),
    ("$eq is strict: number vs numeric string", {"x": {"$eq": 5}}, {"x": "5"}, False),
    ("$eq is strict: true vs 1", {"x": {"$eq": True}}, {"x": 1}, False),
    ("$eq: 1 equals 1.0", {"x": {"$eq": 1}}, {"x": 1.0}, True),
    ("$eq on arrays compares structure", {"x": {"$eq": [1, "a"]}}, {"x": [1, "a"]}, True),
    ("$ne on objects compares structure", {"x": {"$ne": {"a": 1}}}, {"x": {"a": 1}}, False),
    ("literal array equal", {"tags": ["hello", "world"]}, {"tags": ["hello", "world"]}, True),
    (
        "literal array, other order",
        {"tags": ["hello", "world"]},
        {"tags": ["world", "hello"]},
        False,
    ),
    ("literal array, missing item", {"tags": ["hello", "world"]}, {"tags": ["hello"]}, False),
    (
        "literal array, extra item",
        {"tags": ["hello", "world"]},
        {"tags": ["hello", "world", "foo"]},
        False,
    ),
    ("literal array vs string", {"tags": ["hello", "world"]}, {"tags": "hello world"}, False),
    ("literal array vs tuple", {"tags": ["a", 1]}, {"tags": ("a", 1)}, True),
    ("literal object equal", {"tags": {"hello": "world"}}, {"tags": {"hello": "world"}}, True),
    (
        "literal object, extra property",
        {"tags": {"hello": "world"}},
        {"tags": {"hello": "world", "yes": "please"}},
        False,
    ),
    ("literal object, missing property", {"tags": {"hello": "world"}}, {"tags": {}}, False),
    ("literal object vs string", {"tags": {"hello": "world"}}, {"tags": "hello world"}, False),
    (
        "literal object, key order ignored",
        {"o": {"a": 1, "b": [True]}},
        {"o": {"b": [True], "a": 1}},
        True,
    ),
    ("literal object, bool is not number inside", {"o": {"a": 1}}, {"o": {"a": True}}, False),
    ("empty literal object", {"o": {}}, {"o": {}}, True),
    # JavaScript coercion of implicit equality (value + "" / value * 1 / !!value).
    ("literal string vs number", {"x": "5"}, {"x": 5}, True),
    ("literal string vs float", {"x": "1.5"}, {"x": 1.5}, True),
    ("literal string vs integral float", {"x": "1"}, {"x": 1.0}, True),
    ("literal string vs boolean", {"x": "true"}, {"x": True}, True),
    ("literal string vs array joins", {"x": "a,b"}, {"x": ["a", "b"]}, True),
    ("literal string vs one-item array", {"x": "a"}, {"x": ["a"]}, True),
    ("literal number vs numeric string", {"x": 5}, {"x": "5"}, True),
    ("literal number vs padded numeric string", {"x": 5}, {"x": " 5\n"}, True),
    ("literal number vs hex string", {"x": 16}, {"x": "0x10"}, True),
    ("literal number vs non-numeric string", {"x": 5}, {"x": "5a"}, False),
    ("literal number vs true", {"x": 1}, {"x": True}, True),
    ("literal zero vs empty string", {"x": 0}, {"x": ""}, True),
    ("literal number vs one-item array", {"x": 5}, {"x": [5]}, True),
    ("literal boolean true vs truthy", {"x": True}, {"x": "yes"}, True),
    ("literal boolean true vs empty array", {"x": True}, {"x": []}, True),
    ("literal boolean false vs zero", {"x": False}, {"x": 0}, True),
    ("literal boolean false vs empty string", {"x": False}, {"x": ""}, True),
    ("literal boolean true vs zero", {"x": True}, {"x": 0}, False),
]

COMPARISON: list[Case] = [
    ("$gt/$lt numbers pass", {"age": {"$gt": 30, "$lt": 60}}, {"age": 50}, True),
    ("$gt/$lt numbers fail $lt", {"age": {"$gt": 30, "$lt": 60}}, {"age": 60}, False),
    ("$gt/$lt numbers fail $gt", {"age": {"$gt": 30, "$lt": 60}}, {"age": 30}, False),
    ("$gte/$lte pass", {"age": {"$gte": 30, "$lte": 60}}, {"age": 50}, True),
    ("$gte/$lte pass at $gte", {"age": {"$gte": 30, "$lte": 60}}, {"age": 30}, True),
    ("$gte/$lte pass at $lte", {"age": {"$gte": 30, "$lte": 60}}, {"age": 60}, True),
    ("$gte/$lte fail above", {"age": {"$gte": 30, "$lte": 60}}, {"age": 61}, False),
    ("$gte/$lte fail below", {"age": {"$gte": 30, "$lte": 60}}, {"age": 29}, False),
    (
        "$gt/$lt strings fail at $gt",
        {"word": {"$gt": "alphabet", "$lt": "zebra"}},
        {"word": "alphabet"},
        False,
    ),
    (
        "$gt/$lt strings fail at $lt",
        {"word": {"$gt": "alphabet", "$lt": "zebra"}},
        {"word": "zebra"},
        False,
    ),
    (
        "$gt/$lt strings pass",
        {"word": {"$gt": "alphabet", "$lt": "zebra"}},
        {"word": "always"},
        True,
    ),
    (
        "$gt/$lt strings: uppercase sorts first",
        {"word": {"$gt": "alphabet", "$lt": "zebra"}},
        {"word": "AZL"},
        False,
    ),
    ("numeric string attribute vs numbers", {"n": {"$gt": 5, "$lt": 10}}, {"n": "8"}, True),
    ("number attribute vs numeric strings", {"n": {"$gt": "5", "$lt": "10"}}, {"n": 8}, True),
    ("two strings compare as text", {"n": {"$lt": "10"}}, {"n": "9"}, False),
    ("non-numeric string vs number", {"n": {"$lt": 10}}, {"n": "abc"}, False),
    ("boolean counts as 1", {"n": {"$gt": 0}}, {"n": True}, True),
    ("one-item array compares as its item", {"n": {"$gt": 3}}, {"n": [5]}, True),
    ("array vs string compares joined text", {"n": {"$gt": "a"}}, {"n": ["b"]}, True),
    ("object never compares", {"n": {"$lt": 10}}, {"n": {"a": 1}}, False),
    (
        "missing counts as 0 for all bounds",
        {"age": {"$gt": -10, "$lt": 10, "$gte": -9, "$lte": 9, "$ne": 10}},
        {},
        True,
    ),
    ("missing $lt 5", {"x": {"$lt": 5}}, {}, True),
    ("missing $gte 5", {"x": {"$gte": 5}}, {}, False),
    ("missing $lte 5", {"x": {"$lte": 5}}, {}, True),
    ("missing $gt 5", {"x": {"$gt": 5}}, {}, False),
    ("missing vs non-numeric string", {"x": {"$lt": "abc"}}, {}, False),
    (
        "astral characters order by UTF-16 units",
        {"s": {"$gt": "\U0001f600"}},
        {"s": "\uff5e"},
        True,
    ),
]

MEMBERSHIP: list[Case] = [
    ("$in pass", {"num": {"$in": [1, 2, 3]}}, {"num": 2}, True),
    ("$in fail", {"num": {"$in": [1, 2, 3]}}, {"num": 4}, False),
    ("$in array intersects", {"tags": {"$in": ["a", "b"]}}, {"tags": ["d", "e", "a"]}, True),
    ("$in array intersects again", {"tags": {"$in": ["a", "b"]}}, {"tags": ["d", "b", "f"]}, True),
    ("$in array disjoint", {"tags": {"$in": ["a", "b"]}}, {"tags": ["d", "e", "f"]}, False),
    ("$in empty array", {"tags": {"$in": ["a", "b"]}}, {"tags": []}, False),
    ("$in is case-sensitive", {"country": {"$in": ["us", "uk"]}}, {"country": "US"}, False),
    ("$in is strict on types", {"n": {"$in": [1, "2"]}}, {"n": "1"}, False),
    ("$in keeps true apart from 1", {"n": {"$in": [1]}}, {"n": True}, False),
    ("$in matches null for missing", {"n": {"$in": [None, "x"]}}, {}, True),
    ("$nin pass", {"num": {"$nin": [1, 2, 3]}}, {"num": 4}, True),
    ("$nin fail", {"num": {"$nin": [1, 2, 3]}}, {"num": 2}, False),
    ("$nin array overlapping", {"tags": {"$nin": ["a", "b"]}}, {"tags": ["d", "e", "a"]}, False),
    ("$nin array disjoint", {"tags": {"$nin": ["a", "b"]}}, {"tags": ["d", "e", "f"]}, True),
    ("$nin empty array", {"tags": {"$nin": ["a", "b"]}}, {"tags": []}, True),
    ("$nin on missing attribute", {"country": {"$nin": ["us", "uk"]}}, {}, True),
    ("$nin case-sensitive", {"country": {"$nin": ["us", "uk"]}}, {"country": "US"}, True),
    ("$ini pass", {"tags": {"$ini": ["A", "B"]}}, {"tags": "a"}, True),
    ("$ini fail", {"tags": {"$ini": ["a", "b"]}}, {"tags": "c"}, False),
    ("$ini mixed case", {"country": {"$ini": ["Us", "Uk"]}}, {"country": "US"}, True),
    ("$ini array intersects", {"tags": {"$ini": ["a", "b"]}}, {"tags": ["d", "e", "A"]}, True),
    ("$ini array disjoint", {"tags": {"$ini": ["a", "b"]}}, {"tags": ["d", "e", "f"]}, False),
    ("$ini non-strings stay strict", {"n": {"$ini": [1, "X"]}}, {"n": 1}, True),
    ("$ini dotted capital I is not i", {"x": {"$ini": ["\u0130"]}}, {"x": "i"}, False),
    ("$ini sharp s is not ss", {"x": {"$ini": ["STRA\u00dfE"]}}, {"x": "STRASSE"}, False),
    ("$ini Greek sigma folds", {"x": {"$ini": ["\u03a3"]}}, {"x": "\u03c3"}, True),
    ("$ini Cyrillic folds", {"x": {"$ini": ["\u0410"]}}, {"x": "\u0430"}, True),
    ("$nini pass", {"tags": {"$nini": ["A", "B"]}}, {"tags": "c"}, True),
    ("$nini fail", {"tags": {"$nini": ["A", "B"]}}, {"tags": "a"}, False),
    ("$nini array overlapping", {"tags": {"$nini": ["A", "B"]}}, {"tags": ["d", "b", "f"]}, False),
    ("$nini array disjoint", {"tags": {"$nini": ["a", "b"]}}, {"tags": ["d", "e", "f"]}, True),
    ("$all pass", {"tags": {"$all": ["one", "three"]}}, {"tags": ["one", "two", "three"]}, True),
    ("$all fail", {"tags": {"$all": ["one", "three"]}}, {"tags": ["one", "two", "four"]}, False),
    ("$all not an array", {"tags": {"$all": ["one", "three"]}}, {"tags": "hello"}, False),
    (
        "$all case-sensitive",
        {"tags": {"$all": ["one", "three"]}},
        {"tags": ["ONE", "two", "THREE"]},
        False,
    ),
    ("$all empty list on array", {"tags": {"$all": []}}, {"tags": []}, True),
    ("$all with operator items", {"n": {"$all": [{"$gt": 5}, {"$lt": 0}]}}, {"n": [-1, 7]}, True),
    ("$alli pass", {"tags": {"$alli": ["A", "B"]}}, {"tags": ["a", "b", "c"]}, True),
    ("$alli fail", {"tags": {"$alli": ["A", "B"]}}, {"tags": ["a", "c"]}, False),
    (
        "$alli uppercase values",
        {"tags": {"$alli": ["one", "three"]}},
        {"tags": ["ONE", "two", "THREE"]},
        True,
    ),
    ("$alli not an array", {"tags": {"$alli": ["one"]}}, {"tags": "one"}, False),
]

ARRAYS: list[Case] = [
    ("$size 0 pass", {"tags": {"$size": 0}}, {"tags": []}, True),
    ("$size 0 fail", {"tags": {"$size": 0}}, {"tags": [10]}, False),
    ("$size 3 pass", {"tags": {"$size": 3}}, {"tags": ["a", "b", "c"]}, True),
    ("$size 3 too small", {"tags": {"$size": 3}}, {"tags": ["a", "b"]}, False),
    ("$size 3 too large", {"tags": {"$size": 3}}, {"tags": ["a", "b", "c", "d"]}, False),
    ("$size of a string", {"tags": {"$size": 3}}, {"tags": "abc"}, False),
    ("$size of missing", {"tags": {"$size": 0}}, {}, False),
    ("$size nested pass", {"tags": {"$size": {"$gt": 2}}}, {"tags": [0, 1, 2]}, True),
    ("$size nested fail equal", {"tags": {"$size": {"$gt": 2}}}, {"tags": [0, 1]}, False),
    (
        "$elemMatch flat pass",
        {"nums": {"$elemMatch": {"$gt": 10}}},
        {"nums": [0, 5, -20, 15]},
        True,
    ),
    (
        "$elemMatch flat fail",
        {"nums": {"$elemMatch": {"$gt": 10}}},
        {"nums": [0, 5, -20, 8]},
        False,
    ),
    (
        "$elemMatch contains",
        {"tags": {"$elemMatch": {"$eq": "bar"}}},
        {"tags": ["foo", "bar", "baz"]},
        True,
    ),
    (
        "$elemMatch does not contain",
        {"tags": {"$elemMatch": {"$eq": "bar"}}},
        {"tags": ["foo", "baz"]},
        False,
    ),
    (
        "$elemMatch intersection",
        {"tags": {"$elemMatch": {"$in": ["a", "b"]}}},
        {"tags": ["d", "e", "b"]},
        True,
    ),
    (
        "$not $elemMatch pass",
        {"tags": {"$not": {"$elemMatch": {"$eq": "bar"}}}},
        {"tags": ["foo", "baz"]},
        True,
    ),
    (
        "$not $elemMatch fail",
        {"tags": {"$not": {"$elemMatch": {"$eq": "bar"}}}},
        {"tags": ["foo", "bar"]},
        False,
    ),
    (
        "$elemMatch on objects pass",
        {"hobbies": {"$elemMatch": {"name": {"$regex": "^ping"}}}},
        {"hobbies": [{"name": "bowling"}, {"name": "pingpong"}]},
        True,
    ),
    (
        "$elemMatch on objects fail",
        {"hobbies": {"$elemMatch": {"name": {"$regex": "^ping"}}}},
        {"hobbies": [{"name": "bowling"}, {"name": "tennis"}]},
        False,
    ),
    (
        "$elemMatch not an array",
        {"hobbies": {"$elemMatch": {"name": {"$regex": "^ping"}}}},
        {"hobbies": "all"},
        False,
    ),
    ("$elemMatch tests falsy 0", {"x": {"$elemMatch": {"$eq": 0}}}, {"x": [0]}, True),
    ("$elemMatch tests false", {"x": {"$elemMatch": {"$eq": False}}}, {"x": [False]}, True),
    ("$elemMatch tests empty string", {"x": {"$elemMatch": {"$eq": ""}}}, {"x": [""]}, True),
    ("$elemMatch condition on scalars", {"x": {"$elemMatch": {"a": None}}}, {"x": [1]}, True),
    ("$elemMatch empty condition", {"x": {"$elemMatch": {}}}, {"x": [1]}, True),
    (
        "$elemMatch with a nested logical condition",
        {"x": {"$elemMatch": {"k": 1, "$or": [{"a": 1}, {"b": 2}]}}},
        {"x": [{"k": 1, "b": 2}]},
        True,
    ),
    (
        "$groups-style group checks",
        {"groups": {"$elemMatch": {"$eq": "a"}}, "$not": {"groups": {"$elemMatch": {"$eq": "f"}}}},
        {"groups": ["a", "b", "c", "d"]},
        True,
    ),
]

TYPES: list[Case] = [
    ("$type string pass", {"a": {"$type": "string"}}, {"a": "a"}, True),
    ("$type string fail", {"a": {"$type": "string"}}, {"a": 1}, False),
    ("$type null pass", {"a": {"$type": "null"}}, {"a": None}, True),
    ("$type null on missing", {"a": {"$type": "null"}}, {}, True),
    ("$type null fail", {"a": {"$type": "null"}}, {"a": 1}, False),
    ("$type boolean pass", {"a": {"$type": "boolean"}}, {"a": False}, True),
    ("$type boolean fail", {"a": {"$type": "boolean"}}, {"a": 1}, False),
    ("$type number pass", {"a": {"$type": "number"}}, {"a": 1}, True),
    ("$type number float", {"a": {"$type": "number"}}, {"a": 1.5}, True),
    ("$type number is not boolean", {"a": {"$type": "number"}}, {"a": True}, False),
    ("$type number fail", {"a": {"$type": "number"}}, {"a": "a"}, False),
    ("$type object pass", {"a": {"$type": "object"}}, {"a": {"a": "b"}}, True),
    ("$type empty object", {"a": {"$type": "object"}}, {"a": {}}, True),
    ("$type object fail", {"a": {"$type": "object"}}, {"a": 1}, False),
    ("$type array pass", {"a": {"$type": "array"}}, {"a": [1, 2]}, True),
    ("$type array fail", {"a": {"$type": "array"}}, {"a": 1}, False),
    ("$type undefined never matches JSON", {"a": {"$type": "undefined"}}, {}, False),
]

REGEX: list[Case] = [
    (
        "$regex pass",
        {"userAgent": {"$regex": "(Mobile|Tablet)"}},
        {"userAgent": "Android Mobile Browser"},
        True,
    ),
    (
        "$regex fail",
        {"userAgent": {"$regex": "(Mobile|Tablet)"}},
        {"userAgent": "Chrome Desktop Browser"},
        False,
    ),
    (
        "$regex case-sensitive",
        {"userAgent": {"$regex": "(mobile|tablet)"}},
        {"userAgent": "Android Mobile Browser"},
        False,
    ),
    (
        "$regexi pass",
        {"userAgent": {"$regexi": "(mobile|tablet)"}},
        {"userAgent": "Android Mobile Browser"},
        True,
    ),
    (
        "$regexi uppercase pattern",
        {"userAgent": {"$regexi": "(MOBILE|TABLET)"}},
        {"userAgent": "android mobile"},
        True,
    ),
    (
        "$regexi fail",
        {"userAgent": {"$regexi": "(mobile|tablet)"}},
        {"userAgent": "Chrome Desktop Browser"},
        False,
    ),
    (
        "$notRegex pass",
        {"ua": {"$notRegex": "(Mobile|Tablet)"}},
        {"ua": "Chrome Desktop Browser"},
        True,
    ),
    (
        "$notRegex fail",
        {"ua": {"$notRegex": "(Mobile|Tablet)"}},
        {"ua": "Android Mobile Browser"},
        False,
    ),
    (
        "$notRegexi fail",
        {"ua": {"$notRegexi": "(mobile|tablet)"}},
        {"ua": "Android Mobile Browser"},
        False,
    ),
    ("$notRegex on missing", {"name": {"$notRegex": "abc"}}, {}, True),
    ("$notRegexi on missing", {"name": {"$notRegexi": "ABC"}}, {}, True),
    ("$regex on missing", {"name": {"$regex": "null"}}, {}, False),
    ("$regex on a number", {"id": {"$regex": "^12"}}, {"id": 123}, True),
    ("$regex on an object", {"o": {"$regex": "object"}}, {"o": {"a": 1}}, False),
    (
        "$regex searches, unanchored",
        {"email": {"$regex": "@acme\\.com"}},
        {"email": "a@acme.com.evil"},
        True,
    ),
    (
        "$regex $ anchors at the end",
        {"email": {"$regex": "@acme\\.com$"}},
        {"email": "a@acme.com\n"},
        False,
    ),
    ("$regex on unicode", {"name": {"$regex": "^Jürgen$"}}, {"name": "Jürgen"}, True),
    ("$regex with a lone surrogate", {"name": {"$regex": "^x"}}, {"name": "x\ud800"}, True),
    ("$not $regex pass", {"name": {"$not": {"$regex": "^hello"}}}, {"name": "world"}, True),
    ("$not $regex fail", {"name": {"$not": {"$regex": "^hello"}}}, {"name": "hello world"}, False),
    ("$not literal", {"plan": {"$not": "free"}}, {"plan": "pro"}, True),
]

VERSIONS: list[Case] = [
    (
        "$vgt/$vlt major",
        {"version": {"$vgt": "9.99.8", "$vlt": "11.0.1"}},
        {"version": "10.12.13"},
        True,
    ),
    (
        "$vgt/$vlt minor",
        {"version": {"$vgt": "10.2.11", "$vlt": "10.20.11"}},
        {"version": "10.12.11"},
        True,
    ),
    (
        "$vgt/$vlt patch",
        {"version": {"$vgt": "10.0.2", "$vlt": "10.0.20"}},
        {"version": "10.0.12"},
        True,
    ),
    (
        "$vlt fails on major",
        {"version": {"$vgt": "30.0.0", "$vlt": "50.0.0"}},
        {"version": "60.0.0"},
        False,
    ),
    (
        "$vgt fails on patch",
        {"version": {"$vgt": "10.30.10", "$vlt": "10.30.20"}},
        {"version": "10.30.2"},
        False,
    ),
    (
        "$vgte at the bound",
        {"version": {"$vgte": "30.1.2", "$vlte": "60.1.2"}},
        {"version": "30.1.2"},
        True,
    ),
    (
        "$vlte at the bound",
        {"version": {"$vgte": "1.2.30", "$vlte": "1.2.60"}},
        {"version": "1.2.60"},
        True,
    ),
    (
        "$vlte above the bound",
        {"version": {"$vgte": "30.1.2", "$vlte": "60.1.2"}},
        {"version": "61.1.2"},
        False,
    ),
    (
        "$vgte below the bound",
        {"version": {"$vgte": "1.2.30", "$vlte": "1.2.60"}},
        {"version": "1.2.29"},
        False,
    ),
    (
        "prerelease not above itself",
        {"v": {"$vgt": "1.0.0-alpha", "$vlt": "1.0.0-beta"}},
        {"v": "1.0.0-alpha"},
        False,
    ),
    (
        "prerelease fields",
        {"v": {"$vgt": "1.0.0-alpha.2", "$vlt": "1.0.0-beta.1"}},
        {"v": "1.0.0-alpha.1"},
        False,
    ),
    (
        "prerelease between",
        {"v": {"$vgt": "1.0.0-alpha", "$vlt": "1.0.0-beta"}},
        {"v": "1.0.0-alpha.10"},
        True,
    ),
    (
        "prerelease uppercase sorts first",
        {"v": {"$vgt": "1.0.0-alpha", "$vlt": "1.0.0-beta"}},
        {"v": "1.0.0-ALPHA"},
        False,
    ),
    ("release above its prerelease", {"v": {"$vgte": "2.0.0-rc.1"}}, {"v": "2.0.0"}, True),
    ("prerelease below its release", {"v": {"$vgte": "2.0.0"}}, {"v": "2.0.0-rc.1"}, False),
    ("$veq", {"v": {"$veq": "1.2.3"}}, {"v": "1.2.3"}, True),
    ("$veq ignores build metadata", {"v": {"$veq": "1.2.3"}}, {"v": "1.2.3+build.abc.123"}, True),
    ("$veq ignores leading v", {"v": {"$veq": "v1.2.3"}}, {"v": "1.2.3"}, True),
    ("$veq dashes as dots", {"v": {"$veq": "1.2.3"}}, {"v": "1-2-3"}, True),
    ("$veq fourth part as prerelease", {"v": {"$veq": "1.2.3-4"}}, {"v": "1.2.3.4"}, True),
    ("$vne", {"v": {"$vne": "1.2.3"}}, {"v": "2.2.3"}, True),
    ("$vne prerelease", {"v": {"$vne": "1.2.3"}}, {"v": "1.2.3-alpha"}, True),
    ("numeric attribute", {"v": {"$vgte": "2.0.0"}}, {"v": 2.5}, True),
    ("missing reads as 0", {"v": {"$vlt": "0.0.1"}}, {}, True),
    ("missing is not above anything", {"v": {"$vgte": "0.0.1"}}, {}, False),
    ("10000 above 9999", {"v": {"$vgt": "9999.0.0"}}, {"v": "10000.0.0"}, True),
]


@pytest.mark.parametrize(("condition", "attributes", "expected"), _params(LOGICAL))
def test_logical_operators(
    condition: dict[str, Any], attributes: dict[str, Any], expected: bool
) -> None:
    _check(condition, attributes, expected)


@pytest.mark.parametrize(("condition", "attributes", "expected"), _params(EXISTS_AND_NULL))
def test_missing_null_and_paths(
    condition: dict[str, Any], attributes: dict[str, Any], expected: bool
) -> None:
    _check(condition, attributes, expected)


@pytest.mark.parametrize(("condition", "attributes", "expected"), _params(EQUALITY))
def test_equality(condition: dict[str, Any], attributes: dict[str, Any], expected: bool) -> None:
    _check(condition, attributes, expected)


@pytest.mark.parametrize(("condition", "attributes", "expected"), _params(COMPARISON))
def test_comparison(condition: dict[str, Any], attributes: dict[str, Any], expected: bool) -> None:
    _check(condition, attributes, expected)


@pytest.mark.parametrize(("condition", "attributes", "expected"), _params(MEMBERSHIP))
def test_membership(condition: dict[str, Any], attributes: dict[str, Any], expected: bool) -> None:
    _check(condition, attributes, expected)


@pytest.mark.parametrize(("condition", "attributes", "expected"), _params(ARRAYS))
def test_array_operators(
    condition: dict[str, Any], attributes: dict[str, Any], expected: bool
) -> None:
    _check(condition, attributes, expected)


@pytest.mark.parametrize(("condition", "attributes", "expected"), _params(TYPES))
def test_type(condition: dict[str, Any], attributes: dict[str, Any], expected: bool) -> None:
    _check(condition, attributes, expected)


@pytest.mark.parametrize(("condition", "attributes", "expected"), _params(REGEX))
def test_regex(condition: dict[str, Any], attributes: dict[str, Any], expected: bool) -> None:
    _check(condition, attributes, expected)


@pytest.mark.parametrize(("condition", "attributes", "expected"), _params(VERSIONS))
def test_versions(condition: dict[str, Any], attributes: dict[str, Any], expected: bool) -> None:
    _check(condition, attributes, expected)


class TestVersionOrder:
    """GrowthBook's ``versionCompare`` cases: padded strings order like semver."""

    @pytest.mark.parametrize(
        ("lower", "higher"),
        [
            ("0.9.99", "1.0.0"),
            ("0.9.0", "0.10.0"),
            ("1.0.0-0.0", "1.0.0-0.0.0"),
            ("1.0.0-9999", "1.0.0--"),
            ("1.0.0-99", "1.0.0-100"),
            ("1.0.0-alpha", "1.0.0-alpha.1"),
            ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
            ("1.0.0-alpha.beta", "1.0.0-beta"),
            ("1.0.0-beta", "1.0.0-beta.2"),
            ("1.0.0-beta.2", "1.0.0-beta.11"),
            ("1.0.0-beta.11", "1.0.0-rc.1"),
            ("1.0.0-rc.1", "1.0.0"),
            ("1.0.0-0", "1.0.0--1"),
            ("1.0.0-1.0", "1.0.0-1.-1"),
            ("1.2.3-a.b.c", "1.2.3-a.b.c.d"),
            ("0.0.0-foo", "0.0.0"),
            ("v0.0.0-foo", "0.0.0"),
            ("1.2.3-4", "1.2.3"),
            ("1.2.3-5", "1.2.3-5-foo"),
            ("1.2.3-5-Foo", "1.2.3-5-foo"),
            ("2.7.2+asdf", "3.0.0"),
            ("1.2.3-a.5", "1.2.3-a.10"),
            ("1.2.3-a.5", "1.2.3-a.b"),
            ("1.2.3-a.b.c.5.d.100", "1.2.3-a.b.c.10.d.5"),
            ("1.2.3-r100", "1.2.3-r2"),
            ("1.2.3-R2", "1.2.3-r100"),
            ("1.2.3", "a.b.c.d.e.f"),
            ("9.0.0", "10.0.0"),
        ],
    )
    def test_lower_sorts_before_higher(self, lower: str, higher: str) -> None:
        assert padded_version(lower) < padded_version(higher)
        _check({"v": {"$vlt": higher}}, {"v": lower}, True)
        _check({"v": {"$vgt": lower}}, {"v": higher}, True)

    @pytest.mark.parametrize(
        ("left", "right"),
        [
            ("1.2.3", "v1.2.3"),
            ("1.2.3-0", "v1.2.3-0"),
            ("1.2.3-beta+build", "1.2.3-beta+otherbuild"),
            ("1-2-3", "1-2.3+build99"),
            ("1.2.3.4", "1.2.3-4"),
        ],
    )
    def test_equal_versions(self, left: str, right: str) -> None:
        assert padded_version(left) == padded_version(right)

    def test_padding_shape(self) -> None:
        assert padded_version("v1.2.3-rc.1+build") == "    1-    2-    3-rc-    1"
        assert padded_version("1.2.3") == "    1-    2-    3-~"
        assert padded_version(None) == "    0"
        assert padded_version("") == "    0"
        assert padded_version(True) == "    0"


class TestDeliberateDifferences:
    """Where we part from GrowthBook's JS on purpose (see the module docstring)."""

    def test_null_never_equals_the_string_null(self) -> None:
        _check({"x": "null"}, {}, False)

    def test_missing_never_equals_zero(self) -> None:
        _check({"x": 0}, {}, False)

    def test_object_never_equals_a_string(self) -> None:
        _check({"x": "[object Object]"}, {"x": {"a": 1}}, False)

    def test_eq_on_arrays_compares_structure(self) -> None:
        _check({"x": {"$eq": ["a"]}}, {"x": ["a"]}, True)

    def test_top_level_dollar_attribute_is_rejected(self) -> None:
        with pytest.raises(ConditionError) as caught:
            compile_condition({"$groups": {"$elemMatch": {"$eq": "a"}}})
        assert caught.value.path == "$groups"

    def test_invalid_regex_is_rejected_not_false(self) -> None:
        with pytest.raises(ConditionError) as caught:
            compile_condition({"name": {"$regex": "/???***[)"}})
        assert caught.value.path == "name.$regex"

    def test_unknown_operator_is_rejected_not_false(self) -> None:
        with pytest.raises(ConditionError, match=r"did you mean \$regex\?"):
            compile_condition({"name": {"$regx": "hello"}})


class TestValidation:
    @pytest.mark.parametrize(
        ("condition", "path"),
        [
            ({"$and": [{"a": 1}, {"plan": {"$foo": 1}}]}, "$and[1].plan.$foo"),
            ({"$foo": 1}, "$foo"),
            ({"plan": {"$in": "pro"}}, "plan.$in"),
            ({"plan": {"$nini": {"a": 1}}}, "plan.$nini"),
            ({"a": {"$in": [["nested"]]}}, "a.$in[0]"),
            ({"a": {"$in": [{"a": 1}]}}, "a.$in[0]"),
            ({"$and": {"a": 1}}, "$and"),
            ({"$or": [{"a": 1}, 1]}, "$or[1]"),
            ({"$nor": "a"}, "$nor"),
            ({"$not": [{"a": 1}]}, "$not"),
            ({"email": {"$regex": "(?=lookahead)"}}, "email.$regex"),
            ({"email": {"$regexi": "(a)\\1"}}, "email.$regexi"),
            ({"email": {"$notRegex": 5}}, "email.$notRegex"),
            ({"tags": {"$size": "3"}}, "tags.$size"),
            ({"tags": {"$size": {"a": 1}}}, "tags.$size"),
            ({"tags": {"$elemMatch": [1]}}, "tags.$elemMatch"),
            ({"tags": {"$elemMatch": {"$bogus": 1}}}, "tags.$elemMatch.$bogus"),
            ({"tags": {"$elemMatch": {"name": {"$regex": "("}}}}, "tags.$elemMatch.name.$regex"),
            ({"a": {"$exists": 1}}, "a.$exists"),
            ({"a": {"$type": "str"}}, "a.$type"),
            ({"a": {"$type": 1}}, "a.$type"),
            ({"v": {"$vgt": 1}}, "v.$vgt"),
            ({"a": {"$gt": [1]}}, "a.$gt"),
            ({"a": {"$gt": True}}, "a.$gt"),
            ({"a": {"$lte": None}}, "a.$lte"),
            ({"a": {"$all": "x"}}, "a.$all"),
            ({"a": {"$all": [{"$bad": 1}]}}, "a.$all[0].$bad"),
            ({"a": {"$not": {"$elemMatch": {"b": {"$regex": "("}}}}}, "a.$not.$elemMatch.b.$regex"),
            ({"a": {"$gt": 1, "b": 2}}, "a"),
            ({"a..b": 1}, "a..b"),
            ({".a": 1}, ".a"),
            ({"id": {"$inGroup": "g"}}, "id.$inGroup"),
            ({"a": {"$eq": float("nan")}}, "a.$eq"),
            ({"a": {"$eq": {1: 2}}}, "a.$eq"),
            ({"a": {"$eq": {"b": object()}}}, "a.$eq.b"),
            ({"father.age": {"$gtt": 65}}, "father.age.$gtt"),
            ({"x": {"$elemMatch": {"$or": [{"a": 1}]}}}, "x.$elemMatch.$or"),
            ({"x": {"$and": [{"a": 1}]}}, "x.$and"),
        ],
    )
    def test_error_points_at_the_offending_node(self, condition: object, path: str) -> None:
        with pytest.raises(ConditionError) as caught:
            compile_condition(condition)
        assert caught.value.path == path
        assert str(caught.value).startswith(f"{path}: ")

    @pytest.mark.parametrize("condition", [[], None, "plan", 1, [{"a": 1}]])
    def test_condition_must_be_an_object(self, condition: object) -> None:
        with pytest.raises(ConditionError, match="must be a JSON object") as caught:
            compile_condition(condition)
        assert caught.value.path == ""

    def test_error_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match=r"^plan\.\$in: \$in needs a list$"):
            compile_condition({"plan": {"$in": "pro"}})

    def test_value_operator_at_condition_level(self) -> None:
        with pytest.raises(ConditionError, match="tests an attribute") as caught:
            compile_condition({"$or": [{"$gt": 5}]})
        assert caught.value.path == "$or[0].$gt"

    def test_unknown_operator_names_itself(self) -> None:
        with pytest.raises(ConditionError) as caught:
            compile_condition({"plan": {"$foo": 1}})
        assert caught.value.message == "unknown operator $foo"


def _nested_not(levels: int) -> dict[str, Any]:
    condition: dict[str, Any] = {"a": 1}
    for _ in range(levels):
        condition = {"$not": condition}
    return condition


class TestComplexityLimits:
    def test_nesting_up_to_the_limit_compiles(self) -> None:
        compile_condition(_nested_not(MAX_DEPTH - 1))

    def test_nesting_past_the_limit_is_rejected(self) -> None:
        with pytest.raises(ConditionError, match="nests too deeply"):
            compile_condition(_nested_not(MAX_DEPTH))

    def test_deep_literal_is_rejected(self) -> None:
        literal: list[Any] = []
        for _ in range(MAX_DEPTH):
            literal = [literal]
        with pytest.raises(ConditionError, match="nests too deeply"):
            compile_condition({"a": literal})

    def test_node_budget(self) -> None:
        compile_condition({"$and": [{"a": i} for i in range(MAX_NODES - 1)]})
        with pytest.raises(ConditionError, match="too large") as caught:
            compile_condition({"$and": [{"a": i} for i in range(MAX_NODES)]})
        assert caught.value.path == f"$and[{MAX_NODES - 1}].a"

    def test_list_length(self) -> None:
        compile_condition({"id": {"$in": list(range(MAX_LIST_ITEMS))}})
        with pytest.raises(ConditionError, match="use a segment"):
            compile_condition({"id": {"$in": list(range(MAX_LIST_ITEMS + 1))}})

    def test_regex_length(self) -> None:
        with pytest.raises(ConditionError, match="longer than"):
            compile_condition({"a": {"$regex": "a" * (MAX_REGEX_LENGTH + 1)}})

    def test_regex_program_size(self) -> None:
        with pytest.raises(ConditionError, match="invalid regular expression"):
            compile_condition({"a": {"$regex": "((((a{100}){100}){100}){100})"}})


class TestLinearTimeRegex:
    @pytest.mark.parametrize("pattern", ["(a+)+$", "^(a|aa)+$", "(a*)*b", "(.*a){20}"])
    def test_catastrophic_patterns_finish_fast(self, pattern: str) -> None:
        compiled = compile_condition({"s": {"$regex": pattern}})
        started = time.perf_counter()
        compiled.evaluate({"s": "a" * 100_000 + "!"})
        assert time.perf_counter() - started < 0.5


class TestExplain:
    def test_reads_like_the_reasons(self) -> None:
        compiled = compile_condition(
            {"plan": {"$in": ["pro", "team"]}, "$or": [{"country": "DE"}, {"beta": True}]}
        )
        assert compiled.explain({"plan": "pro", "country": "FR"}) == (
            False,
            [
                'plan: "pro" $in ["pro","team"] → pass',
                "$or (any of 2) → fail",
                '  country: "FR" equals "DE" → fail',
                "  beta: missing equals true → fail",
            ],
        )

    def test_every_operator_gets_a_line(self) -> None:
        compiled = compile_condition(
            {"age": {"$gte": 18, "$lt": 65}, "email": {"$regexi": "@ACME\\.com$"}}
        )
        verdict, lines = compiled.explain({"age": 70, "email": "jo@acme.com"})
        assert verdict is False
        assert lines == [
            "age: 70 $gte 18 → pass",
            "age: 70 $lt 65 → fail",
            'email: "jo@acme.com" $regexi "@ACME\\\\.com$" → pass',
        ]

    def test_nesting_indents(self) -> None:
        compiled = compile_condition({"$not": {"$nor": [{"a": 1}], "$and": []}})
        verdict, lines = compiled.explain({"a": 1})
        assert verdict is True
        assert lines == [
            "$not → pass",
            "  $nor (none of 1) → fail",
            "    a: 1 equals 1 → pass",
            "  $and (empty) → pass",
        ]

    def test_empty_condition(self) -> None:
        assert compile_condition({}).explain({}) == (True, ["(no condition) → pass"])

    def test_long_values_are_shortened(self) -> None:
        _, lines = compile_condition({"bio": "x"}).explain({"bio": "y" * 500})
        assert len(lines[0]) < 140
        assert "…" in lines[0]

    def test_explains_non_json_values(self) -> None:
        verdict, lines = compile_condition({"when": {"$exists": True}}).explain({"when": {1, 2}})
        assert verdict is True
        assert lines[0].startswith("when: ")


class TestEvaluateCondition:
    def test_compiles_and_evaluates(self) -> None:
        assert evaluate_condition({"plan": "pro"}, {"plan": "pro"}) is True

    def test_rejects_invalid(self) -> None:
        with pytest.raises(ConditionError):
            evaluate_condition({"plan": {"$nope": 1}}, {})

    def test_compiled_is_reusable_and_keeps_its_source(self) -> None:
        source = {"plan": "pro"}
        compiled = compile_condition(source)
        assert isinstance(compiled, CompiledCondition)
        assert compiled.source is source
        assert [compiled.evaluate({"plan": p}) for p in ("pro", "free", "pro")] == [
            True,
            False,
            True,
        ]
        assert "plan" in repr(compiled)

    def test_any_mapping_works(self) -> None:
        from types import MappingProxyType

        assert compile_condition({"a.b": 1}).evaluate(MappingProxyType({"a": {"b": 1}}))

    def test_hostile_nesting_in_attributes(self) -> None:
        deep: list[Any] = []
        for _ in range(5000):
            deep = [deep]
        compiled = compile_condition(
            {"$or": [{"x": "a"}, {"x": {"$regex": "a"}}, {"x": {"$gt": 1}}]}
        )
        assert compiled.evaluate({"x": deep}) is False
        assert compiled.explain({"x": deep})[0] is False


# --- Properties -----------------------------------------------------------------------

_property = settings(max_examples=300, deadline=None, database=None)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-1000, 1000)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["1.2.3", "v2.0.0-rc.1", "pro", "PRO", "0x10", " 8 ", ""])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "name", "x"]), children, max_size=3)
    ),
    max_leaves=12,
)
paths = st.sampled_from(["a", "b", "a.b", "tags", "tags.0", "x.name", "v"])
versions = st.sampled_from(["1.0.0", "2.0.0-beta.1", "v1.2", "10.0.0"])
patterns = st.sampled_from(["^a", "b$", "(a+)+$", "[0-9]+", "ä|ß", ""])

operator_objects = st.one_of(
    st.builds(lambda value: {"$eq": value}, json_values),
    st.builds(lambda value: {"$ne": value}, json_values),
    st.builds(
        lambda name, value: {name: value},
        st.sampled_from(["$lt", "$lte", "$gt", "$gte"]),
        st.integers(-5, 5) | st.sampled_from(["a", "5", "1.0"]),
    ),
    st.builds(
        lambda name, items: {name: items},
        st.sampled_from(["$in", "$nin", "$ini", "$nini"]),
        st.lists(json_scalars, max_size=4),
    ),
    st.builds(
        lambda name, items: {name: items},
        st.sampled_from(["$all", "$alli"]),
        st.lists(json_scalars, max_size=3),
    ),
    st.builds(
        lambda name, version: {name: version},
        st.sampled_from(["$veq", "$vne", "$vlt", "$vlte", "$vgt", "$vgte"]),
        versions,
    ),
    st.builds(
        lambda name, pattern: {name: pattern},
        st.sampled_from(["$regex", "$regexi", "$notRegex", "$notRegexi"]),
        patterns,
    ),
    st.builds(lambda flag: {"$exists": flag}, st.booleans()),
    st.builds(
        lambda name: {"$type": name},
        st.sampled_from(["string", "number", "boolean", "array", "object", "null", "undefined"]),
    ),
    st.builds(lambda size: {"$size": size}, st.integers(0, 3)),
    st.builds(lambda size: {"$size": {"$gt": size}}, st.integers(0, 3)),
    st.builds(lambda value: {"$elemMatch": {"$eq": value}}, json_scalars),
    st.builds(lambda value: {"$not": value}, json_scalars),
)
field_conditions = st.dictionaries(paths, json_scalars | operator_objects, min_size=1, max_size=3)
conditions = st.recursive(
    field_conditions,
    lambda children: st.one_of(
        st.builds(lambda items: {"$and": items}, st.lists(children, max_size=3)),
        st.builds(lambda items: {"$or": items}, st.lists(children, max_size=3)),
        st.builds(lambda items: {"$nor": items}, st.lists(children, max_size=3)),
        st.builds(lambda inner: {"$not": inner}, children),
        # A plain key keeps the $elemMatch operand a condition, not an operator object.
        st.builds(lambda inner: {"tags": {"$elemMatch": {"k": None, **inner}}}, children),
    ),
    max_leaves=6,
)
attribute_sets = st.dictionaries(
    st.sampled_from(["a", "b", "tags", "x", "v", "name"]), json_values, max_size=5
)


def _compile(condition: dict[str, Any]) -> CompiledCondition:
    try:
        return compile_condition(condition)
    except ConditionError as error:
        # Only the size limits may refuse a generated condition; anything else is a bug.
        assert "too" in error.message, error
        assume(False)
        raise


@_property
@given(condition=conditions, attributes=attribute_sets)
def test_not_inverts(condition: dict[str, Any], attributes: dict[str, Any]) -> None:
    inner = _compile(condition)
    negated = _compile({"$not": condition})
    assert negated.evaluate(attributes) is (not inner.evaluate(attributes))


@_property
@given(items=st.lists(conditions, max_size=3), attributes=attribute_sets)
def test_nor_is_not_or(items: list[dict[str, Any]], attributes: dict[str, Any]) -> None:
    nor = _compile({"$nor": items})
    not_or = _compile({"$not": {"$or": items}})
    assert nor.evaluate(attributes) is not_or.evaluate(attributes)


@_property
@given(condition=conditions, attributes=attribute_sets)
def test_never_raises_and_explain_agrees(
    condition: dict[str, Any], attributes: dict[str, Any]
) -> None:
    compiled = _compile(condition)
    verdict = compiled.evaluate(attributes)
    assert isinstance(verdict, bool)
    explained, lines = compiled.explain(attributes)
    assert explained is verdict
    assert lines and all(isinstance(line, str) for line in lines)


odd_values = st.recursive(
    json_values
    | st.tuples(st.integers(), st.text(max_size=3))
    | st.just(float("nan"))
    | st.just(float("inf"))
    | st.integers(min_value=2**60, max_value=2**1100)
    | st.builds(object)
    | st.just(b"bytes")
    | st.just({1, 2}),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "name"]), children, max_size=3)
    ),
    max_leaves=8,
)


@_property
@given(
    condition=conditions,
    attributes=st.dictionaries(
        st.sampled_from(["a", "b", "tags", "x", "v"]), odd_values, max_size=5
    ),
)
def test_never_raises_on_odd_python_values(
    condition: dict[str, Any], attributes: dict[str, Any]
) -> None:
    compiled = _compile(condition)
    assert compiled.explain(attributes)[0] is compiled.evaluate(attributes)


@_property
@given(value=json_values)
def test_literal_equality_is_reflexive_for_json(value: object) -> None:
    assert compile_condition({"a": {"$eq": value}}).evaluate({"a": value})
    assert not compile_condition({"a": {"$ne": value}}).evaluate({"a": value})


@_property
@given(number=st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**70), 2**70))
def test_numbers_equal_their_own_string_form(number: float) -> None:
    # A literal string matches the attribute's JS string form, and that form parses back.
    compiled_number = compile_condition({"n": number})
    assert compiled_number.evaluate({"n": number})
    if isinstance(number, float) or abs(number) < 2**53:
        from app.targeting.conditions import _js_number_to_string

        text = _js_number_to_string(number)
        assert compile_condition({"n": text}).evaluate({"n": number})
        assert compiled_number.evaluate({"n": text})
