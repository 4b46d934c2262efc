from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """What views see once django-htmx's middleware ran."""

    htmx: HtmxDetails
