"""Limited rich text (notes, e-mail bodies): sanitised on the server with nh3 (Ammonia), so what is
stored can be shown as HTML and never runs in a browser."""

from __future__ import annotations

import nh3

TAGS = frozenset(
    {
        "p",
        "br",
        "strong",
        "b",
        "em",
        "i",
        "u",
        "s",
        "ul",
        "ol",
        "li",
        "a",
        "blockquote",
        "code",
        "pre",
        "h3",
        "h4",
    }
)
ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


def sanitise(html: str) -> str:
    """Only the tags above survive; links keep http(s) and mailto targets and open nothing on their own
    (`rel="noopener noreferrer nofollow"`); scripts, styles, event handlers and comments are removed."""
    return nh3.clean(
        html,
        tags=set(TAGS),
        attributes=ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ).strip()
