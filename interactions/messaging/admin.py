"""Admin screens: messaging channels with write-only secrets and their exact webhook URL, and refused webhooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from interactions.messaging import meta
from interactions.messaging.models import MESSAGING_KINDS, PROVIDERS_BY_KIND, MessagingChannel, SignatureRejection
from interactions.models import Channel

if TYPE_CHECKING:
    # _StrPromise exists only in django-stubs: named for the type checker, never imported at run time.
    from django.utils.functional import _StrPromise

    StrOrPromise = str | _StrPromise

# The secrets each provider needs, with the label an admin sees. Their values are never rendered back.
SECRET_FIELDS: dict[str, StrOrPromise] = {
    "auth_token": _("Twilio auth token"),
    "app_secret": _("Meta app secret"),
    "verify_token": _("Meta verify token"),
    "access_token": _("Meta access token"),
    "bot_token": _("Telegram bot token"),
    "secret_token": _("Telegram webhook secret token"),
    "signing_secret": _("API channel signing secret"),
}
WEBHOOK_URL_NAMES = {
    "twilio": "messaging:twilio-webhook",
    "meta": "messaging:meta-webhook",
    "telegram": "messaging:telegram-webhook",
    "api": "messaging:api-webhook",
}


def webhook_provider(channel: Channel) -> str:
    return str(channel.config.get("provider") or PROVIDERS_BY_KIND[channel.kind][0])


def webhook_path(channel: Channel) -> str:
    return reverse(WEBHOOK_URL_NAMES[webhook_provider(channel)], kwargs={"channel": channel.uuid})


def secret_field(name: str) -> forms.CharField:
    return forms.CharField(
        label=SECRET_FIELDS[name],
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )


class MessagingChannelForm(forms.ModelForm):
    """Secrets are write-only: an empty field keeps the stored value, and no stored value is ever put in the page."""

    secret_auth_token = secret_field("auth_token")
    secret_app_secret = secret_field("app_secret")
    secret_verify_token = secret_field("verify_token")
    secret_access_token = secret_field("access_token")
    secret_bot_token = secret_field("bot_token")
    secret_secret_token = secret_field("secret_token")
    secret_signing_secret = secret_field("signing_secret")

    class Meta:
        model = MessagingChannel
        fields = ["kind", "name", "queue", "is_active", "config"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kinds = [c for c in Channel.Kind.choices if c[0] in MESSAGING_KINDS]
        self.fields["kind"].choices = kinds  # type: ignore[attr-defined]
        stored = self.instance.secrets if self.instance.pk else {}
        for name in SECRET_FIELDS:
            self.fields[f"secret_{name}"].help_text = (
                _("Stored. Leave empty to keep it.") if stored.get(name) else _("Not set.")
            )

    def clean(self) -> dict[str, Any]:
        """A Meta channel names its own number or page: events for any other account of the app are refused."""
        cleaned = super().clean() or {}
        kind, config = cleaned.get("kind"), cleaned.get("config")
        provider = (config or {}).get("provider") if isinstance(config, dict) else None
        keys = meta.ACCOUNT_KEYS.get(str(kind), ())
        if (
            keys
            and provider in (None, "", "meta")
            and isinstance(config, dict)
            and not any(config.get(k) for k in keys)
        ):
            self.add_error(
                "config",
                _("Set %(keys)s in the configuration: events for other numbers or pages of the app are refused.")
                % {"keys": " / ".join(keys)},
            )
        return cleaned

    def save(self, commit: bool = True) -> Any:
        channel = super().save(commit=False)
        secrets = dict(channel.secrets or {})
        for name in SECRET_FIELDS:
            value = self.cleaned_data.get(f"secret_{name}")
            if value:
                secrets[name] = value
        channel.secrets = secrets
        if commit:
            channel.save()
        return channel


@admin.register(MessagingChannel)
class MessagingChannelAdmin(admin.ModelAdmin):
    form = MessagingChannelForm
    list_display = ["name", "kind", "provider", "queue", "is_active"]
    list_filter = ["kind", "is_active"]
    readonly_fields = ["uuid"]
    change_form_template = "messaging/admin/channel_change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[MessagingChannel]:
        return super().get_queryset(request).filter(kind__in=MESSAGING_KINDS)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["kind", "name", "queue", "is_active", "config", *[f"secret_{n}" for n in SECRET_FIELDS], "uuid"]

    @admin.display(description=_("provider"))
    def provider(self, obj: Channel) -> str:
        return webhook_provider(obj)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        if obj is not None and obj.kind in MESSAGING_KINDS:
            context["webhook_url"] = request.build_absolute_uri(webhook_path(obj))
            context["webhook_provider"] = webhook_provider(obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


@admin.register(SignatureRejection)
class SignatureRejectionAdmin(admin.ModelAdmin):
    list_display = ["day", "channel", "provider", "count", "last_reason", "last_at"]
    list_filter = ["provider", "channel"]
    readonly_fields = ["channel", "provider", "day", "count", "last_reason", "last_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
