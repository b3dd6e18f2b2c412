"""Targeting: who sees an announcement (pure conditions and rollouts; I/O lives elsewhere)."""

from app.targeting.conditions import (
    CompiledCondition,
    ConditionError,
    compile_condition,
    evaluate_condition,
)
from app.targeting.rollout import hash_v2, in_rollout

__all__ = [
    "CompiledCondition",
    "ConditionError",
    "compile_condition",
    "evaluate_condition",
    "hash_v2",
    "in_rollout",
]
