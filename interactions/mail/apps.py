from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "interactions.mail"
    label = "mail"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Email"

    def ready(self) -> None:
        from interactions.inbound import register_processor
        from interactions.inbound_batch import register_batch_context
        from interactions.mail.outgoing import send_email
        from interactions.mail.services import PROVIDER, mail_batch, mail_sender, process_mail_event
        from interactions.models import Channel
        from interactions.outbound import register_sender

        register_processor(PROVIDER, process_mail_event, sender=mail_sender)
        register_batch_context(PROVIDER, mail_batch)
        register_sender(Channel.Kind.EMAIL, send_email)
