"""Inbound messages of every provider become timeline entries: text, media metadata, locations, contacts, replies,
with one customer per person (the same number on SMS and WhatsApp is the same customer)."""

from __future__ import annotations

from typing import Any

from customers.models import Identity
from interactions import inbound
from interactions.messaging import api_channel, meta, telegram, twilio
from interactions.models import Attachment, Channel, Interaction
from routing.models import Queue
from tests.messaging_support import (
    ingest,
    make_channel,
    messenger_envelope,
    telegram_update,
    twilio_sms,
    whatsapp_envelope,
    whatsapp_text,
)


def test_it_files_a_twilio_mms_with_its_media_and_location(alice: Any, support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue)
    params = twilio_sms(
        "SM0100",
        body="Voici la photo du colis",
        NumMedia="1",
        MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC123/Messages/MM1/Media/ME1",
        MediaContentType0="image/jpeg",
        Latitude="48.8566",
        Longitude="2.3522",
        Address="Place de l'Hôtel de Ville, Paris",
    )
    [message] = ingest(channel, "twilio", twilio.events_from_params(params))
    assert message.text == "Voici la photo du colis"
    assert message.meta["location"]["latitude"] == 48.8566
    attachment = Attachment.objects.get(interaction=message)
    assert (attachment.content_type, attachment.source_url) == ("image/jpeg", params["MediaUrl0"])
    assert not attachment.file  # fetched later, by the media task


def test_it_makes_the_same_number_on_sms_and_whatsapp_one_customer(alice: Any, support_queue: Queue) -> None:
    sms = make_channel(Channel.Kind.SMS, support_queue)
    whatsapp = make_channel(Channel.Kind.WHATSAPP, support_queue)
    [by_sms] = ingest(sms, "twilio", twilio.events_from_params(twilio_sms("SM0101", sender="+33 6 12 34 56 78")))
    body = whatsapp_envelope(messages=[whatsapp_text("wamid.X1", "Et sur WhatsApp")], wa_id="33612345678")
    [by_whatsapp] = ingest(whatsapp, "meta", meta.events_from_body(body))
    assert by_sms.customer_id == by_whatsapp.customer_id
    kinds = set(Identity.objects.filter(customer_id=by_sms.customer_id).values_list("kind", "address"))
    assert kinds == {("phone", "+33612345678"), ("whatsapp", "+33612345678")}


def test_it_reads_whatsapp_images_locations_contacts_and_replies(alice: Any, support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.WHATSAPP, support_queue)
    body = whatsapp_envelope(
        messages=[
            {
                "from": "33612345678",
                "id": "wamid.IMG",
                "timestamp": "1764579600",
                "type": "image",
                "image": {"caption": "Le ticket", "mime_type": "image/jpeg", "sha256": "abc", "id": "media-1"},
            },
            {
                "from": "33612345678",
                "id": "wamid.LOC",
                "timestamp": "1764579601",
                "type": "location",
                "location": {"latitude": 45.764, "longitude": 4.8357, "name": "Agence Lyon", "address": "Lyon"},
            },
            {
                "from": "33612345678",
                "id": "wamid.VCF",
                "timestamp": "1764579602",
                "type": "contacts",
                "contacts": [{"name": {"formatted_name": "Paul Durand"}, "phones": [{"phone": "+33 6 98 76 54 32"}]}],
            },
            whatsapp_text("wamid.RE", "C'est urgent", context={"from": "33700000002", "id": "wamid.OUT1"}),
        ]
    )
    image, location, contacts, reply = ingest(channel, "meta", meta.events_from_body(body))
    assert image.text == "Le ticket"
    assert image.attachments.get().content_id == "media-1"
    assert location.meta["location"] == {
        "latitude": 45.764,
        "longitude": 4.8357,
        "name": "Agence Lyon",
        "address": "Lyon",
    }
    assert contacts.meta["contacts"] == [{"name": "Paul Durand", "phones": ["+33 6 98 76 54 32"]}]
    assert reply.meta["reply_to"] == "wamid.OUT1"
    assert image.customer.display_name == "Carla"
    assert len({image.conversation_id, location.conversation_id, contacts.conversation_id, reply.conversation_id}) == 1


def test_it_gives_messenger_and_instagram_senders_identities_of_their_own_kind(
    alice: Any, support_queue: Queue
) -> None:
    messenger = make_channel(Channel.Kind.MESSENGER, support_queue)
    instagram = make_channel(Channel.Kind.INSTAGRAM, support_queue)
    item = {
        "sender": {"id": "PSID-1"},
        "recipient": {"id": "page-1"},
        "timestamp": 1764579600000,
        "message": {
            "mid": "m_1",
            "text": "Bonjour",
            "reply_to": {"mid": "m_0"},
            "attachments": [{"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/v/photo.jpg"}}],
        },
    }
    [on_messenger] = ingest(messenger, "meta", meta.events_from_body(messenger_envelope([item])))
    ig_item = {**item, "message": {"mid": "ig_1", "text": "Coucou"}}
    [on_instagram] = ingest(
        instagram, "meta", meta.events_from_body(messenger_envelope([ig_item], object_="instagram"))
    )
    assert on_messenger.customer.identities.get().kind == Identity.Kind.MESSENGER
    assert on_instagram.customer.identities.get().kind == Identity.Kind.INSTAGRAM
    assert on_messenger.customer_id != on_instagram.customer_id  # page-scoped ids are not comparable
    assert on_messenger.meta["reply_to"] == "m_0"
    assert on_messenger.attachments.get().source_url.endswith("photo.jpg")


def test_it_ignores_messengers_echo_of_our_own_messages(alice: Any, support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.MESSENGER, support_queue)
    echo = {"sender": {"id": "page-1"}, "recipient": {"id": "PSID-1"}, "message": {"mid": "m_9", "is_echo": True}}
    assert ingest(channel, "meta", meta.events_from_body(messenger_envelope([echo]))) == []
    assert not Interaction.objects.exists()


def test_it_reads_telegram_photos_locations_contacts_and_replies(alice: Any, support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.TELEGRAM, support_queue)
    photo = telegram_update(
        7001,
        text="",
        caption="Mon colis",
        photo=[
            {"file_id": "small", "file_unique_id": "s", "file_size": 1200, "width": 90, "height": 90},
            {"file_id": "large", "file_unique_id": "l", "file_size": 48000, "width": 800, "height": 800},
        ],
    )
    place = telegram_update(7002, text="", location={"latitude": 43.2965, "longitude": 5.3698})
    contact = telegram_update(7003, text="", contact={"phone_number": "+33698765432", "first_name": "Paul"})
    reply = telegram_update(7004, text="Et alors ?", reply_to_message={"message_id": 8001})
    made = ingest(
        channel, "telegram", [e for u in (photo, place, contact, reply) for e in telegram.events_from_update(u)]
    )
    by_photo, by_place, by_contact, by_reply = made
    assert (by_photo.text, by_photo.attachments.get().content_id) == ("Mon colis", "large")
    assert by_place.meta["location"] == {"latitude": 43.2965, "longitude": 5.3698}
    assert by_contact.meta["contacts"] == [{"name": "Paul", "phones": ["+33698765432"]}]
    assert by_reply.meta["reply_to"] == "777:8001"
    identity = by_photo.customer.identities.get()
    assert (identity.kind, identity.address, by_photo.customer.display_name) == ("telegram", "777", "Carla Durand")


def test_it_stores_but_files_nothing_for_a_telegram_update_without_a_message(support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.TELEGRAM, support_queue)
    update = {"update_id": 7100, "edited_message": {"message_id": 1, "text": "edited"}}
    assert ingest(channel, "telegram", telegram.events_from_update(update)) == []
    assert inbound.InboundEvent.objects.get().processed_at is not None


def test_it_files_an_api_channel_message_under_the_sources_own_identity(alice: Any, support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.API, support_queue)
    serializer = api_channel.InboundMessageSerializer(
        data={
            "id": "msg-9",
            "from": {"id": "user-42", "name": "Jeanne"},
            "text": "Le paiement échoue",
            "attachments": [{"url": "https://files.example.com/capture.png", "filename": "capture.png"}],
            "location": {"latitude": 48.1, "longitude": -1.68},
        }
    )
    assert serializer.is_valid(), serializer.errors
    [message] = ingest(channel, "api", [api_channel.event_from_data(dict(serializer.validated_data))])
    assert message.customer.identities.get().address == f"{channel.uuid}:user-42"
    assert message.customer.display_name == "Jeanne"
    assert message.attachments.get().filename == "capture.png"
    assert message.meta["location"]["longitude"] == -1.68


def test_it_dead_letters_a_message_from_an_impossible_number(support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue)
    [(external_id, payload)] = twilio.events_from_params(twilio_sms("SM0102", sender="+999"))
    event, _ = inbound.record_inbound_event(
        channel=channel, external_id=external_id, payload=payload, provider="twilio"
    )
    from interactions.tasks import process_inbound_event_task

    process_inbound_event_task.apply(args=(event.pk,))
    event.refresh_from_db()
    assert event.dead_lettered_at is not None and "phone number" in event.last_error
