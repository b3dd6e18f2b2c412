"""Failed sign-ins, rate limited per account and per client address (app/ratelimit buckets).

Only failures take tokens: a member who types the right password is never slowed down,
and someone guessing runs dry after the burst, whichever accounts or addresses they try.
Unknown emails are counted like known ones, so the limit reveals nothing either.
"""

import hashlib
import math

from app.config import Settings
from app.errors import TooManyRequests
from app.ratelimit.buckets import Charge, Limit, RateLimiter


class LoginThrottle:
    def __init__(self, settings: Settings, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self.per_account = _limit(
            settings.rate_limit_login_account_per_hour, settings.rate_limit_login_account_burst
        )
        self.per_address = _limit(
            settings.rate_limit_login_ip_per_hour, settings.rate_limit_login_ip_burst
        )

    def _charges(self, email: str, client: str, cost: int) -> list[Charge]:
        charges = []
        if self.per_account is not None:
            # Hashed: bucket names may sit in Redis, and emails are personal data.
            digest = hashlib.sha256(email.encode()).hexdigest()[:32]
            charges.append(Charge("lf:acct:" + digest, self.per_account, cost, "login_account"))
        if self.per_address is not None:
            charges.append(Charge("lf:addr:" + client, self.per_address, cost, "login_address"))
        return charges

    async def check(self, email: str, client: str) -> None:
        """Refuse (429) when this account or this address has failed too often lately."""
        charges = self._charges(email, client, 0)
        if not charges:
            return
        refusal = await self.limiter.acquire(charges)
        if refusal is not None:
            retry_after_s = max(1, math.ceil(refusal.retry_after_s))
            minutes = max(1, math.ceil(retry_after_s / 60))
            raise TooManyRequests(
                f"Too many failed sign-ins; wait {minutes} minute{'s' * (minutes > 1)} "
                "and try again.",
                retry_after_s=retry_after_s,
            )

    async def note_failure(self, email: str, client: str) -> None:
        for charge in self._charges(email, client, 1):
            await self.limiter.penalize(charge)


def _limit(per_hour: float, burst: int) -> Limit | None:
    return Limit(per_hour / 3600, burst) if per_hour > 0 else None
