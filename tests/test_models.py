"""The intake contract (workflows/models.py): a bad payload is refused, naming the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from workflows.models import MAX_TEXT_BYTES, Category, ComplaintIntake, IntakeFlags, Source


def payload(**fields) -> dict:
    return {
        "source": "email",
        "external_ref": "msg-1",
        "customer": {"id": "CUST-1"},
        "subject": "Export fails",
        "description": "The export fails every time.",
        **fields,
    }


def refusal(data: dict) -> list[tuple[tuple, str]]:
    """The (loc, type) of every error pydantic reports for `data`."""
    with pytest.raises(ValidationError) as caught:
        ComplaintIntake.model_validate(data)
    return [(e["loc"], e["type"]) for e in caught.value.errors()]


def without(key: str) -> dict:
    data = payload()
    del data[key]
    return data


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        pytest.param(without("customer"), [(("customer",), "missing")], id="missing-customer"),
        pytest.param(without("description"), [(("description",), "missing")], id="no-description"),
        pytest.param(
            payload(customer={"name": "Ann"}),
            [(("customer", "id"), "missing")],
            id="no-customer-id",
        ),
        pytest.param(
            payload(category="complaint"), [(("category",), "enum")], id="unknown-category"
        ),
        pytest.param(payload(source="fax"), [(("source",), "enum")], id="unknown-source"),
        pytest.param(payload(impact="huge"), [(("impact",), "enum")], id="unknown-impact"),
        pytest.param(
            payload(description=""),
            [(("description",), "string_too_short")],
            id="empty-description",
        ),
        pytest.param(
            payload(description=" \n\t  "),
            [(("description",), "string_too_short")],
            id="whitespace-description",
        ),
        pytest.param(
            payload(subject="   "), [(("subject",), "string_too_short")], id="blank-subject"
        ),
        pytest.param(
            payload(customer={"id": "CUST-1", "email": "not-an-email"}),
            [(("customer", "email"), "value_error")],
            id="malformed-email",
        ),
        pytest.param(
            payload(customer={"id": "CUST-1", "email": "ann@"}),
            [(("customer", "email"), "value_error")],
            id="email-without-domain",
        ),
        pytest.param(
            payload(priority="high"), [(("priority",), "extra_forbidden")], id="unknown-field"
        ),
        pytest.param(
            payload(customer={"id": "CUST-1", "vip": True}),
            [(("customer", "vip"), "extra_forbidden")],
            id="unknown-customer-field",
        ),
        pytest.param(
            payload(flags={"angry": True}),
            [(("flags", "angry"), "extra_forbidden")],
            id="unknown-flag",
        ),
        pytest.param(
            payload(received_at="2026-11-27T18:00:00"),
            [(("received_at",), "timezone_aware")],
            id="naive-received-at",
        ),
    ],
)
def test_intake_refuses_naming_the_field(data: dict, errors: list) -> None:
    assert refusal(data) == errors


# --- the 64 KiB description limit, counted in UTF-8 bytes -------------------------------


def test_limit_is_64_kib() -> None:
    assert MAX_TEXT_BYTES == 65536


@pytest.mark.parametrize(
    ("description", "size"),
    [
        ("a" * 65536, 65536),  # exactly 64 KiB of ASCII
        ("é" * 32768, 65536),  # 2 bytes each: 32,768 x 2 = 65,536
        ("€" * 21845, 65535),  # 3 bytes each: 21,845 x 3 = 65,535
        ("a" * 65536 + "   ", 65536),  # trailing whitespace is trimmed before counting
    ],
)
def test_description_at_or_under_the_limit_is_accepted(description: str, size: int) -> None:
    got = ComplaintIntake.model_validate(payload(description=description))
    assert len(got.description.encode("utf-8")) == size


@pytest.mark.parametrize(
    ("description", "size"),
    [
        ("a" * 65537, 65537),  # one ASCII byte over
        ("é" * 32769, 65538),  # only 32,769 characters, but 65,538 bytes
        ("€" * 21846, 65538),  # 21,846 characters, 65,538 bytes
        ("a" * 65535 + "é", 65537),  # one multibyte character tips it over
    ],
)
def test_description_over_the_limit_is_refused(description: str, size: int) -> None:
    with pytest.raises(ValidationError) as caught:
        ComplaintIntake.model_validate(payload(description=description))
    errors = caught.value.errors()
    assert [(e["loc"], e["type"]) for e in errors] == [(("description",), "value_error")]
    assert f"is {size} bytes; the limit is 65536 bytes" in errors[0]["msg"]


# --- valid intakes ----------------------------------------------------------------------


@pytest.mark.parametrize("source", ["email", "web", "phone", "api"])
def test_minimal_intake_for_each_source(source: str) -> None:
    got = ComplaintIntake.model_validate(
        {
            "source": source,
            "external_ref": f"{source}-42",
            "customer": {"id": "CUST-1"},
            "subject": "Export fails",
            "description": "The export fails every time.",
        }
    )
    assert got.source == Source(source)
    assert got.external_ref == f"{source}-42"
    assert got.customer.id == "CUST-1"
    assert (got.customer.name, got.customer.email, got.customer.phone) == (None, None, None)
    assert (got.category, got.impact, got.order_id, got.received_at) == (None, None, None, None)
    assert got.flags == IntakeFlags()
    assert got.flags.model_dump() == {
        "threatens_termination": False,
        "requests_manager": False,
        "legal_or_compliance": False,
    }


def test_full_intake_from_json_is_trimmed_and_typed() -> None:
    got = ComplaintIntake.model_validate_json(
        json.dumps(
            payload(
                source="web",
                external_ref="  form-7  ",
                customer={
                    "id": "CUST-1",
                    "name": "Ann Lee",
                    "email": "ann@example.com",
                    "phone": "+44 20 7946 0000",
                },
                subject="  Invoice wrong ",
                category="billing_dispute",
                impact="single_client",
                order_id="ORD-9",
                flags={"requests_manager": True},
                received_at="2026-11-27T18:00:00+00:00",
            )
        )
    )
    assert got.external_ref == "form-7"  # trimmed
    assert got.subject == "Invoice wrong"
    assert got.customer.email == "ann@example.com"
    assert got.category is Category.billing_dispute
    assert got.flags.requests_manager is True and got.flags.threatens_termination is False
    assert got.received_at == datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def test_sub_states_are_enums_that_read_and_write_as_the_same_strings() -> None:
    """The `status` query's JSON and recorded histories hold the plain strings."""
    from workflows import models as m

    state = m.ComplaintState(crn="CRN-X", source=Source.web, external_ref="r",
                             customer_id="c", subject="s", received_at=datetime(2026, 3, 2, tzinfo=UTC))
    data = json.loads(state.model_dump_json())
    assert (data["fix"], data["kb_article"], data["refund"]["status"]) == (
        "none", "not_needed", "none")
    data |= {"fix": "open", "kb_article": "done", "refund": {"status": "pending_approval"}}
    read = m.ComplaintState.model_validate_json(json.dumps(data))
    assert read.fix is m.FixStatus.open and read.kb_article is m.KbArticleStatus.done
    assert read.refund.status is m.RefundStatus.pending_approval == "pending_approval"
    assert json.loads(read.model_dump_json())["refund"]["status"] == "pending_approval"
    assert f"{read.refund.status}" == "pending_approval"  # as messages and templates print it
    with pytest.raises(ValidationError, match="refund.status"):
        m.ComplaintState.model_validate_json(json.dumps(data | {"refund": {"status": "paid"}}))
