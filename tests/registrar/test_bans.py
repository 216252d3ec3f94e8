"""Bans per (source, username) and scanner bans per source, driven by a fake clock."""

from __future__ import annotations

import pytest

from switch.registrar.bans import BanEnded, Bans


def fail(bans: Bans, source: str, user: str, times: int, start: float = 0.0,
         step: float = 0.1) -> list[object]:
    return [b for i in range(times)
            if (b := bans.record_failure(source, user, start + i * step)) is not None]


def test_one_phone_with_a_wrong_password_blocks_only_its_username() -> None:
    bans = Bans(user_threshold=10, max_users=5, source_threshold=30, window=60, duration=300)
    # baresip retries 11 times in about 4 s
    started = fail(bans, "198.51.100.7", "1001", 11, step=0.4)
    assert len(started) == 1
    ban = started[0]
    assert (ban.source, ban.username, ban.scope) == ("198.51.100.7", "1001", "user")
    assert bans.is_blocked("198.51.100.7", "1001", 5.0)
    assert not bans.is_blocked("198.51.100.7", "1002", 5.0)  # the neighbour behind the NAT
    assert not bans.is_banned("198.51.100.7", 5.0)  # the address still gets in
    assert not bans.is_blocked("198.51.100.8", "1001", 5.0)


def test_a_cracker_is_stopped_within_ten_guesses() -> None:
    bans = Bans()  # the defaults
    answered = 0
    for guess in range(100):
        if bans.is_blocked("203.0.113.9", "1001", float(guess)):
            break
        answered += 1
        bans.record_failure("203.0.113.9", "1001", float(guess))
    assert answered <= 10


def test_many_usernames_from_one_source_ban_the_address() -> None:
    bans = Bans(user_threshold=10, max_users=5, window=60, duration=300)
    started = [b for i, user in enumerate(["100", "101", "102", "103", "104"])
               if (b := bans.record_failure("203.0.113.9", user, float(i))) is not None]
    assert [(b.scope, b.username) for b in started] == [("address", None)]
    assert "5 different usernames" in started[0].reason
    assert bans.is_banned("203.0.113.9", 10.0)
    assert bans.is_blocked("203.0.113.9", "9999", 10.0)


def test_failures_far_beyond_a_phones_retries_ban_the_address() -> None:
    bans = Bans(user_threshold=100, max_users=50, source_threshold=30, window=60)
    started = fail(bans, "203.0.113.9", "1001", 15) + fail(bans, "203.0.113.9", "1002", 15,
                                                             start=2.0)
    assert [(b.scope, b.username) for b in started] == [("address", None)]


def test_exempt_sources_are_never_banned() -> None:
    bans = Bans(user_threshold=2, max_users=2, exempt=lambda host: host == "127.0.0.1")
    assert fail(bans, "127.0.0.1", "a", 50) == [] and fail(bans, "127.0.0.1", "b", 50) == []
    assert not bans.is_banned("127.0.0.1", 10.0)
    assert not bans.is_blocked("127.0.0.1", "a", 10.0)


def test_failures_leave_the_window() -> None:
    bans = Bans(user_threshold=3, window=10.0)
    assert fail(bans, "s", "u", 2, start=0.0, step=1.0) == []
    assert bans.record_failure("s", "u", 10.5) is None  # the one at 0.0 has left
    assert bans.record_failure("s", "u", 10.6) is not None


def test_success_forgets_that_usernames_failures_only() -> None:
    bans = Bans(user_threshold=3, max_users=10, window=60)
    fail(bans, "s", "u", 2)
    fail(bans, "s", "v", 2)
    bans.record_success("s", "u")
    assert bans.record_failure("s", "u", 1.0) is None  # u starts again: 1 failure
    assert bans.record_failure("s", "v", 1.0) is not None  # v kept its 2: third blocks


def test_bans_end_by_time_with_an_event_and_a_deadline() -> None:
    bans = Bans(user_threshold=1, duration=300)
    [ban] = fail(bans, "s", "u", 1)
    assert bans.next_deadline() == 300.0
    assert bans.expire(299.9) == []
    assert bans.expire(300.0) == [BanEnded(ban, "expired")]  # type: ignore[arg-type]
    assert bans.next_deadline() is None and len(bans) == 0
    assert not bans.is_blocked("s", "u", 300.0)


def test_operator_lists_and_lifts() -> None:
    bans = Bans(user_threshold=1, max_users=3, duration=300)
    fail(bans, "s", "u", 1)
    fail(bans, "s", "v", 1, start=1.0)
    fail(bans, "t", "u", 1, start=2.0)
    assert [(b.source, b.username) for b in bans.active(5.0)] == [
        ("s", "u"), ("s", "v"), ("t", "u")]
    [ended] = bans.lift("s", "v")
    assert ended.why == "lifted" and ended.ban.username == "v"
    assert not bans.is_blocked("s", "v", 5.0) and bans.is_blocked("s", "u", 5.0)
    assert [e.ban.username for e in bans.lift("s")] == ["u"]
    assert bans.lift("s") == []
    assert bans.next_deadline() == 302.0  # the lifted bans' deadlines are skipped


def test_reconfigure_keeps_counts_and_checks_values() -> None:
    bans = Bans(user_threshold=5)
    fail(bans, "s", "u", 3)
    bans.configure(user_threshold=4, source_threshold=30, max_users=5, window=60, duration=9)
    assert bans.record_failure("s", "u", 1.0) is not None
    with pytest.raises(ValueError):
        bans.configure(user_threshold=0, source_threshold=1, max_users=1, window=1,
                       duration=1)


def test_memory_is_bounded() -> None:
    bans = Bans(user_threshold=1, max_users=100, max_keys=3)
    for i in range(10):
        bans.record_failure(f"10.0.0.{i}", "u", float(i))
    assert len(bans) == 3
    assert [b.source for b in bans.active(20.0)] == ["10.0.0.7", "10.0.0.8", "10.0.0.9"]
