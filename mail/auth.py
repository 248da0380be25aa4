"""Who sent an inbound email, as far as email can prove it (docs/security.md, "Email you can
trust"): DMARC alignment of the From domain.

A message is *authenticated* when its From domain is aligned with a passing DKIM signature
(`d=`) or a passing SPF check of the envelope sender (MAIL FROM), the two things a domain's
owner controls; DMARC's record then only says what the domain wants done with mail that
fails (p=none, quarantine, reject). Two ways to reach the verdict:

- the product checks itself (INBOUND_VERIFY_SENDERS=on): DKIM with dkimpy, SPF with pyspf,
  the DMARC record with dnspython, every lookup through one resolver (INBOUND_DNS_SERVER,
  host:port; else the system's) with a time limit;
- a trusted MX checked already (INBOUND_TRUSTED_AUTHSERV_ID): its `Authentication-Results`
  header, the topmost one with that authserv-id, is read; any other is ignored (anyone can
  write one into their message).

Neither configured (the embedded dev stack): every message is unauthenticated, and the
gateway says so at start. Alignment is relaxed, with the organisational domain taken as
the last two labels (no public-suffix list: `a.co.uk` and `b.co.uk` would align; DKIM and
SPF still have to pass for a domain the sender controls).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from typing import Any

# Headers an upstream spam filter adds, and the values that mean "spam" (SpamAssassin, rspamd).
SPAM_HEADERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("X-Spam-Flag", re.compile(r"^\s*yes\b", re.I)),
    ("X-Spam-Status", re.compile(r"^\s*yes\b", re.I)),
    ("X-Spam", re.compile(r"^\s*yes\b", re.I)),
    ("X-Rspamd-Action", re.compile(r"^\s*(reject|add header|rewrite subject|soft reject)", re.I)),
    ("X-Spamd-Result", re.compile(r"^\s*default:\s*true\b", re.I)),
)


@dataclass(frozen=True)
class Verdict:
    authenticated: bool
    dmarc: str  # pass | fail | none (the domain publishes no policy) | temperror | unchecked
    policy: str | None  # the From domain's p= when it has one
    reason: str  # how the verdict was reached, in a line

    @property
    def failed(self) -> bool:
        """The domain publishes DMARC and this message fails it: the From is not theirs."""
        return self.dmarc == "fail"


UNCHECKED = Verdict(False, "unchecked", None, "sender verification is not configured")


def headers_of(raw: bytes) -> Message:
    """The header block only (linear, cheap): what the gateway reads before answering."""
    return BytesHeaderParser(policy=policy.compat32).parsebytes(raw)


def from_domain(msg: Message) -> str:
    address = parseaddr(" ".join(str(msg.get("From", "")).split()))[1]
    return address.rpartition("@")[2].strip().lower().rstrip(".")


def spam_reason(msg: Message) -> str | None:
    """Why the upstream filter marked this message as spam, if it did."""
    for name, spam in SPAM_HEADERS:
        for value in msg.get_all(name, []):
            if spam.search(" ".join(str(value).split())):
                return f"marked as spam upstream ({name}: {' '.join(str(value).split())[:80]})"
    return None


def organisational(domain: str) -> str:
    return ".".join(domain.lower().rstrip(".").split(".")[-2:])


def aligned(domain: str, with_domain: str, strict: bool = False) -> bool:
    domain, with_domain = domain.lower().rstrip("."), with_domain.lower().rstrip(".")
    if strict:
        return domain == with_domain
    return bool(domain) and organisational(domain) == organisational(with_domain)


def dmarc_tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        key, _, value = part.strip().partition("=")
        if key:
            tags[key.strip().lower()] = value.strip()
    return tags


# --- Authentication-Results from the trusted MX ------------------------------------------


def _ar_parts(value: str) -> tuple[str, str]:
    """An Authentication-Results value: its authserv-id and the rest (RFC 8601)."""
    value = " ".join(value.split())
    authserv, _, rest = value.partition(";")
    return authserv.strip().split(" ")[0].lower(), rest


def from_authentication_results(msg: Message, authserv_id: str) -> Verdict:
    """The verdict the trusted MX wrote: the topmost `Authentication-Results` with its
    authserv-id (it adds its own above whatever the message carried in)."""
    domain = from_domain(msg)
    for value in msg.get_all("Authentication-Results", []):
        server, rest = _ar_parts(str(value))
        if server != authserv_id.lower():
            continue  # written by someone else: proves nothing
        dmarc = re.search(r"\bdmarc\s*=\s*(\w+)", rest, re.I)
        result = dmarc.group(1).lower() if dmarc else "none"
        policy_found = re.search(r"\bp\s*=\s*(\w+)", rest, re.I)
        header_from = re.search(r"\bheader\.from\s*=\s*([^\s;]+)", rest, re.I)
        if result == "pass" and header_from and header_from.group(1).lower() != domain:
            return Verdict(False, "fail", None, f"{authserv_id}: dmarc=pass for "
                           f"{header_from.group(1)}, not for the From domain {domain}")
        result = result if result in ("pass", "fail", "none", "temperror") else "none"
        return Verdict(result == "pass", result,
                       policy_found.group(1).lower() if policy_found else None,
                       f"{authserv_id}: dmarc={result}")
    return Verdict(False, "none", None,
                   f"no Authentication-Results from the trusted MX {authserv_id}")


def strip_untrusted_results(raw: bytes, authserv_id: str) -> bytes:
    """The message without any `Authentication-Results` but the trusted MX's: nothing that
    reads the stored message later can mistake a sender's own claim for a verdict."""
    end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0),
              default=len(raw))
    head, body = raw[:end], raw[end:]
    fields: list[list[bytes]] = []
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)  # a folded continuation of the field above
        else:
            fields.append([line])
    kept = []
    for field in fields:
        name, _, value = b"".join(field).partition(b":")
        if name.strip().lower() == b"authentication-results":
            server, _ = _ar_parts(value.decode("utf-8", "replace"))
            if server != authserv_id.lower():
                continue
        kept.append(b"".join(field))
    return b"".join(kept) + body


# --- the product's own checks --------------------------------------------------------------


class Resolver:
    """TXT and address lookups through one configured server, each bounded in time."""

    def __init__(self, server: str | None, timeout: float) -> None:
        import dns.resolver

        self.timeout = timeout
        if server:
            host, _, port = server.rpartition(":") if ":" in server else (server, "", "53")
            self.resolver = dns.resolver.Resolver(configure=False)
            self.resolver.nameservers = [host or server]
            self.resolver.port = int(port or 53)
        else:
            self.resolver = dns.resolver.Resolver()
        self.resolver.lifetime = self.resolver.timeout = timeout

    def answers(self, name: str, qtype: str) -> list[Any]:
        import dns.resolver

        try:
            return list(self.resolver.resolve(name, qtype, raise_on_no_answer=False))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []

    def txt(self, name: str) -> list[str]:
        return [b"".join(r.strings).decode("utf-8", "replace") for r in self.answers(name, "TXT")]

    def dkim_txt(self) -> Callable[..., bytes | None]:
        """The lookup dkimpy calls (`dnsfunc`)."""
        def lookup(name: bytes, timeout: float = 5) -> bytes | None:
            found = self.txt(name.decode("ascii", "replace").rstrip("."))
            return found[0].encode() if found else None
        return lookup

    def spf_lookup(self, name: str, qtype: str, strict: Any = True,
                   timeout: float = 20) -> list[Any]:
        """The lookup pyspf calls (its DNSLookup's shape: ((name, type), data) pairs)."""
        found = []
        for r in self.answers(name, qtype):
            if qtype in ("A", "AAAA"):
                found.append(((name, qtype), r.address))
            elif qtype == "MX":
                found.append(((name, qtype), (r.preference, r.exchange.to_text(True))))
            elif qtype == "PTR":
                found.append(((name, qtype), r.target.to_text(True)))
            elif qtype in ("TXT", "SPF"):
                found.append(((name, qtype), list(r.strings)))
        return found


class SenderVerifier:
    """DKIM, SPF and DMARC checked by the product itself (synchronous: run it in a thread)."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver

    def dmarc_record(self, domain: str) -> dict[str, str] | None:
        for name in dict.fromkeys([domain, organisational(domain)]):
            for record in self.resolver.txt(f"_dmarc.{name}"):
                if record.lower().startswith("v=dmarc1"):
                    tags = dmarc_tags(record)
                    if name != domain and "sp" in tags:  # a subdomain's own policy
                        tags["p"] = tags["sp"]
                    return tags
        return None

    def dkim_pass(self, raw: bytes, domain: str, strict: bool) -> str | None:
        """The d= of a valid DKIM signature aligned with the From domain, if there is one."""
        import dkim

        msg = headers_of(raw)
        for idx in range(min(len(msg.get_all("DKIM-Signature", [])), 5)):
            checker = dkim.DKIM(raw, timeout=int(max(self.resolver.timeout, 1)))
            try:
                valid = checker.verify(idx=idx, dnsfunc=self.resolver.dkim_txt())
            except dkim.DKIMException:
                valid = False
            signer = (checker.domain or b"").decode("ascii", "replace") if valid else ""
            if valid and aligned(signer, domain, strict):
                return signer
        return None

    def spf_pass(self, peer_ip: str, mail_from: str, helo: str, domain: str,
                 strict: bool) -> str | None:
        """The envelope sender's domain when SPF passes for it and aligns with From."""
        import spf

        sender = mail_from or f"postmaster@{helo}"
        sender_domain = sender.rpartition("@")[2].lower()
        if not aligned(sender_domain, domain, strict):
            return None
        query = spf.query(i=peer_ip, s=sender, h=helo or sender_domain, timeout=20)
        # pyspf looks names up through a module-level function: ours, with our resolver.
        spf.DNSLookup = self.resolver.spf_lookup
        result, _, _ = query.check()
        return sender_domain if result == "pass" else None

    def verify(self, raw: bytes, peer_ip: str, mail_from: str, helo: str) -> Verdict:
        import dns.exception

        msg = headers_of(raw)
        domain = from_domain(msg)
        if not domain:
            return Verdict(False, "none", None, "no From domain")
        try:
            record = self.dmarc_record(domain)
            strict_dkim = bool(record and record.get("adkim", "r").lower() == "s")
            strict_spf = bool(record and record.get("aspf", "r").lower() == "s")
            by_dkim = self.dkim_pass(raw, domain, strict_dkim)
            by_spf = None if by_dkim else self.spf_pass(peer_ip, mail_from, helo, domain,
                                                       strict_spf)
        except dns.exception.DNSException as err:
            return Verdict(False, "temperror", None, f"DNS: {type(err).__name__}")
        policy_of = (record or {}).get("p", "none").lower() if record else None
        if by_dkim:
            return Verdict(True, "pass", policy_of, f"DKIM d={by_dkim} aligned with {domain}")
        if by_spf:
            return Verdict(True, "pass", policy_of, f"SPF pass for {by_spf} aligned with {domain}")
        if record is None:
            return Verdict(False, "none", None,
                           f"no aligned DKIM or SPF pass, and {domain} publishes no DMARC policy")
        return Verdict(False, "fail", policy_of,
                       f"no aligned DKIM or SPF pass for {domain} (p={policy_of})")


@dataclass(frozen=True)
class SenderCheck:
    """What the gateway runs per message, from the settings."""

    verify_senders: bool = False
    dns_server: str | None = None
    trusted_authserv_id: str | None = None
    timeout: float = 5.0

    @property
    def configured(self) -> bool:
        return self.verify_senders or bool(self.trusted_authserv_id)

    def describe(self) -> str:
        if self.trusted_authserv_id:
            return (f"senders: the Authentication-Results of the trusted MX "
                    f"{self.trusted_authserv_id!r} (all others ignored)")
        if self.verify_senders:
            return (f"senders: DKIM, SPF and DMARC checked here (DNS "
                    f"{self.dns_server or 'of the system'})")
        return ("senders: NOT verified (INBOUND_VERIFY_SENDERS and INBOUND_TRUSTED_AUTHSERV_ID "
                "unset): every message is unauthenticated and changes no decision")

    def check(self, raw: bytes, peer_ip: str, mail_from: str, helo: str) -> Verdict:
        if self.trusted_authserv_id:
            return from_authentication_results(headers_of(raw), self.trusted_authserv_id)
        if self.verify_senders:
            verifier = SenderVerifier(Resolver(self.dns_server, self.timeout))
            return verifier.verify(raw, peer_ip, mail_from, helo)
        return UNCHECKED
