"""The audience builder's rows and the condition JSON: each to the other, exactly."""

from typing import Any

import pytest

from app.console.audience_rows import Row, condition_of, rows_of

ROUND_TRIPS: list[dict[str, Any]] = [
    {"plan": {"$eq": "pro"}},
    {"plan": {"$in": ["pro", "team"]}, "seats": {"$gte": 5}},
    {"beta": {"$eq": True}, "country": {"$ne": "FR"}},
    {"email": {"$regex": "@acme\\.com$"}},
    {"company": {"$exists": True}, "churned": {"$exists": False}},
    {"$and": [{"age": {"$gt": 18}}, {"age": {"$lt": 65}}]},
    {"code": {"$eq": "42"}},  # a string that looks like a number stays a string
    {"score": {"$lte": 2.5}},
]


class TestRows:
    @pytest.mark.parametrize("condition", ROUND_TRIPS)
    def test_round_trip(self, condition: dict[str, Any]) -> None:
        rows = rows_of(condition)
        assert rows is not None
        assert condition_of(rows) == condition

    def test_a_bare_value_is_equality(self) -> None:
        assert rows_of({"plan": "pro"}) == [Row("plan", "eq", "pro")]

    @pytest.mark.parametrize(
        "condition",
        [
            {"$or": [{"plan": "pro"}, {"plan": "team"}]},
            {"plan": {"$in": ["a,b"]}},
            {"plan": {"$eq": "pro", "$ne": "x"}},
            {"tags": {"$elemMatch": {"$eq": "x"}}},
            {"meta": {"nested": 1}},
        ],
    )
    def test_what_rows_cannot_say_stays_json(self, condition: dict[str, Any]) -> None:
        assert rows_of(condition) is None

    def test_values_are_typed_as_written(self) -> None:
        rows = [
            Row("seats", "gt", "10"),
            Row("beta", "eq", "true"),
            Row("code", "eq", '"007"'),
            Row("plan", "in", "pro, team"),
            Row("", "eq", "ignored"),
        ]
        assert condition_of(rows) == {
            "seats": {"$gt": 10},
            "beta": {"$eq": True},
            "code": {"$eq": "007"},
            "plan": {"$in": ["pro", "team"]},
        }

    def test_no_rows_is_everyone(self) -> None:
        assert condition_of([]) is None and rows_of(None) == [] and rows_of({}) == []
