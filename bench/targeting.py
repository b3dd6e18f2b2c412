"""Microbenchmark: evaluate 50 compiled audiences for one user, as the feed endpoint does.

Run with ``python bench/targeting.py [--runs N]``. Prints the median (and p95) time to
evaluate all 50 audiences for one user, plus compile and rollout costs for context.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.targeting.conditions import CompiledCondition, compile_condition
from app.targeting.rollout import in_rollout

PLANS = [["pro"], ["pro", "team"], ["team", "enterprise"], ["free"], ["pro", "enterprise"]]
COUNTRIES = [["DE", "AT", "CH"], ["US", "CA"], ["FR", "BE"], ["GB", "IE"], ["NL"]]
VERSIONS = ["2.3.0", "2.10.0", "3.0.0-beta.1", "1.9.4", "2.9.0"]
EMAIL_PATTERNS = [r"@acme\.com$", r"@(acme|globex)\.(com|io)$", r"\.edu$", r"^qa\+", r"@example"]


def realistic_audiences() -> list[dict[str, Any]]:
    """Fifty audiences of the shapes product teams write, cycling through five themes."""
    audiences: list[dict[str, Any]] = []
    for i in range(50):
        plan, countries = PLANS[i % 5], COUNTRIES[(i // 5) % 5]
        version, email = VERSIONS[(i // 2) % 5], EMAIL_PATTERNS[(i // 3) % 5]
        shape = i % 5
        if shape == 0:
            audiences.append({"plan": {"$in": plan}, "country": {"$in": countries}})
        elif shape == 1:
            audiences.append(
                {"app_version": {"$vgte": version}, "email": {"$regexi": email}, "anonymous": False}
            )
        elif shape == 2:
            audiences.append(
                {
                    "$or": [
                        {"plan": {"$in": plan}, "seats": {"$gte": 5 + i}},
                        {"company.industry": {"$in": ["fintech", "health"]}},
                        {"$and": [{"beta": True}, {"locale": {"$regex": "^(de|fr)"}}]},
                    ],
                    "country": {"$nin": countries},
                }
            )
        elif shape == 3:
            audiences.append(
                {
                    "roles": {"$elemMatch": {"$in": ["admin", "owner"]}},
                    "signup_days": {"$gt": i, "$lte": 365},
                    "device": {"$ne": "ios"},
                }
            )
        else:
            audiences.append(
                {
                    "$nor": [{"plan": "free"}, {"churn_risk": {"$exists": True}}],
                    "company.size": {"$gte": 10},
                    "app_version": {"$vlt": "4.0.0", "$vgte": version},
                    "email": {"$notRegex": email},
                }
            )
    return audiences


USER: dict[str, Any] = {
    "id": "user_8472",
    "anonymous": False,
    "locale": "de-DE",
    "device": "desktop",
    "plan": "pro",
    "country": "DE",
    "email": "jane.doe@acme.com",
    "app_version": "2.10.3",
    "seats": 12,
    "beta": True,
    "roles": ["member", "admin"],
    "signup_days": 120,
    "company": {"industry": "fintech", "size": 240, "name": "Acme"},
}


def evaluate_all(compiled: list[CompiledCondition], user: dict[str, Any]) -> int:
    return sum(condition.evaluate(user) for condition in compiled)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20_000)
    args = parser.parse_args()

    audiences = realistic_audiences()
    started = time.perf_counter_ns()
    compiled = [compile_condition(audience) for audience in audiences]
    compile_us = (time.perf_counter_ns() - started) / 1000 / len(audiences)

    matched = evaluate_all(compiled, USER)
    for _ in range(1000):  # warm up the interpreter's specialised bytecode
        evaluate_all(compiled, USER)

    samples: list[float] = []
    for _ in range(args.runs):
        started = time.perf_counter_ns()
        evaluate_all(compiled, USER)
        samples.append((time.perf_counter_ns() - started) / 1000)
    samples.sort()
    median = statistics.median(samples)
    p95 = samples[int(len(samples) * 0.95)]

    rollout_runs = 100_000
    started = time.perf_counter_ns()
    for i in range(rollout_runs):
        in_rollout("ann_01JD3Z8R6Q7WB4T9X2M5N8K1PC", f"user_{i}", 30)
    rollout_us = (time.perf_counter_ns() - started) / 1000 / rollout_runs

    print(f"python {sys.version.split()[0]}, {args.runs} runs, {matched}/50 audiences match")
    print(f"evaluate 50 audiences for one user: median {median:.1f} µs, p95 {p95:.1f} µs")
    print(f"per audience: {median / 50:.2f} µs; compile: {compile_us:.1f} µs per audience")
    print(f"in_rollout: {rollout_us:.2f} µs per call")


if __name__ == "__main__":
    main()
