"""What the receiving mail server concluded about a message's origin: the `Authentication-Results` header (RFC 8601).

Anyone can write an `Authentication-Results` header into a mail, so only one is believed: the one stamped by our own
receiving server. With `authserv_ids` configured (the channel's `config["authserv_ids"]`, else the setting
OMNIDESK_EMAIL_AUTHSERV_IDS) that is the first header naming one of them; without, the topmost header, which the last
hop (the server that delivered into our mailbox) added.

A small hand-written reader rather than a dependency: the standard library's `email.headerregistry` has no class
for this header, and `authres` (the usual package) has had no release since 2019. Only `method=result` of each
resinfo is needed; the reader is one linear pass over at most MAX_HEADER characters (no regular expression).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from interactions.models import Channel

MAX_HEADER = 4096
MAX_HEADERS = 20
METHODS = ("spf", "dkim", "dmarc")
# RFC 8601 results; anything else read is recorded as "unknown".
RESULTS = {"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", "policy", "hardfail"}


@dataclass(frozen=True)
class Authentication:
    spf: str = "none"
    dkim: str = "none"
    dmarc: str = "none"
    authserv_id: str = ""

    @property
    def forged(self) -> bool:
        """The sender's domain says this mail is not from it (DMARC fail): never trust its From."""
        return self.dmarc == "fail"

    @property
    def authenticated(self) -> bool:
        """The From domain vouches for this mail: DMARC passed, or no DMARC verdict but SPF or DKIM passed."""
        return self.dmarc == "pass" or (self.dmarc == "none" and "pass" in (self.spf, self.dkim))

    def as_meta(self) -> dict[str, Any]:
        return {"spf": self.spf, "dkim": self.dkim, "dmarc": self.dmarc, "authserv_id": self.authserv_id}


def without_comments(value: str) -> str:
    """The header without its (comments), quoted strings kept, in one pass."""
    out: list[str] = []
    depth = 0
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if quoted:
            quoted = char != '"'
            out.append(char)
        elif char == '"' and depth == 0:
            quoted = True
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def split_segments(value: str) -> list[str]:
    """`;`-separated parts, a `;` inside a quoted string not separating."""
    segments: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    segments.append("".join(current))
    return [segment.strip() for segment in segments]


def parse_header(value: str) -> tuple[str, dict[str, str]]:
    """(authserv-id, {method: result}) of one header; for a method seen twice, a pass wins (several DKIM
    signatures: one valid signature is enough)."""
    segments = split_segments(without_comments(value[:MAX_HEADER]))
    head = segments[0].split() if segments else []
    authserv_id = head[0].lower() if head else ""
    results: dict[str, str] = {}
    for segment in segments[1:]:
        words = segment.split()
        if not words or "=" not in words[0]:
            continue
        method, _eq, result = words[0].partition("=")
        method = method.split("/", 1)[0].strip().lower()
        result = result.strip().strip('"').lower()
        if method not in METHODS:
            continue
        result = result if result in RESULTS else "unknown"
        if result == "hardfail":
            result = "fail"
        if results.get(method) != "pass":
            results[method] = result
    return authserv_id, results


def trusted_ids(channel: Channel | None) -> set[str]:
    configured = channel.config.get("authserv_ids") if channel is not None else None
    if configured is None:
        configured = getattr(settings, "OMNIDESK_EMAIL_AUTHSERV_IDS", ())
    if isinstance(configured, str):
        configured = configured.replace(",", " ").split()
    return {str(item).strip().lower() for item in configured or () if str(item).strip()}


def read_authentication(headers: list[str], *, channel: Channel | None = None) -> Authentication:
    """The verdict of our receiving server, from a message's `Authentication-Results` headers (top first)."""
    trusted = trusted_ids(channel)
    for value in headers[:MAX_HEADERS]:
        authserv_id, results = parse_header(value)
        if trusted and authserv_id not in trusted:
            continue
        return Authentication(authserv_id=authserv_id, **{method: results.get(method, "none") for method in METHODS})
    return Authentication()
