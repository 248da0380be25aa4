"""A customer's email as it came, for staff to read in full (docs/desk.md): its whole text
(quotes and signature kept) and, when it has one, its HTML part sanitised by Ammonia (nh3):
no script, no style, no form, no image or other remote content, links that open nothing
of ours. The console shows the sanitised HTML under a policy that loads nothing remote.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import nh3

from mail.parsing import _text_of, clean

# What an HTML email may keep: text structure and links. No <img> (a remote image is a
# read receipt), no style attribute (CSS can load URLs), nothing interactive.
TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "dd", "div", "dl", "dt", "em", "h1",
        "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "q", "s", "small",
        "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
        "u", "ul"}
ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}


@dataclass(frozen=True)
class Original:
    subject: str
    sender: str
    date: str
    text: str  # the whole text part (an HTML-only email: its text rendering)
    html: str | None  # the HTML part, sanitised; None when the email had none


def sanitise(html: str) -> str:
    return nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES,
                     url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow",
                     clean_content_tags={"script", "style"})


def read_original(raw: bytes) -> Original:
    """The email's parts as staff read them. Never raises on a malformed message: what
    cannot be read is left out."""
    msg: EmailMessage = BytesParser(policy=policy.default).parsebytes(raw)
    text, html = "", None
    try:
        plain = msg.get_body(preferencelist=("plain",))
        rich = msg.get_body(preferencelist=("html",))
    except Exception:
        plain = rich = None
    if plain is not None:
        text = clean(_text_of(plain))
    if rich is not None:
        if not text:
            text = clean(_text_of(rich))
        try:
            content = rich.get_content()
        except Exception:
            payload = rich.get_payload(decode=True)
            content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        html = sanitise(content if isinstance(content, str) else content.decode("utf-8", "replace"))

    def header(name: str) -> str:
        try:
            return clean(str(msg.get(name, "")))
        except Exception:
            return ""

    return Original(subject=header("Subject"), sender=header("From"), date=header("Date"),
                    text=text.strip(), html=html)
