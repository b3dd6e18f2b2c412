"""The bounded store of targeting verdicts (pure: no database)."""

from app.feed.plan import TargetingCache
from app.feed.snapshot import WorkspaceSnapshot


def snapshot(content_version: int = 1, workspace_id: str = "ws_1") -> WorkspaceSnapshot:
    return WorkspaceSnapshot(
        workspace_id=workspace_id,
        content_version=content_version,
        allowed_origins=frozenset(),
        identity_verification="off",
        identity_secrets=(),
        allow_anonymous=True,
        popover_daily_cap=1,
        poll_after_s=60,
        changelog_path=None,
        changelog_host=None,
        announcements=(),
    )


class TestTargetingCache:
    def test_a_verdict_is_only_reused_with_its_own_snapshot(self) -> None:
        cache = TargetingCache()
        old, new = snapshot(1), snapshot(1)  # equal contents, rebuilt: not the same object
        cache.put(old, "visitor", ())
        assert cache.get(old, "visitor") == ()
        assert cache.get(new, "visitor") is None
        assert cache.get(old, "another visitor") is None

    def test_past_its_bound_the_oldest_verdict_goes_first(self) -> None:
        cache = TargetingCache(max_entries=3)
        current = snapshot()
        for visitor in ("a", "b", "c"):
            cache.put(current, visitor, ())
        cache.put(current, "a", ())  # stored again: now the newest
        cache.put(current, "d", ())
        assert len(cache) == 3
        assert cache.get(current, "b") is None
        assert all(cache.get(current, visitor) == () for visitor in ("a", "c", "d"))

    def test_a_new_snapshot_drops_the_verdicts_of_its_workspace_previous_one(self) -> None:
        cache = TargetingCache()
        old, other_workspace = snapshot(1), snapshot(1, workspace_id="ws_2")
        cache.put(old, "a", ())
        cache.put(old, "b", ())
        cache.put(other_workspace, "c", ())
        new = snapshot(2)
        cache.put(new, "d", ())
        assert len(cache) == 2  # "a" and "b" went with the old snapshot
        assert cache.get(other_workspace, "c") == () and cache.get(new, "d") == ()

    def test_past_its_bytes_the_oldest_verdicts_go_first(self) -> None:
        # A visitor's key holds their attributes' text (up to 8 KB): counting entries
        # alone let 20 000 of them hold 160 MB.
        cache = TargetingCache(max_entries=1000, max_bytes=100_000)
        current = snapshot()
        for visitor in range(100):
            cache.put(current, f"visitor-{visitor}", (), size=8 * 1024)
        assert cache.size_bytes <= 100_000
        assert len(cache) == 100_000 // (8 * 1024)
        assert cache.get(current, "visitor-99") == ()
        assert cache.get(current, "visitor-0") is None
        cache.put(snapshot(2), "fresh", (), size=10)  # a new snapshot drops the old verdicts
        assert (len(cache), cache.size_bytes) == (1, 10)
