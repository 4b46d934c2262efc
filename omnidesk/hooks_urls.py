"""The URLs the `hooks` process serves (omnidesk/hooks_app.py): the providers' webhooks and nothing else.

The same views and names as in the site's URLconf (omnidesk/urls.py), taken from each channel area's own URL module,
so a webhook added there is served here too; `reverse()` keeps using the site's URLconf.
"""

from django.urls import URLPattern, URLResolver, include, path

from interactions.mail import urls as mail_urls
from interactions.messaging import urls as messaging_urls
from interactions.phone import urls as phone_urls

HOOKS_PREFIX = "hooks/"


def hooks_of(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    """The patterns of an area's URLconf that are webhooks (its paths under /hooks/)."""
    return [pattern for pattern in patterns if str(pattern.pattern).startswith(HOOKS_PREFIX)]


urlpatterns: list[URLPattern | URLResolver] = [
    path("", include((hooks_of(messaging_urls.urlpatterns), "messaging"))),
    path("", include((hooks_of(mail_urls.urlpatterns), "mail"))),
    path("", include((hooks_of(phone_urls.urlpatterns), "phone"))),
]
