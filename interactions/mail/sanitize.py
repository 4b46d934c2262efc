"""HTML from the outside world, made safe to show in the desk (nh3), and the agent's "load remote images" choice.

Stored HTML is sanitized once at ingest: no scripts, no styles or event handlers, links with a safe rel. Remote
images stay in the stored HTML but are stripped at display time unless the agent asks for them, so that opening an
email never tells its sender (tracking pixels) that it was read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import nh3

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "col", "colgroup", "dd", "del", "div", "dl",
    "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol", "p", "pre", "q",
    "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height", "title"},
    "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign"},
    "table": {"summary"},
    "font": {"color"},
    "*": {"dir", "lang"},
}
URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}
LINK_REL = "noopener noreferrer nofollow"
# Dropped with their content, not just unwrapped.
CLEAN_CONTENT_TAGS = {"script", "style", "title", "noscript", "template", "svg", "math", "iframe", "object", "head"}


# --- bounding untrusted HTML before the HTML5 parser sees it ---------------------------------------------------------
# html5ever (inside nh3) follows the HTML5 tree-building rules, and some of them are quadratic on hostile input: a
# flood of unclosed formatting tags (`<div><b><i>` × n) re-opens the whole list of active formatting elements at
# every new element (100 KB took 1.7 s, 200 KB 8.4 s), and `&#` × n slowed it down alike. So before nh3:
# `strip_raw_text` drops comments and raw-text elements (script, style…: the sanitizer drops them anyway) with
# `str.find` (linear, in C); stray `<` and `&` are escaped by regular expressions with a one-character or bounded
# lookahead (no backtracking); a body with more than MAX_MARKUP tags and character references together is not
# rendered as HTML at all (its text is: html5ever is superlinear on floods of `&` too);
# and `bound_html` rewrites the rest into properly nested tags at most MAX_DEPTH deep. None of this is the
# sanitizer: nh3 still decides what is safe.
MAX_DEPTH = 100
MAX_MARKUP = 30_000
STRAY_LT_RE = re.compile(r"<(?![A-Za-z/!?])")
STRAY_AMP_RE = re.compile(r"&(?!#?[A-Za-z0-9]{1,32};)")


class TooManyTags(ValueError):
    """The HTML has more tags and character references than any hand or newsletter tool writes: not rendered."""


def strip_raw_text(html: str) -> str:
    """`html` without comments and raw-text elements (their content included), in linear time.

    An opener whose closer never comes drops everything after it, as a browser would hide it."""
    lower = html.translate(ASCII_LOWER)
    cuts: list[tuple[int, int]] = []
    for opener, closer in [("<!--", "-->"), *((f"<{name}", f"</{name}") for name in sorted(RAW_TEXT_TAGS))]:
        position = 0
        while True:
            start = lower.find(opener, position)
            if start < 0:
                break
            after = lower[start + len(opener) : start + len(opener) + 1]
            if opener != "<!--" and after and after not in NAME_END:
                position = start + 1  # `<scripts>` is not `<script>`
                continue
            end = lower.find(closer, start + len(opener))
            if end < 0:
                cuts.append((start, len(html)))
                break
            stop = lower.find(">", end)
            stop = len(html) if stop < 0 else stop + 1
            cuts.append((start, stop))
            position = stop
    if not cuts:
        return html
    kept: list[str] = []
    position = 0
    for start, stop in sorted(cuts):
        if stop <= position:
            continue
        kept.append(html[position : max(start, position)])
        position = stop
    kept.append(html[position:])
    return "".join(kept)


def prepare_html(html: str) -> str:
    """Untrusted HTML made cheap for html5ever to parse (see above); raises TooManyTags."""
    html = STRAY_AMP_RE.sub("&amp;", STRAY_LT_RE.sub("&lt;", strip_raw_text(html)))
    if html.count("<") + html.count("&") > MAX_MARKUP:
        raise TooManyTags(f"more than {MAX_MARKUP} tags and character references")
    return bound_html(html)


RAW_TEXT_TAGS = {
    "script",
    "style",
    "textarea",
    "title",
    "xmp",
    "iframe",
    "noembed",
    "noframes",
    "noscript",
    "plaintext",
}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
NAME_END = " \t\n\r\f/>"


def tag_name(html: str, start: int, end: int) -> str:
    """The tag name beginning at `start`, read up to `end` (exclusive) at most."""
    stop = start
    while stop < end and html[stop] not in NAME_END:
        stop += 1
    return html[start:stop].translate(ASCII_LOWER)


def balanced_quotes(tag: str) -> str:
    """A start tag cut at its first `>`: a quote left open (a `>` inside an attribute value) is closed here, so that
    the HTML parser does not read the text that follows as part of the attribute."""
    for quote in ('"', "'"):
        if tag.count(quote) % 2:
            tag += quote
    return tag


def bound_html(html: str) -> str:
    """`html` as properly nested tags at most MAX_DEPTH deep, in time linear in its length (see above)."""
    lower = html.translate(ASCII_LOWER)  # same length as html: only ASCII letters change
    out: list[str] = []
    stack: list[str] = []
    open_count: dict[str, int] = {}
    position, length = 0, len(html)
    while position < length:
        lt = html.find("<", position)
        if lt < 0:
            out.append(html[position:])
            break
        out.append(html[position:lt])
        following = html[lt + 1 : lt + 2]
        if html.startswith("<!--", lt):
            close = html.find("-->", lt + 4)
            position = length if close < 0 else close + 3
            continue
        if following in ("!", "?"):
            close = html.find(">", lt + 2)
            position = length if close < 0 else close + 1
            continue
        closing = following == "/"
        name_start = lt + 2 if closing else lt + 1
        if not html[name_start : name_start + 1].isascii() or not html[name_start : name_start + 1].isalpha():
            out.append("&lt;")
            position = lt + 1
            continue
        close = html.find(">", name_start)
        if close < 0:
            break  # an unfinished tag at the very end: a browser drops it too
        name = tag_name(html, name_start, close)
        position = close + 1
        if closing:
            if open_count.get(name):
                while stack:
                    popped = stack.pop()
                    open_count[popped] -= 1
                    out.append(f"</{popped}>")
                    if popped == name:
                        break
            continue
        if name in RAW_TEXT_TAGS:
            end = lower.find(f"</{name}", position)
            if end < 0:
                break
            end_close = html.find(">", end)
            position = length if end_close < 0 else end_close + 1
            continue
        if name in VOID_TAGS:
            out.append(html[lt : close + 1])
        elif len(stack) < MAX_DEPTH:
            out.append(balanced_quotes(html[lt:close].rstrip("/")) + ">")
            stack.append(name)
            open_count[name] = open_count.get(name, 0) + 1
    out.extend(f"</{name}>" for name in reversed(stack))
    return "".join(out)


def clean_html(html: str) -> str:
    """Sanitized HTML: what nh3 allows here, links opening outside the sandboxed frame. Raises TooManyTags."""
    return nh3.clean(
        prepare_html(html),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        clean_content_tags=CLEAN_CONTENT_TAGS,
        strip_comments=True,
    )


# What a browser strips from a URL before reading it (WHATWG URL parser): ASCII tab and newlines anywhere, C0
# controls and spaces at both ends. Backslashes count as slashes for http(s) and for scheme-less URLs.
URL_IGNORED = str.maketrans("", "", "\t\n\r")
URL_TRIMMED = "".join(chr(code) for code in range(0x21))


def normalize_url(url: str) -> str:
    """`url` as a browser reads it: `ht\ttp://x` → `http://x`, `/\\host` → `//host`, ` //x` → `//x`."""
    return url.translate(URL_IGNORED).strip(URL_TRIMMED).replace("\\", "/").lower()


def is_remote(url: str) -> bool:
    """Whether showing `url` as an image would fetch something from outside. Only our own `cid:` parts (rewritten to
    attachment URLs at display time) are local; anything else — http(s), protocol-relative, relative paths a browser
    resolves against some base, schemes we do not know — is treated as remote, never guessed to be safe."""
    return not normalize_url(url).startswith("cid:")


def has_remote_images(html: str) -> bool:
    found: list[bool] = []

    def note(tag: str, attribute: str, value: str) -> str:
        if tag == "img" and attribute == "src" and is_remote(value):
            found.append(True)
        return value

    nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES, attribute_filter=note)
    return bool(found)


def display_html(html: str, *, inline_urls: Mapping[str, str], remote_images: bool) -> str:
    """The stored HTML as shown: `cid:` images point at our attachment URLs; remote images only when asked for."""

    def rewrite(tag: str, attribute: str, value: str) -> str | None:
        if tag != "img" or attribute != "src":
            return value
        normalized = normalize_url(value)
        if normalized.startswith("cid:"):
            return inline_urls.get(normalized[4:].strip("<>"))
        if is_remote(value) and not remote_images:
            return None
        return value

    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        attribute_filter=rewrite,
    )
