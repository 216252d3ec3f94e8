"""Registrar as a pure transaction user: real digest challenger/client, fake clock."""

from __future__ import annotations

import re
from typing import Any

import pytest

from switch.config import RegistrarSection
from switch.demo import demo_config
from switch.policy import host_matcher
from switch.registrar.bans import Bans, BanStarted
from switch.registrar.locations import (
    ContactExpired,
    ContactRefreshed,
    ContactRegistered,
    ContactRemoved,
    LocationService,
)
from switch.registrar.registrar import Authenticator, Registrar
from switch.sip.address import Peer
from switch.sip.auth import DigestChallenger, DigestClient, ha1
from switch.sip.message import Response

from .sipkit import request

REALM = "switchboard.local"
SECRET = b"0123456789abcdef0123456789abcdef"
PEER = Peer("udp", "192.0.2.10", 5070)
T0 = 1_700_000_000.0


def lookup(username: str, realm: str, algorithm: str) -> str | None:
    if realm != REALM or username not in {"1001", "1002"}:
        return None
    return ha1(username, realm, f"demo{username}", algorithm)


class Harness:
    def __init__(self, *, max_contacts: int = 3, threshold: int = 3) -> None:
        self.now = T0
        self.ban = Bans(user_threshold=threshold, window=60.0, duration=300.0)
        self.challenger = DigestChallenger(REALM, SECRET, salt=b"saltsa")
        self.auth = Authenticator(self.challenger, lookup, REALM, self.ban,
                                  known_user={"1001", "1002"}.__contains__)
        settings = RegistrarSection(min_expires=60, max_expires=3600, default_expires=600,
                                    max_contacts=max_contacts)
        self.locations = LocationService(settings.max_contacts)
        self.registrar = Registrar(settings, self.locations, self.auth, domain=REALM,
                                   serves_host=host_matcher(demo_config()), secret=SECRET)
        self.cseq = 0

    def send(self, peer: Peer = PEER, **kwargs: Any) -> tuple[Response, list[object]]:
        result = self.registrar.handle(request("REGISTER", "sip:switchboard.local", **kwargs),
                                       peer, self.now)
        assert result.response is not None, "the registrar sent nothing"
        return result.response, result.events

    def register(self, user: str = "1001", password: str | None = None, *,
                 peer: Peer = PEER, call_id: str = "call-1", **kwargs: Any,
                 ) -> tuple[Response, list[object]]:
        """Challenge, then answer it with the next CSeq (as a real UA does)."""
        self.cseq += 1
        challenge, _ = self.send(peer, from_user=user, call_id=call_id, cseq=self.cseq,
                                 **kwargs)
        assert challenge.status == 401
        client = DigestClient(user, password or f"demo{user}")
        auth = client.authorize(challenge.headers.getall("WWW-Authenticate"), "REGISTER",
                                "sip:switchboard.local")
        self.cseq += 1
        extra = [*kwargs.pop("extra", []), f"Authorization: {auth}"]
        return self.send(peer, from_user=user, call_id=call_id, cseq=self.cseq, extra=extra,
                         **kwargs)


def contacts_of(response: Response) -> dict[str, int]:
    out = {}
    for value in response.headers.getall("Contact"):
        match = re.match(r"<([^>]+)>;expires=(\d+)", value)
        assert match, value
        out[match.group(1)] = int(match.group(2))
    return out


C1 = "<sip:1001@192.0.2.10:5070>"
C2 = "<sip:1001@192.0.2.11:5070>"


def test_unauthenticated_register_is_challenged_with_sha256_then_md5() -> None:
    h = Harness()
    response, events = h.send(contacts=[C1])
    assert response.status == 401
    challenges = response.headers.getall("WWW-Authenticate")
    assert [re.search(r"algorithm=([\w-]+)", c).group(1) for c in challenges] == [  # type: ignore[union-attr]
        "SHA-256", "MD5"]
    assert all(f'realm="{REALM}"' in c for c in challenges)
    assert response.to.tag and events == []
    assert len(h.locations) == 0


def test_register_with_digest_binds_the_contact_and_lists_it() -> None:
    h = Harness()
    response, events = h.register(contacts=[C1], expires=300)
    assert response.status == 200
    assert contacts_of(response) == {"sip:1001@192.0.2.10:5070": 300}
    assert events == [ContactRegistered("sip:1001@switchboard.local",
                                        "sip:1001@192.0.2.10:5070", 300, PEER)]


def test_md5_only_client_is_accepted() -> None:
    h = Harness()
    challenge, _ = h.send(contacts=[C1], cseq=1)
    md5 = [c for c in challenge.headers.getall("WWW-Authenticate") if "MD5" in c]
    auth = DigestClient("1001", "demo1001").authorize(md5, "REGISTER", "sip:switchboard.local")
    assert "algorithm=MD5" in auth
    response, _ = h.send(contacts=[C1], cseq=2, extra=[f"Authorization: {auth}"])
    assert response.status == 200


def test_several_contacts_refresh_and_expiry() -> None:
    h = Harness()
    h.register(contacts=[C1], expires=120)
    h.now += 10
    response, events = h.register(contacts=[C2], expires=600, call_id="call-2")
    assert contacts_of(response) == {"sip:1001@192.0.2.10:5070": 110,
                                     "sip:1001@192.0.2.11:5070": 600}
    h.now += 50
    response, events = h.register(contacts=[C1], expires=120)
    assert [type(e) for e in events] == [ContactRefreshed]
    assert contacts_of(response)["sip:1001@192.0.2.10:5070"] == 120
    # nothing expires early; both go at their own time
    assert h.registrar.expire(h.now + 119) == []
    assert h.registrar.next_deadline() == h.now + 120
    expired = h.registrar.expire(h.now + 120)
    assert expired == [ContactExpired("sip:1001@switchboard.local", "sip:1001@192.0.2.10:5070")]
    assert [b.contact for b in h.locations.lookup("sip:1001@switchboard.local", h.now + 120)] \
        == ["sip:1001@192.0.2.11:5070"]


def test_expires_clamped_to_max_and_default_applies() -> None:
    h = Harness()
    response, _ = h.register(contacts=[C1 + ";expires=99999"])
    assert contacts_of(response) == {"sip:1001@192.0.2.10:5070": 3600}
    response, _ = h.register(contacts=[C2], call_id="other")
    assert contacts_of(response)["sip:1001@192.0.2.11:5070"] == 600


def test_query_without_contact_lists_bindings_and_changes_nothing() -> None:
    h = Harness()
    h.register(contacts=[C1], expires=300)
    h.now += 100
    response, events = h.register()
    assert response.status == 200 and events == []
    assert contacts_of(response) == {"sip:1001@192.0.2.10:5070": 200}


def test_unregister_one_contact_then_all_with_star() -> None:
    h = Harness()
    h.register(contacts=[C1, C2], expires=300)
    response, events = h.register(contacts=[C1 + ";expires=0"])
    assert events == [ContactRemoved("sip:1001@switchboard.local", "sip:1001@192.0.2.10:5070",
                                     "unregistered")]
    assert list(contacts_of(response)) == ["sip:1001@192.0.2.11:5070"]
    response, events = h.register(contacts=["*"], expires=0)
    assert response.status == 200 and response.headers.getall("Contact") == []
    assert [type(e) for e in events] == [ContactRemoved]
    assert len(h.locations) == 0


def test_star_needs_expires_zero_and_no_other_contact() -> None:
    h = Harness()
    assert h.register(contacts=["*"], expires=60)[0].status == 400
    assert h.register(contacts=["*", C1], expires=0)[0].status == 400


def test_interval_too_brief_gives_423_with_min_expires() -> None:
    h = Harness()
    response, events = h.register(contacts=[C1], expires=30)
    assert response.status == 423
    assert response.headers.get("Min-Expires") == "60"
    assert events == [] and len(h.locations) == 0


def test_user_may_only_register_its_own_aor() -> None:
    h = Harness()
    response, _ = h.register("1001", to_uri="sip:1002@switchboard.local", contacts=[C1])
    assert response.status == 403
    assert len(h.locations) == 0


def test_same_call_id_with_lower_or_equal_cseq_fails_whole_request() -> None:
    h = Harness()
    h.register(contacts=[C1], expires=300, call_id="same")
    stored = h.locations.lookup("sip:1001@switchboard.local", h.now)[0]
    client = DigestClient("1001", "demo1001")
    challenge, _ = h.send(contacts=[C1], call_id="x", cseq=1)
    auth = client.authorize(challenge.headers.getall("WWW-Authenticate"), "REGISTER",
                            "sip:switchboard.local")
    # an older REGISTER of the same Call-ID arrives late, also adding a new contact
    response, events = h.send(contacts=[C2, C1 + ";expires=0"], call_id="same",
                              cseq=stored.cseq, extra=[f"Authorization: {auth}"])
    assert response.status == 500 and events == []
    assert [b.contact for b in h.locations.lookup("sip:1001@switchboard.local", h.now)] == [
        "sip:1001@192.0.2.10:5070"]


def test_contacts_beyond_the_limit_evict_the_oldest() -> None:
    h = Harness(max_contacts=2)
    h.register(contacts=["<sip:1001@192.0.2.10:1>"], call_id="a")
    h.now += 1
    h.register(contacts=["<sip:1001@192.0.2.10:2>"], call_id="b")
    h.now += 1
    response, events = h.register(contacts=["<sip:1001@192.0.2.10:3>"], call_id="c")
    assert set(contacts_of(response)) == {"sip:1001@192.0.2.10:2", "sip:1001@192.0.2.10:3"}
    assert ContactRemoved("sip:1001@switchboard.local", "sip:1001@192.0.2.10:1",
                          "evicted") in events


def test_instance_id_replaces_the_binding_of_a_restarted_phone() -> None:
    h = Harness()
    inst = ';+sip.instance="<urn:uuid:00000000-0000-0000-0000-000000000001>"'
    h.register(contacts=["<sip:1001@192.0.2.10:1111>" + inst], call_id="a")
    response, events = h.register(contacts=["<sip:1001@192.0.2.10:2222>" + inst], call_id="b")
    assert list(contacts_of(response)) == ["sip:1001@192.0.2.10:2222"]
    assert [type(e) for e in events] == [ContactRefreshed]


def test_replayed_authorization_is_refused_as_stale() -> None:
    h = Harness()
    challenge, _ = h.send(contacts=[C1], cseq=1)
    auth = DigestClient("1001", "demo1001").authorize(
        challenge.headers.getall("WWW-Authenticate"), "REGISTER", "sip:switchboard.local")
    first, _ = h.send(contacts=[C1], cseq=2, extra=[f"Authorization: {auth}"])
    assert first.status == 200
    replay, events = h.send(contacts=[C2], cseq=3, extra=[f"Authorization: {auth}"])
    assert replay.status == 401
    assert all("stale=true" in c.lower() for c in replay.headers.getall("WWW-Authenticate"))
    assert len(h.locations) == 1 and events == []


def _strip_nonce(data: bytes) -> bytes:
    return re.sub(rb'nonce="[^"]*"', b'nonce="-"', data)


def test_unknown_user_and_wrong_password_get_identical_answers() -> None:
    h = Harness(threshold=100)
    answers = []
    for user, password in (("9999", "whatever"), ("1001", "wrong")):
        challenge, _ = h.send(from_user="1001", contacts=[C1], cseq=1)
        auth = DigestClient(user, password).authorize(
            challenge.headers.getall("WWW-Authenticate"), "REGISTER", "sip:switchboard.local")
        response, _ = h.send(from_user="1001", contacts=[C1], cseq=2,
                             extra=[f"Authorization: {auth}"])
        answers.append(response.serialize())
    assert b" 401 " in answers[0]
    assert answers[0] != answers[1]  # the fresh nonces differ...
    assert _strip_nonce(answers[0]) == _strip_nonce(answers[1])  # ...and nothing else


def test_repeated_failures_block_the_username_from_that_source_once() -> None:
    h = Harness(threshold=3)
    bans = []
    for attempt in range(3):
        challenge, _ = h.send(contacts=[C1], cseq=2 * attempt + 1)
        auth = DigestClient("1001", "nope").authorize(
            challenge.headers.getall("WWW-Authenticate"), "REGISTER", "sip:switchboard.local")
        _, events = h.send(contacts=[C1], cseq=2 * attempt + 2,
                           extra=[f"Authorization: {auth}"])
        bans += [e.ban for e in events if isinstance(e, BanStarted)]
    assert [(b.source, b.username, b.scope) for b in bans] == [("192.0.2.10", "1001", "user")]
    # The blocked username gets nothing from that source, even with the right password ...
    challenge, _ = h.send(contacts=[C1], cseq=20)
    auth = DigestClient("1001", "demo1001").authorize(
        challenge.headers.getall("WWW-Authenticate"), "REGISTER", "sip:switchboard.local")
    result = h.registrar.handle(request("REGISTER", "sip:switchboard.local", contacts=[C1],
                                        cseq=21, extra=[f"Authorization: {auth}"]), PEER, h.now)
    assert result.response is None
    # ... while another account at the same address registers, and the address is not banned.
    response, _ = h.register("1002", peer=PEER, call_id="other-phone")
    assert response.status == 200
    assert not h.ban.is_banned("192.0.2.10", h.now)
    assert not h.ban.is_blocked("192.0.2.10", "1001", h.now + 301)


def test_any_domain_in_demo_maps_to_the_same_aor() -> None:
    h = Harness()
    response, events = h.register(host="127.0.0.1", contacts=[C1])
    assert response.status == 200
    assert isinstance(events[0], ContactRegistered)
    assert events[0].aor == "sip:1001@switchboard.local"


@pytest.mark.parametrize("contact", ["<sip:1001@192.0.2.10>;expires=abc",
                                     "<sip:1001@192.0.2.10>;q=7"])
def test_bad_contact_parameters_get_400(contact: str) -> None:
    h = Harness()
    response, _ = h.register(contacts=[contact])
    assert response.status == 400


def test_date_header_is_the_one_passed_in() -> None:
    h = Harness()
    h.register(contacts=[C1])
    client = DigestClient("1001", "demo1001")
    challenge, _ = h.send(cseq=50)
    auth = client.authorize(challenge.headers.getall("WWW-Authenticate"), "REGISTER",
                            "sip:switchboard.local")
    result = h.registrar.handle(
        request("REGISTER", "sip:switchboard.local", cseq=51,
                extra=[f"Authorization: {auth}"]), PEER, h.now,
        date="Sat, 13 Nov 2010 23:29:00 GMT")
    assert result.response.headers.get("Date") == "Sat, 13 Nov 2010 23:29:00 GMT"
