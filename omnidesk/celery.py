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

# A default ceiling for every task that sets none of its own (seconds): a task stuck on a pathological input must
# give its worker process back. Tasks on the hot paths set tighter limits on their decorators.
app.conf.task_soft_time_limit = app.conf.task_soft_time_limit or 300
app.conf.task_time_limit = app.conf.task_time_limit or 360
