"""Qualify scheduling, pure, with a fake clock."""

from __future__ import annotations

from switch.registrar.locations import ContactExpired, ContactRefreshed, ContactRegistered
from switch.registrar.qualify import EndpointReachable, EndpointUnreachable, Qualifier
from switch.sip.address import Peer

AOR = "sip:1001@switchboard.local"
UDP = Peer("udp", "192.0.2.10", 5070)
TCP = Peer("tcp", "192.0.2.10", 40000, conn_id=7)
WS = Peer("ws", "192.0.2.10", 40001, conn_id=8)


def qualifier() -> Qualifier:
    return Qualifier(interval=30.0, timeout=5.0, misses=2)


def test_udp_contact_gets_options_every_interval_and_answers_keep_it_reachable() -> None:
    q = qualifier()
    q.observe(ContactRegistered(AOR, "sip:a@192.0.2.10:5070", 600, UDP), 0.0)
    assert q.next_deadline() == 30.0
    assert q.poll(29.9) == ([], [])
    probes, events = q.poll(30.0)
    assert [(p.kind, p.peer) for p in probes] == [("options", UDP)] and events == []
    assert q.next_deadline() == 35.0  # waiting for the answer
    assert q.answered(probes[0].probe_id, 30.2) == []
    assert q.next_deadline() == 60.0
    assert q.is_reachable(AOR, "sip:a@192.0.2.10:5070") is True


def test_n_misses_make_it_unreachable_once_and_an_answer_brings_it_back() -> None:
    q = qualifier()
    contact = "sip:a@192.0.2.10:5070"
    q.observe(ContactRegistered(AOR, contact, 600, UDP), 0.0)
    events_seen = []
    now = 0.0
    last_probe = None
    for _ in range(8):  # bounded: four intervals
        deadline = q.next_deadline()
        assert deadline is not None
        now = deadline
        probes, events = q.poll(now)
        events_seen += events
        if probes:
            last_probe = probes[-1]
    assert events_seen == [EndpointUnreachable(
        AOR, contact, "no answer to qualify OPTIONS within 5 s (2 in a row)")]
    assert q.is_reachable(AOR, contact) is False
    assert last_probe is not None
    # probing goes on while unreachable; the next answer is recovery, reported once
    probes, _ = q.poll(q.next_deadline() or now)
    pending = probes[-1] if probes else last_probe
    assert q.answered(pending.probe_id, now + 1) == [EndpointReachable(AOR, contact)]
    assert q.answered(pending.probe_id, now + 1) == []


def test_failed_transaction_counts_as_a_miss() -> None:
    q = Qualifier(interval=30.0, timeout=5.0, misses=1)
    q.observe(ContactRegistered(AOR, "sip:a@x", 600, UDP), 0.0)
    probes, _ = q.poll(30.0)
    assert q.failed(probes[0].probe_id, 31.0) == [
        EndpointUnreachable(AOR, "sip:a@x", "qualify OPTIONS failed (1 in a row)")]
    assert q.failed(probes[0].probe_id, 31.0) == []


def test_tcp_contact_is_pinged_and_lost_connection_is_unreachable_at_once() -> None:
    q = qualifier()
    q.observe(ContactRegistered(AOR, "sip:a@t", 600, TCP), 0.0)
    probes, _ = q.poll(30.0)
    assert [p.kind for p in probes] == ["ping"]
    assert q.next_deadline() == 60.0  # pings are not answered at SIP level
    other = Peer("tcp", "192.0.2.10", 40000, conn_id=99)
    assert q.connection_lost(other, 31.0) == []
    assert q.connection_lost(TCP, 31.0) == [EndpointUnreachable(AOR, "sip:a@t",
                                                                "connection lost")]
    assert q.connection_lost(TCP, 31.0) == []
    assert q.next_deadline() is None  # nothing to ping on a dead connection
    # re-registering on a new connection is recovery
    fresh = Peer("tcp", "192.0.2.10", 40002, conn_id=12)
    assert q.observe(ContactRefreshed(AOR, "sip:a@t", 600, fresh), 40.0) == [
        EndpointReachable(AOR, "sip:a@t")]
    assert q.next_deadline() == 70.0


def test_websocket_contact_relies_on_the_connection() -> None:
    q = qualifier()
    q.observe(ContactRegistered(AOR, "sip:w@df7jal23ls0d.invalid;transport=ws", 600, WS), 0.0)
    assert q.next_deadline() is None
    assert q.poll(1000.0) == ([], [])
    assert [e.reason for e in q.connection_lost(WS, 5.0)  # type: ignore[union-attr]
            ] == ["connection lost"]


def test_removed_contact_is_forgotten_and_late_answer_ignored() -> None:
    q = qualifier()
    q.observe(ContactRegistered(AOR, "sip:a@x", 600, UDP), 0.0)
    probes, _ = q.poll(30.0)
    q.observe(ContactExpired(AOR, "sip:a@x"), 31.0)
    assert len(q) == 0 and q.next_deadline() is None
    assert q.answered(probes[0].probe_id, 32.0) == []


def test_many_contacts_are_probed_each_at_its_own_time() -> None:
    q = qualifier()
    for i in range(100):
        q.observe(ContactRegistered(AOR, f"sip:a{i}@x", 600, UDP), i * 0.1)
    probes, _ = q.poll(30.0 + 4.95)
    assert len(probes) == 50
    probes, _ = q.poll(30.0 + 9.95)
    assert len(probes) == 50
