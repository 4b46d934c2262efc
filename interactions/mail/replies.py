"""The latest reply of a mail's text (what the desk shows above "Show quoted text"), as mail-parser-reply finds it,
for a fraction of its cost.

`EmailReplyParser.parse_reply` splits the text at every reply header ("On … wrote:", "From: …", separators), then,
for every fragment, runs its signature and disclaimer expressions, and returns the first non-empty fragment's
`content`. That `content` does not depend on signatures or disclaimers (they only feed `body`), and the signature
expression (`(.|\\s)*` after a multi-language alternation) was most of the cost: ~0.3 ms of a mail's ~2.5 ms of
CPU at ingest. `latest_reply` below is that same split, on the library's own normalization and its own header
expression (built once instead of once per mail), stopping at the first non-empty fragment; tests/test_email_replies.py
compares the two on the fixture mails, the benchmark's and hostile texts.

Every alternative of that expression starts at a line (`^` in MULTILINE mode, or the `\n` before one), so a match can
begin only at the text's start, at a newline or just after one: `match_groups` tries the expression there instead
of at every character (`findall` tried its ~13 alternatives at each of them: ~0.25 ms of a mail's ~2.8 ms at ingest),
with `findall`'s answer (non-overlapping, left to right). An expression not built that way is scanned with `findall`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from functools import lru_cache
from itertools import chain
from re import Pattern
from typing import Any

from mailparser_reply.parser import EmailMessage

# The standard library's regular-expression parser and its opcodes (private: imported by name, and when a Python
# lacks them every text is scanned as findall scans it).
try:
    regex_parser: Any = importlib.import_module("re._parser")
    constants: Any = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover - another Python
    regex_parser = constants = None


@lru_cache(maxsize=8)
def header_regex(languages: tuple[str, ...]) -> Pattern[str]:
    """mail-parser-reply's reply-header expression for `languages` (English added, as it adds it)."""
    return EmailMessage(text="", languages=list(languages)).HEADER_REGEX


def starts_a_line(items: Any) -> bool:
    """Whether every match of this parsed (sub)pattern begins with `^` or a newline (re's parse tree)."""
    if not len(items):
        return False
    op, argument = items[0]
    if op is constants.AT:
        return argument in (constants.AT_BEGINNING, constants.AT_BEGINNING_STRING)
    if op is constants.LITERAL:
        return bool(argument == ord("\n"))
    if op is constants.SUBPATTERN:
        return starts_a_line(argument[-1])
    if op is constants.BRANCH:
        return all(starts_a_line(branch) for branch in argument[1])
    if op in (constants.MAX_REPEAT, constants.MIN_REPEAT):  # repeated at least once: its first round starts it
        return bool(argument[0] >= 1) and starts_a_line(argument[2])
    return False


@lru_cache(maxsize=8)
def anchored_at_lines(regex: Pattern[str]) -> bool:
    """Whether `regex` can only match from a line's start or a newline (then `match_groups` may skip the rest)."""
    if regex_parser is None or not regex.flags & re.MULTILINE:
        return False
    try:
        return starts_a_line(regex_parser.parse(regex.pattern, regex.flags))
    except Exception:  # another Python's parse tree: scan every position, as findall does
        return False


def match_groups(regex: Pattern[str], text: str) -> list[tuple[str, ...]]:
    """`regex.findall(text)` as group tuples (the header expression has several groups)."""
    if not anchored_at_lines(regex):
        return [match.groups("") for match in regex.finditer(text)]
    found: list[tuple[str, ...]] = []
    end = 0
    for start in chain((0,), (i for newline in _newlines(text) for i in (newline, newline + 1))):
        if start < end or start > len(text):
            continue
        match = regex.match(text, start)
        if match is None:
            continue
        if match.end() == start:  # findall's rules for empty matches are subtler: let it decide
            return [match.groups("") for match in regex.finditer(text)]
        found.append(match.groups(""))
        end = match.end()
    return found


def _newlines(text: str) -> Iterator[int]:
    index = text.find("\n")
    while index >= 0:
        yield index
        index = text.find("\n", index + 1)


def latest_reply(text: str, *, languages: tuple[str, ...]) -> str | None:
    """`EmailReplyParser(languages=…).parse_reply(text)`: the first non-empty fragment before a reply header."""
    message = EmailMessage(text=text, languages=list(languages))  # normalizes line ends, blanks, "____" separators
    normalized = message.text
    headers = [header for header in chain.from_iterable(match_groups(header_regex(languages), normalized)) if header]
    position = current = 0
    for header in headers:
        position = normalized.find(header, current + 1 if current > 0 else current)
        content = normalized[current:position].strip()
        current = position if position >= 0 else 0
        if content:
            return content
    return normalized[current:].strip()
