"""Customer links: signed, for one complaint and one question, expiring (itsdangerous).

The email activity signs them (the secret never enters workflow code or history); the
customer pages (`complaints serve`, starter/console/customer.py) read them back. A token
names the complaint, the question and the email that carried it; each question has its
own salt, so a link for the survey cannot answer the proposal. That a link works once is
recorded in PostgreSQL (database/mailbox.py, `customer_link_uses`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from mail.language import N_

# How long each kind of link works after its email was sent.
MAX_AGE: dict[str, timedelta] = {
    "agreement": timedelta(days=30),
    "sign_off": timedelta(days=30),
    "survey": timedelta(days=30),
    # The read-only status page: long enough for a complaint's life, short enough that a
    # forwarded acknowledgement does not open the complaint's messages for a year.
    "status": timedelta(days=90),
    # Signed afresh each time the status page is shown, which links to it.
    "withdraw": timedelta(days=1),
}
# The links each customer email carries (by template), in the template's `links`.
LINKS_FOR_TEMPLATE: dict[str, tuple[str, ...]] = {
    "acknowledgement": ("status",),
    "solution_proposal": ("agreement",),
    "agreement_reminder": ("agreement",),
    "sign_off_request": ("sign_off",),
    # An emailed sign-off from a sender nothing authenticated, confirmed on the page.
    "sign_off_confirm": ("sign_off",),
    "survey": ("survey",),
}


class LinkRefused(ValueError):
    """A link that is tampered with, for another question, or expired."""


@dataclass(frozen=True)
class LinkTarget:
    crn: str
    question: str
    email: str  # the outbox kind of the email that carried it (one use per email)


class CustomerLinks:
    def __init__(self, secret: str, public_url: str) -> None:
        self.secret, self.public_url = secret, public_url.rstrip("/")

    @property
    def enabled(self) -> bool:
        return bool(self.secret)

    def _serializer(self, question: str, now: float | None = None) -> URLSafeTimedSerializer:
        if question not in MAX_AGE:
            raise LinkRefused(f"there is no question {question!r}")
        signer: type[TimestampSigner] = TimestampSigner
        if now is not None:  # signing as of another instant (tests of expiry)
            stamp = int(now)

            class _At(TimestampSigner):
                def get_timestamp(self) -> int:
                    return stamp
            signer = _At
        return URLSafeTimedSerializer(self.secret, salt=f"complaints-link:{question}",
                                      signer=signer)

    def token(self, crn: str, question: str, email: str, now: float | None = None) -> str:
        return self._serializer(question, now).dumps({"c": crn, "e": email})

    def url(self, crn: str, question: str, email: str) -> str | None:
        if not self.enabled:
            return None
        return f"{self.public_url}/c/{question}/{self.token(crn, question, email)}"

    def for_email(self, crn: str, template: str, email: str) -> dict[str, str | None]:
        """The `links` an email template renders with (None: links are switched off)."""
        return {q: self.url(crn, q, email) for q in LINKS_FOR_TEMPLATE.get(template, ())}

    def read(self, question: str, token: str, now: float | None = None) -> LinkTarget:
        if not self.enabled:
            raise LinkRefused(N_("customer links are switched off on this server"))
        serializer = self._serializer(question)
        max_age = int(MAX_AGE[question].total_seconds())
        try:
            if now is None:
                data = serializer.loads(token, max_age=max_age)
            else:
                data, signed_at = serializer.loads(token, return_timestamp=True)
                if now - signed_at.timestamp() > max_age:
                    raise SignatureExpired("expired")
        except SignatureExpired:
            raise LinkRefused(N_("this link has expired; reply to our email instead")) from None
        except BadSignature:
            raise LinkRefused(N_("this link is not valid (it may have been cut short or "
                                 "changed); reply to our email instead")) from None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            raise LinkRefused(N_("this link is not valid"))
        return LinkTarget(crn=data["c"], question=question, email=str(data.get("e", "")))
