"""Member mail and staff alerts: rendered into messages, queued in the store, sent by transports.

:class:`MailRenderer` turns a mail kind and its context into
:class:`~bridge.domain.messages.OutgoingMessage` values; the store queues them
in the same transaction that records what happened; :class:`Outbox` claims what
is due and sends it through :class:`SmtpTransport` and :class:`DiscordTransport`
(for the outbox sender, :class:`bridge.background.OutboxSender`).
"""

from bridge.adapters.mail.outbox import FlushReport, Outbox, Transport
from bridge.adapters.mail.render import MEMBER_MAIL_KINDS, MailRenderer, format_dates
from bridge.adapters.mail.transports import DeliveryFailed, DiscordTransport, SmtpTransport

__all__ = [
    "MEMBER_MAIL_KINDS",
    "DeliveryFailed",
    "DiscordTransport",
    "FlushReport",
    "MailRenderer",
    "Outbox",
    "SmtpTransport",
    "Transport",
    "format_dates",
]
