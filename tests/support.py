"""Test-only helpers: response and mail assertions.

Launchers and signed results shared with bench/ and reliability/ live in `harness`.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any


def problem(response: Any, status: int) -> dict[str, Any]:
    """Check a response is RFC 9457 problem JSON of `status` with no traceback; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body  # type: ignore[no-any-return]


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a received mail."""
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""
