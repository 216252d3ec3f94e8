"""Where an agent's phone is rung, and how the INVITE shows the caller (pure)."""

from __future__ import annotations

from switch.callcontrol.agentdial import (
    caller_shown,
    destinations,
    mask_number,
    trunk_destination,
)
from switch.registrar.locations import Binding
from switch.sip.address import Peer
from switch.sip.uri import SipUri, parse_uri


def binding(contact: str, source: Peer) -> Binding:
    uri = parse_uri(contact)
    assert isinstance(uri, SipUri)
    return Binding("sip:1001@example.com", uri, 1e9, source, "cid", 1, 0.0)


def test_registered_contacts_are_rung_at_their_contact_unless_natted() -> None:
    udp = Peer("udp", "203.0.113.7", 40000)
    cases = [
        # the Contact's own address: public, or loopback elsewhere on this host
        ("sip:1001@93.184.216.34:5062", udp, Peer("udp", "93.184.216.34", 5062)),
        ("sip:1001@127.0.0.1:5070", Peer("udp", "127.0.0.1", 5999),
         Peer("udp", "127.0.0.1", 5070)),
        # behind NAT: a private Contact seen from a public source, a host name
        ("sip:1001@192.168.1.20:5060", udp, udp),
        ("sip:1001@100.64.3.3:5060", udp, udp),
        ("sip:1001@phone.example.com", udp, udp),
        # the same private address as the source: no NAT between us
        ("sip:1001@10.0.0.5:5060", Peer("udp", "10.0.0.5", 5060), Peer("udp", "10.0.0.5", 5060)),
    ]
    for contact, source, expected in cases:
        [place] = destinations([binding(contact, source)], None)
        assert place.peer == expected, (contact, place.peer)
        assert place.uri == contact


def test_stream_bindings_go_back_on_their_connection() -> None:
    ws = Peer("ws", "127.0.0.1", 51000, conn_id=7)
    [place] = destinations([binding("sip:x1y2@df7jal23ls0d.invalid;transport=ws", ws)], None)
    assert place.peer == ws


def test_static_contacts_and_trunks() -> None:
    [place] = destinations([], "sip:desk@10.1.1.1:5080;transport=tcp")
    assert place.peer == Peer("tcp", "10.1.1.1", 5080) and place.kind == "static"
    [secure] = destinations([], "sips:desk@10.1.1.1")
    assert secure.peer == Peer("tls", "10.1.1.1", 5061)
    trunk = trunk_destination("sip:gw.carrier.example:5060;transport=tcp", "+15550123")
    assert trunk.uri == "sip:+15550123@gw.carrier.example:5060;transport=tcp"
    assert trunk.peer == Peer("tcp", "gw.carrier.example", 5060) and trunk.kind == "trunk"


def test_the_caller_is_masked_unless_policy_shows_it() -> None:
    assert mask_number("+15550199") == "*****0199"
    assert mask_number("123") == "***"
    assert caller_shown("+15550199", "support", show_number=False).user == "*****0199"
    shown = caller_shown("+15550199", "support", show_number=True)
    assert (shown.user, shown.display) == ("+15550199", "support queue")
    assert caller_shown('x"><sip:evil', "q", show_number=True).user == "xsipevil"
