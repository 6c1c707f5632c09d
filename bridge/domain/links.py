"""Links the bridge hands out: personal quiz links and the courses-web link."""

from __future__ import annotations

import hashlib
from urllib.parse import quote, unquote_plus, urlencode, urlsplit, urlunsplit


def quiz_url(cm_url: str, token: str) -> str:
    """The course's ClassMarker URL with `cm_user_id` added as an encoded query parameter.

    The URL's own query stays byte for byte as staff entered it; only a stale
    `cm_user_id` in it is replaced.
    """
    parts = urlsplit(cm_url.strip())
    kept = [p for p in parts.query.split("&") if p and unquote_plus(p.split("=", 1)[0]) != "cm_user_id"]
    kept.append(f"cm_user_id={quote(token, safe='')}")
    return urlunsplit(parts._replace(query="&".join(kept)))


def courses_web_link(base_url: str | None, private_key: str | None, member_id: int) -> str | None:
    """`{base}?id={member}&key={sha512(member + key)}`, the scheme the courses web verifies."""
    if not base_url or not private_key:
        return None
    digest = hashlib.sha512(f"{member_id}{private_key}".encode()).hexdigest()
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}{urlencode({'id': member_id, 'key': digest})}"
