from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssistConfig(AppConfig):
    """The agent's day (issue 15): internal notes with @mentions, canned responses, typing presence."""

    name = "assist"
    verbose_name = _("Agent assistance")
