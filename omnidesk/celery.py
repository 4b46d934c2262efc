import importlib
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnidesk.settings")

app = Celery("omnidesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["omnidesk"])


def merge_area_schedules() -> None:
    """Periodic tasks live beside the area they serve; only modules that exist are merged."""
    from django.conf import settings

    for name in settings.OMNIDESK_BEAT_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name:
                continue
            raise
        app.conf.beat_schedule.update(module.BEAT)


merge_area_schedules()
