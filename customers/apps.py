from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        # Registers the app's tasks in every process, not only in a worker (whose autodiscovery imports them): its
        # services enqueue them by name (omnidesk.celery.registered_task), since the tasks module imports them.
        from customers import tasks  # noqa: F401
