"""The email channel's pure parts, without a server: reading mail (mail/parsing.py),
customer links (mail/links.py) and who the customer actor may be (permissions and
rules). Property-based tests (hypothesis) feed malformed headers and bodies."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mail.links import CustomerLinks, LinkRefused
from mail.parsing import (
    ParsedMessage,
    Unparseable,
    confirms_resolution,
    message_id_of,
    parse_isolated,
    parse_message,
    strip_reply,
)
from workflows.complaint import rules
from workflows.models import (
    ComplaintState,
    CsatResponse,
    CustomerResponse,
    EscalationRequest,
    Phase,
    ResolutionConfirmation,
    Role,
    Source,
    Status,
)
from workflows.permissions import NotPermitted
from workflows.records import StaffMember


def mail(body: str = "Hello", charset: str = "utf-8", **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "Ann <ann@example.com>")
    msg["Subject"] = headers.pop("Subject", "Totals wrong")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body, charset=charset)
    return msg.as_bytes()


@pytest.mark.parametrize("charset", ["utf-8", "iso-8859-1", "windows-1252", "iso-2022-jp"])
def test_any_charset_a_mail_client_sends(charset: str):
    text = "日本語のテキスト" if charset == "iso-2022-jp" else "Grüße, ça coûte 5 €" \
        if charset != "iso-8859-1" else "Grüße, ça coûte"
    parsed = parse_message(mail(text, charset))
    assert parsed.text == text


def test_encoded_headers_html_only_and_inline_images():
    msg = EmailMessage()
    msg["From"] = "=?utf-8?b?WsOrIMOcbmRlcg==?= <ZOE@Example.COM>"
    msg["Subject"] = "=?iso-8859-1?q?Rechnung_f=FCr_M=E4rz?="
    msg.set_content("<p>The <b>invoice</b> is wrong</p><img src='cid:logo'>", subtype="html")
    msg.add_related(b"\x89PNG", maintype="image", subtype="png", cid="<logo>")
    parsed = parse_message(msg.as_bytes())
    assert (parsed.from_name, parsed.from_address) == ("Zë Ünder", "zoe@example.com")
    assert parsed.subject == "Rechnung für März"
    assert parsed.text == "The **invoice** is wrong"
    assert [(a.content_type, a.inline, a.size) for a in parsed.attachments] == [
        ("image/png", True, 4)]


@pytest.mark.parametrize("headers, why", [
    ({"Auto_Submitted": "auto-replied"}, "Auto-Submitted"),
    ({"Precedence": "bulk"}, "Precedence"),
    ({"X_Autoreply": "yes"}, "X-Autoreply"),
    ({"List_Id": "<news.example.com>"}, "List-Id"),
])
def test_machines_are_recognised(headers: dict[str, str], why: str):
    assert why in (parse_message(mail(**headers)).automatic or "")


def test_a_person_and_a_bounce():
    assert parse_message(mail(Auto_Submitted="no")).automatic is None
    assert "bounce" in (parse_message(mail(), envelope_from="").automatic or "")


def test_no_message_id_gets_one_from_its_bytes():
    raw = mail()
    assert message_id_of(raw) == message_id_of(raw) != message_id_of(raw + b"x")
    assert message_id_of(mail(Message_ID="<abc@x>")) == "<abc@x>"


def test_without_a_sender_it_is_unparseable():
    with pytest.raises(Unparseable, match="sender"):
        parse_message(b"Subject: hi\r\n\r\nno sender")


# --- hypothesis: malformed input never crashes the parser, and is never lost --------------

header_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80)
raw_bytes = st.binary(max_size=600)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=header_text, sender=header_text, refs=header_text, body=raw_bytes,
       ctype=st.sampled_from(["text/plain", "text/html", "multipart/mixed", "x/unknown",
                              "text/plain; charset=klingon", "multipart/alternative; boundary="]))
def test_malformed_headers_and_bodies_never_crash(subject, sender, refs, body, ctype):
    head = (f"From: {sender}\r\nSubject: {subject}\r\nReferences: {refs}\r\n"
            f"In-Reply-To: {refs}\r\nContent-Type: {ctype}\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n")
    raw = head.encode("utf-8", "surrogateescape") + body
    message_id = message_id_of(raw)  # what the gateway keys the stored row by
    assert message_id.startswith("<") and message_id == message_id_of(raw)
    try:
        parsed = parse_message(raw)
    except Unparseable:
        return  # kept and flagged by the channel, never dropped
    assert isinstance(parsed, ParsedMessage) and parsed.message_id == message_id
    assert "@" in parsed.from_address
    # Nothing PostgreSQL refuses, nothing that hides text, survives parsing.
    for text in (parsed.subject, parsed.from_name, parsed.text, message_id):
        assert not any(ord(c) < 0x20 and c not in "\n\t" for c in text), repr(text)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash(raw: bytes):
    """Any bytes at all: a Message-ID to keep them under, and either a parsed message or
    `Unparseable` (kept and flagged), never another exception."""
    message_id = message_id_of(raw)
    assert message_id.startswith("<") and message_id.endswith(">")
    try:
        parsed = parse_message(raw)
    except Unparseable:
        return
    assert isinstance(parsed, ParsedMessage)


# --- what a message may do, and what no message may cost ------------------------------------


@pytest.mark.parametrize("text", [
    "Resolution Confirmed", "Resolution confirmed, thank you.", "**Resolution Confirmed**\nJon",
    "\n\n  resolution CONFIRMED.  \nThanks for the quick fix"])
def test_the_sign_off_counts_as_the_first_line(text: str):
    assert confirms_resolution(text)


@pytest.mark.parametrize("text", [
    "Resolution Confirmed? No, it still fails", "Resolution confirmed - not really",
    "Resolution Confirmed? I don't think so", "Resolution confirmed isn't what I'd say",
    "Resolution Confirmed... never", "Is it fixed? No.\nResolution Confirmed",
    "Thanks. When you ask me to reply Resolution Confirmed, I will.", ""])
def test_a_negated_or_later_sign_off_does_not(text: str):
    assert not confirms_resolution(text)


def test_a_sign_off_inside_an_unstripped_quote_does_not_count():
    # A quote without ">" that no language rule recognises: our question stays in the text,
    # but it is never the first line of what the customer wrote.
    body = ("It still fails for me.\n\n-----\nCustomer Care wrote on the 2nd:\n"
            "If everything is done, reply with Resolution Confirmed.\nResolution Confirmed\n")
    parsed = parse_message(mail(body=body))
    assert "Resolution Confirmed" in parsed.text and not parsed.confirms_resolution


def test_a_nul_in_a_header_is_unparseable_and_control_characters_are_stripped():
    with pytest.raises(Unparseable, match="Subject header holds a NUL"):
        parse_message(b"From: ann@example.com\r\nSubject: =?utf-8?q?a=00b?=\r\n\r\nHi")
    raw = (b"From: ann@example.com\r\nSubject: =?utf-8?q?a=07b=1Bc?=\r\n"
           b"Message-ID: <a\x01b@example.com>\r\n\r\nHello\x00 there\x08!\r\nBye\r\n")
    parsed = parse_message(raw)
    assert (parsed.subject, parsed.text) == ("abc", "Hello there!\nBye")
    assert parsed.message_id.startswith("<sha256.")  # a control character is no id of ours


def test_the_pathological_quote_header_is_stripped_in_linear_time():
    import time
    body = "On Mon, wrote " * 4300  # 60 KB: over a minute before the long-line guard
    started = time.monotonic()
    assert strip_reply(body) == body.strip()
    assert time.monotonic() - started < 5
    # A real quote header is still found after a long line of the customer's own.
    text = "x" * 2000 + "\n\nOn Tue, 1 Dec 2026 at 10:00, Care <care@example.com> wrote:\n> old\n"
    assert strip_reply(text) == "x" * 2000


async def test_parsing_runs_in_a_child_that_is_killed_at_its_limit():
    raw = mail(body="Hello\n\nOn Tue, 1 Dec 2026 at 10:00, Care <care@example.com> wrote:\n> q\n")
    parsed = await parse_isolated(raw, "ann@example.com", 20.0)
    assert (parsed.text, parsed.flag, parsed.from_address) == ("Hello", "", "ann@example.com")
    # A limit no child can meet: the text is kept whole, unstripped, and flagged.
    slow = await parse_isolated(raw, "ann@example.com", 0.001)
    assert slow.text.startswith("Hello") and "> q" in slow.text
    assert "kept unstripped" in slow.flag
    with pytest.raises(Unparseable, match="NUL"):
        await parse_isolated(b"From: a@b.example\r\nSubject: =?utf-8?q?a=00b?=\r\n\r\nx", "", 20.0)


# --- links ----------------------------------------------------------------------------------


def test_links_are_for_one_question_and_expire():
    links = CustomerLinks("secret", "http://x")
    token = links.token("CRN-AAAAAAAAAA", "survey", "survey")
    assert links.read("survey", token).crn == "CRN-AAAAAAAAAA"
    with pytest.raises(LinkRefused, match="not valid"):
        links.read("agreement", token)
    with pytest.raises(LinkRefused, match="not valid"):
        CustomerLinks("another secret", "http://x").read("survey", token)
    old = links.token("CRN-AAAAAAAAAA", "survey", "survey", now=1_000_000)
    with pytest.raises(LinkRefused, match="expired"):
        links.read("survey", old)
    with pytest.raises(LinkRefused, match="switched off"):
        CustomerLinks("", "http://x").read("survey", token)
    assert CustomerLinks("", "http://x").for_email("C", "survey", "survey") == {"survey": None}


# --- the customer actor --------------------------------------------------------------------


def complaint(**state) -> rules.ActionFacts:
    s = ComplaintState(crn="CRN-AAAAAAAAAA", source=Source.email, external_ref="<m@x>",
                       customer_id="cust-kite", subject="s", received_at="2026-12-01T10:00:00Z",
                       phase=Phase.resolution, status=Status.under_investigation, owner="priya")
    return rules.ActionFacts(state=s.model_copy(update=state))


def test_the_customer_may_reply_only_on_their_own_complaint():
    c = complaint()
    rules.record_customer_response(c, CustomerResponse(actor="customer:cust-kite", message="hi"))
    with pytest.raises(NotPermitted, match="not this complaint's customer"):
        rules.record_customer_response(c, CustomerResponse(actor="customer:cust-acme", message="x"))


def test_the_customer_is_heard_before_anyone_owns_the_complaint():
    triage = complaint(phase=Phase.triage, status=Status.new, owner=None)
    rules.record_customer_response(triage, CustomerResponse(actor="customer:cust-kite",
                                                            message="One more thing"))
    agent = StaffMember(id="ana", name="Ana", email="ana@example.com", role=Role.agent)
    staffed = rules.ActionFacts(state=triage.state, roster={"ana": agent})
    with pytest.raises(ValueError, match="ownership or resolution"):
        rules.record_customer_response(staffed, CustomerResponse(actor="ana", message="x"))


def test_the_customer_takes_no_staff_action():
    with pytest.raises(NotPermitted, match="is a customer"):
        rules.escalate(complaint(), EscalationRequest(actor="customer:cust-kite", reason="now"))


def test_the_customer_signs_off_in_writing_only_when_everything_is_done():
    sign_off = ResolutionConfirmation(actor="customer:cust-kite",
                                      confirmation_text="Resolution Confirmed")
    with pytest.raises(ValueError, match="not agreed"):
        rules.confirm_resolution(complaint(), sign_off)
    ready = complaint(customer_agreed=True, fix="deployed")
    assert rules.ready_for_sign_off(ready.state)
    rules.confirm_resolution(ready, sign_off)
    with pytest.raises(ValueError, match="Resolution Confirmed"):
        rules.confirm_resolution(ready, sign_off.model_copy(update={"confirmation_text": "ok"}))
    with pytest.raises(NotPermitted):
        rules.confirm_resolution(ready, sign_off.model_copy(update={"actor": "customer:other"}))


def test_the_customer_rates_once_after_resolution():
    done = complaint(phase=Phase.post_mortem, status=Status.resolved)
    rules.record_csat(done, CsatResponse(actor="customer:cust-kite", score=5))
    with pytest.raises(ValueError, match="already"):
        rules.record_csat(done.__class__(state=done.state.model_copy(update={"csat_score": 4})),
                          CsatResponse(actor="customer:cust-kite", score=5))
