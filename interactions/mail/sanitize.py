"""HTML from the outside world, made safe to show in the desk (nh3), and the agent's "load remote images" choice.

Stored HTML is sanitized once at ingest: no scripts, no styles or event handlers, links with a safe rel. Remote
images stay in the stored HTML but are stripped at display time unless the agent asks for them, so that opening an
email never tells its sender (tracking pixels) that it was read.
"""

from __future__ import annotations

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


def clean_html(html: str) -> str:
    """Sanitized HTML: what nh3 allows here, links opening outside the sandboxed frame."""
    return nh3.clean(
        html,
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
