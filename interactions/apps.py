from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InteractionsConfig(AppConfig):
    name = "interactions"
    verbose_name = _("Interactions")

    def ready(self) -> None:
        # Registers the app's tasks in every process, not only in a worker (whose autodiscovery imports them): its
        # services enqueue them by name (omnidesk.celery.registered_task), since the tasks module imports them.
        from interactions import tasks  # noqa: F401
