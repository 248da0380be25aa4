"""Reading an inbound email: the standard library's `email` (policy.default) for the
structure, headers and charsets; `mail-parser-reply` to strip quoted replies and
signatures (Gmail, Outlook, Apple Mail and a dozen languages); `html2text` for HTML-only
mail. Pure functions over bytes, so they are tested without a server.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parseaddr

import html2text
from mailparser_reply import EmailReplyParser

CRN_TOKEN = re.compile(r"\[(CRN-[A-Z2-7]{10})\]")
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# Attachments are kept up to this size each (larger ones: name, type and size only).
ATTACHMENT_BOUND = 5 * 1024 * 1024
REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pt", "sv", "pl", "ja"]
SIGN_OFF_PHRASE = "resolution confirmed"


class Unparseable(ValueError):
    """A message the product cannot read as a complaint or a reply (kept and flagged)."""


@dataclass(frozen=True)
class Attachment:
    filename: str | None
    content_type: str
    size: int
    inline: bool
    content: bytes | None  # None when over ATTACHMENT_BOUND


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str
    from_name: str
    from_address: str
    subject: str
    text: str  # quoted reply and signature stripped
    references: list[str] = field(default_factory=list)  # In-Reply-To first, then References
    crn_token: str | None = None
    automatic: str | None = None  # why it is an auto-reply, bounce or list mail
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def confirms_resolution(self) -> bool:
        return SIGN_OFF_PHRASE in self.text.casefold()


def _read(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def _header(msg: Message, name: str) -> str:
    """A header as text; a malformed one as its raw text rather than an exception."""
    try:
        value = msg.get(name)
    except Exception:
        value = None
        for key, raw in msg.raw_items() if hasattr(msg, "raw_items") else []:
            if key.lower() == name.lower():
                value = raw
                break
    return " ".join(str(value).split()) if value is not None else ""


def message_id_of(raw: bytes) -> str:
    """The message's Message-ID, or one made from its bytes (the same bytes, the same id)."""
    try:
        found = MESSAGE_ID.search(_header(_read(raw), "Message-ID"))
    except Exception:
        found = None
    if found:
        return found.group(0)[:500]
    return f"<sha256.{hashlib.sha256(raw).hexdigest()}@inbound.invalid>"


def automatic_reason(msg: Message, envelope_from: str) -> str | None:
    """Why this message was written by a machine (RFC 3834 and common practice), if it was."""
    auto = _header(msg, "Auto-Submitted").lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto}"
    precedence = _header(msg, "Precedence").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress", "List-Id",
                 "List-Unsubscribe"):
        if _header(msg, name):
            return f"{name} header"
    if envelope_from.strip() in ("", "<>"):
        return "empty return path (a bounce)"
    ctype = msg.get_content_type()
    report = _header(msg, "Content-Type").lower()
    if ctype == "multipart/report" or "delivery-status" in report:
        return "delivery status report"
    sender = parseaddr(_header(msg, "From"))[1].lower()
    if sender.split("@")[0] in ("mailer-daemon", "postmaster"):
        return f"sent by {sender}"
    return None


def _text_of(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, ValueError, AssertionError):  # an unknown charset, a broken encoding
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace")
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    if part.get_content_type() == "text/html":
        converter = html2text.HTML2Text()
        converter.ignore_images, converter.body_width = True, 0
        content = converter.handle(content)
    return content


def strip_reply(text: str) -> str:
    """The new text of a reply: quoted earlier messages and the signature removed."""
    text = text.replace("\r\n", "\n")
    try:
        replies = EmailReplyParser(languages=REPLY_LANGUAGES).read(text=text).replies
        body = replies[0].body if replies else text
    except Exception:  # the library's heuristics never cost a message its text
        body = text
    lines = [line for line in body.strip().splitlines() if not line.startswith(">")]
    return "\n".join(lines).strip() or text.strip()


def _attachments(msg: EmailMessage, body: Message | None) -> list[Attachment]:
    found = []
    for part in msg.walk():
        if part.is_multipart() or part is body:
            continue
        ctype = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        if ctype in ("text/plain", "text/html") and disposition != "attachment":
            continue  # the other alternative of the body
        try:
            payload = part.get_payload(decode=True) or b""
        except Exception:
            payload = b""
        found.append(Attachment(
            filename=part.get_filename(), content_type=ctype, size=len(payload),
            inline=disposition == "inline" or bool(_header(part, "Content-ID")),
            content=payload if len(payload) <= ATTACHMENT_BOUND else None))
    return found


def parse_message(raw: bytes, envelope_from: str = "x") -> ParsedMessage:
    """Everything the channel needs of a message; raises Unparseable when it cannot be a
    complaint or a reply (no sender address, not a message at all)."""
    try:
        msg = _read(raw)
    except Exception as err:
        raise Unparseable(f"not an email message: {err}") from None
    if msg.defects and not msg.keys():
        raise Unparseable(f"not an email message: {msg.defects[0]!r}")
    name, address = parseaddr(_header(msg, "From"))
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", address or ""):
        raise Unparseable(f"no usable sender address in From: {_header(msg, 'From')!r}")
    try:
        body = msg.get_body(preferencelist=("plain", "html"))
    except Exception:
        body = None
    text = _text_of(body) if body is not None else ""
    references = MESSAGE_ID.findall(_header(msg, "In-Reply-To"))
    references += [r for r in MESSAGE_ID.findall(_header(msg, "References")) if r not in references]
    subject = _header(msg, "Subject")
    token = CRN_TOKEN.search(subject)
    return ParsedMessage(
        message_id=message_id_of(raw), from_name=name.strip(), from_address=address.lower(),
        subject=subject, text=strip_reply(text), references=references,
        crn_token=token.group(1) if token else None,
        automatic=automatic_reason(msg, envelope_from),
        attachments=_attachments(msg, body))
