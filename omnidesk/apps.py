from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OmnideskConfig(AppConfig):
    name = "omnidesk"
    verbose_name = _("Realtime and health")

    def ready(self) -> None:
        # Open desk sockets follow access changes made anywhere, the admin included (see the module).
        from omnidesk import access_changes

        access_changes.connect()
