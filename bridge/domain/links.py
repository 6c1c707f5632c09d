"""Links the bridge hands out: personal quiz links and the courses-web link."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def quiz_url(cm_url: str, token: str) -> str:
    """The course's ClassMarker URL with `cm_user_id` added as an encoded query parameter."""
    parts = urlsplit(cm_url.strip())
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "cm_user_id"]
    query.append(("cm_user_id", token))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def courses_web_link(base_url: str | None, private_key: str | None, member_id: int) -> str | None:
    """`{base}?id={member}&key={sha512(member + key)}`, the scheme the courses web verifies."""
    if not base_url or not private_key:
        return None
    digest = hashlib.sha512(f"{member_id}{private_key}".encode()).hexdigest()
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}{urlencode({'id': member_id, 'key': digest})}"
