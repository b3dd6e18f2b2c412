"""A request's deadline, as the work it started sees it.

The request deadline (app/middleware.py) answers 503 when a request has not begun its
answer in time. Work that writes must agree with that answer: the event writer drops a
batch it cannot write in time, and it commits a group only after it has ``hold``-ed the
deadline of every request in it, in the same turn of the event loop in which it checked
that none has passed. From then on, the request's answer is the commit's result, however
long the commit takes: "202" means written and "503" means not written, never a 503 for a
batch that a late commit wrote anyway.
"""

import math


class Deadline:
    __slots__ = ("at", "held")

    def __init__(self, at: float = math.inf) -> None:
        self.at = at  # time.monotonic(); moved on while the request's body arrives
        self.held = False  # its work is committing: the deadline will not answer for it

    def has_passed(self, now: float) -> bool:
        return not self.held and self.at <= now

    def hold(self) -> None:
        self.held = True
