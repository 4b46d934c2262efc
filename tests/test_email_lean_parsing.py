"""A mail is parsed once at ingest: the kept headers come from the full parse's raw header lines, and the reply
headers are looked for only where a line starts; both give what the slower ways gave.

`read_headers(raw, problems, parsed=message)` reads the headers of the message `parse_mail` already parsed instead
of parsing the bytes again with compat32; `replies.match_groups` tries the reply-header expression only at the
text's start, at newlines and after them, instead of at every character as `findall` does.
"""

from __future__ import annotations

import email
import random
import re
from email import policy
from email.header import Header, decode_header, make_header
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parseaddr
from pathlib import Path

import pytest

from interactions.mail import headers, parsing, replies

FIXTURES = Path(__file__).parent / "mail_fixtures"

HOSTILE_HEADERS = [
    b"From: =?utf-8?q?Ren=C3=A9e?= <renee@example.com>\r\nTo: a@example.com,\r\n b@example.com\r\nSubject: x\r\n\r\nhi",
    b"From: \xe9t\xe9 <ete@example.com>\nSubject: caf\xe9 \xff\nMessage-ID: <A@B>\n\nbody",
    b"Subject: =?broken?=\nFrom: =?utf-8?b?###?= <x@example.com>\nMessage-ID: <x@y>\n\nbody",
    b"From: a@example.com\nFrom: b@example.com\nSubject: one\nSubject: two\nReferences: <a@x>\n <b@x>\n\tc@x\n\nb",
    b"Authentication-Results: mx.example.com;\n dmarc=fail header.from=example.com\n"
    b"Authentication-Results: second; spf=pass\nFrom: x@example.com\n\nbody",
    b"No-Colon-Line\nFrom: x@example.com\nSubject:\n\nbody",
    b"From: x@example.com\nX-Loop: \x00nul\nSubject: tab\there\n\n",
    b"",
    b"just text, no headers at all",
    b"Content-Type: multipart/mixed; boundary=zz\nFrom: x@example.com\nSubject: s\n\n--yy\nbroken\n",
]


def reference_headers(raw: bytes) -> tuple[dict[str, str], list[str], list[str]]:
    """What read_headers read before: a compat32 header parse of the bytes, then `get` per kept header."""
    problems: list[str] = []
    try:
        message = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    except Exception:
        return {}, [], problems
    authentication = [" ".join(str(value).split()) for value in (message.get_all("authentication-results") or [])[:20]]
    kept: dict[str, str] = {}
    for name in parsing.KEPT_HEADERS:
        value = message.get(name)
        if value is None:
            continue
        if isinstance(value, Header):
            value = str(value)
        if name in parsing.ENCODED_HEADERS and "=?" in value:
            try:
                value = str(make_header(decode_header(value)))
            except Exception as error:
                problems.append(f"unreadable {name} header ({error.__class__.__name__})")
        value = " ".join(value.replace("\x00", "").split())
        if value:
            kept[name] = value
    return kept, authentication, problems


def both_ways(raw: bytes) -> tuple[tuple[dict[str, str], list[str], list[str]], ...]:
    """The reference, read_headers of the bytes, and read_headers of the message parse_mail parses."""
    old_problems: list[str] = []
    old = parsing.read_headers(raw, old_problems)
    new_problems: list[str] = []
    new = parsing.read_headers(raw, new_problems, parsed=email.message_from_bytes(raw, policy=parsing.POLICY))
    return reference_headers(raw), (*old, old_problems), (*new, new_problems)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.eml")), ids=lambda path: path.name)
def test_the_headers_of_the_parsed_message_are_those_a_header_parse_of_the_bytes_gives(path: Path) -> None:
    reference, old, new = both_ways(path.read_bytes())
    assert old == reference
    assert new == reference


@pytest.mark.parametrize("raw", HOSTILE_HEADERS)
def test_folded_encoded_eight_bit_and_repeated_headers_read_alike_from_the_parsed_message(raw: bytes) -> None:
    reference, old, new = both_ways(raw)
    assert old == reference
    assert new == reference


def test_generated_mails_like_the_benchmarks_read_alike(tmp_path: Path) -> None:
    from bench.email_ingest import generate_maildir

    generate_maildir(tmp_path / "box", messages=60, customers=20)
    raws = [path.read_bytes() for path in sorted((tmp_path / "box" / "new").iterdir())]
    assert len(raws) == 60
    for raw in raws:
        reference, old, new = both_ways(raw)
        assert old == reference
        assert new == reference


def test_the_reply_header_expression_is_known_to_match_only_where_a_line_starts() -> None:
    # What lets match_groups skip the other positions; were the library's expression to change shape, the fast
    # path would turn itself off (and this test say so) rather than answer differently.
    assert replies.anchored_at_lines(replies.header_regex(parsing.REPLY_LANGUAGE_KEYS))


def test_an_expression_that_may_match_mid_line_is_scanned_everywhere() -> None:
    for pattern in (r"wrote:", r"(?:^|x)On", r"(?:\n)?From:", r"(?:^)*On"):
        regex = re.compile(pattern, re.MULTILINE)
        assert not replies.anchored_at_lines(regex)
        assert replies.match_groups(regex, "He wrote:\nxOn\nFrom:") == [
            m.groups("") for m in regex.finditer("He wrote:\nxOn\nFrom:")
        ]
    assert not replies.anchored_at_lines(re.compile(r"^On"))  # without MULTILINE `^` is the text's start only


LINES = [
    "On Mon, 1 Dec 2026 at 10:00, Bob <bob@example.com> wrote:\n",
    "> On Mon, 1 Dec 2026, Bob wrote:\n",
    "> quoted line\n",
    "From: Alice <alice@example.com>\nSent: Monday\nTo: support@example.com\nSubject: x\n",
    "> From: Alice\n> To: b\n",
    "* From: a *\n* Date: b *\n",
    "De : Alice\nEnvoyé : lundi\nÀ : b\nObjet : c\n",
    "Von: A\nGesendet: B\nAn: C\nBetreff: D\n",
    "-----Original Message-----\n",
    "------ Original Message ------\n",
    "Le lun. 1 déc. 2026 à 10:00, Bob <bob@example.com> a écrit :\n",
    "Am 01.12.2026 um 10:00 schrieb Bob <bob@example.com>:\n",
    "El lun, 1 dic 2026 a las 10:00, Bob escribió:\n",
    "Il giorno lun 1 dic 2026 Bob ha scritto:\n",
    "Op ma 1 dec. 2026 om 10:00 schreef Bob:\n",
    "text On Mon Bob wrote:\n",
    "From: x From: y\n",
    "\n",
    "\n\n\n",
    "word ",
    "From:",
    "On",
]


def test_match_groups_finds_what_findall_finds_on_any_assembly_of_reply_headers() -> None:
    regex = replies.header_regex(parsing.REPLY_LANGUAGE_KEYS)
    rng = random.Random(1216)
    for _ in range(3000):
        text = "".join(rng.choice(LINES) for _ in range(rng.randint(0, 16)))
        assert replies.match_groups(regex, text) == regex.findall(text), repr(text)


SEPARATED = [
    b"From: a@example.com\r\nMessage-ID: <crlf@example.com>\r\n\r\nMessage-ID: <body@example.com>\r\n",
    b"From: a@example.com\nMessage-ID: <lf@example.com>\n\nMessage-ID: <body@example.com>\n",
    b"From: a@example.com\rMessage-ID: <cr@example.com>\r\rMessage-ID: <body@example.com>\r",
    b"From: a@example.com\nMessage-ID: <mixed@example.com>\n\r\nMessage-ID: <body@example.com>\n",
    b"From: a@example.com\r\nMessage-ID:\r\n <folded-last@example.com>\r\n\r\n",
    b"From: a@example.com\r\n\x0cMessage-ID: <after-a-form-feed@example.com>\r\n\r\n",
    b"From: a@example.com\r\nnot a header\r\nMessage-ID: <after-a-non-header@example.com>\r\n\r\n",
    b"\r\nMessage-ID: <after-a-first-empty-line@example.com>\r\n\r\n",
    b"\nMessage-ID: <after-a-first-lf@example.com>\n",
    b"Message-ID: <no-empty-line@example.com>",
    b"Message-ID: <ends-on-cr@example.com>\n\r",
    b"",
]


@pytest.mark.parametrize("raw", SEPARATED)
def test_the_header_block_holds_every_header_a_header_parse_of_the_whole_mail_reads(raw: bytes) -> None:
    def parsed(data: bytes) -> list[tuple[str, str]]:
        return [(k, str(v)) for k, v in BytesHeaderParser(policy=policy.compat32).parsebytes(data).items()]

    if any(pair in raw for pair in headers.EMPTY_LINE_STARTS) or raw[:1] in (b"\r", b"\n"):
        assert len(headers.header_block(raw + b"body " * 1000)) <= len(raw) + 3  # the body is not parsed
    assert parsed(headers.header_block(raw + b"body")) == parsed(raw + b"body")
    assert parsed(headers.header_block(raw)) == parsed(raw)


ADDRESSES = [
    "Customer 7 <customer7@example.com>",
    '"Doe, Jane" <jane@example.com>, bob@example.com',
    "=?utf-8?q?Ren=C3=A9e?= <renee@example.com>",
    "undisclosed-recipients:;",
    "<>",
    "",
    "a@b, , c@d (comment), Group: e@f, g@h;",
    "x" * 2000 + "@example.com",
    ", ".join(f"user{n}@example.com" for n in range(300)),
]


@pytest.mark.parametrize("value", ADDRESSES, ids=range(len(ADDRESSES)))
def test_remembered_addresses_are_what_the_standard_library_reads(value: str) -> None:
    for _ in range(2):  # read, then remembered (or too long to remember)
        assert headers.address_of(value) == parseaddr(value)
        assert list(headers.addresses_in(value)) == [address for _name, address in getaddresses([value]) if address]
