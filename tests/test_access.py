"""Who may see a conversation: one rule for the desk, the API and the realtime groups."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from interactions import access
from interactions.models import Channel
from omnidesk import realtime
from tests.conftest import PASSWORD
from tests.factories import widget_message


def test_it_lets_every_active_agent_open_a_conversation_but_only_its_team_act_on_it(
    alice: Any, oscar: Any, sophie: Any, chat_channel: Channel
) -> None:
    """Issue 11 replaced the old rule (an agent of another team got a 404): no silos, read-only for other teams."""
    conversation = widget_message(chat_channel).conversation
    assert access.get_conversation_for_agent(alice, conversation.pk) == conversation
    assert access.get_conversation_for_agent(sophie, conversation.pk) == conversation
    assert access.get_conversation_for_agent(oscar, conversation.pk) == conversation
    assert access.get_conversation_for_action(alice, conversation.pk) == conversation
    with pytest.raises(PermissionDenied):
        access.get_conversation_for_action(oscar, conversation.pk)


def test_it_opens_read_only_and_refuses_a_reply_to_an_agent_of_another_team_on_the_desk(
    oscar: Any, chat_channel: Channel
) -> None:
    """Issue 11 changed this test: the conversation opens (200, was 404); the reply is refused with 403 (was 404)."""
    conversation = widget_message(chat_channel).conversation
    client = Client()
    client.login(username="oscar", password=PASSWORD)
    assert client.get(f"/desk/conversations/{conversation.pk}/").status_code == 200
    response = client.post(f"/desk/conversations/{conversation.pk}/reply/", {"text": "hi"})
    assert response.status_code == 403
    assert conversation.interactions.count() == 1


def test_it_computes_realtime_groups_from_the_same_rule(
    alice: Any, oscar: Any, sophie: Any, chat_channel: Channel
) -> None:
    conversation = widget_message(chat_channel).conversation
    audience = set(access.audience_for_conversation(conversation))
    assert audience & set(access.realtime_groups_for_agent(alice))
    assert audience & set(access.realtime_groups_for_agent(sophie))
    assert not audience & set(access.realtime_groups_for_agent(oscar))
    assert realtime.supervisors_group() not in access.realtime_groups_for_agent(alice)
