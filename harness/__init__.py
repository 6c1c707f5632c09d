"""What tests, the benchmark and the reliability run share to drive a bridge from outside.

Launchers for gunicorn, the Fabman simulator and an SMTP sink (`harness.launch`),
ClassMarker results signed as ClassMarker sends them (`harness.classmarker`),
and the one way to wait for something (`harness.wait`). It needs the
development dependencies (aiosmtpd), so the bridge itself never imports it.
"""

from __future__ import annotations

WEBHOOK_SECRET = "test-webhook-secret"  # noqa: S105 - a harness credential, never a deployment's
"""The ClassMarker webhook secret a harnessed bridge is configured with."""

CRON_TOKEN = "test-cron-token"  # noqa: S105 - a harness credential, never a deployment's
"""The scheduler's token a harnessed bridge is configured with."""

FABMAN_WEBHOOK_TOKEN = "test-fabman-webhook-token"  # noqa: S105 - a harness credential, never a deployment's
"""The token in the URL of Fabman's webhook a harnessed bridge is configured with."""
