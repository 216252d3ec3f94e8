"""TLS contexts for the SIP listeners (TLS, WSS) and for outbound TLS connections.

The manager takes ready :class:`ssl.SSLContext` objects; these helpers build the usual ones.
TLS 1.2 is the floor (RFC 8996 retired 1.0 and 1.1; RFC 5630 for SIPS).
"""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context(cert: Path | str, key: Path | str) -> ssl.SSLContext:
    """A server context for TLS/WSS listeners from PEM files."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context


def client_context(cafile: Path | str | None = None) -> ssl.SSLContext:
    """A client context that verifies the server: system CAs, or only ``cafile`` if given
    (e.g. the development certificate, to dial another node in tests)."""
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=str(cafile) if cafile is not None else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
