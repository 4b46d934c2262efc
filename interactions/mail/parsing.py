"""RFC 822 bytes → a ParsedMail, with the standard library only (`email.policy.default`).

Contract: `parse_mail` never raises on bad input. Wrong or unknown charsets fall back (declared → UTF-8 → Windows-1252,
which decodes any byte), malformed MIME keeps whatever could be read, and every such problem is listed in
`ParsedMail.problems` so that the agent sees it on the interaction. The raw bytes are kept elsewhere (the InboundEvent).
"""

from __future__ import annotations

import email
import hashlib
import html as html_lib
import re
import unicodedata
from dataclasses import dataclass, field
from email import policy
from email.header import Header, decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.policy import EmailPolicy
from functools import lru_cache
from typing import Any

from mailparser_reply import EmailReplyParser

from interactions.mail import replies, sanitize
from interactions.mail.headers import address_of, addresses_in, header_block

# Latin-1 and ASCII labels are in practice Windows-1252 (what Outlook sends): the superset decodes € and “quotes”.
CHARSET_ALIASES = {"iso-8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252"}
REPLY_LANGUAGES = ["en", "fr", "de", "es", "it", "nl"]
reply_parser = EmailReplyParser(languages=REPLY_LANGUAGES)  # the reference replies.latest_reply follows
REPLY_LANGUAGE_KEYS = tuple(reply_parser.languages)


@lru_cache(maxsize=8192)
def parsed_header(name: str, value: str) -> Any:
    return policy.default.header_fetch_parse(name, value)


class MailPolicy(EmailPolicy):
    """`email.policy.default`, with parsed header objects memoized (they are read-only). The default policy parses a
    header again on every access, ~45 times per message here (Content-Type alone for get_content_type,
    get_content_charset, get_param…); most values (`text/plain; charset="utf-8"`) recur from message to message."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        return parsed_header(name, value)


POLICY = MailPolicy()


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str = ""
    inline: bool = False


@dataclass
class ParsedMail:
    message_id: str
    subject: str
    from_address: str
    from_name: str
    to: list[str]
    cc: list[str]
    in_reply_to: list[str]
    references: list[str]
    text: str
    html: str  # sanitized
    latest_reply: str
    attachments: list[ParsedAttachment]
    headers: dict[str, str]
    problems: list[str] = field(default_factory=list)
    # Every Authentication-Results header, topmost first (see interactions.mail.authentication).
    authentication_results: list[str] = field(default_factory=list)
    is_bounce: bool = False
    bounced_message_ids: list[str] = field(default_factory=list)
    bounce_diagnostic: str = ""

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


# Headers kept on the interaction (lower-cased names): threading, loop detection and what an agent may want to see.
KEPT_HEADERS = (
    "message-id",
    "date",
    "from",
    "to",
    "cc",
    "reply-to",
    "subject",
    "in-reply-to",
    "references",
    "auto-submitted",
    "precedence",
    "x-loop",
    "return-path",
    "list-id",
    "list-unsubscribe",
    "list-post",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
    "x-mailer",
    "x-omnidesk-too-large",
    "user-agent",
)

MESSAGE_ID_RE = re.compile(r"<([^<>\s]+)>")


def normalize_message_id(value: str) -> str:
    """`<ABC@Host>` → `abc@host`: Message-IDs compared case-insensitively, without brackets or spaces."""
    match = MESSAGE_ID_RE.search(value or "")
    cleaned = match.group(1) if match else (value or "").strip().strip("<>")
    return cleaned.strip().lower()[:255]


def message_ids_in(value: str) -> list[str]:
    found = [m.lower()[:255] for m in MESSAGE_ID_RE.findall(value or "")]
    if not found and value and value.strip():
        found = [normalize_message_id(value)]
    return [m for m in found if m]


def external_id_for(raw: bytes) -> str:
    """The id an inbound mail is deduplicated on: its Message-ID, else a hash of its bytes. The headers alone are
    parsed: storing a mail (a webhook's answer waits for it) need not split its body and attachments into parts."""
    message = BytesHeaderParser(policy=policy.compat32).parsebytes(header_block(raw))
    message_id = normalize_message_id(str(message.get("Message-ID", "") or ""))
    if len(message_id) > 200:  # the events' and interactions' external id columns hold 200 characters
        return "sha256-id:" + hashlib.sha256(message_id.encode()).hexdigest()
    return message_id or "sha256:" + hashlib.sha256(raw).hexdigest()


ENCODED_HEADERS = {"from", "to", "cc", "reply-to", "subject"}


KEPT = frozenset(KEPT_HEADERS)
AUTHENTICATION_RESULTS = "authentication-results"


def read_headers(raw: bytes, problems: list[str], *, parsed: Message | None = None) -> tuple[dict[str, str], list[str]]:
    """The kept headers, RFC 2047 words decoded where people write them, and the Authentication-Results headers.
    Read as compat32 reads them (no header objects): the default policy's header registry costs ~20 parses per
    message and is not needed for the others. `parsed`: the message already parsed from `raw` (any policy), whose
    raw header lines are read instead of parsing the bytes again: both policies split and unfold header lines alike
    (`header_source_parse` is the same), so only fetching them differs, which compat32's `header_fetch_parse` does
    here. One pass over the lines, each kept name's first one as `Message.get` gives it (every `get` was a scan)."""
    try:
        message = parsed if parsed is not None else BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
        lines = list(message.raw_items())
    except Exception:
        return {}, []
    fetch = policy.compat32.header_fetch_parse
    first: dict[str, Any] = {}
    authentication: list[str] = []
    for line_name, line_value in lines:
        name = line_name.lower()
        if name == AUTHENTICATION_RESULTS and len(authentication) < 20:
            authentication.append(" ".join(str(fetch(line_name, line_value)).split()))
        if name in KEPT and name not in first:
            first[name] = fetch(line_name, line_value)
    headers: dict[str, str] = {}
    for name in KEPT_HEADERS:
        value = first.get(name)
        if value is None:
            continue
        if isinstance(value, Header):
            value = str(value)
        if name in ENCODED_HEADERS and "=?" in value:
            try:
                value = str(make_header(decode_header(value)))
            except Exception as error:  # a broken encoded word: keep it as written
                problems.append(f"unreadable {name} header ({error.__class__.__name__})")
        value = " ".join(value.replace("\x00", "").split())
        if value:
            headers[name] = value
    return headers, authentication


def decode_part(part: Message, problems: list[str]) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload() or "")
    declared = (part.get_content_charset() or "").lower()
    candidates = list(dict.fromkeys([CHARSET_ALIASES.get(declared, declared) if declared else "utf-8", "utf-8"]))
    for charset in candidates:
        try:
            return payload.decode(charset).replace("\r\n", "\n")
        except LookupError:
            problems.append(f"unknown charset {declared!r}; read as UTF-8 or Windows-1252")
            declared = ""
        except UnicodeDecodeError:
            continue
    if declared:
        problems.append(f"charset {declared!r} did not decode this part; read as Windows-1252")
    # Windows-1252 maps nearly every byte; the few it does not become U+FFFD instead of failing.
    return payload.decode("cp1252", errors="replace").replace("\r\n", "\n")


# Tags that end a line of text, and any tag: each regular expression reads from a `<` to the next `<` or `>` at most,
# so together they scan the text a bounded number of times (no backtracking across tags).
TEXT_BREAK_RE = re.compile(r"<(?:br|/(?:p|div|tr|li|h[1-6]|blockquote|table))\b[^<>]*>", re.IGNORECASE)
ANY_TAG_RE = re.compile(r"<[A-Za-z/!?][^<>]*>")
ANY_TAG_RE_UNCLOSED = re.compile(r"<[A-Za-z/!?][^<>]*$")
# Character references that need decoding; a bare `&` (a flood of them made html.unescape call back per `&`) does not.
ENTITY_RE = re.compile(r"&(?:#[0-9]{1,8};?|#[xX][0-9a-fA-F]{1,8};?|[A-Za-z][A-Za-z0-9]{1,31};)")


@lru_cache(maxsize=4096)
def decode_entity(entity: str) -> str:
    return html_lib.unescape(entity)


def unescape_entity(match: re.Match[str]) -> str:
    return decode_entity(match.group(0))


COMMON_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"), ("&nbsp;", "\xa0"))


def html_to_text(html: str) -> str:
    """Plain text of an HTML body, for mail without a text part: block ends become line breaks.

    Linear in the input, whatever it holds (`"<script" * n`, `"<" * n`, unclosed comments…): comments and raw-text
    elements go with `str.find` (sanitize.strip_raw_text), tags with the regular expressions above; no HTML parser
    and no backtracking pattern sees the raw HTML.
    """
    html = sanitize.strip_raw_text(html)
    html = TEXT_BREAK_RE.sub("\n", html)
    html = ANY_TAG_RE_UNCLOSED.sub("", ANY_TAG_RE.sub("", html))
    for entity, char in COMMON_ENTITIES:
        html = html.replace(entity, char)
    text = ENTITY_RE.sub(unescape_entity, html) if "&" in html else html
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return collapse_blank_lines("\n".join(lines)).strip()


def collapse_blank_lines(text: str) -> str:
    """At most one empty line in a row (a linear scan: `\\n{3,}` alone is linear too, but this reads plainer)."""
    out: list[str] = []
    blank = 0
    for line in text.split("\n"):
        blank = blank + 1 if not line else 0
        if blank <= 1:
            out.append(line)
    return "\n".join(out)


# Names Windows refuses whatever the extension (an agent downloads attachments there too).
RESERVED_NAMES = {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(10)), *(f"lpt{n}" for n in range(10))}
MAX_FILENAME = 150


def safe_filename(name: str, *, fallback: str) -> str:
    """A file name from a stranger made safe to store and to offer for download; never raises.

    The last path component only (`/` and `\\` both separate), no control or bidi-override characters (U+202E would
    show `exe.pdf` for `fdp.exe`), no leading dots (`..`, hidden files), no reserved device names, at most
    MAX_FILENAME characters with the extension kept. Whatever is left empty becomes `fallback`.
    """
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"))
    name = " ".join(name.split()).strip(" .")
    name = name.replace(":", "_").replace('"', "_").replace("<", "_").replace(">", "_").replace("|", "_")
    name = name.replace("?", "_").replace("*", "_")
    if name.split(".", 1)[0].strip().lower() in RESERVED_NAMES:
        name = f"_{name}"
    if len(name) > MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        extension = extension[:16] if dot and stem else ""
        name = name[: MAX_FILENAME - len(extension) - 1].rstrip(" .") + (f".{extension}" if extension else "")
    return name or fallback


def attachment_name(part: Message, index: int) -> str:
    extension = "eml" if part.get_content_type() == "message/rfc822" else part.get_content_subtype() or "bin"
    fallback = f"attachment-{index}.{safe_filename(extension, fallback='bin')[:16]}"
    try:
        name = part.get_filename()
    except Exception:
        name = None
    return safe_filename(str(name), fallback=fallback) if name else fallback


BOUNDARY_LINE_RE = re.compile(rb"^--([^\s]{1,200}?)(--)?\s*$", re.MULTILINE)


def recover_multipart(message: Message, problems: list[str]) -> Message | None:
    """A multipart whose declared boundary never occurs: re-read it with the boundary its body actually uses."""
    body = message.get_payload(decode=False)
    if not isinstance(body, str):
        return None
    found = BOUNDARY_LINE_RE.search(body.encode("utf-8", errors="surrogateescape"))
    if not found:
        return None
    boundary = found.group(1).decode("ascii", errors="replace")
    rebuilt = f'Content-Type: {message.get_content_type()}; boundary="{boundary}"\n\n'.encode() + body.encode(
        "utf-8", errors="surrogateescape"
    )
    recovered = email.message_from_bytes(rebuilt, policy=POLICY)
    if not recovered.is_multipart():
        return None
    problems.append(f"MIME boundary mismatch: parts recovered with the boundary {boundary!r}")
    return recovered


def leaves(message: Message, problems: list[str] | None = None) -> list[Message]:
    """The leaf parts, an attached message (message/rfc822) counting as one leaf: its body is not ours."""
    if message.get_content_maintype() == "multipart" and not message.is_multipart():
        recovered = recover_multipart(message, problems if problems is not None else [])
        if recovered is not None:
            return leaves(recovered, problems)
        return [message]
    if message.get_content_maintype() == "message" or not message.is_multipart():
        return [message]
    found: list[Message] = []
    payload = message.get_payload()
    for part in payload if isinstance(payload, list) else []:
        if isinstance(part, Message):
            found += leaves(part, problems)
    return found


def walk_body(message: Message, problems: list[str]) -> tuple[str, str, list[ParsedAttachment]]:
    """The first text/plain and text/html bodies, and every other leaf as an attachment."""
    text_parts: list[str] = []
    html_parts: list[str] = []
    attachments: list[ParsedAttachment] = []
    for index, part in enumerate(leaves(message, problems)):
        content_type = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        content_id = normalize_message_id(str(part.get("Content-ID", "") or ""))
        is_body = disposition != "attachment" and content_type in ("text/plain", "text/html") and not content_id
        if is_body and content_type == "text/plain" and not (part.get_filename() and disposition):
            text_parts.append(decode_part(part, problems))
            continue
        if is_body and content_type == "text/html":
            html_parts.append(decode_part(part, problems))
            continue
        if content_type in ("message/delivery-status", "text/rfc822-headers"):
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            # message/rfc822 and friends: keep the embedded message as bytes.
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            data = first.as_bytes() if isinstance(first, Message) else str(inner or "").encode()
        attachments.append(
            ParsedAttachment(
                filename=attachment_name(part, index),
                content_type=content_type,
                data=data,
                content_id=content_id,
                inline=bool(content_id) and disposition != "attachment",
            )
        )
    return "\n\n".join(t.strip("\n") for t in text_parts), "\n".join(html_parts), attachments


def read_bounce(message: Message, parsed: ParsedMail) -> None:
    """A DSN (multipart/report; report-type=delivery-status): which of our messages bounced, and why."""
    if message.get_content_type() != "multipart/report":
        return
    if str(message.get_param("report-type", "") or "").lower() != "delivery-status":
        return
    parsed.is_bounce = True
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            for block in part.get_payload() or []:
                if not isinstance(block, Message):
                    continue
                diagnostic = block.get("Diagnostic-Code") or block.get("Status")
                if diagnostic and not parsed.bounce_diagnostic:
                    parsed.bounce_diagnostic = " ".join(str(diagnostic).split())[:500]
        elif content_type in ("message/rfc822", "text/rfc822-headers"):
            original: Message
            if content_type == "message/rfc822":
                payload = part.get_payload()
                if not (isinstance(payload, list) and payload and isinstance(payload[0], Message)):
                    continue
                original = payload[0]
            else:
                original = email.message_from_string(decode_part(part, parsed.problems), policy=policy.compat32)
            original_id = normalize_message_id(str(original.get("Message-ID", "") or ""))
            if original_id:
                parsed.bounced_message_ids.append(original_id)


# The reply heuristics (mail-parser-reply's regular expressions) read only the start of a long body: the reply is
# on top, and their cost is superlinear on hostile text.
REPLY_SCAN_CHARS = 32_000


def latest_reply_of(text: str) -> str:
    try:
        reply = replies.latest_reply(text[:REPLY_SCAN_CHARS], languages=REPLY_LANGUAGE_KEYS)
    except Exception:  # a heuristic; never worth failing ingestion for
        return text
    return (reply or text).strip()


def safe_html(raw_html: str, problems: list[str]) -> str:
    """The sanitized HTML body; none (the text is shown) when it is too complex to render safely and quickly."""
    if not raw_html.strip():
        return ""
    try:
        return sanitize.clean_html(raw_html)
    except sanitize.TooManyTags as error:
        problems.append(f"HTML part not shown ({error}); its text is")
        return ""


def parse_mail(raw: bytes) -> ParsedMail:
    problems: list[str] = []
    parsed_from_raw: Message | None = None  # the headers are read from it (read_headers), not parsed again
    try:
        message: Message = email.message_from_bytes(raw, policy=POLICY)
        parsed_from_raw = message
    except Exception as error:
        problems.append(f"unreadable message ({error.__class__.__name__}); shown as raw text")
        message = EmailMessage()
        message.set_payload(raw.decode("cp1252", errors="replace"))
    for defect in getattr(message, "defects", []) or []:
        problems.append(f"malformed MIME: {defect.__class__.__name__}")
    headers, authentication_results = read_headers(raw, problems, parsed=parsed_from_raw)
    from_name, from_address = address_of(headers.get("from", ""))
    try:
        text, raw_html, attachments = walk_body(message, problems)
    except Exception as error:
        problems.append(f"could not read the MIME structure ({error.__class__.__name__}); shown as raw text")
        text, raw_html, attachments = raw.decode("cp1252", errors="replace"), "", []
    for part in message.walk():
        for defect in getattr(part, "defects", []) or []:
            note = f"malformed MIME: {defect.__class__.__name__}"
            if part is not message and note not in problems:
                problems.append(note)
    if not text.strip() and raw_html.strip():
        text = html_to_text(raw_html)
    parsed = ParsedMail(
        message_id=normalize_message_id(headers.get("message-id", "")),
        subject=headers.get("subject", "")[:500],
        from_address=from_address.strip(),
        from_name=from_name.strip()[:200],
        to=list(addresses_in(headers.get("to", ""))),
        cc=list(addresses_in(headers.get("cc", ""))),
        in_reply_to=message_ids_in(headers.get("in-reply-to", "")),
        references=message_ids_in(headers.get("references", "")),
        text=text.strip(),
        html=safe_html(raw_html, problems),
        latest_reply="",
        attachments=attachments,
        headers=headers,
        problems=problems,
        authentication_results=authentication_results,
    )
    # PostgreSQL text cannot hold NUL; binary junk in a body must not make the message unstorable.
    parsed.text, parsed.html = parsed.text.replace("\x00", "\ufffd"), parsed.html.replace("\x00", "")
    parsed.latest_reply = latest_reply_of(parsed.text)
    try:
        read_bounce(message, parsed)
    except Exception as error:
        problems.append(f"unreadable delivery report ({error.__class__.__name__})")
    return parsed
