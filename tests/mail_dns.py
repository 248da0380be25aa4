"""A real DNS server on loopback (dnslib) serving the SPF, DKIM and DMARC records of test
domains, and real DKIM signatures (dkimpy, an RSA key made here): what sender verification
(mail/auth.py) reads, without the internet."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dnslib import QTYPE, RR, TXT, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

SELECTOR = "mail"


@dataclass
class Zone(BaseResolver):
    """TXT and A records by name; any other name does not exist."""

    txt: dict[str, list[str]] = field(default_factory=dict)
    a: dict[str, str] = field(default_factory=dict)

    def resolve(self, request, handler):  # noqa: ANN001 - dnslib's interface
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        if qtype == "TXT":
            for value in self.txt.get(name, []):
                chunks = [value[i:i + 255] for i in range(0, len(value), 255)]
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
        elif qtype == "A" and name in self.a:
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(self.a[name]), ttl=60))
        if not reply.rr and name not in self.txt and name not in self.a:
            reply.header.rcode = 3  # NXDOMAIN
        return reply


@dataclass
class SigningDomain:
    domain: str
    private_pem: bytes

    def sign(self, raw: bytes) -> bytes:
        signature = dkim.sign(raw, SELECTOR.encode(), self.domain.encode(), self.private_pem,
                              include_headers=[b"from", b"to", b"subject", b"message-id",
                                               b"in-reply-to", b"references"])
        return signature + raw


def add_domain(zone: Zone, domain: str, dmarc: str = "reject",
               spf: str = "v=spf1 -all") -> SigningDomain:
    """A domain that signs its mail, publishes SPF and DMARC (p=`dmarc`)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    zone.txt[f"{SELECTOR}._domainkey.{domain}"] = [
        f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"]
    zone.txt[domain] = [spf]
    zone.txt[f"_dmarc.{domain}"] = [f"v=DMARC1; p={dmarc}"]
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return SigningDomain(domain, pem)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dns_server(zone: Zone) -> Iterator[str]:
    """The zone served on 127.0.0.1 (UDP); yields `host:port` for INBOUND_DNS_SERVER."""
    port = _free_udp_port()
    server = DNSServer(zone, address="127.0.0.1", port=port,
                       logger=DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data"))
    server.start_thread()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()
