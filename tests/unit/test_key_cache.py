"""The per-process key cache (pure)."""

from app.auth.authenticator import KeyCache
from app.core.auth import Role
from fleet.tenancy.service import StoredKey


def stored(key_id: str) -> StoredKey:
    return StoredKey(key_id, "h" * 64, Role.GATEWAY, None, None, revoked=False)


def test_entries_expire_after_the_ttl() -> None:
    now = [100.0]
    cache = KeyCache(ttl_s=5, clock=lambda: now[0])
    cache.put(stored("a"))
    now[0] = 104.9
    assert cache.get("a") == stored("a")
    now[0] = 105.1
    assert cache.get("a") is None


def test_zero_ttl_caches_nothing() -> None:
    cache = KeyCache(ttl_s=0)
    cache.put(stored("a"))
    assert cache.get("a") is None


def test_size_is_bounded_by_dropping_the_oldest() -> None:
    cache = KeyCache(ttl_s=60, max_entries=2)
    for key_id in ("a", "b", "c"):
        cache.put(stored(key_id))
    assert cache.get("a") is None
    assert cache.get("b") == stored("b")
    assert cache.get("c") == stored("c")
