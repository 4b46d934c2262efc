"""The wallboard is pushed only while a supervisor has a desk socket open: nobody watching costs nothing."""

from __future__ import annotations

from typing import Any

from omnidesk.models import Event
from reporting.wallboard import WALLBOARD_EVENT, push_wallboard
from routing.models import AgentProfile


def pushes() -> int:
    return Event.objects.filter(type=WALLBOARD_EVENT).count()


def test_it_skips_the_push_while_no_supervisor_watches_and_pushes_once_one_does(sophie: Any) -> None:
    AgentProfile.objects.filter(user=sophie).update(socket_count=0)
    assert push_wallboard() is False
    assert pushes() == 0

    AgentProfile.objects.filter(user=sophie).update(socket_count=1)
    assert push_wallboard() is True
    assert pushes() == 1
    # The same figures are not sent twice.
    assert push_wallboard() is False
    assert pushes() == 1


def test_it_pushes_when_forced_even_with_nobody_watching(sophie: Any) -> None:
    AgentProfile.objects.filter(user=sophie).update(socket_count=0)
    assert push_wallboard(force=True) is True
    assert pushes() == 1
