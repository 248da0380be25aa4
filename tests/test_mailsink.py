"""The local SMTP sink keeps what it receives, and can be stopped and restarted on its port."""

from email.message import EmailMessage

import aiosmtplib
import pytest

from devstack.mailsink import MailSink


def _email(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "care@example.com"
    msg["To"] = "alice@example.com"
    msg["Subject"] = subject
    msg.set_content("Your complaint has been received.")
    return msg


async def test_sink_keeps_messages_and_survives_an_outage(tmp_path):
    sink = MailSink(tmp_path / "mail")
    sink.start()
    try:
        port = sink.port
        await aiosmtplib.send(_email("Complaint received"), hostname="127.0.0.1", port=port)

        received = await sink.wait_for(lambda m: m["Subject"] == "Complaint received")
        assert received["To"] == "alice@example.com"
        assert "has been received" in received.get_content()
        assert received["X-RcptTo"] == "alice@example.com"
        [eml] = (tmp_path / "mail").glob("*.eml")
        assert eml.name.endswith("-1-alice@example.com.eml")
        assert b"Subject: Complaint received" in eml.read_bytes()

        sink.stop()
        with pytest.raises(aiosmtplib.SMTPConnectError):
            await aiosmtplib.send(_email("During the outage"), hostname="127.0.0.1", port=port)

        sink.start()
        assert sink.port == port
        await aiosmtplib.send(_email("After the outage"), hostname="127.0.0.1", port=port)
        await sink.wait_for(lambda m: m["Subject"] == "After the outage")
        assert [m["Subject"] for m in sink.messages] == ["Complaint received", "After the outage"]
        assert len(sink.matching(lambda m: "outage" in m["Subject"])) == 1

        sink.clear()
        assert sink.messages == []
        with pytest.raises(AssertionError, match="received 0"):
            await sink.wait_for(lambda m: True, timeout=0.2)
    finally:
        sink.stop()
