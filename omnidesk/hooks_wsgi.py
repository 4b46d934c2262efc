"""The `hooks` process's entry point (Procfile): `gunicorn omnidesk.hooks_wsgi:application` (omnidesk/hooks_app.py)."""

import os

from omnidesk.hooks_app import get_hooks_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnidesk.settings")
application = get_hooks_application()
