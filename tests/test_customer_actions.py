"""The supervisors' customer-data actions on the desk: CSV import page, merge, undo merge, and what agents see."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from customers.models import Customer, CustomerImport, Identity, MergeRecord
from customers.tasks import run_customer_import
from interactions.models import Channel, Conversation, Interaction
from tests.clients import logged_in

SUPERVISOR_CONTROLS = [
    "Export data (JSON)",
    "Erase personal data",
    "I understand this cannot be undone",
    "Surviving customer",
    "Merge into this customer",
    "Undo merge",
]


def customer_with_mail(name: str, email: str, channel: Channel) -> Customer:
    customer = Customer.objects.create(display_name=name)
    Identity.objects.create(customer=customer, kind=Identity.Kind.EMAIL, address=email)
    conversation = Conversation.objects.create(customer=customer, channel=channel, queue=channel.queue)
    Interaction.objects.create(conversation=conversation, customer=customer, channel=channel, direction="in", text="Hi")
    return customer


@pytest.fixture
def twins(mailbox: Channel) -> tuple[Customer, Customer]:
    """Dominique, twice: once by her work address, once by her personal one (same name)."""
    return (
        customer_with_mail("Dominique Martin", "dominique@work.example", mailbox),
        customer_with_mail("Dominique Martin", "dominique@home.example", mailbox),
    )


def test_it_shows_the_upload_form_to_supervisors_only(sophie: Any, alice: Any) -> None:
    body = logged_in("sophie").get("/customers/import/").content.decode()
    assert '<label for="import-file">CSV file</label>' in body
    assert 'type="file" name="file"' in body

    assert logged_in("alice").get("/customers/import/").status_code == 403
    assert logged_in("alice").post("/customers/import/").status_code == 403


def test_it_stores_the_upload_and_enqueues_it_once_committed(
    sophie: Any, django_capture_on_commit_callbacks: Any
) -> None:
    upload = SimpleUploadedFile("crm.csv", b"\xef\xbb\xbfdisplay_name,email\nJean,jean@example.com\n")

    with django_capture_on_commit_callbacks() as callbacks:
        response = logged_in("sophie").post("/customers/import/", {"file": upload})

    customer_import = CustomerImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/customers/import/{customer_import.pk}/"
    assert (customer_import.filename, customer_import.created_by, customer_import.total_rows) == ("crm.csv", sophie, 1)
    assert customer_import.status == CustomerImport.Status.PENDING
    assert len(callbacks) == 1


def test_it_refuses_an_upload_without_a_file(sophie: Any) -> None:
    response = logged_in("sophie").post("/customers/import/")
    assert response.status_code == 422
    assert "Choose a CSV file to import." in response.content.decode()
    assert not CustomerImport.objects.exists()


def test_it_polls_the_progress_while_running_and_shows_the_errors_at_the_end(sophie: Any) -> None:
    customer_import = CustomerImport.objects.create(
        created_by=sophie, filename="crm.csv", content="display_name,email\nJean,jean@example.com\nBad,nope\n"
    )
    client = logged_in("sophie")
    url = f"/customers/import/{customer_import.pk}/"

    pending = client.get(url).content.decode()
    assert '<label for="import-progress-bar">Import progress</label>' in pending
    assert '<progress id="import-progress-bar"' in pending
    assert f'hx-get="{url}" hx-trigger="every 1s" hx-swap="outerHTML"' in pending

    run_customer_import.apply(args=(customer_import.pk,))

    done = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in done
    assert 'hx-trigger="every 1s"' not in done
    assert 'max="2" value="2"' in done
    assert "1 created, 0 updated." in done
    assert '<tr class="import-error" data-line="3"><td>3</td><td>email</td>' in done
    assert "“nope” is not a valid email address." in done


def test_it_refuses_the_import_status_to_agents(sophie: Any, alice: Any) -> None:
    customer_import = CustomerImport.objects.create(created_by=sophie, content="email\n")
    assert logged_in("alice").get(f"/customers/import/{customer_import.pk}/").status_code == 403


def test_it_shows_the_supervisor_controls_to_supervisors(
    sophie: Any, alice: Any, twins: tuple[Customer, Customer]
) -> None:
    first, second = twins
    body = logged_in("sophie").get(f"/customers/{first.pk}/").content.decode()

    lazily_loaded = "Merge into this customer"
    for control in SUPERVISOR_CONTROLS[:-1]:
        assert control == lazily_loaded or control in body, control
    assert f'href="/customers/{first.pk}/export.json"' in body
    assert f'hx-get="/customers/{first.pk}/duplicates/"' in body
    suggestions = logged_in("sophie").get(f"/customers/{first.pk}/duplicates/", headers={"HX-Request": "true"})
    assert f'id="duplicate-{second.pk}"' in suggestions.content.decode()
    assert lazily_loaded in suggestions.content.decode()
    assert logged_in("alice").get(f"/customers/{first.pk}/duplicates/").status_code == 403
    assert '<label for="merge-target">Surviving customer</label>' in body
    assert '<label for="erase-confirm">I understand this cannot be undone</label>' in body
    assert "Undo merge" not in body


def test_it_hides_the_supervisor_controls_from_agents(alice: Any, twins: tuple[Customer, Customer]) -> None:
    body = logged_in("alice").get(f"/customers/{twins[0].pk}/").content.decode()

    assert "<h1>Dominique Martin</h1>" in body
    for control in SUPERVISOR_CONTROLS:
        assert control not in body, control


def test_it_merges_from_the_desk_as_a_supervisor(sophie: Any, twins: tuple[Customer, Customer]) -> None:
    first, second = twins
    client = logged_in("sophie")

    response = client.post(f"/customers/{second.pk}/merge/", {"target": first.pk})

    assert response.status_code == 302
    assert response["Location"] == f"/customers/{first.pk}/"
    second.refresh_from_db()
    assert second.merged_into == first
    assert set(first.identities.values_list("address", flat=True)) == {
        "dominique@work.example",
        "dominique@home.example",
    }
    record = MergeRecord.objects.get()
    body = client.get(f"/customers/{first.pk}/").content.decode()
    assert f'action="/customers/merge-records/{record.pk}/unmerge/"' in body
    assert "Undo merge" in body


def test_it_refuses_a_merge_from_the_desk_to_an_agent(alice: Any, twins: tuple[Customer, Customer]) -> None:
    first, second = twins

    response = logged_in("alice").post(f"/customers/{second.pk}/merge/", {"target": first.pk})

    assert response.status_code == 403
    second.refresh_from_db()
    assert second.merged_into is None
    assert not MergeRecord.objects.exists()


def test_it_shows_why_a_merge_was_refused(sophie: Any, twins: tuple[Customer, Customer]) -> None:
    first, _second = twins
    client = logged_in("sophie")

    into_itself = client.post(f"/customers/{first.pk}/merge/", {"target": first.pk})
    assert into_itself.status_code == 422
    assert "A customer cannot be merged into itself." in into_itself.content.decode()

    nobody = client.post(f"/customers/{first.pk}/merge/", {"target": "abc"})
    assert nobody.status_code == 422
    assert "Enter the number of a customer." in nobody.content.decode()


def test_it_undoes_a_merge_from_the_desk(sophie: Any, alice: Any, twins: tuple[Customer, Customer]) -> None:
    first, second = twins
    client = logged_in("sophie")
    client.post(f"/customers/{second.pk}/merge/", {"target": first.pk})
    record = MergeRecord.objects.get()

    assert logged_in("alice").post(f"/customers/merge-records/{record.pk}/unmerge/").status_code == 403

    response = client.post(f"/customers/merge-records/{record.pk}/unmerge/")

    assert response.status_code == 302
    assert response["Location"] == f"/customers/{second.pk}/"
    second.refresh_from_db()
    assert second.merged_into is None
    assert list(second.identities.values_list("address", flat=True)) == ["dominique@home.example"]
    assert list(first.identities.values_list("address", flat=True)) == ["dominique@work.example"]
    assert second.conversations.count() == 1

    again = client.post(f"/customers/merge-records/{record.pk}/unmerge/")
    assert again.status_code == 422
    assert "This merge was already undone." in again.content.decode()
