from django.apps import AppConfig


class ContactConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "contact"
    verbose_name = "Contact page"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from contact import handoff
        from interactions.models import Interaction
        from routing.models import ConversationIntent

        # The chat opened from the contact page is already qualified: the stated intent replaces the detected one
        # before routing reads it (enqueue_conversation uses the very instance this receiver updates).
        post_save.connect(handoff.apply_stated_intent, sender=ConversationIntent, dispatch_uid="contact.stated_intent")
        post_save.connect(handoff.join_contact_mail, sender=Interaction, dispatch_uid="contact.join_contact_mail")
