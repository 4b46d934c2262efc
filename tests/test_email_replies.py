"""The latest reply of a mail's text is what mail-parser-reply says it is, found without its signature work.

interactions/mail/replies.py splits the text at reply headers as mail-parser-reply does and stops at the first
non-empty fragment; these tests hold it to the library's own answer on the fixture mails, on generated mails like the
benchmark's, and on random assemblies of the lines reply parsing cares about.
"""

from __future__ import annotations

import random
from email.message import EmailMessage
from pathlib import Path

import pytest

from interactions.mail import parsing, replies

FIXTURES = Path(__file__).parent / "mail_fixtures"

LINES = [
    "On Mon, 1 Dec 2026 at 10:00, Bob <bob@example.com> wrote:\n",
    "> quoted line\n",
    ">> deeper\n",
    "From: Alice <alice@example.com>\nSent: Monday, 1 December 2026 10:00\nTo: support@example.com\nSubject: x\n",
    "________________________________\n",
    "-----Original Message-----\n",
    "Le lun. 1 déc. 2026 à 10:00, Bob <bob@example.com> a écrit :\n",
    "Am 01.12.2026 um 10:00 schrieb Bob <bob@example.com>:\n",
    "El lun, 1 dic 2026 a las 10:00, Bob escribió:\n",
    "Op ma 1 dec. 2026 om 10:00 schreef Bob:\n",
    "\n",
    "   \n",
    "\r\n",
    "Thanks for your help.\n",
    "--\nAlice\n",
    "Sent from my iPhone\n",
    "Best regards,\nAlice\n",
    "From: \n",
    "word ",
]


def reference(text: str) -> str | None:
    return parsing.reply_parser.parse_reply(text)


def ours(text: str) -> str | None:
    return replies.latest_reply(text, languages=parsing.REPLY_LANGUAGE_KEYS)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.eml")), ids=lambda path: path.name)
def test_it_finds_the_latest_reply_of_each_fixture_mail_as_mail_parser_reply_does(path: Path) -> None:
    text = parsing.parse_mail(path.read_bytes()).text
    assert ours(text) == reference(text)


def test_it_finds_the_latest_reply_of_replies_with_quoted_text_as_mail_parser_reply_does() -> None:
    from bench.email_ingest import QUOTE

    for n in range(20):
        message = EmailMessage()
        message.set_content(f"Hello,\n\nThis is message {n}. " + "The parcel is late. " * n + QUOTE + "\nRegards,\nBob")
        text = parsing.parse_mail(message.as_bytes()).text
        assert ours(text) == reference(text)
        assert parsing.latest_reply_of(text) == (reference(text) or text).strip()


def test_it_splits_any_assembly_of_reply_headers_quotes_and_signatures_as_mail_parser_reply_does() -> None:
    rng = random.Random(16)
    for _ in range(2000):
        text = "".join(rng.choice(LINES) for _ in range(rng.randint(0, 14)))
        assert ours(text) == reference(text), repr(text)
