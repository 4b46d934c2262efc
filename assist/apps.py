from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssistConfig(AppConfig):
    """The agent's day (issue 15): internal notes with @mentions, canned responses, typing presence."""

    name = "assist"
    verbose_name = _("Agent assistance")

    def ready(self) -> None:
        # After interactions.messaging (earlier in INSTALLED_APPS) registered its senders: replies with files go out
        # as provider media.
        from assist import media_senders

        media_senders.install()
