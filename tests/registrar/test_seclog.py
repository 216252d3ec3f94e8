"""The security log's lines: stable words, the source first, nothing forgeable or secret."""

from __future__ import annotations

import logging

import pytest

from switch.registrar import seclog
from switch.registrar.bans import Ban, BanEnded
from switch.sip.address import Peer

PEER = Peer("udp", "192.0.2.7", 5060)


def test_failed_auth_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="switch.security"):
        seclog.auth_failed(PEER, "1001", seclog.WRONG_PASSWORD, "REGISTER")
    assert caplog.messages == ['auth failed: source=192.0.2.7 user="1001" reason=wrong-password'
                               ' method=REGISTER transport=udp']
    assert caplog.records[0].levelno == logging.WARNING


def test_a_crafted_username_cannot_forge_a_line_or_a_source() -> None:
    forged = '1001" reason=x\n2026-01-01T00:00:00 WARNING switch.security: auth failed: ' \
             'source=10.9.9.9 user="'
    quoted = seclog.quote_user(forged)
    assert "\n" not in quoted and quoted.count('"') == 2
    assert "\\x0a" in quoted and "\\x22" in quoted
    assert seclog.quote_user("x" * 500).endswith('..."')
    assert seclog.quote_user(None) == "-"


def test_ban_lines(caplog: pytest.LogCaptureFixture) -> None:
    ban = Ban("192.0.2.7", None, "failures for 5 different usernames", 10.0, 310.0)
    with caplog.at_level(logging.INFO, logger="switch.security"):
        seclog.ban_started(ban)
        seclog.ban_ended(BanEnded(ban, "lifted"))
    assert caplog.messages == [
        "ban started: source=192.0.2.7 scope=address user=- for=300s reason=failures for 5"
        " different usernames",
        "ban ended: source=192.0.2.7 scope=address user=- why=lifted"]
