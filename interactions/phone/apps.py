from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PhoneConfig(AppConfig):
    name = "interactions.phone"
    label = "phone"
    verbose_name = _("Phone")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from interactions.inbound import register_processor
        from interactions.phone.services import process_cti_event, process_twilio_event

        register_processor("cti", process_cti_event)
        register_processor("twilio_voice", process_twilio_event)
