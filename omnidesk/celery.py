import importlib
import os

from celery import Celery, Task
from celery.signals import task_postrun

from omnidesk.worker_connections import drop_broken_connections

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
task_postrun.connect(drop_broken_connections, weak=False)

# A default ceiling for every task that sets none of its own (seconds): a task stuck on a pathological input must
# give its worker process back. Tasks on the hot paths set tighter limits on their decorators.
app.conf.task_soft_time_limit = app.conf.task_soft_time_limit or 300
app.conf.task_time_limit = app.conf.task_time_limit or 360


def registered_task(name: str) -> Task:
    """The task registered as `name`, to enqueue it exactly as its own module would (its options, the eager mode).

    A service whose work runs as a task enqueues it by name: the tasks module imports the service (tasks are thin
    adapters), so the service importing its tasks module back would be an import cycle. The name is the task's wire
    contract, declared by the service and used by the task's decorator. The apps whose services do this import their
    tasks modules in `AppConfig.ready`, so the name is registered in every process once Django has loaded the apps.
    """
    return app.tasks[name]
