import logging

from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "interactions.messaging"
    label = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from interactions import inbound, outbound
        from interactions.messaging import api_channel, meta, services, telegram, twilio
        from interactions.messaging.processing import refuse_unparseable
        from interactions.messaging.webhooks import forget_channels
        from interactions.models import Channel

        # httpx logs every request URL at INFO, and Telegram's Bot API URLs contain the bot token.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        post_save.connect(forget_channels, sender=Channel, dispatch_uid="messaging.forget_channels")
        post_delete.connect(forget_channels, sender=Channel, dispatch_uid="messaging.forget_channels")

        # `sender`: who wrote an event, so that a batch resolves and locks all its senders at once.
        inbound.register_processor("twilio", refuse_unparseable(twilio.process_event), sender=twilio.sender)
        inbound.register_processor("meta", refuse_unparseable(meta.process_event), sender=meta.sender)
        inbound.register_processor("telegram", refuse_unparseable(telegram.process_event), sender=telegram.sender)
        inbound.register_processor("api", refuse_unparseable(api_channel.process_event), sender=api_channel.sender)

        outbound.register_sender(Channel.Kind.SMS, twilio.send)
        outbound.register_sender(Channel.Kind.WHATSAPP, services.send_whatsapp)
        outbound.register_sender(Channel.Kind.MESSENGER, meta.send)
        outbound.register_sender(Channel.Kind.INSTAGRAM, meta.send)
        outbound.register_sender(Channel.Kind.TELEGRAM, telegram.send)
        outbound.register_sender(Channel.Kind.API, api_channel.send)
        outbound.register_reply_check(Channel.Kind.WHATSAPP, services.check_free_text_reply)
