"""The webhook accept path (issue 16, item 5): storing a provider's event costs one INSERT and at most one Celery
publish, whatever the provider; the work happens on the worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery.signals import before_task_publish
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from interactions import inbound_nudge
from interactions.models import Channel, InboundEvent
from routing.models import Queue
from tests.messaging_support import TWILIO_TOKEN, make_channel, twilio_sms
from tests.phone_factories import cti_body, post_cti
from tests.signing import twilio_headers

pytestmark = pytest.mark.django_db


@pytest.fixture
def published() -> Iterator[list[str]]:
    """The names of the Celery tasks published to the broker (Celery's own signal: the real publish happens)."""
    names: list[str] = []

    def note(sender: Any = None, **_: Any) -> None:
        names.append(str(sender))

    before_task_publish.connect(note, weak=False)
    try:
        yield names
    finally:
        before_task_publish.disconnect(note)  # type: ignore[attr-defined]


@pytest.fixture
def no_pending_mark(hotline: Channel) -> Iterator[None]:
    """A task left pending by an earlier test would (rightly) make this request publish nothing."""
    store = inbound_nudge.mark_store()
    if store is not None:
        store.delete(inbound_nudge.pending_mark(hotline.pk))
    yield
    if store is not None:
        store.delete(inbound_nudge.pending_mark(hotline.pk))


def statements(captured: CaptureQueriesContext) -> list[str]:
    """The first words of each statement; the test's own transaction makes the request's atomic a SAVEPOINT (a bare
    BEGIN … COMMIT in production, which Django does not log as statements): left out."""
    words = (" ".join(query["sql"].replace('"', "").split()[:3]) for query in captured.captured_queries)
    return [sql for sql in words if not sql.startswith(("SAVEPOINT", "RELEASE"))]


def test_it_accepts_a_cti_event_with_one_insert_and_one_publish(
    hotline: Channel, published: list[str], no_pending_mark: None, django_capture_on_commit_callbacks: Any
) -> None:
    with CaptureQueriesContext(connection) as captured, django_capture_on_commit_callbacks(execute=True):
        response = post_cti(Client(), hotline, cti_body("ringing", "accept-1", caller="0612345678"))

    assert response.status_code == 202, response.content
    # The channel named by the URL, then the event: nothing else before the answer.
    assert statements(captured) == [
        "SELECT interactions_channel.id, interactions_channel.kind,",
        "INSERT INTO interactions_inboundevent",
    ]
    assert published == ["interactions.tasks.process_inbound_event_task"]
    assert InboundEvent.objects.filter(channel=hotline, external_id="accept-1:ringing").exists()


def test_it_accepts_a_twilio_sms_with_one_insert_and_one_publish(
    support_queue: Queue, published: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    sms = make_channel(Channel.Kind.SMS, support_queue)
    store = inbound_nudge.mark_store()
    if store is not None:
        store.delete(inbound_nudge.pending_mark(sms.pk))
    url = f"http://testserver/hooks/twilio/{sms.uuid}/"
    params = twilio_sms("SMaccept1")
    with CaptureQueriesContext(connection) as captured, django_capture_on_commit_callbacks(execute=True):
        response = Client().post(url, params, headers=twilio_headers(token=TWILIO_TOKEN, url=url, params=params))

    assert response.status_code == 200, response.content
    assert statements(captured) == [
        "SELECT interactions_channel.id, interactions_channel.kind,",
        "INSERT INTO interactions_inboundevent",
    ]
    assert published == ["interactions.tasks.process_inbound_event_task"]
    if store is not None:
        store.delete(inbound_nudge.pending_mark(sms.pk))


def test_it_publishes_nothing_more_while_the_channels_task_is_pending(
    hotline: Channel, published: list[str], no_pending_mark: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            assert post_cti(Client(), hotline, cti_body("ringing", f"accept-burst-{n}")).status_code == 202

    assert published == ["interactions.tasks.process_inbound_event_task"], "one task claims the channel's batch"
    assert InboundEvent.objects.filter(channel=hotline, external_id__startswith="accept-burst-").count() == 3
