"""A self-signed development certificate for the TLS and WSS listeners (demo and tests).

Made with the ``cryptography`` package (no ``openssl`` binary needed). The certificate names
``localhost``, ``127.0.0.1`` and ``::1`` in subjectAltName, so a client that checks host names
(RFC 5922 §7.2 for SIP; browsers for WSS) accepts it once it trusts the file itself.
Never use it in production: configure ``tls.cert`` and ``tls.key`` instead.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

CERT_NAME = "dev-cert.pem"
KEY_NAME = "dev-key.pem"
DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")


def make_self_signed(directory: Path, *, hosts: Sequence[str] = DEFAULT_HOSTS,
                     common_name: str = "localhost", days: int = 825) -> tuple[Path, Path]:
    """Write a new key and self-signed certificate into ``directory``; returns (cert, key).

    The key file is created mode 0600. ``days`` defaults to 825, the longest validity Apple
    platforms accept for a TLS server certificate.
    """
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "switchboard development")])
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate clock skew
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        # CA:TRUE lets clients that trust this file as a CA (ssl cafile=) verify it.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    key_bytes = key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    log.info("wrote a self-signed development certificate for %s to %s",
             ", ".join(hosts), cert_path)
    return cert_path, key_path


def ensure_dev_certificate(directory: Path) -> tuple[Path, Path]:
    """The development certificate in ``directory``, made on first use; returns (cert, key)."""
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    return make_self_signed(directory)
