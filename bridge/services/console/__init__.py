"""The staff console: what its pages show and the things staff do in it, one module per concern.

- :mod:`~bridge.services.console.pages`: the overview, the result list and a
  result's page, evidence, expiring trainings, mail and the staff log;
- :mod:`~bridge.services.console.members`: finding a member and a member's page;
- :mod:`~bridge.services.console.actions`: replay, review and resetting
  attempts, each recorded in the staff log;
- :mod:`~bridge.services.console.exports`: the evidence search as rows and CSV;
- :mod:`~bridge.services.console.filters`: what a list is filtered by, and its pages;
- :mod:`~bridge.services.console.redaction`: how a stored payload is shown.

Each is a set of functions over :class:`~bridge.services.deps.Deps`. Pages
that can be answered from the store alone (overview, results, evidence, staff
log) never call Fabman except for the cached course list, so they work while
Fabman is down; the member and expiring pages say when Fabman could not be
asked and show what the store knows. No page shows a full `cm_user_id`: the
stored payload is shown with it shortened, and mail is listed without its
body (quiz links in it carry tokens).
"""

from __future__ import annotations

from bridge.services.console import actions, exports, filters, members, pages, redaction

__all__ = ["actions", "exports", "filters", "members", "pages", "redaction"]
