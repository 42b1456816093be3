"""The view cache: renewed by a new data version, bounded in entries and in bytes."""

from __future__ import annotations

from bitgaram.api.series import ViewCache


def test_a_new_version_recomputes() -> None:
    version = [0]
    cache = ViewCache(seconds=3600, version=lambda: version[0])
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get_or_compute(("k",), compute) == 1
    assert cache.get_or_compute(("k",), compute) == 1
    version[0] += 1
    assert cache.get_or_compute(("k",), compute) == 2
    assert cache.get_or_compute(("k",), compute) == 2


def test_bodies_stay_within_the_byte_budget() -> None:
    cache = ViewCache(seconds=3600, max_bytes=1000)
    for i in range(20):
        cache.get_or_compute((i,), lambda: b"x" * 200)
        assert cache._bytes <= 1000
        assert cache._bytes == sum(len(v[0]) for v in cache._memo.values())  # type: ignore[arg-type]
    assert (19,) in cache._memo and (0,) not in cache._memo  # the oldest went first
    big = cache.get_or_compute(("big",), lambda: b"y" * 300)  # > a quarter: served, not kept
    assert big == b"y" * 300 and ("big",) not in cache._memo


def test_entry_count_is_bounded_and_zero_seconds_disables() -> None:
    cache = ViewCache(seconds=3600, max_entries=8)
    for i in range(50):
        cache.get_or_compute((i,), lambda i=i: i)  # type: ignore[misc]
        assert len(cache._memo) <= 8
    off = ViewCache(seconds=0)
    off.get_or_compute(("k",), lambda: b"z")
    assert not off._memo
