"""Sender verification (mail/auth.py) against a real DNS server on loopback and
real DKIM signatures: a signed message passes, a forged From fails, a trusted MX's verdict
is read and every other Authentication-Results is ignored. The channel end to end (the
gateway storing each verdict, what unauthenticated mail may do): tests/test_mail_trust.py."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from mail.auth import SenderCheck, headers_of, spam_reason, strip_untrusted_results
from tests.mail_dns import Zone, add_domain, dns_server


def message(sender: str = "Jon <jon@kite.example>", **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "support@example.com", "Totals"
    msg["Message-ID"] = "<m1@kite.example>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Resolution Confirmed")
    return msg.as_bytes().replace(b"\n", b"\r\n")


@pytest.fixture(scope="module")
def zone() -> Zone:
    return Zone()


def test_dkim_signed_passes_forged_from_fails_spf_aligned_passes(zone: Zone):
    kite = add_domain(zone, "kite.example", dmarc="reject", spf="v=spf1 ip4:192.0.2.10 -all")
    add_domain(zone, "loose.example", dmarc="none")
    with dns_server(zone) as server:
        check = SenderCheck(verify_senders=True, dns_server=server, timeout=2.0)
        signed = check.check(kite.sign(message()), "203.0.113.9", "", "mx.other.example")
        assert (signed.authenticated, signed.dmarc, signed.policy) == (True, "pass", "reject")
        assert "DKIM d=kite.example" in signed.reason
        # The customer's own address, written by someone else: no signature, wrong server.
        forged = check.check(message(), "203.0.113.9", "jon@kite.example", "evil.example")
        assert (forged.authenticated, forged.dmarc, forged.policy) == (False, "fail", "reject")
        # Signed by the forger's own domain: valid DKIM, but not the From domain's.
        evil = add_domain(zone, "evil.example")
        resigned = check.check(evil.sign(message()), "203.0.113.9", "", "evil.example")
        assert (resigned.authenticated, resigned.dmarc) == (False, "fail")
        # A signature over other bytes (the body changed after signing) fails.
        tampered = kite.sign(message()).replace(b"Resolution Confirmed", b"Resolution Denied")
        assert not check.check(tampered, "203.0.113.9", "", "x").authenticated
        # No signature, but sent from the domain's own server: SPF aligned passes.
        by_spf = check.check(message(), "192.0.2.10", "bounces@kite.example", "mx.kite.example")
        assert (by_spf.authenticated, by_spf.dmarc) == (True, "pass") and "SPF" in by_spf.reason
        # p=none: fails, but the domain asks for nothing to be done about it.
        loose = check.check(message("a@loose.example"), "203.0.113.9", "", "x")
        assert (loose.authenticated, loose.dmarc, loose.policy) == (False, "fail", "none")
        # No DMARC record at all.
        none = check.check(message("a@nowhere.example"), "203.0.113.9", "", "x")
        assert (none.authenticated, none.dmarc) == (False, "none")


def test_an_unreachable_dns_server_is_a_temporary_error_within_the_limit():
    import time
    check = SenderCheck(verify_senders=True, dns_server="127.0.0.1:9", timeout=0.5)
    started = time.monotonic()
    verdict = check.check(message(), "203.0.113.9", "", "x")
    assert (verdict.authenticated, verdict.dmarc) == (False, "temperror")
    assert time.monotonic() - started < 5


def test_only_the_trusted_mx_authentication_results_count():
    check = SenderCheck(trusted_authserv_id="mx.example.com")
    forged = message(Authentication_Results="mx.evil.example; dmarc=pass header.from=kite.example")
    assert not check.check(forged, "", "", "").authenticated
    ours = message(Authentication_Results="mx.example.com; dkim=pass header.d=kite.example; "
                   "dmarc=pass (p=reject) header.from=kite.example")
    verdict = check.check(ours, "", "", "")
    assert (verdict.authenticated, verdict.dmarc) == (True, "pass")
    other_domain = message(Authentication_Results="mx.example.com; dmarc=pass "
                           "header.from=evil.example")
    assert not check.check(other_domain, "", "", "").authenticated
    failed = message(Authentication_Results="mx.example.com; dmarc=fail (p=quarantine) "
                     "header.from=kite.example")
    verdict = check.check(failed, "", "", "")
    assert (verdict.authenticated, verdict.dmarc, verdict.policy) == (False, "fail", "quarantine")


def test_other_authentication_results_are_stripped_the_trusted_kept():
    raw = (b"Authentication-Results: mx.example.com; dmarc=fail header.from=kite.example\r\n"
           b"Authentication-Results: mx.evil.example; dmarc=pass\r\n header.from=kite.example\r\n"
           + message())
    kept = strip_untrusted_results(raw, "mx.example.com")
    assert b"mx.evil.example" not in kept and b"dmarc=pass" not in kept
    assert b"mx.example.com; dmarc=fail" in kept and kept.endswith(b"Resolution Confirmed\r\n")
    assert headers_of(kept)["Subject"] == "Totals"


def test_unconfigured_everything_is_unauthenticated():
    check = SenderCheck()
    assert not check.configured and "NOT verified" in check.describe()
    assert check.check(message(), "", "", "").dmarc == "unchecked"


@pytest.mark.parametrize(("name", "value", "spam"), [
    ("X-Spam-Flag", "YES", True), ("X-Spam-Status", "Yes, score=9.1 required=5.0", True),
    ("X-Spam-Status", "No, score=0.1", False), ("X-Rspamd-Action", "add header", True),
    ("X-Rspamd-Action", "reject", True), ("X-Rspamd-Action", "no action", False),
    ("X-Spamd-Result", "default: True [15.10 / 15.00]", True),
    ("X-Spamd-Result", "default: False [1.10 / 15.00]", False)])
def test_spam_headers(name: str, value: str, spam: bool):
    assert bool(spam_reason(headers_of(message(**{name.replace("-", "_"): value})))) is spam
