"""offer_solutions: the load-aware decision of the contact page, and the versioned referential it reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from contact.models import ScenarioVersion
from contact.scenarios import assign_variant, publish_scenario
from contact.services import OfferContext, describe_wait, offer_solutions, wait_range
from interactions.models import Channel
from routing.models import AgentProfile, Queue
from tests.conftest import make_user
from tests.contact_support import CONTRACT_SOLUTIONS, ContactSetup, contact_setup, fresh_load


@pytest.fixture
def setup(chat_channel: Channel, support_queue: Queue, settings: Any) -> ContactSetup:
    fresh_load(settings)
    return contact_setup(chat=chat_channel, queue=support_queue)


def decide(setup: ContactSetup, node: Any = None, **context: Any) -> Any:
    node = node or setup.contract
    version = node.versions.get(is_current=True)
    return offer_solutions(intent=node, context=OfferContext(site=setup.site, version=version, **context))


def kinds(decision: Any) -> list[str]:
    return [s.kind for s in decision.offered]


def test_it_offers_chat_first_when_an_agent_is_free(setup: ContactSetup, alice: Any) -> None:
    decision = decide(setup)

    assert kinds(decision) == ["chat", "callback", "email", "whatsapp"]
    chat = decision.offered[0]
    assert chat.rule == "short_wait" and chat.wait_minutes == (0, 1)
    assert chat.reason == "Chat — under 1 min wait"


def test_it_offers_callback_and_email_first_when_nobody_can_take_the_chat(
    setup: ContactSetup, alice: Any, arrive: Any
) -> None:
    AgentProfile.objects.filter(user=alice).update(presence=AgentProfile.Presence.AWAY)
    for _n in range(6):
        arrive(setup.site.chat_channel)

    decision = decide(setup)

    assert kinds(decision)[:2] == ["callback", "email"]
    assert ("chat", "no_agent") in decision.hidden


def test_it_hides_a_live_channel_whose_wait_rests_on_too_few_samples(
    setup: ContactSetup, support_queue: Queue, arrive: Any
) -> None:
    make_user("bruno", queues=[support_queue], capacity={"chat": 1})
    for _n in range(2):
        arrive(setup.site.chat_channel)  # one assigned, one waiting: a wait that depends on the handle time

    decision = decide(setup)

    assert "chat" not in kinds(decision)
    assert ("chat", "too_few_samples") in decision.hidden


def test_it_never_sends_a_visitor_from_one_long_queue_to_another(
    setup: ContactSetup, support_queue: Queue, arrive: Any, settings: Any
) -> None:
    settings.OMNIDESK_CONTACT_MIN_EWT_SAMPLES = 0
    make_user("bruno", queues=[support_queue], capacity={"chat": 1, "voice": 1})
    for _n in range(3):
        arrive(setup.site.chat_channel)  # chat: 2 waiting behind a full agent, ~10 min at the 300 s default AHT
    publish_scenario(
        node=setup.contract,
        solutions=[{"kind": "chat", "max_ewt_seconds": 300}, {"kind": "phone", "target": "+33100000000"}],
    )

    decision = decide(setup)

    # The phone has no limit of its own and an agent free (EWT 0): short by the chat's standard, so it is offered.
    assert kinds(decision) == ["phone"]
    assert ("chat", "long_wait") in decision.hidden
    for _n in range(2):
        arrive(setup.voice)  # now the phone queue is long too (1 waiting behind the busy agent: 300 s)
    settings.OMNIDESK_CONTACT_MIN_EWT_SAMPLES = 0
    publish_scenario(
        node=setup.contract,
        solutions=[{"kind": "chat", "max_ewt_seconds": 300}, {"kind": "phone", "target": "+33100000000"}],
    )
    assert kinds(decide(setup)) == [], "a phone queue as long as the refused chat is not offered instead"


def test_it_hides_live_channels_outside_business_hours(setup: ContactSetup, alice: Any, support_queue: Queue) -> None:
    support_queue.business_hours = {str(d): [["09:00", "18:00"]] for d in range(5)}
    support_queue.save()
    sunday = datetime(2026, 12, 6, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))

    decision = decide(setup, now=sunday)

    assert ("chat", "closed") in decision.hidden
    assert kinds(decision) == ["callback", "email", "whatsapp"]


def test_it_puts_mobile_first_solutions_first_on_a_phone(setup: ContactSetup, alice: Any) -> None:
    assert kinds(decide(setup, device="mobile")) == ["whatsapp", "chat", "callback", "email"]


def test_it_keeps_a_solution_for_its_segment_and_language(setup: ContactSetup, alice: Any) -> None:
    publish_scenario(
        node=setup.contract,
        solutions=[{"kind": "chat", "segments": ["gold", "platinum"]}, {"kind": "email", "languages": ["fr"]}],
    )

    assert kinds(decide(setup, segment="gold", language="fr")) == ["chat", "email"]
    decision = decide(setup, segment="standard", language="en")
    assert kinds(decision) == [] and decision.hidden == [("chat", "segment"), ("email", "language")]


def test_it_shows_waits_as_ranges_never_precise() -> None:
    assert wait_range(0) == (0, 1)
    assert wait_range(130) == (1, 3)
    assert wait_range(3000) == (40, None)
    assert describe_wait((3, 5)) == "about 3–5 min"
    assert describe_wait((40, None)) == "more than 40 min"


def test_it_keeps_past_versions_when_a_scenario_changes(setup: ContactSetup) -> None:
    first = setup.contract.versions.get(is_current=True)

    second = publish_scenario(node=setup.contract, solutions=[{"kind": "email"}])

    first.refresh_from_db()
    assert not first.is_current and first.solutions[0]["kind"] == "chat"
    assert second.is_current and second.number == first.number + 1


def test_it_refuses_malformed_solutions(setup: ContactSetup) -> None:
    for bad in ([], [{"kind": "fax"}], [{"kind": "self_service"}], [{"kind": "email"}, {"kind": "email"}]):
        with pytest.raises(ValidationError):
            publish_scenario(node=setup.contract, solutions=bad)
    with pytest.raises(ValidationError):
        publish_scenario(node=setup.billing, solutions=CONTRACT_SOLUTIONS)


def test_it_assigns_variants_deterministically(setup: ContactSetup) -> None:
    publish_scenario(node=setup.contract, solutions=[{"kind": "callback"}, {"kind": "chat"}], variant="B")
    versions = list(ScenarioVersion.objects.filter(node=setup.contract, is_current=True))

    first = [assign_variant(visit_id=f"visit-{n}", versions=versions) for n in range(200)]
    again = [assign_variant(visit_id=f"visit-{n}", versions=list(reversed(versions))) for n in range(200)]

    assert [v.variant for v in first if v] == [v.variant for v in again if v]
    share_b = sum(1 for v in first if v and v.variant == "B") / 200
    assert 0.35 < share_b < 0.65


def test_it_shares_a_short_lived_load_snapshot_between_visitors(
    setup: ContactSetup, alice: Any, settings: Any, django_assert_max_num_queries: Any
) -> None:
    settings.OMNIDESK_CONTACT_LOAD_TTL_SECONDS = 60
    version = setup.contract.versions.get(is_current=True)
    decide(setup)  # reads the load

    with django_assert_max_num_queries(0):
        second = offer_solutions(intent=setup.contract, context=OfferContext(site=setup.site, version=version))

    assert kinds(second)[0] == "chat"
