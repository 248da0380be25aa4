"""The customer's language (docs/languages.md): the catalogs are complete for every shipped
language, every word of a customer template is a message, German emails and pages through
the real parts (seed, intake field, Content-Language through the mail gateway, the
browser's Accept-Language in Chromium), and any other language reads English."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import jinja2
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from pydantic import ValidationError

from activities.email import CUSTOMER_TEMPLATES, TemplateRenderer
from database.seed import SeedData, load_seed
from mail import language
from mail.parsing import parse_message
from starter.console import customer as pages
from starter.operations import ActionRefused
from tests import browser as chromium
from tests import mail_channel
from tests.conftest import ComplaintStack, intake, text_of
from tests.console_stack import console_on, signed_in
from tests.language_samples import INSTANT, email_contexts
from tests.mail_channel import Channel, email, h, new_complaint, reply_to
from tests.scenarios import agree_to_refund, call, drive
from workflows import models as m
from workflows.events import INFORMATION_WAIT
from workflows.models import ComplaintIntake
from workflows.records import CustomerProfile, Order

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
channel = mail_channel.channel  # the fixture: the gateway, the worker and the pages
browser = chromium.browser  # the fixture
GERMAN_DATE = re.compile(r"\b\d{1,2}\. (Januar|Februar|März|April|Mai|Juni|Juli|August|"
                         r"September|Oktober|November|Dezember) \d{4}, \d{2}:\d{2} \S+")


# --- the catalogs ----------------------------------------------------------------------------


def extracted() -> dict[str, tuple[str, int]]:
    """Every message of the customer's emails and pages, as `pybabel extract -F babel.cfg`
    finds it: msgid -> (file, line) of its first use."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str, tuple[str, int]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map):
        assert isinstance(message, str), f"{filename}:{lineno}: plural messages are not used"
        found.setdefault(message, (filename, lineno))
    return found


def _placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"%\([a-z_]+\)s|\{[a-z_]+\}", text))


def test_every_customer_message_is_translated_in_every_shipped_language():
    messages = extracted()
    assert len(messages) > 100  # the emails, the pages and their sentences in Python
    template = read_po((language.LOCALE_DIR / "messages.pot").open("rb"))
    assert {m.id for m in template if m.id} == set(messages), (
        "mail/locale/messages.pot is out of date: run the extraction in docs/languages.md")
    for lang in language.SHIPPED:
        if lang == language.ENGLISH:
            continue  # the messages are English
        catalog = read_po((language.LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb"))
        problems = []
        for msgid, (filename, line) in messages.items():
            entry = catalog.get(msgid)
            where = f"{filename}:{line} {msgid!r}"
            if entry is None:
                problems.append(f"missing: {where}")
            elif not entry.string:
                problems.append(f"untranslated: {where}")
            elif entry.fuzzy:
                problems.append(f"fuzzy: {where}")
            elif _placeholders(str(entry.string)) != _placeholders(msgid):
                problems.append(f"placeholders differ: {where} -> {entry.string!r}")
        assert not problems, f"{lang} catalog:\n" + "\n".join(problems)
        assert not catalog.fuzzy, f"the {lang} catalog's header is marked fuzzy"


def _customer_templates() -> list[Path]:
    emails = [TEMPLATES / "email" / f"{name}.txt.j2" for name in sorted(CUSTOMER_TEMPLATES)]
    return emails + sorted((TEMPLATES / "customer").glob("*.html.j2"))


def test_every_word_of_a_customer_template_is_a_message():
    """Text written into a customer template outside `_()` would reach every language in
    English: none is there (the email's `Subject:` line and HTML markup aside)."""
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"])  # nosec B701 # lexed, never rendered
    assert len(_customer_templates()) == len(CUSTOMER_TEMPLATES) + 4
    for path in _customer_templates():
        source = path.read_text()
        text = "".join(value for _line, kind, value in env.lex(source) if kind == "data")
        text = re.sub(r"(?s)<style>.*?</style>", "", text)
        text = re.sub(r"<[^>]*>", " ", text).replace("Subject:", "")
        words = re.findall(r"[A-Za-z]{2,}", text)
        assert not words, f"{path.name}: words outside a message: {words}"


def test_string_literals_in_customer_templates_are_messages():
    """A sentence in an expression (`"You" if ...`) is as English as loose text."""
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"])  # nosec B701 # lexed, never rendered
    for path in _customer_templates():
        tokens = [(k, v) for _l, k, v in env.lex(path.read_text()) if k != "whitespace"]
        for i, (kind, value) in enumerate(tokens):
            if kind != "string" or " " not in value:
                continue
            before = [v for _k, v in tokens[max(0, i - 2):i]]
            assert before == ["_", "("], f"{path.name}: {value!r} is not a message"


def test_german_emails_say_every_message_in_german_with_german_dates_and_amounts():
    renderer = TemplateRenderer(TEMPLATES)
    german = language.translations("de")
    # "Resolution Confirmed" stays as it is: the words the mail gateway reads as a sign-off.
    sentences = [msgid for msgid in extracted() if len(msgid) > 14
                 and german.gettext(msgid) != msgid and msgid != "Resolution Confirmed"]
    for name, context in email_contexts():
        subject, body = renderer.render(name, context, "de")
        english = [s for s in sentences if s.split("%(")[0].strip() and
                   s.split("%(")[0].strip() in subject + body]
        assert not english, f"{name}: English left in German: {english}"
    subject, body = renderer.render("acknowledgement", dict(email_contexts())["acknowledgement"],
                                    "de")
    assert subject == "[CRN-2026-000123] Wir haben Ihre Beschwerde erhalten: Broken delivery"
    assert "Voraussichtlich erledigt: 7. Dezember 2026, 16:00 MEZ" in body
    assert "innerhalb von 1 Stunde" in body and "mindestens alle 24 Stunden" in body
    subject, body = renderer.render("refund_applied", dict(email_contexts())["refund_applied"],
                                    "de-AT")
    assert subject == "[CRN-2026-000123] Ihrem Konto wurden 1.234,50\xa0€ gutgeschrieben"
    assert "Bestellung ORD-1\n1.234,50\xa0€ gutgeschrieben (Gutschrift CN-1)" in body
    # The policy's closing text, as the catalog has it.
    _, body = renderer.render("final_response", dict(email_contexts())["final_response"], "de")
    assert "\nDies ist unsere abschließende Antwort auf Ihre Beschwerde." in body
    # The workflow's own fallback words are translated too.
    _, body = renderer.render("not_a_complaint", {**dict(email_contexts())["not_a_complaint"],
                                                   "customer_name": "customer"}, "de")
    assert body.startswith("Guten Tag liebe Kundin, lieber Kunde,\n")


def test_any_other_language_reads_english_and_staff_emails_stay_english():
    renderer = TemplateRenderer(TEMPLATES)
    for name, context in email_contexts():
        english = renderer.render(name, context)
        assert renderer.render(name, context, "fr") == english
        assert renderer.render(name, context, "en-GB") == english
    subject, body = renderer.render("refund_applied", dict(email_contexts())["refund_applied"])
    assert subject == "[CRN-2026-000123] A credit of 1234.50 EUR has been applied to your account"
    staff = {"crn": "CRN-1", "subject": "S", "owner_name": "Otto", "kind": "survey",
             "to": "the customer"}
    assert renderer.render("email_failed", staff, "de") == renderer.render("email_failed", staff)
    assert "email_failed" not in CUSTOMER_TEMPLATES


# --- choosing the language -------------------------------------------------------------------


def test_language_tags_and_negotiation():
    assert language.language_tag("DE_de") == "de-DE"
    assert language.language_tag("zh-Hant-TW") == "zh-Hant-TW"
    for bad in ("", "*", "i", "german language", "de--DE", None):
        assert language.language_tag(bad) is None
    assert [language.shipped(t) for t in ("de", "de-AT", "DE", "fr", None, "x")] == \
        ["de", "de", "de", "en", "en", "en"]
    assert language.first_listed("de-DE, en") == "de-DE"
    assert language.first_listed("") is None
    assert language.from_accept_language("fr-CH, fr;q=0.9, de;q=0.8, en;q=0.7") == "de"
    assert language.from_accept_language("en;q=0.5, de-AT") == "de"
    assert language.from_accept_language("de;q=0, en") == "en"
    assert language.from_accept_language("fr, es;q=0.9") is None
    assert language.from_accept_language("de;q=abc, en") == "en"
    assert language.from_accept_language(None) is None


def test_the_intake_takes_a_language_tag_and_refuses_anything_else():
    assert ComplaintIntake.model_validate(intake(language="de-AT")).language == "de-AT"
    assert "language" not in ComplaintIntake.model_validate(intake()).model_dump(mode="json")
    for bad in ("Deutsch bitte", "d", "de_DE", "x" * 40):
        with pytest.raises(ValidationError, match="language"):
            ComplaintIntake.model_validate(intake(language=bad))
    with pytest.raises(ValidationError, match="language"):
        CustomerProfile(id="c", name="n", language="<script>")


def test_an_emails_content_language_is_its_language():
    msg = email(Content_Language="de-DE, en")
    assert parse_message(bytes(msg)).language == "de-DE"
    assert parse_message(bytes(email())).language == ""
    assert parse_message(bytes(email(Content_Language="*"))).language == ""


# --- through the real parts --------------------------------------------------------------------

HANSA = CustomerProfile(id="cust-hansa", name="Hansa Handel GmbH", email="erika@hansa.example",
                        language="de")
HANSA_ORDER = Order(id="ord-hansa-1", customer_id="cust-hansa", net_amount=Decimal("1500.00"),
                    tax_rate=Decimal("0.19"), currency="EUR")


def body_of(mail: EmailMessage) -> str:
    """The text part as the customer reads it (the sink keeps SMTP's CRLF line ends)."""
    return text_of(mail).replace("\r\n", "\n")


def german_date_of(instant: datetime | None, stack: ComplaintStack) -> str:
    return language.when(instant, stack.policy.calendar.timezone, "de")


async def test_a_german_customer_from_the_seed_gets_german_emails(stack: ComplaintStack):
    async with stack.pool.acquire() as conn:
        assert await load_seed(conn, SeedData(customers=[HANSA], orders=[HANSA_ORDER])) == {
            "staff": 0, "customers": 1, "orders": 1}
    customer = {"id": "cust-hansa", "name": "Erika Mustermann", "email": "erika@hansa.example"}
    async with stack.worker():
        crn, owner = await agree_to_refund(stack, "1234.50", customer=customer,
                                           order_id="ord-hansa-1")
        state = await stack.status(crn)
        assert state.language == "de"  # from the profile, carried in the complaint's state
        ack = await stack.mail_for(crn, "acknowledgement")
        assert h(ack, "Subject") == f"[{crn}] Wir haben Ihre Beschwerde erhalten: Export shows " \
                                    "wrong totals"
        text = body_of(ack)
        assert text.startswith("Guten Tag Erika Mustermann,\n\nvielen Dank für Ihre Nachricht.")
        due = german_date_of(state.estimated_resolution_at, stack)
        assert GERMAN_DATE.fullmatch(due) and f"Voraussichtlich erledigt: {due}\n" in text
        assert "Estimated" not in text and "Dear" not in text
        # The owner's notice is staff mail: English.
        owner_mail = await stack.mail_for(crn, "owner_assigned")
        assert str(owner_mail["Subject"]).startswith(f"[{crn}] You own this complaint: ")
        assert "Guten Tag" not in body_of(owner_mail) and "Beschwerde" not in body_of(owner_mail)

        await stack.act(crn, "send_customer_update", m.CustomerUpdate(
            actor=owner, message="Wir haben die doppelte Abbuchung gefunden."))
        update = await stack.mail.wait_for(
            lambda mail: mail["X-Complaint-Reference"] == crn
            and str(mail["X-Complaint-Message-Kind"]).startswith("customer_update:"))
        assert h(update, "Subject") == f"[{crn}] Neuigkeiten zu Ihrer Beschwerde: Export " \
                                       "shows wrong totals"
        assert body_of(update).startswith("Wir haben die doppelte Abbuchung gefunden.\n")
        owner_name = (await stack.rows("SELECT name FROM staff WHERE id = $1", owner))[0][0]
        assert body_of(update).endswith(f"--\n{owner_name}\nKundenservice (Vorgang {crn})\n")

        await stack.until(crn, lambda s: s.refund.status == "pending_approval")
        await stack.act(crn, "decide_refund", m.RefundDecision(
            actor="fiona", approved=True, amount=Decimal("1234.50")))
        applied = await stack.mail_for(crn, "refund_applied:1")
        # Read as sent (a subject beyond ASCII starts on the header's own line).
        assert str(applied["Subject"]) == \
            f"[{crn}] Ihrem Konto wurden 1.234,50\xa0€ gutgeschrieben"
        assert "1.234,50\xa0€ gutgeschrieben (Gutschrift " in body_of(applied)


async def test_the_intake_field_sets_the_language_and_an_unknown_one_reads_english(
        stack: ComplaintStack):
    async with stack.worker():
        german = (await stack.submit(language="de-CH")).crn
        french = (await stack.submit(language="fr")).crn
        ack_de = body_of(await stack.mail_for(german, "acknowledgement"))
        ack_fr = body_of(await stack.mail_for(french, "acknowledgement"))
        assert (await stack.status(german)).language == "de-CH"
        assert (await stack.status(french)).language == "fr"
    assert ack_de.startswith("Guten Tag Jon Kite,")
    assert ack_fr.startswith("Dear Jon Kite,\n\nThank you for contacting us.")
    assert "Estimated resolution by:" in ack_fr and not GERMAN_DATE.search(ack_fr)


async def test_a_german_customer_is_asked_for_information_reminded_and_told_of_changes_in_german(
        stack: ComplaintStack):
    """Waiting on the customer and re-triage (docs/changes.md) for a German complaint: the
    request for information and its reminder in German (the wait's end as German writes
    it), and the status page's sentences about what changed, English ones as they were."""
    async with stack.worker():
        crn, state = await drive(stack, "owner", language="de")
        owner = state.owner
        assert owner is not None
        owner_name = (await stack.rows("SELECT name FROM staff WHERE id = $1", owner))[0][0]
        await stack.act(crn, "record_phone_contact", call(owner))
        await stack.act(crn, "retriage", m.Retriage(actor=owner, severity=4,
                                                    reason="only one report is affected"))
        await stack.act(crn, "request_information", m.InformationRequest(
            actor=owner, message="Welche Exportdatei ist es?"))
        asked = await stack.mail_for(crn, "information_request:1")
        assert str(asked["Subject"]) == \
            f"[{crn}] Wir benötigen einige Angaben von Ihnen: Export shows wrong totals"
        assert body_of(asked) == (
            "Welche Exportdatei ist es?\n\n"
            "Bitte senden Sie uns die Angaben als Antwort auf diese E-Mail.\n\n"
            "Solange wir auf Ihre Antwort warten, ruht die Frist für die Erledigung Ihrer "
            f"Beschwerde.\n\n--\n{owner_name}\nKundenservice (Vorgang {crn})\n")

        state = await stack.status(crn)
        assert state.paused is not None
        retriaged = next(e for e in state.timeline if e.event == "retriaged")
        assert pages.changes_for_customer(state, "de") == [
            f"Wir warten seit dem {language.when(state.paused.since, 'UTC', 'de')} auf Ihre "
            "Angaben: Bitte senden Sie sie uns als Antwort auf unsere E-Mail. Die Frist für die "
            "Erledigung Ihrer Beschwerde ruht so lange.",
            f"Die Priorität Ihrer Beschwerde wurde am {language.when(retriaged.at, 'UTC', 'de')} "
            "geändert: von Schweregrad 3 auf Schweregrad 4 (1 ist am dringendsten)."]
        assert pages.changes_for_customer(state, "en") == [
            f"We are waiting for your information since {state.paused.since:%d %B %Y, %H:%M} "
            "UTC: reply to our email with it. The time we take is paused meanwhile.",
            f"The priority of your complaint changed on {retriaged.at:%d %B %Y, %H:%M} UTC: "
            "severity 3 became severity 4 (1 is the most urgent)."]

        wait = state.deadline(INFORMATION_WAIT)
        assert wait is not None and wait.warn_at is not None
        await stack.sleep(wait.warn_at + timedelta(seconds=1)
                          - await stack.env.get_current_time())
        reminder = await stack.mail_for(crn, "information_reminder:1")
        assert str(reminder["Subject"]) == (f"[{crn}] Erinnerung: die Angaben, um die wir Sie "
                                            "gebeten haben: Export shows wrong totals")
        due = german_date_of(wait.due_at, stack)
        assert GERMAN_DATE.fullmatch(due)
        assert body_of(reminder) == (
            "Guten Tag Jon Kite,\n\n"
            f"wir haben Sie um einige Angaben zu Ihrer Beschwerde {crn} gebeten und noch keine "
            "Antwort\nvon Ihnen erhalten. Bitte senden Sie sie uns als Antwort auf unsere "
            f"E-Mail.\n\nWenn wir bis {due} nichts von Ihnen hören, arbeitet {owner_name} mit "
            f"den Angaben weiter, die uns vorliegen.\n\n--\n{owner_name}\n"
            f"Kundenservice (Vorgang {crn})\n")


async def test_german_mail_through_the_gateway_and_german_pages_in_chromium(
        channel: Channel, browser):  # noqa: F811 # the fixtures
    # Content-Language: de on the customer's email: the complaint is German.
    crn, _msg, ack = await new_complaint(channel, Content_Language="de-DE")
    assert (await channel.stack.status(crn)).language == "de-DE"
    assert str(ack["Subject"]).endswith("Wir haben Ihre Beschwerde erhalten: Export shows "
                                        "wrong totals")
    text = body_of(ack)
    assert "Den Stand Ihrer Beschwerde sehen Sie jederzeit hier:" in text
    status_de = channel.link(ack, "status")
    # An emailed sign-off nothing authenticated: the link to confirm it comes in German too.
    signoff = reply_to(ack, "Resolution Confirmed, danke.")
    assert await channel.deliver(signoff) == "sign_off_link"
    confirm = await channel.stack.mail.wait_for(
        lambda mail: mail["X-Complaint-Reference"] == crn
        and str(mail["X-Complaint-Message-Kind"]).startswith("sign_off_confirm:"))
    assert str(confirm["Subject"]) == \
        f"[{crn}] Bitte bestätigen Sie, dass Ihre Beschwerde erledigt ist"
    assert "diese hat nicht nachgewiesen, dass sie\nvon Ihnen stammt" in body_of(confirm)
    # An English complaint (no Content-Language), read in browsers of three languages.
    crn_en, _msg, ack_en = await new_complaint(channel, subject="Invoice twice")
    assert (await channel.stack.status(crn_en)).language is None
    assert body_of(ack_en).startswith("Dear Kite Studio,")  # the seed's name for kite@
    status_en = channel.link(ack_en, "status")

    async def page(url: str, locale: str) -> tuple[str, str, str | None]:
        context = await browser.new_context(locale=locale)
        try:
            tab = await context.new_page()
            response = await tab.goto(url)
            assert response is not None and response.ok
            return (await tab.inner_text("body"), await tab.get_attribute("html", "lang") or "",
                    response.headers.get("content-language"))
        finally:
            await context.close()

    received = (await channel.stack.status(crn)).received_at
    body, lang, header = await page(status_de, "en-US")  # the complaint's language wins
    assert (lang, header) == ("de", "de")
    assert f"Ihre Beschwerde {crn}" in body and "Aktueller Stand" in body
    assert f"eingegangen am {language.when(received, 'UTC', 'de')}" in body
    assert GERMAN_DATE.search(body) and "Where it stands" not in body

    body, lang, _ = await page(status_en, "de-DE")  # no language of its own: the browser's
    assert lang == "de" and "Aktueller Stand" in body and "Wer sie betreut" in body
    body, lang, _ = await page(status_en, "fr-FR")  # a language without a catalog: English
    assert lang == "en" and "Where it stands" in body and "Aktueller Stand" not in body

    # Once it has an owner, the status page offers to withdraw it: the question in German.
    await channel.stack.act(crn_en, "acknowledge_personally", m.PersonalAcknowledgement(
        actor="ana", message="Dear Jon, I am sorry about the invoice; I am looking into it."))
    await channel.stack.until(crn_en, lambda s: s.owner is not None)
    await channel.stack.settle()
    context = await browser.new_context(locale="de-DE")
    tab = await context.new_page()
    await tab.goto(status_en)
    await tab.click("text=Diese Beschwerde zurückziehen")
    assert await tab.inner_text("h1") == "Möchten Sie Ihre Beschwerde zurückziehen?"
    await tab.fill("#comment", "Hat sich erledigt")
    await tab.click("button:has-text('Meine Beschwerde zurückziehen')")
    await tab.wait_for_selector("text=Ihre Beschwerde ist zurückgezogen.")
    await tab.goto(status_en.replace("/c/status/", "/c/nothing/"))
    assert await tab.inner_text("h1") == "Dieser Link kann nicht verwendet werden"
    await context.close()
    withdrawn = await channel.stack.until(crn_en, lambda s: s.outcome is not None)
    assert withdrawn.outcome == m.ComplaintOutcome.withdrawn


def test_page_language_prefers_the_complaints_own_then_the_browser():
    class Request:
        def __init__(self, accept: str | None) -> None:
            self.headers = {"accept-language": accept} if accept else {}

    def state(lang: str | None) -> m.ComplaintState:
        return m.ComplaintState(crn="CRN-1", source=m.Source.web, external_ref="r",
                                customer_id="c", subject="s", received_at=INSTANT,
                                language=lang)

    assert pages.page_language(Request("de"), state(None)) == "de"  # type: ignore[arg-type]
    assert pages.page_language(Request("de"), state("en")) == "en"  # type: ignore[arg-type]
    assert pages.page_language(Request("en"), state("de-AT")) == "de"  # type: ignore[arg-type]
    assert pages.page_language(Request("de"), state("fr")) == "de"  # type: ignore[arg-type]
    assert pages.page_language(Request(None), state("fr")) == "en"  # type: ignore[arg-type]
    assert pages.page_language(Request("fr")) == "en"  # type: ignore[arg-type]


def test_a_refused_answer_reads_in_the_pages_language():
    """The workflow's reason is English (the staff's words): a German page says it in its own."""
    err = ActionRefused("the complaint is closed")
    _status, sentence = pages.refusals.lookup(pages.REFUSED, err.kind)
    assert pages._(language.ENGLISH, sentence).format(reason=pages._reason(err, "en")) == \
        "the complaint is closed. Please reply to our email instead."
    assert pages._("de", sentence).format(reason=pages._reason(err, "de")) == (
        "Diese Antwort kann jetzt nicht gespeichert werden. Bitte antworten Sie stattdessen "
        "auf unsere E-Mail.")


async def test_the_console_says_which_language_the_customer_writes_in(stack: ComplaintStack):
    """Staff write the updates themselves: the complaint's page names the customer's language
    (the console itself stays English)."""
    async with console_on(stack) as console:
        german = (await stack.submit(language="de-AT")).crn
        french = (await stack.submit(language="fr")).crn
        english = (await stack.submit()).crn
        async with signed_in(console, "ana") as ana:
            pages_of = {crn: (await ana.get(f"/console/complaints/{crn}")).text
                        for crn in (german, french, english)}
    assert "Writes in: German (Austria) (de-AT)" in pages_of[german]
    assert "Writes in: French (fr; written to in English)" in pages_of[french]
    assert "Writes in:" not in pages_of[english]
    assert language.described(None) == "English (none given)"
