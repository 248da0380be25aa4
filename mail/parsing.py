"""Reading an inbound email: the standard library's `email` (policy.default) for the
structure, headers and charsets; `mail-parser-reply` to strip quoted replies and
signatures (Gmail, Outlook, Apple Mail and a dozen languages); `html2text` for HTML-only
mail. Pure functions over bytes, so they are tested without a server.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import sys
from dataclasses import asdict, dataclass, field, replace
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parseaddr

import html2text
from mailparser_reply import EmailReplyParser

from mail.language import first_listed

CRN_TOKEN = re.compile(r"\[(CRN-[A-Z2-7]{10})\]")
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# Attachments are kept up to this size each (larger ones: name, type and size only).
ATTACHMENT_BOUND = 5 * 1024 * 1024
REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pt", "sv", "pl", "ja"]
SIGN_OFF_PHRASE = "resolution confirmed"
# The text handed to reply stripping is capped (the rest is kept, unstripped, after it): the
# library's regexes cost more than linear time in the length of what they read.
STRIP_CAP = 64 * 1024
# A quote header ("On Tue, 1 Dec 2026, Jon <jon@x> wrote:") is never this long; a longer line
# is hidden from the library's header regexes, whose backtracking grows much faster than
# linearly with the length of one line ("On Mon, wrote " repeated took a minute at 56 KB).
HEADER_LINE_MAX = 300
# Words after "Resolution Confirmed" on its line that take it back ("Resolution Confirmed?
# No", "... is not", "... isn't"); a question mark refuses too.
_NEGATION = re.compile(r"\b(?:no|not|never|nope|nein|nicht|non|nee)\b|n['’]t\b|\?")
# Control characters no text of ours keeps (NUL first); line breaks and tabs stay.
_CONTROL = {c: None for c in range(0x20) if chr(c) not in "\n\t"} | {0x7F: None}


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
    flag: str = ""  # why the text is not as usual (reply stripping timed out: kept unstripped)
    # The customer's language as their mail says it (`Content-Language` of the message, else
    # of its text): a tag, or "" (docs/languages.md).
    language: str = ""

    @property
    def confirms_resolution(self) -> bool:
        return confirms_resolution(self.text)


def confirms_resolution(text: str) -> bool:
    """The customer's own sign-off: the first non-empty line of the stripped reply starts with
    "Resolution Confirmed" and nothing after it on that line takes it back; a quote never
    counts (quoted lines are gone, and one that survived stripping is not the first line)."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    folded = first.casefold().lstrip("*_\"' ")
    if not folded.startswith(SIGN_OFF_PHRASE):
        return False
    return not _NEGATION.search(folded[len(SIGN_OFF_PHRASE):])


def clean(text: str) -> str:
    """Text as the product keeps it: no NUL or other control character (PostgreSQL refuses
    NUL; the others only hide text), CR LF as LF."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.translate(_CONTROL)


def _header_nul(msg: Message) -> str | None:
    """The first header whose value holds a NUL (raw, or RFC 2047-encoded as `=00`)."""
    for name in ("From", "Subject", "Message-ID", "In-Reply-To", "References"):
        if "\x00" in _header(msg, name):
            return name
    return None


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
    if found and found.group(0).isprintable():  # a NUL or control character: the hash below
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
        raw = part.get_payload(decode=True)
        content = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else ""
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    if part.get_content_type() == "text/html":
        converter = html2text.HTML2Text()
        converter.ignore_images, converter.body_width = True, 0
        content = converter.handle(content)
    return content


def strip_reply(text: str) -> str:
    """The new text of a reply: quoted earlier messages and the signature removed. The
    first STRIP_CAP characters are stripped; whatever follows them is a quote or kept as is."""
    text = text.replace("\r\n", "\n")
    head, tail = text[:STRIP_CAP], text[STRIP_CAP:]
    hidden: dict[str, str] = {}

    def hide(match: re.Match[str]) -> str:
        key = f"LONGLINEPLACEHOLDER{len(hidden):06d}X"
        hidden[key] = match.group(0)
        return key

    shown = re.sub(rf"^[^\n]{{{HEADER_LINE_MAX + 1},}}$", hide, head, flags=re.MULTILINE)
    try:
        replies = EmailReplyParser(languages=REPLY_LANGUAGES).read(text=shown).replies
        body = replies[0].body if replies else shown
    except Exception:  # the library's heuristics never cost a message its text
        body = shown
    cut = len(body.strip()) < len(shown.strip())
    for key, line in hidden.items():
        body = body.replace(key, line)
    lines = [line for line in body.strip().splitlines() if not line.startswith(">")]
    stripped = "\n".join(lines).strip()
    if tail and not cut:  # nothing was quoted in the head: the rest is the customer's too
        stripped = (stripped + tail).strip()
    return stripped or text.strip()


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
            decoded = part.get_payload(decode=True)
            payload = decoded if isinstance(decoded, bytes) else b""
        except Exception:
            payload = b""
        try:
            filename = part.get_filename()
        except Exception:  # a broken RFC 2231 name: the file is kept without it
            filename = None
        found.append(Attachment(
            filename=clean(filename) if filename else filename, content_type=ctype, size=len(payload),
            inline=disposition == "inline" or bool(_header(part, "Content-ID")),
            content=payload if len(payload) <= ATTACHMENT_BOUND else None))
    return found


def parse_message(raw: bytes, envelope_from: str = "x", strip: bool = True) -> ParsedMessage:
    """Everything the channel needs of a message; raises Unparseable when it cannot be a
    complaint or a reply (no sender address, not a message at all, a NUL in a header).
    Without `strip` the text is kept whole (reply stripping timed out on it)."""
    try:
        msg = _read(raw)
    except Exception as err:
        raise Unparseable(f"not an email message: {err}") from None
    if msg.defects and not msg.keys():
        raise Unparseable(f"not an email message: {msg.defects[0]!r}")
    nul = _header_nul(msg)
    if nul:  # RFC 5322 allows no NUL; such a header is forged or broken, not a customer's
        raise Unparseable(f"the {nul} header holds a NUL character")
    name, address = parseaddr(_header(msg, "From"))
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", address or ""):
        raise Unparseable(f"no usable sender address in From: {_header(msg, 'From')!r}")
    try:
        body = msg.get_body(preferencelist=("plain", "html"))
    except Exception:
        body = None
    text = clean(_text_of(body)) if body is not None else ""
    references = MESSAGE_ID.findall(_header(msg, "In-Reply-To"))
    references += [r for r in MESSAGE_ID.findall(_header(msg, "References")) if r not in references]
    subject = clean(_header(msg, "Subject"))
    token = CRN_TOKEN.search(subject)
    return ParsedMessage(
        message_id=message_id_of(raw), from_name=clean(name).strip(),
        from_address=address.lower(), subject=subject,
        text=strip_reply(text) if strip else text.strip(), references=references,
        crn_token=token.group(1) if token else None,
        automatic=automatic_reason(msg, envelope_from),
        attachments=_attachments(msg, body),
        language=first_listed(_header(msg, "Content-Language"))
        or (first_listed(_header(body, "Content-Language")) if body is not None else None)
        or "")


# --- off the event loop, with a hard time limit ----------------------------------------------


def _to_json(parsed: ParsedMessage) -> str:
    data = asdict(parsed)
    for a in data["attachments"]:
        a["content"] = None if a["content"] is None else base64.b64encode(a["content"]).decode()
    return json.dumps(data)


def _from_json(text: str) -> ParsedMessage:
    data = json.loads(text)
    files = [Attachment(**{**a, "content": None if a["content"] is None
                           else base64.b64decode(a["content"])}) for a in data.pop("attachments")]
    return ParsedMessage(**data, attachments=files)


async def parse_isolated(raw: bytes, envelope_from: str, limit: float) -> ParsedMessage:
    """parse_message in a child process that is killed after `limit` seconds: a message that
    makes the parser or the reply stripping slow costs its own process, never the worker's
    event loop. On time-out the message is read again without stripping (the email parser
    itself is linear) and flagged. Raises Unparseable as parse_message does."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mail.parsing", envelope_from,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(child.communicate(raw), limit)
    except TimeoutError:
        child.kill()
        await child.wait()
        parsed = await asyncio.to_thread(parse_message, raw, envelope_from, False)
        return replace(parsed, flag=f"reply stripping took over {limit:g} s: the text is "
                                    "kept unstripped")
    if child.returncode == 3:
        raise Unparseable(err.decode("utf-8", "replace").strip())
    if child.returncode != 0:  # the same bytes fail the same way: no retry would read them
        raise Unparseable(f"the mail parser failed (exit {child.returncode}): "
                          f"{err.decode('utf-8', 'replace').strip()[-300:]}")
    return _from_json(out.decode("utf-8"))


def _child() -> int:
    """`python -m mail.parsing ENVELOPE_FROM` < raw message: the parsed message as
    JSON on stdout; exit 3 with the reason on stderr when it is Unparseable."""
    raw = sys.stdin.buffer.read()
    try:
        parsed = parse_message(raw, sys.argv[1] if len(sys.argv) > 1 else "x")
    except Unparseable as err:
        sys.stderr.write(str(err))
        return 3
    sys.stdout.write(_to_json(parsed))
    return 0


if __name__ == "__main__":
    raise SystemExit(_child())
