"""The presence rule lives in `routing.services.set_presence`: people choose Available or Away; offline is the
system's (the desk sockets and the presence sweep), whichever interface asks."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from routing.models import AgentProfile
from routing.services import CHOOSABLE_PRESENCES, set_presence

pytestmark = pytest.mark.django_db


def test_it_refuses_offline_when_a_person_chooses_it(alice: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        set_presence(user=alice, presence=AgentProfile.Presence.OFFLINE)
    assert refused.value.code == "presence_not_choosable"
    assert AgentProfile.objects.get(user=alice).presence == AgentProfile.Presence.AVAILABLE


def test_it_lets_the_system_set_offline(alice: Any) -> None:
    set_presence(user=alice, presence=AgentProfile.Presence.OFFLINE, by_system=True)
    assert AgentProfile.objects.get(user=alice).presence == AgentProfile.Presence.OFFLINE


def test_it_lets_a_person_choose_away_and_available(alice: Any) -> None:
    for presence in (AgentProfile.Presence.AWAY, AgentProfile.Presence.AVAILABLE):
        set_presence(user=alice, presence=presence)
        assert AgentProfile.objects.get(user=alice).presence == presence
    assert set(CHOOSABLE_PRESENCES) == {AgentProfile.Presence.AVAILABLE, AgentProfile.Presence.AWAY}
