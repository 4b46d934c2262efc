"""Customers in and out as CSV: Sophie imports her CRM's file (twice), and exports the customer base safely."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from django.core.management import call_command

from customers import csv_io
from customers.models import Customer, CustomerImport, Identity, Organization
from customers.tasks import run_customer_import
from tests.clients import logged_in

CRM_FILE = """display_name,email,phone,language,segment,value_tier,organization,attr:plan
Dominique Martin,Dominique@Example.com,06 12 34 56 78,fr,retail,gold,Acme,premium
Jean Dupont,jean@example.com,,en,,,,
"""


def test_it_creates_customers_with_their_identities_and_attributes(db: None) -> None:
    summary = csv_io.import_customers(content=CRM_FILE)

    assert (summary.created, summary.updated, summary.errors) == (2, 0, [])
    dominique = Customer.objects.get(identities__kind="email", identities__address="dominique@example.com")
    assert dominique.display_name == "Dominique Martin"
    assert (dominique.language, dominique.segment, dominique.value_tier) == ("fr", "retail", "gold")
    assert dominique.organization == Organization.objects.get(name="Acme")
    assert dominique.attributes == {"plan": "premium"}
    assert dominique.identities.get(kind="phone").address == "+33612345678"


def test_it_creates_nothing_new_when_the_same_file_is_imported_again(db: None) -> None:
    csv_io.import_customers(content=CRM_FILE)
    customers, identities = Customer.objects.count(), Identity.objects.count()

    summary = csv_io.import_customers(content=CRM_FILE)

    assert (summary.created, summary.updated, summary.unchanged, summary.errors) == (0, 0, 2, [])
    assert (Customer.objects.count(), Identity.objects.count()) == (customers, identities)


def test_it_updates_the_customer_matched_by_an_identity(carla: Customer) -> None:
    Identity.objects.create(customer=carla, kind=Identity.Kind.EMAIL, address="carla@example.com")

    summary = csv_io.import_customers(
        content="display_name,email,phone,value_tier,attr:city\n"
        "Carla Rossi,CARLA@example.com,+33 6 98 76 54 32,vip,Lyon\n"
    )

    assert (summary.created, summary.updated) == (0, 1)
    carla.refresh_from_db()
    assert (carla.display_name, carla.value_tier, carla.attributes) == ("Carla Rossi", "vip", {"city": "Lyon"})
    assert carla.identities.get(kind="phone").address == "+33698765432"


def test_it_reads_a_national_and_an_international_number_as_one_customer(db: None) -> None:
    summary = csv_io.import_customers(
        content="display_name,phone,segment\nDominique,06 12 34 56 78,\nDominique M.,+33612345678,retail\n"
    )

    assert (summary.created, summary.updated) == (1, 1)
    assert Customer.objects.get().segment == "retail"
    assert Identity.objects.get().address == "+33612345678"


def test_it_reports_bad_lines_with_their_number_and_imports_the_good_ones(carla: Customer) -> None:
    Identity.objects.create(customer=carla, kind=Identity.Kind.EMAIL, address="carla@example.com")
    other = Customer.objects.create(display_name="Other")
    Identity.objects.create(customer=other, kind=Identity.Kind.PHONE, address="+33698765432")
    content = (
        "display_name,email,phone,value_tier\n"
        "Good One,good1@example.com,,\n"
        "Bad Email,not-an-email,,\n"
        "Bad Phone,bad@example.com,12,\n"
        "Good Two,good2@example.com,,silver\n"
        "Two People,carla@example.com,06 98 76 54 32,\n"
        "Bad Tier,tier@example.com,,platinum\n"
        "No Identity,,,\n"
    )

    summary = csv_io.import_customers(content=content)

    assert summary.created == 2
    assert [(e["line"], sorted(e["errors"])) for e in summary.errors] == [
        (3, ["email"]),
        (4, ["phone"]),
        (6, ["phone"]),
        (7, ["value_tier"]),
        (8, ["email"]),
    ]
    assert "not a valid email address" in summary.errors[0]["errors"]["email"][0]
    assert "belongs to another customer" in summary.errors[2]["errors"]["phone"][0]
    assert "Unknown value tier “platinum”" in summary.errors[3]["errors"]["value_tier"][0]
    assert set(Identity.objects.filter(kind="email").values_list("address", flat=True)) == {
        "carla@example.com",
        "good1@example.com",
        "good2@example.com",
    }


def test_it_neutralizes_formulas_in_the_export(sophie: Any) -> None:
    evil = Customer.objects.create(display_name="=cmd()", segment="@x", attributes={"note": "-2+3", "ok": "fine"})
    Identity.objects.create(customer=evil, kind=Identity.Kind.PHONE, address="+33612345678")

    rows = list(csv.DictReader(io.StringIO(csv_io.export_customers(user=sophie))))

    assert rows == [
        {
            "display_name": "'=cmd()",
            "email": "",
            "phone": "'+33612345678",
            "language": "",
            "segment": "'@x",
            "value_tier": "standard",
            "organization": "",
            "attr:note": "'-2+3",
            "attr:ok": "fine",
        }
    ]


def test_it_imports_its_own_export_back_unchanged(sophie: Any) -> None:
    csv_io.import_customers(content=CRM_FILE)
    exported = csv_io.export_customers(user=sophie)

    summary = csv_io.import_customers(content=exported)

    assert (summary.created, summary.updated, summary.unchanged, summary.errors) == (0, 0, 2, [])


def test_it_serves_the_export_to_supervisors_only(sophie: Any, alice: Any, carla: Customer) -> None:
    response = logged_in("sophie").get("/customers/export.csv")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="customers.csv"'
    assert "Carla" in response.content.decode()

    assert logged_in("alice").get("/customers/export.csv").status_code == 403


def test_it_imports_and_exports_from_the_command_line(db: None, tmp_path: Path) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(CRM_FILE + "Bad,nope,,\n", encoding="utf-8")
    out = io.StringIO()

    call_command("import_customers", str(source), stdout=out)

    printed = out.getvalue()
    assert "line 2: created customer #" in printed
    assert "line 4: error: email:" in printed
    assert "2 created, 0 updated, 0 unchanged, 1 lines with errors" in printed
    target = tmp_path / "out.csv"
    call_command("export_customers", "--output", str(target), stderr=io.StringIO())
    assert "Dominique Martin,dominique@example.com,'+33612345678" in target.read_text()


def test_it_runs_an_import_in_the_task_and_records_progress(sophie: Any) -> None:
    customer_import = CustomerImport.objects.create(created_by=sophie, content=CRM_FILE + "Bad,nope,,\n")

    run_customer_import.apply(args=(customer_import.pk,))

    customer_import.refresh_from_db()
    assert customer_import.status == CustomerImport.Status.DONE
    assert (customer_import.total_rows, customer_import.processed_rows) == (3, 3)
    assert (customer_import.created_count, customer_import.updated_count) == (2, 0)
    assert customer_import.errors == [{"line": 4, "errors": {"email": ["“nope” is not a valid email address."]}}]
    assert customer_import.finished_at is not None
