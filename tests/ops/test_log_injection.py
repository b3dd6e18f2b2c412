"""Client-controlled values cannot forge log lines or smuggle control characters."""

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from app.config import Settings
from app.logs import configure_logging
from tests.fixtures.apps import client_with

FORGED = "ERROR   tidings.auth: admin login from 10.0.0.1 succeeded"
# Every way to break a line that a reader of the log might honour, and a terminal escape.
BREAKS = ["%0D%0A", "%0A", "%0D", "%C2%85", "%E2%80%A8", "%E2%80%A9", "%0B", "%0C", "%1E"]


@pytest.fixture(params=["text", "json"])
def log_output(request: pytest.FixtureRequest) -> Iterator[tuple[str, io.StringIO]]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    client_log = logging.getLogger("httpx")  # the test's client, not the service
    saved_client_level = client_log.level
    configure_logging("INFO", request.param)
    client_log.setLevel(logging.WARNING)
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)  # configure_logging's, to stderr
    handler.setStream(buffer)
    try:
        yield request.param, buffer
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        client_log.setLevel(saved_client_level)


def records(fmt: str, buffer: io.StringIO) -> list[str]:
    lines = buffer.getvalue().splitlines()
    if fmt == "json":
        for line in lines:
            orjson.loads(line)  # every physical line is one whole record
    return lines


class TestAccessLog:
    @pytest.mark.parametrize("line_break", BREAKS)
    async def test_path_cannot_start_a_new_line(
        self, settings: Settings, log_output: tuple[str, io.StringIO], line_break: str
    ) -> None:
        fmt, buffer = log_output
        path = "/v1/nothing" + line_break + FORGED.replace(" ", "%20")
        async with client_with(settings) as client:
            response = await client.get(path)
        assert response.status_code == 404
        lines = records(fmt, buffer)
        access = [line for line in lines if "tidings.access" in line]
        assert len(access) == 1, lines
        assert not any(line.startswith("ERROR") for line in lines)
        assert FORGED in access[0] or fmt == "json"

    async def test_terminal_escapes_are_escaped_in_text(
        self, settings: Settings, log_output: tuple[str, io.StringIO]
    ) -> None:
        _, buffer = log_output
        async with client_with(settings) as client:
            await client.get("/v1/nothing%1B%5B2J%1B%5BH")
        assert "\x1b" not in buffer.getvalue()


class TestTracebacks:
    def test_exception_messages_stay_inside_the_record(
        self, log_output: tuple[str, io.StringIO]
    ) -> None:
        fmt, buffer = log_output
        try:
            raise ValueError(f"bad input\n{FORGED}\r\n{FORGED}")
        except ValueError:
            logging.getLogger("tidings.test").exception("unhandled error")
        lines = records(fmt, buffer)
        assert not any(line.startswith("ERROR   tidings.auth") for line in lines)
        if fmt == "text":
            assert lines[0].startswith("ERROR   tidings.test: unhandled error")
            assert all(line.startswith("  | ") for line in lines[1:])
        else:
            assert len(lines) == 1


def test_one_line_escapes_every_line_break() -> None:
    from app.logs import one_line  # the helper under test, imported late

    text = "a\rb\nc\x85d\u2028e\u2029f\x0bg\x0ch\x1ci\x1bj\x7fk"
    escaped = one_line(text)
    assert escaped.splitlines() == [escaped]
    assert escaped == "a\\rb\\nc\\x85d\\u2028e\\u2029f\\x0bg\\x0ch\\x1ci\\x1bj\\x7fk"
