"""A request that has not begun its answer in time is answered 503 at the deadline."""

import asyncio
import time
from typing import Any

import orjson
from starlette.types import Message, Receive, Scope, Send

from app.middleware import RequestMiddleware, deadline_of


class _Recorder:
    """Drives an ASGI app by hand and notes when each message is sent."""

    def __init__(self, body_delay_s: float = 0.0) -> None:
        self.started = time.monotonic()
        self.sent: list[tuple[float, Message]] = []
        self.body_delay_s = body_delay_s

    async def receive(self) -> Message:
        await asyncio.sleep(self.body_delay_s)
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(self, message: Message) -> None:
        self.sent.append((time.monotonic() - self.started, message))

    def answer(self) -> tuple[float, int, dict[str, Any]]:
        (at, start), *rest = self.sent
        body = b"".join(m.get("body", b"") for _, m in rest)
        return at, start["status"], orjson.loads(body) if body else {}


def _slow_app(work_s: float, *, reads_body: bool = False) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if reads_body:
            await receive()
        await asyncio.sleep(work_s)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


SCOPE = {"type": "http", "method": "GET", "path": "/v1/x", "headers": [], "query_string": b""}


class TestDeadline:
    async def test_late_work_is_answered_503_at_the_deadline_and_its_answer_dropped(
        self,
    ) -> None:
        recorder = _Recorder()
        await RequestMiddleware(_slow_app(0.5), timeout_s=0.1)(
            dict(SCOPE), recorder.receive, recorder.send
        )
        at, status, body = recorder.answer()
        assert status == 503
        assert 0.09 < at < 0.5  # the deadline, checked every RequestMiddleware.TICK_S
        assert body["type"] == "urn:tidings:problem:service-unavailable"
        start = recorder.sent[0][1]
        assert (b"retry-after", b"2") in start["headers"]
        assert len(recorder.sent) == 2  # the app's late 200 went nowhere

    async def test_time_spent_receiving_the_body_is_not_counted(self) -> None:
        recorder = _Recorder(body_delay_s=0.3)
        app = _slow_app(0.05, reads_body=True)
        await RequestMiddleware(app, timeout_s=0.2)(dict(SCOPE), recorder.receive, recorder.send)
        assert recorder.answer()[1] == 200

    async def test_an_answer_begun_in_time_is_never_cut(self) -> None:
        async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await asyncio.sleep(0.2)
            await send({"type": "http.response.body", "body": b"{}"})

        recorder = _Recorder()
        await RequestMiddleware(streaming, timeout_s=0.05)(
            dict(SCOPE), recorder.receive, recorder.send
        )
        assert recorder.answer()[1] == 200
        assert len(recorder.sent) == 2

    async def test_a_held_deadline_waits_for_the_work_it_is_holding_for(self) -> None:
        """Work that commits holds the deadline: its own answer, even late, is the answer."""

        async def committing(scope: Scope, receive: Receive, send: Send) -> None:
            deadline = deadline_of(scope)
            assert deadline is not None and not deadline.has_passed(time.monotonic())
            deadline.hold()
            await asyncio.sleep(0.3)  # the commit, past the deadline
            assert not deadline.has_passed(time.monotonic())
            await send({"type": "http.response.start", "status": 202, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})

        recorder = _Recorder()
        await RequestMiddleware(committing, timeout_s=0.1)(
            dict(SCOPE), recorder.receive, recorder.send
        )
        at, status, _ = recorder.answer()
        assert status == 202
        assert at >= 0.3
        assert len(recorder.sent) == 2  # and no 503 before it
