"""Entity tags: quoting, and RFC 9110 matching for If-Match and If-None-Match."""

from app.errors import PreconditionFailed


def quote_etag(value: str | int) -> str:
    return f'"{value}"'


def _tags(header: str) -> list[str]:
    return [part.strip() for part in header.split(",") if part.strip()]


def if_match_allows(header: str | None, current: str) -> bool:
    """Strong comparison: a weak tag (``W/"..."``) never matches; ``*`` matches anything."""
    if header is None:
        return True
    return any(tag == "*" or tag == quote_etag(current) for tag in _tags(header))


def refuse_stale_version(noun: str, version: int, if_match: str | None) -> None:
    """412 unless ``if_match`` (the ETag the author read, if they sent one) is ``version``."""
    if not if_match_allows(if_match, str(version)):
        raise PreconditionFailed(
            f'The {noun} is at version "{version}", not {if_match}: someone changed it since '
            "you read it. Fetch it again and reapply your edit."
        )


def if_none_match_hits(header: str | None, current: str) -> bool:
    """Weak comparison, as RFC 9110 asks for If-None-Match: ``W/"x"`` equals ``"x"``."""
    if header is None:
        return False
    quoted = quote_etag(current)
    if header == quoted:  # what a client sends back, nearly always
        return True
    return any(tag == "*" or tag.removeprefix("W/") == quoted for tag in _tags(header))
