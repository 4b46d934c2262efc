"""Cheap reads of a mail's headers on the ingest path: where its header section ends, and its addresses, remembered.

Split from interactions/mail/parsing.py, which uses them (and re-exports them).
"""

from __future__ import annotations

from email.utils import getaddresses, parseaddr
from functools import lru_cache

# Two line ends in a row: whichever of \r, \n, \r\n end the first line, the second begins an empty one.
EMPTY_LINE_STARTS = (b"\n\n", b"\r\r", b"\n\r")


def header_block(raw: bytes) -> bytes:
    """`raw` up to its first empty line and a byte past it (the rest of its "\r\n"), or all of it: the email parser's
    header section ends there at the latest (or earlier, at a line that is not a header), so a header-only parse of
    this prefix reads what one of the whole message reads. Its feed parser splits every line of what it is given,
    body included, before it looks at the headers: a mail's body and attachments were most of that work."""
    if raw[:1] in (b"\r", b"\n"):  # the first line is empty: no headers
        return raw[:3]
    ends = [index for index in (raw.find(pair) for pair in EMPTY_LINE_STARTS) if index >= 0]
    return raw[: min(ends) + 3] if ends else raw


# Address headers up to this long are remembered (a long one is rare, and would only crowd the memo).
MEMO_ADDRESS_CHARS = 1000


def address_of(value: str) -> tuple[str, str]:
    """`parseaddr(value)`, remembered: a sender writes again and again (and parsing an address is ~50 µs)."""
    return _address_of(value) if len(value) <= MEMO_ADDRESS_CHARS else _parse_address(value)


def addresses_in(value: str) -> tuple[str, ...]:
    """The addresses of a To or Cc value (`getaddresses`, empty ones left out), remembered: the same mailbox
    receives every mail."""
    return _addresses_in(value) if len(value) <= MEMO_ADDRESS_CHARS else _parse_addresses(value)


def _parse_address(value: str) -> tuple[str, str]:
    name, address = parseaddr(value)
    return name, address


def _parse_addresses(value: str) -> tuple[str, ...]:
    return tuple(address for _name, address in getaddresses([value]) if address)


_address_of = lru_cache(maxsize=4096)(_parse_address)
_addresses_in = lru_cache(maxsize=4096)(_parse_addresses)
