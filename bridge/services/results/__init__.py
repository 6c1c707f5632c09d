"""ClassMarker results: stored once, applied to Fabman once, told to the member.

One module per step: :mod:`.receiving` stores a verified delivery;
:mod:`.processing` claims a stored event and applies it; :mod:`.applying`
changes Fabman (idempotently: before each write it checks whether Fabman
already shows this result's effect, so a crash between Fabman's answer and the
store's commit never doubles a training or an attempt); :mod:`.outcomes`
records what happened with its mail and alerts; :mod:`.retrying` runs the
retry job and staff replays.
"""

from bridge.services.results.processing import apply_claimed, process
from bridge.services.results.receipts import Receipt
from bridge.services.results.receiving import receive
from bridge.services.results.retrying import replay, retry_due

__all__ = ["Receipt", "apply_claimed", "process", "receive", "replay", "retry_due"]
