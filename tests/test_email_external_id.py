"""The id a stored mail is deduplicated on is read from its headers alone, and is the one a full parse reads."""

from __future__ import annotations

import email
import hashlib
from email import policy

import pytest

from interactions.mail.parsing import external_id_for, normalize_message_id

BODY = b"Content-Type: text/plain\r\n\r\nMessage-ID: <not-this@body.example>\r\nhello\r\n"
MAILS = [
    b"From: a@example.com\r\nMessage-ID: <ABC.123@Mail.Example>\r\n" + BODY,
    b"From: a@example.com\r\nMessage-ID:\r\n  <folded@example.com>\r\n" + BODY,
    b"From: a@example.com\r\n" + BODY,  # none: the body's look-alike must not count
    b"From: \xe9t\xe9@example.com\r\nMessage-ID: <latin-\xe9@example.com>\r\n" + BODY,
    b"Message-ID: <" + b"x" * 300 + b"@example.com>\r\n" + BODY,
    b"Message-ID: <no-body@example.com>",
    b"\r\n\r\nMessage-ID: <after-the-blank-line@example.com>\r\n",
]


@pytest.mark.parametrize("raw", MAILS)
def test_it_reads_the_id_a_full_parse_reads(raw: bytes) -> None:
    full = email.message_from_bytes(raw, policy=policy.compat32)
    message_id = normalize_message_id(str(full.get("Message-ID", "") or ""))
    if len(message_id) > 200:
        expected = "sha256-id:" + hashlib.sha256(message_id.encode()).hexdigest()
    else:
        expected = message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    assert external_id_for(raw) == expected


def test_it_falls_back_to_the_hash_of_the_bytes_without_a_message_id() -> None:
    assert external_id_for(MAILS[2]) == "sha256:" + hashlib.sha256(MAILS[2]).hexdigest()
    assert external_id_for(MAILS[0]) == "abc.123@mail.example"
