from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OmnideskConfig(AppConfig):
    name = "omnidesk"
    verbose_name = _("Realtime and health")
