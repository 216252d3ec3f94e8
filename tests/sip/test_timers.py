"""RFC 3261 Table 4 (and RFC 6026 Timer L/M) derived from T1, T2, T4."""

from __future__ import annotations

import pytest

from switch.sip.timers import TimerValues


def test_defaults_match_table_4() -> None:
    t = TimerValues()
    assert (t.t1, t.t2, t.t4) == (0.5, 4.0, 5.0)
    assert t.a == t.e == t.g == 0.5                       # initially T1
    assert t.b == t.f == t.h == 32.0                      # 64*T1
    assert t.l == t.m == 32.0                             # RFC 6026: 64*T1
    assert t.trying == 0.2                                # §17.2.1: 200 ms
    assert (t.d(False), t.d(True)) == (32.0, 0.0)         # > 32 s UDP, 0 reliable
    assert (t.i(False), t.i(True)) == (5.0, 0.0)          # T4 UDP, 0 reliable
    assert (t.j(False), t.j(True)) == (32.0, 0.0)         # 64*T1 UDP, 0 reliable
    assert (t.k(False), t.k(True)) == (5.0, 0.0)          # T4 UDP, 0 reliable


def test_everything_scales_with_t1() -> None:
    t = TimerValues(t1=1.0, t2=8.0, t4=10.0)
    assert t.b == t.f == t.h == t.l == t.m == t.j(False) == 64.0
    assert t.d(False) == 64.0  # Timer D keeps outlasting the server's Timer H
    assert t.k(False) == t.i(False) == 10.0
    small = TimerValues(t1=0.1, t2=0.4, t4=0.5)
    assert small.d(False) == 32.0  # but never below the RFC's 32 s


def test_backoff_doubles_and_e_g_cap_at_t2() -> None:
    t = TimerValues()
    intervals = [t.a]
    for _ in range(5):
        intervals.append(t.double(intervals[-1]))
    assert intervals == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]   # Timer A is not capped
    intervals = [t.e]
    for _ in range(5):
        intervals.append(t.double_capped(intervals[-1]))
    assert intervals == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]     # Timer E/G stop at T2


@pytest.mark.parametrize(("t1", "t2", "t4"), [(0.0, 4.0, 5.0), (0.5, 0.1, 5.0),
                                             (0.5, 4.0, -1.0)])
def test_nonsense_values_are_refused(t1: float, t2: float, t4: float) -> None:
    with pytest.raises(ValueError, match="T1"):
        TimerValues(t1, t2, t4)
