"""The evidence search as rows and as CSV: the console's download, `GET /admin/evidence` and `flask evidence`.

A row is written as the ledger's own answer writes it (:func:`~bridge.services.ledger.ledger_row`
through :func:`~bridge.answers.to_json`), so the CSV, the JSON endpoint and the CLI agree on every value.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable

from bridge.adapters.store.models import LedgerEntry
from bridge.answers import json_object
from bridge.services.console.filters import EvidenceFilter
from bridge.services.deps import Deps
from bridge.services.ledger import ledger_row

EVIDENCE_COLUMNS: tuple[str, ...] = tuple(column.name for column in LedgerEntry.__table__.columns)
"""Every ledger column, in table order: the CSV header and the JSON keys."""
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet takes for the start of a formula (OWASP's list): such a cell is prefixed with `'`."""


def search_ledger(
    deps: Deps, wanted: EvidenceFilter, *, offset: int = 0, limit: int | None = None
) -> tuple[list[LedgerEntry], int]:
    """Matching ledger rows, newest first (a slice of them), and how many match in all."""
    granted_from, granted_before = wanted.period.bounds(deps)
    return deps.store.console.find_ledger(
        member_id=wanted.member_id,
        course_id=wanted.course_id,
        granted_from=granted_from,
        granted_before=granted_before,
        offset=offset,
        limit=limit,
    )


def evidence_rows(deps: Deps, wanted: EvidenceFilter, *, offset: int = 0, limit: int | None = None) -> list[LedgerEntry]:
    """Every matching ledger row (or a slice), for the CSV, the JSON endpoint and the CLI."""
    return search_ledger(deps, wanted, offset=offset, limit=limit)[0]


def csv_cell(value: object) -> str:
    """One CSV cell as text that a spreadsheet shows and never runs (`=HYPERLINK(...)` in a quiz name stays text)."""
    if value is None:
        text = ""
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def evidence_csv(entries: Iterable[LedgerEntry]) -> str:
    """The ledger rows as CSV: a header row, every column, the evidence as JSON text, no cell a formula."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EVIDENCE_COLUMNS)
    for entry in entries:
        written = json_object(ledger_row(entry))
        writer.writerow([csv_cell(written[name]) for name in EVIDENCE_COLUMNS])
    return buffer.getvalue()
