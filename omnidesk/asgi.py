"""HTTP and websockets in one ASGI application; websocket URLs live here, not in `routing` (queue routing)."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnidesk.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from interactions.consumers import DeskConsumer  # noqa: E402
from interactions.widget.consumers import WidgetConsumer  # noqa: E402
from omnidesk import embedded_beat  # noqa: E402

# The embedded default has no beat process: its periodic work runs in this process (a no-op with a broker, in tests).
embedded_beat.start()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(
            [
                # The desk authenticates with the session cookie, so only our own origins may open it.
                path("ws/desk/", AllowedHostsOriginValidator(AuthMiddlewareStack(DeskConsumer.as_asgi()))),
                # Any website may embed the widget; each channel checks its own allowed origins.
                path("ws/widget/", WidgetConsumer.as_asgi()),
            ]
        ),
    }
)

# Last, once everything the server builds at startup exists. This process holds hundreds of sockets on one event
# loop, and each full collection of Python's cyclic GC walked Django's whole startup heap with the loop stopped:
# 0.3-0.6 s pauses under bench/desk_typing.py, then seconds of backlog (docs/typing.md). Frozen, that heap is never
# walked again; young collections run every 20,000 allocations rather than 700 (the older generations as before).
gc.collect()
gc.freeze()
gc.set_threshold(20_000, 10, 10)
