"""The compact Binding: the contact is stored as text and parsed back on demand."""

from __future__ import annotations

import pytest

from switch.registrar.locations import (
    Binding,
    ContactRefreshed,
    ContactRegistered,
    ContactUpdate,
    LocationService,
)
from switch.sip.address import Peer
from switch.sip.uri import SipUri, parse_uri

PEER = Peer("udp", "192.0.2.10", 5070)

CONTACTS = [
    "sip:1001@192.0.2.10:5070",
    "sip:1001@192.0.2.10:5070;transport=UDP",
    "sips:agent%20one@example.com;ob;lr",
    "sip:[2001:db8::10]:5061;transport=tls",
    "sip:user:secret@host.example;maddr=10.0.0.1?Subject=hi&X=1",
    "sip:%61lice@atlanta.com;transport=TCP",
    "sip:alice@AtLanTa.CoM;Transport=tcp;user=phone",
]


@pytest.mark.parametrize("text", CONTACTS)
def test_contact_text_round_trips_to_the_same_uri(text: str) -> None:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    binding = Binding("sip:1001@example.com", uri, 100.0, PEER, "cid", 1, 0.0)
    assert binding.contact == str(uri)
    assert binding.uri == uri
    assert binding.uri.matches(uri)


def test_binding_is_immutable_and_compares_by_value() -> None:
    uri = parse_uri("sip:1001@192.0.2.10:5070")
    a = Binding("sip:1001@example.com", uri, 100.0, PEER, "cid", 1, 0.0)
    b = Binding("sip:1001@example.com", str(uri), 100.0, PEER, "cid", 1, 0.0)
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.cseq = 2  # type: ignore[misc]
    assert "contact='sip:1001@192.0.2.10:5070'" in repr(a)


def test_refresh_with_an_equivalent_uri_replaces_the_binding() -> None:
    service = LocationService()
    aor = "sip:1001@example.com"
    first = parse_uri("sip:1001@Host.Example:5070;transport=udp")
    again = parse_uri("sip:1001@host.example:5070;transport=UDP")
    assert isinstance(first, SipUri) and isinstance(again, SipUri)
    events = service.apply(aor, [ContactUpdate(first, 600)], call_id="c", cseq=1, peer=PEER,
                           now=0.0, user_agent="phone/1.0")
    assert isinstance(events[0], ContactRegistered)
    events = service.apply(aor, [ContactUpdate(again, 300)], call_id="c", cseq=2, peer=PEER,
                           now=10.0, user_agent="phone/1.0")
    assert events == [ContactRefreshed(aor, str(again), 300, PEER)]
    [binding] = service.lookup(aor, 20.0)
    assert binding.contact == str(again) and binding.registered_at == 0.0
    assert binding.expires_at == 310.0 and binding.user_agent == "phone/1.0"
    # the event and the binding share one string (the qualifier keeps it too)
    assert binding.contact is events[0].contact
    assert service.next_expiry() == 310.0
    assert service.expire(400.0)[0].contact == str(again)
    assert len(service) == 0
