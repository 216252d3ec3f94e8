"""Errors raised by the SIP core.

Every error says what broke and, where a response is possible, which status to answer with
(the h11 style: the protocol layer decides the status, the edge only sends it).
"""

from __future__ import annotations


class SipError(Exception):
    """Base class of every error the SIP core raises on its own."""


class ParseError(SipError):
    """A message (or part of one) does not follow the RFC 3261 grammar.

    ``status`` is the response an element should send when it can answer (400 unless a more
    specific code applies, e.g. 505 for a bad SIP-Version or 413 for an oversize message).
    """

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class ProtocolError(SipError):
    """A local call into the core was illegal in the current state (a bug in the caller)."""
