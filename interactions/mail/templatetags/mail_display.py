from typing import Any

from django import template

from interactions.mail.display import email_view as build_email_view
from interactions.models import Interaction

register = template.Library()


@register.simple_tag
def email_view(item: Interaction) -> dict[str, Any]:
    return build_email_view(item)
