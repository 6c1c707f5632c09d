"""How the console shows a stored ClassMarker payload: the name read from it, the whole with the `cm_user_id` shortened."""

from __future__ import annotations

import json

from bridge.adapters.codec import redact


def payload_name(payload: str) -> str | None:
    """The member's name as ClassMarker received it with the result (no call to Fabman needed)."""
    try:
        result = json.loads(payload).get("result") or {}
    except (ValueError, AttributeError):
        return None
    if not isinstance(result, dict):
        return None
    name = " ".join(str(result.get(part) or "").strip() for part in ("first", "last")).strip()
    return name or None


def shown_payload(payload: str) -> str:
    """The stored payload, pretty-printed, with the `cm_user_id` shortened (no page shows it whole)."""
    try:
        document = json.loads(payload)
    except ValueError:
        return "(not JSON)"
    result = document.get("result") if isinstance(document, dict) else None
    token = result.get("cm_user_id") if isinstance(result, dict) else None
    if isinstance(token, str) and token:
        result["cm_user_id"] = redact(token)  # type: ignore[index]
    shown = json.dumps(document, indent=2, ensure_ascii=False)
    return shown.replace(token, redact(token)) if isinstance(token, str) and token else shown
