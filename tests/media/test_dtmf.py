"""RFC 4733 detection is exact under loss, duplication and reordering (a seeded test shim)."""

from __future__ import annotations

import random

import pytest

from switch.media.dtmf import (
    DIGITS,
    DtmfReceiver,
    digit_to_event,
    event_payload,
    generate,
    parse_event,
)
from switch.media.player import Outbound
from switch.media.rtp import RtpPacket

Packet = tuple[int, int, bytes | None]  # (sequence, timestamp, payload or None for audio)


def sender(digits: str, rng: random.Random, start_ts: int) -> list[Packet]:
    """What a phone sends: audio, then each digit's events (§2.5.1), then audio again."""
    packets: list[Packet] = []
    seq, ts = rng.randrange(1 << 16), start_ts
    for digit in digits:
        for _ in range(rng.randint(2, 5)):  # speech between digits
            packets.append((seq, ts, None))
            seq, ts = seq + 1, (ts + 160) & 0xFFFFFFFF
        duration = rng.choice((60, 80, 100, 160, 250))
        events = generate(digit, duration)
        for event in events:
            packets.append((seq, ts, event.payload))  # all share the event's start timestamp
            seq += 1
        ts = (ts + max(160, duration * 8)) & 0xFFFFFFFF
    return packets


def network(packets: list[Packet], rng: random.Random, loss: float, duplicate: float,
            reorder: float) -> list[Packet]:
    """The shim: drop, duplicate, and swap neighbours, each with its own probability."""
    out: list[Packet] = []
    for packet in packets:
        if rng.random() < loss:
            continue
        out.append(packet)
        if rng.random() < duplicate:
            out.append(packet)
    for i in range(len(out) - 1):
        if rng.random() < reorder:
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


def detect(packets: list[Packet], timeout: float = 0.25) -> list[str]:
    receiver = DtmfReceiver(timeout)
    found: list[str] = []
    now = 0.0
    for _, ts, payload in packets:
        now += 0.020
        found += [e.digit for e in receiver.poll(now)]
        if payload is not None:
            found += [e.digit for e in receiver.receive(ts, payload, now)]
    found += [e.digit for e in receiver.poll(now + 10)]
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_detection_is_exact_under_loss_duplication_and_reordering(seed: int) -> None:
    rng = random.Random(seed)
    digits = "".join(rng.choice(DIGITS) for _ in range(3000))
    sent = sender(digits, rng, start_ts=0xFFFFFFFF - 500_000)  # crosses the timestamp wrap
    received = network(sent, rng, loss=0.01, duplicate=0.01, reorder=0.01)
    assert len(received) != len(sent)  # the shim did something
    assert "".join(detect(received)) == digits


def test_heavier_impairment_still_exact() -> None:
    rng = random.Random(7)
    digits = "".join(rng.choice(DIGITS) for _ in range(1000))
    received = network(sender(digits, rng, 1000), rng, loss=0.05, duplicate=0.05,
                       reorder=0.05)
    assert "".join(detect(received)) == digits


def test_all_end_packets_lost_closes_on_next_event_or_timeout() -> None:
    receiver = DtmfReceiver(timeout=0.25)
    first = [p for p in generate("1", 100) if not parse_event(p.payload)[1]]
    assert [e for p in first for e in receiver.receive(1000, p.payload, 0.0)] == []
    events = receiver.receive(5000, generate("2", 100)[0].payload, 0.1)
    assert [(e.digit, e.ended) for e in events] == [("1", "next")]
    assert [(e.digit, e.ended) for e in receiver.poll(1.0)] == [("2", "timeout")]
    # late end packets of both digits change nothing
    assert receiver.receive(1000, event_payload(1, 800, True), 1.1) == []
    assert receiver.receive(5000, event_payload(2, 800, True), 1.1) == []


def test_event_reported_once_with_its_duration_and_volume() -> None:
    receiver = DtmfReceiver()
    events = [e for p in generate("#", 120, volume=12)
              for e in receiver.receive(777, p.payload, 0.0)]
    assert len(events) == 1
    assert (events[0].digit, events[0].duration_ms(), events[0].volume) == ("#", 120, 12)
    assert events[0].ended == "end"


def test_generator_follows_rfc_4733() -> None:
    packets = generate("5", 100)
    parsed = [parse_event(p.payload) for p in packets]
    assert packets[0].marker and not any(p.marker for p in packets[1:])
    assert [d for _, _, _, d in parsed] == [160, 320, 480, 640, 800, 800, 800]
    assert [end for _, end, _, _ in parsed] == [False] * 4 + [True] * 3
    assert {e for e, _, _, _ in parsed} == {5}
    assert digit_to_event("*") == 10 and digit_to_event("d") == 15
    with pytest.raises(ValueError):
        digit_to_event("x")


def test_outbound_digit_packets_share_the_event_timestamp() -> None:
    out = Outbound(ssrc=1, pt=0, te_pt=101, sequence=10, timestamp=8000)
    out.play([b"\xff" * 160] * 2)
    out.queue_digit("9", 100)
    sent = []
    while not out.idle:
        packet, _, _ = out.next_packet()
        assert packet is not None
        sent.append(RtpPacket.parse(packet))
    events = [p for p in sent if p.payload_type == 101]
    assert len(events) == 7 and {p.timestamp for p in events} == {8000}
    assert [p.sequence for p in sent] == list(range(11, 11 + len(sent)))
    audio = [p for p in sent if p.payload_type == 0]
    assert audio[0].marker and audio[0].timestamp == 8000 + 7 * 160
