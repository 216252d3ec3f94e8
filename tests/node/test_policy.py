"""The request policy, pure: each RFC 3261 §8.2 check and the call admission rules."""

from __future__ import annotations

from typing import Any

import pytest

from switch.demo import demo_config
from switch.policy import CallArrived, Decision, Policy, host_matcher
from switch.registrar.bans import Bans
from switch.registrar.locations import LocationService
from switch.registrar.registrar import Authenticator, Registrar
from switch.sip.address import Peer
from switch.sip.auth import DigestChallenger, DigestClient, ha1
from switch.sip.message import Response

from .sipkit import request

SECRET = b"0123456789abcdef0123456789abcdef"
TRUNK = Peer("udp", "127.0.0.1", 5080)
STRANGER = Peer("udp", "192.0.2.50", 5060)
NOW = 1_700_000_000.0


def make_policy(threshold: int = 5) -> Policy:
    config = demo_config()
    realm = config.node.effective_realm

    def lookup(username: str, realm_: str, algorithm: str) -> str | None:
        account = config.account(username)
        if account is None or account.password is None or realm_ != realm:
            return None
        return ha1(username, realm, account.password.get_secret_value(), algorithm)

    ban = Bans(user_threshold=threshold, window=60.0, duration=300.0)
    auth = Authenticator(DigestChallenger(realm, SECRET), lookup, realm, ban)
    registrar = Registrar(config.registrar, LocationService(5), auth, domain=config.node.domain,
                          serves_host=host_matcher(config), secret=SECRET)
    return Policy(config, registrar, auth, ban, secret=SECRET, server="switchboard/test")


def answer(policy: Policy, method: str, uri: str, peer: Peer = STRANGER,
           **kwargs: Any) -> Response:
    decision = policy.handle(request(method, uri, **kwargs), peer, NOW)
    assert decision.response is not None
    return decision.response


def authed_invite(policy: Policy, uri: str, user: str = "1001",
                  password: str | None = None) -> Decision:
    first = answer(policy, "INVITE", uri, cseq=1, branch="z9hG4bK-1")
    assert first.status == 407
    auth = DigestClient(user, password or f"demo{user}").authorize(
        first.headers.getall("Proxy-Authenticate"), "INVITE", uri)
    decision = policy.handle(request("INVITE", uri, cseq=2, branch="z9hG4bK-2",
                                     extra=[f"Proxy-Authorization: {auth}"]), STRANGER, NOW)
    return decision


def test_options_from_anyone_lists_capabilities() -> None:
    response = answer(make_policy(), "OPTIONS", "sip:service@127.0.0.1:5060")
    assert response.status == 200
    assert "REGISTER" in (response.headers.get("Allow") or "")
    assert response.headers.get("Accept") == "application/sdp"
    assert "Supported" in response.headers
    assert response.headers.get("Server") == "switchboard/test"
    assert response.to.tag


def test_options_with_max_forwards_zero_is_still_answered() -> None:
    response = answer(make_policy(), "OPTIONS", "sip:127.0.0.1",
                      extra=["Max-Forwards: 0"])
    assert response.status == 200


def test_max_forwards_zero_on_invite_is_483() -> None:
    req = request("INVITE", "sip:100@127.0.0.1")
    req.headers.set("Max-Forwards", "0")
    decision = make_policy().handle(req, TRUNK, NOW)
    assert decision.response is not None and decision.response.status == 483


@pytest.mark.parametrize(("method", "status"), [("FOO", 501), ("SUBSCRIBE", 405),
                                                ("MESSAGE", 405), ("BYE", 481),
                                                ("CANCEL", 481)])
def test_methods(method: str, status: int) -> None:
    response = answer(make_policy(), method, "sip:100@127.0.0.1")
    assert response.status == status
    if status in (405, 501):
        assert "INVITE" in (response.headers.get("Allow") or "")


def test_ack_is_never_answered() -> None:
    decision = make_policy().handle(request("ACK", "sip:100@127.0.0.1"), TRUNK, NOW)
    assert decision.response is None


def test_unsupported_uri_scheme_is_416() -> None:
    assert answer(make_policy(), "INVITE", "tel:+15555550100").status == 416


def test_unknown_required_extension_is_420_with_unsupported() -> None:
    response = answer(make_policy(), "INVITE", "sip:100@127.0.0.1", TRUNK,
                      extra=["Require: 100rel, foo"])
    assert response.status == 420
    assert response.headers.get("Unsupported") == "foo"  # 100rel is ours (RFC 3262)


def test_to_tag_outside_a_dialog_is_481() -> None:
    req = request("INVITE", "sip:100@127.0.0.1")
    req.headers.set("To", "<sip:100@127.0.0.1>;tag=abc")
    decision = make_policy().handle(req, TRUNK, NOW)
    assert decision.response is not None and decision.response.status == 481


def test_merged_request_on_another_branch_is_482() -> None:
    policy = make_policy()
    first = policy.handle(request("INVITE", "sip:100@127.0.0.1", branch="z9hG4bK-a"), TRUNK,
                          NOW)
    second = answer(policy, "INVITE", "sip:100@127.0.0.1", TRUNK, branch="z9hG4bK-b")
    assert first.admit == "ivr:main" and second.status == 482


def test_trusted_trunk_reaches_configured_number_without_challenge() -> None:
    decision = make_policy().handle(request("INVITE", "sip:200@127.0.0.1"), TRUNK, NOW)
    # Admitted: no response from the policy, call control answers it.
    assert decision.response is None and decision.admit == "queue:support"
    assert decision.events == [CallArrived("call-1", "200", "queue:support", "127.0.0.1",
                                           None)]


def test_without_a_media_engine_admitted_calls_get_503() -> None:
    policy = make_policy()
    policy.calls_enabled = False
    decision = policy.handle(request("INVITE", "sip:100@127.0.0.1"), TRUNK, NOW)
    assert decision.response is not None and decision.response.status == 503
    assert decision.admit is None and decision.response.headers.get("Retry-After")


def test_dialog_methods_outside_a_dialog_are_481() -> None:
    for method in ("BYE", "UPDATE", "INFO", "PRACK"):
        assert answer(make_policy(), method, "sip:100@127.0.0.1", TRUNK).status == 481


def test_100rel_and_timer_are_supported() -> None:
    decision = make_policy().handle(request("INVITE", "sip:100@127.0.0.1",
                                            extra=["Require: 100rel, timer"]), TRUNK, NOW)
    assert decision.admit == "ivr:main"
    options = answer(make_policy(), "OPTIONS", "sip:127.0.0.1")
    assert "100rel" in (options.headers.get("Supported") or "")


def test_stranger_is_challenged_whatever_the_number() -> None:
    policy = make_policy()
    for number in ("200", "9999", "+4930123456"):
        response = answer(policy, "INVITE", f"sip:{number}@127.0.0.1", call_id=number)
        assert response.status == 407
        assert len(response.headers.getall("Proxy-Authenticate")) == 2


def test_authenticated_agent_calls() -> None:
    policy = make_policy()
    decision = authed_invite(policy, "sip:100@switchboard.local")
    assert decision.admit == "ivr:main" and isinstance(decision.events[0], CallArrived)
    assert decision.events[0].user == "1001" and decision.events[0].target == "ivr:main"
    agent = authed_invite(make_policy(), "sip:1002@switchboard.local")
    assert agent.response is None and agent.admit == "agent:1002"  # an internal call
    outbound = authed_invite(make_policy(), "sip:+4930123456@switchboard.local").response
    assert outbound is not None and outbound.status == 403
    unknown = authed_invite(make_policy(), "sip:555@switchboard.local").response
    assert unknown is not None and unknown.status == 404


def test_bad_password_on_invite_counts_toward_the_ban() -> None:
    policy = make_policy(threshold=2)
    for attempt in range(2):
        response = authed_invite(policy, f"sip:100@switchboard.local;x={attempt}",
                                 password="wrong").response
        assert response is not None and response.status == 407
    # The username is blocked from that source: even the right password gets no answer.
    first = answer(policy, "INVITE", "sip:100@switchboard.local", cseq=5, branch="z9hG4bK-5")
    auth = DigestClient("1001", "demo1001").authorize(
        first.headers.getall("Proxy-Authenticate"), "INVITE", "sip:100@switchboard.local")
    decision = policy.handle(request("INVITE", "sip:100@switchboard.local", cseq=6,
                                     branch="z9hG4bK-6",
                                     extra=[f"Proxy-Authorization: {auth}"]), STRANGER, NOW)
    assert decision.response is None
    # Requests without credentials from the address are still answered (not an address ban).
    assert answer(policy, "OPTIONS", "sip:127.0.0.1", call_id="after").status == 200


def test_draining_refuses_new_work_with_503() -> None:
    policy = make_policy()
    policy.draining = True
    response = answer(policy, "INVITE", "sip:100@127.0.0.1", TRUNK)
    assert response.status == 503 and response.headers.get("Retry-After")
    assert answer(policy, "REGISTER", "sip:switchboard.local", call_id="r").status == 503


def test_unparseable_header_value_is_400_with_reason() -> None:
    req = request("REGISTER", "sip:switchboard.local", contacts=["<sip:1001@x>"])
    req.headers.set("Expires", "soon")
    decision = make_policy().handle(req, STRANGER, NOW)
    assert decision.response is not None
    # authentication comes first (§10.3 step 3), so a stranger sees only the challenge
    assert decision.response.status == 401
    req.headers.set("Max-Forwards", "many")
    decision = make_policy().handle(req, STRANGER, NOW)
    assert decision.response is not None and decision.response.status == 400
    assert "Max-Forwards" in decision.response.reason
