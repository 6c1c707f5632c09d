"""The application object: one per app, built once by the factory, the only place use cases are assembled.

Views, `flask` commands and in-process jobs all call the methods of
:class:`Bridge`, so a job behaves the same whoever starts it. The Fabman
policy a use case runs with follows from what it does, never from who called
it: answering ClassMarker (`receive_result`) makes no Fabman call at all (it
stores the result and answers; the apply pool does the Fabman work right
after), and every use case that talks to Fabman finishes patiently (the
configured timeout, retries of reads and deletes, 429s waited out).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, overload

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask, current_app

from bridge.adapters.classmarker import ClassMarkerClient
from bridge.adapters.codec import CmUserIdCodec
from bridge.adapters.fabman import FabmanClient, RateGate
from bridge.adapters.mail import FlushReport, MailRenderer, Outbox
from bridge.adapters.store import InboxEvent, Store
from bridge.background import Applier, Job, JobRunner, OutboxSender
from bridge.background.applier import ADMISSION_WAIT_SECONDS
from bridge.background.jobs import JOB_NAMES, JobStatus, describe_run
from bridge.clock import Clock
from bridge.config import Settings
from bridge.domain.models import MAX_ID
from bridge.domain.schedule import DailyAt, Every, WeeklyAt
from bridge.domain.statistics import CourseMonth
from bridge.domain.statuses import Channel, EventStatus, FabmanOutcome
from bridge.errors import NotFound, ServiceNotConfigured
from bridge.services import admin, digest, expiry, machine_denied, overview, profile, reconcile, results, statistics
from bridge.services.admin import AttemptsReset
from bridge.services.deps import Deps
from bridge.services.digest import Digest
from bridge.services.evidence import Evidence
from bridge.services.expiry import ExpiryNotice, ExpirySummary
from bridge.services.privacy import Privacy
from bridge.services.profile import AbsolvedTraining, AvailableTraining, TrainingLinks
from bridge.services.reconcile import ReconcileStatus, ReconcileSummary, WebhookGap
from bridge.services.results import Receipt
from bridge.services.results.retrying import RetrySummary
from bridge.services.staff_access import StaffAccess

EXTENSION_KEY = "fablab_bridge"
SHUTDOWN_SECONDS = 15.0
"""How long a stopping worker lets accepted results and a running job finish (gunicorn's graceful_timeout is 20)."""
CALLER_WAIT_SECONDS = 30.0
"""How long a cron or CLI run waits while another worker or instance runs the same job."""
RETRY_WAIT_SECONDS = 60.0
"""How long a retry run waits for the appliers to try what it found due before it reports."""
CLOSE_WAIT_SECONDS = 10.0
"""How long closing the bridge waits for a result being applied or a message being sent."""

DEFAULT_SWEEP_AT = dt.time(3, 15)
Summary = TypeVar("Summary")


class Bridge:
    """The bridge's use cases, with the adapters they run on."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store,
        fabman: FabmanClient,
        codec: CmUserIdCodec,
        renderer: MailRenderer,
        outbox: Outbox,
        clock: Clock,
        evidence_key: Ed25519PrivateKey | None = None,
    ) -> None:
        self.settings = settings
        self._evidence_key = evidence_key or Ed25519PrivateKey.generate()
        self.store = store
        self.fabman = fabman
        self.codec = codec
        self.outbox = outbox
        self.sender = OutboxSender(outbox)
        self.clock = clock
        self._classmarker: ClassMarkerClient | None = None
        self._classmarker_lock = threading.Lock()
        # One side-read per applier at most: an applier waits for its own before it goes on.
        self._side_reads = ThreadPoolExecutor(max_workers=max(1, settings.fabman_concurrency), thread_name_prefix="fabman-read")
        self.deps = Deps(settings, fabman, codec, store, renderer, self.sender, clock, self._side_reads)
        """What the use cases run on: settings, adapters and clock (`applying`, the appliers' copy, shares the rate gate)."""
        self.rate_gate = RateGate(clock)
        self.applying = dataclasses.replace(self.deps, fabman=fabman.derive(rate_gate=self.rate_gate))
        self.applier = Applier(
            settings.fabman_concurrency,
            apply=self.apply_event,
            claim=self._claim_due,
            release=store.inbox.release,
            any_due=store.inbox.any_due,
            gate=self.rate_gate,
        )
        self.job_table = self._job_table()
        scheduled = [job for name, job in self.job_table.items() if self._scheduled(name)]
        self.jobs = JobRunner(store, scheduled, tz=settings.tz, clock=clock, tick_seconds=min(5.0, settings.retry_every_seconds))
        outbox.transports[Channel.STAFF_SIGN_IN] = self.staff_access

    def start_background(self) -> None:
        """Start looking for other processes' work and the in-process jobs (a serving worker calls this;
        `flask` commands and tests do not: their appliers apply only what they are woken for)."""
        self.applier.start_polling(self.store.inbox.listener())
        if self.settings.jobs:
            self.jobs.start()

    def shutdown(self, timeout: float = SHUTDOWN_SECONDS) -> None:
        """Stop taking work; finish or give back what this process holds (SIGTERM, worker exit)."""
        self.jobs.stop(timeout)
        self.applier.shutdown(timeout)
        self.sender.shutdown(timeout)  # after the appliers: it sends the mail of what they finished

    def close(self) -> None:
        """Release connections (tests and shutdown).

        Threads still applying a result or sending a message finish first (at
        most `CLOSE_WAIT_SECONDS` each): a store disposed under them would hand
        them fresh connections that nothing closes.
        """
        self.applier.shutdown(0)
        self.sender.shutdown(0)
        self.jobs.stop(0)
        self.applier.wait_idle(CLOSE_WAIT_SECONDS)
        self.sender.wait_idle(CLOSE_WAIT_SECONDS)
        self._side_reads.shutdown(wait=True, cancel_futures=True)
        self.fabman.close()
        if self._classmarker is not None:
            self._classmarker.close()
        self.store.dispose()

    # -- the member's profile page ----------------------------------------

    def absolved_trainings(self, member_id: int, *, include_offline: bool = False) -> list[AbsolvedTraining]:
        """The member's active trainings, the latest per course."""
        return profile.absolved_trainings(self.deps, member_id, include_offline=include_offline)

    def available_trainings(self, member_id: int) -> list[AvailableTraining]:
        """The online courses the member may take now, with quiz links."""
        return profile.available_trainings(self.deps, member_id)

    def training_links(self, member_id: int, course_id: int) -> TrainingLinks:
        """One course's personal quiz link and materials."""
        return profile.training_links(self.deps, member_id, course_id)

    def training_overview(self, member_id: int) -> list[overview.CourseOverview]:
        """Where the member stands with every course they can see, and what to do next."""
        return overview.training_overview(self.deps, member_id)

    # -- ClassMarker results ----------------------------------------------

    def receive_result(self, body: bytes, payload: Any) -> Receipt:
        """Store a verified delivery and answer; applying starts at once on this process's appliers.

        Costs at most two short store transactions and no call to Fabman or
        SMTP: a new result is stored already claimed when an applier is free
        and no other result of the member is in flight (`accepted`), else
        stored queued (`queued`) and the appliers are woken to drain it. When
        every applier is busy the answer first waits a moment for one
        (`ADMISSION_WAIT_SECONDS`), so a burst does not leave a backlog behind.
        """
        slot = self.applier.reserve(wait=ADMISSION_WAIT_SECONDS)
        try:
            receipt, claimed = results.receive(self.deps, body, payload, apply_now=slot)
        except BaseException:
            if slot:
                self.applier.cancel()
            raise
        if claimed is not None:
            self.applier.submit(claimed)
            return receipt
        if slot:
            self.applier.cancel()
        if receipt.status == EventStatus.QUEUED:
            self.applier.wake(due=False)
        return receipt

    def _claim_due(self, limit: int, *, fresh_only: bool, exclude: Sequence[int]) -> list[InboxEvent]:
        return self.store.inbox.claim_due(limit, self.settings.lease_seconds, fresh_only=fresh_only, exclude=exclude)

    def apply_event(self, event: InboxEvent) -> None:
        """Apply one result this process has claimed (what each applier runs); its mail is queued and the sender woken."""
        results.apply_claimed(self.applying, event)

    def retry_due(self) -> RetrySummary:
        """The retry job: wake the appliers for due queued results and report them, finish Fabman events whose
        handling failed, send unsent mail."""
        fabman_events = self.retry_fabman_events()
        summary = results.retry_due(
            self.deps,
            wake=self.applier.wake,
            wait_idle=self.applier.wait_idle,
            within=RETRY_WAIT_SECONDS,
            stopping=self.jobs.stopping,
        )
        return dataclasses.replace(summary, fabman_events=fabman_events)

    # -- jobs ----------------------------------------------------------------

    def _job_table(self) -> dict[str, Job]:
        """Every job this bridge can run, scheduled or not (contract section 10)."""
        settings = self.settings
        return {
            "retry": Job(
                "retry", Every(settings.retry_every_seconds), self.retry_due, lease_seconds=max(120.0, settings.lease_seconds)
            ),
            "expiry_sweep": Job(
                "expiry_sweep", DailyAt(settings.sweep_at or DEFAULT_SWEEP_AT), self.expire_trainings, lease_seconds=300.0
            ),
            "reconciliation": Job("reconciliation", Every(settings.reconcile_minutes * 60), self.reconcile, lease_seconds=300.0),
            "digest": Job("digest", WeeklyAt(settings.digest_weekday or 0, settings.digest_at), self.digest, lease_seconds=120.0),
            **self.privacy.jobs(),
        }

    def _scheduled(self, name: str) -> bool:
        """Whether the configuration runs this job in-process (`SWEEP_AT=off`, `DIGEST_WEEKDAY=off` turn one off;
        reconciliation runs only with ClassMarker's API credentials)."""
        if name == "expiry_sweep":
            return self.settings.sweep_at is not None
        if name == "digest":
            return self.settings.digest_weekday is not None
        if name == "reconciliation":
            return self.reconciliation_enabled
        if name in self.privacy.jobs():
            return self.privacy.scheduled(name)
        return True

    @overload
    def run_job(self, name: str, *, trigger: str) -> object: ...
    @overload
    def run_job(self, name: str, *, trigger: str, run: Callable[[], Summary]) -> Summary: ...
    def run_job(self, name: str, *, trigger: str, run: Callable[[], object] | None = None) -> object:
        """Run a job now for the scheduler or the shell (`trigger`: cron, cli), through the one path the schedule
        uses too: the job's lock (JobRunning when another worker holds it longer than 30 s), the run recorded,
        its summary returned (`run` overrides the job's call, e.g. with a progress bar; the summary is its answer)."""
        summary = self.jobs.run(self.job_table[name], by=trigger, call=run, wait_seconds=CALLER_WAIT_SECONDS)
        assert summary is not None  # waited for the lock, and no `only_if`: it ran or raised
        return summary

    def job_status(self) -> list[JobStatus]:
        """Every job slot: whether it runs here, its schedule, and its last run."""
        latest = self.store.jobs.latest_runs()
        listed = []
        for name in JOB_NAMES:
            job = self.job_table.get(name)
            run = latest.get(name)
            listed.append(
                JobStatus(
                    name=name,
                    enabled=self.settings.jobs and job is not None and self._scheduled(name),
                    schedule=job.schedule.describe() if job else None,
                    last_run=None if run is None else describe_run(run),
                )
            )
        return listed

    def replay(self, event_id: int) -> Receipt:
        """Staff put a dead, failed or rejected event back and process it now (its mail is sent right after)."""
        return results.replay(self.deps, event_id)

    def event(self, event_id: int) -> InboxEvent:
        """One stored event; NotFound when there is none (ids past the store's integer range cannot exist)."""
        found = self.store.inbox.get(event_id) if 0 < event_id <= MAX_ID else None
        if found is None:
            raise NotFound(f"event {event_id} does not exist")
        return found

    def events(self, *, status: EventStatus | None = None, limit: int = 100) -> list[InboxEvent]:
        """The newest stored events, optionally of one status."""
        return self.store.inbox.events(status=status, limit=limit)

    # -- expiry -------------------------------------------------------------

    def announce_expiry(self, member_id: int, course_id: int) -> ExpiryNotice:
        """Queue the expiry mail of one member's expired training of a course."""
        return expiry.announce_expiry(self.deps, member_id, course_id)

    def expire_trainings(self, *, dry_run: bool = False, progress: expiry.Progress | None = None) -> ExpirySummary:
        """The expiry sweep over every member."""
        return expiry.expire_trainings(self.deps, dry_run=dry_run, progress=progress)

    # -- staff ----------------------------------------------------------------

    def reset_attempts(self, member_id: int, course_id: int) -> AttemptsReset:
        """Clear a member's failed attempts of one course."""
        return admin.reset_attempts(self.deps.fabman, member_id, course_id)

    def course_stats(self) -> list[CourseMonth]:
        """How each course does, per month over the last 12 months (section 18)."""
        return statistics.course_stats(self.deps)

    # -- mail -------------------------------------------------------------------

    def send_mail(self) -> FlushReport:
        """Have the outbox sender make a pass over everything due now and wait for it (as the retry job does)."""
        return self.sender.send_due()

    # -- training rules (sections 12 and 13) -------------------------------------

    def digest(self, dry_run: bool = False) -> Digest:
        """The weekly staff digest: queued and sent once per ISO week (or only composed, in a dry run).

        The webhook gap is shown when this bridge measures one (reconciliation is on), else "not measured".
        """
        return digest.digest(self.deps, dry_run=dry_run, webhook_gap=self.webhook_gap if self.reconciliation_enabled else None)

    def receive_fabman_event(self, body: bytes, payload: Any) -> machine_denied.FabmanReceived:
        """Store one of Fabman's webhook events once; the answer and the stored denial to handle after it."""
        return machine_denied.receive(self.deps, body, payload)

    def handle_fabman_event(self, event_id: int) -> FabmanOutcome | None:
        """Offer the training to a member denied at a machine (after Fabman has its answer)."""
        return machine_denied.handle(self.deps, event_id)

    def retry_fabman_events(self) -> dict[FabmanOutcome, int]:
        """Handle denials whose handling failed or was cut off (for the retry job)."""
        return machine_denied.retry(self.deps)

    # -- reconciliation with ClassMarker's results API (contract section 11) ----

    @property
    def reconciliation_enabled(self) -> bool:
        """Whether results can be polled (CLASSMARKER_API_KEY and CLASSMARKER_API_SECRET are both set)."""
        return self.settings.reconciliation_configured

    def classmarker_api(self) -> ClassMarkerClient:
        """The ClassMarker API client, built on first use (only a bridge that reconciles needs one)."""
        settings = self.settings
        key, secret = settings.classmarker_api_key, settings.classmarker_api_secret
        if not (key and secret):
            named = (("CLASSMARKER_API_KEY", key), ("CLASSMARKER_API_SECRET", secret))
            missing = " and ".join(name for name, value in named if not value)
            raise ServiceNotConfigured(f"reconciliation is off: set {missing} to turn it on")
        with self._classmarker_lock:
            if self._classmarker is None:
                self._classmarker = ClassMarkerClient(settings.classmarker_api_url, key, secret, clock=self.clock)
            return self._classmarker

    def reconcile(self, since: int | None = None) -> ReconcileSummary:
        """Poll ClassMarker for results the webhook did not bring; store and apply them; the run's summary.

        ServiceNotConfigured (503) without the API credentials.
        """
        return reconcile.reconcile(self.deps, self.classmarker_api(), since=since)

    def run_reconcile(self, *, trigger: str, since: int | None = None) -> ReconcileSummary:
        """Reconcile for the scheduler or the shell, recorded as a run of the reconciliation job."""
        self.classmarker_api()  # off without credentials: 503, and no run recorded
        return self.run_job("reconciliation", trigger=trigger, run=lambda: self.reconcile(since))

    def webhook_gap(self) -> WebhookGap:
        """Results first found by polling (their webhook never came): in the last 24 h, in total, the last one's time."""
        return reconcile.webhook_gap(self.deps)

    def reconciliation_status(self) -> ReconcileStatus:
        """On or off, the last run and why it stopped, the request budget used and the webhook gap."""
        return reconcile.status(self.deps)

    def review_result(self, event_id: int, *, passed: bool) -> Receipt:
        """Staff judged a needs_review result (pass or fail): apply it with their verdict (its mail is sent right after)."""
        return reconcile.review(self.deps, event_id, passed=passed)

    # -- evidence and personal data (contract sections 16 and 17) -----------------

    @functools.cached_property
    def evidence(self) -> Evidence:
        """The evidence log: checkpoints, proof bundles, consistency proofs, verification."""
        return Evidence(self.deps, self._evidence_key)

    @functools.cached_property
    def privacy(self) -> Privacy:
        """Retention, erasure and export of members' personal data (and the daily checkpoint and purge jobs)."""
        return Privacy(self.deps, self.evidence)

    # -- staff console ------------------------------------------------------------

    @functools.cached_property
    def staff_access(self) -> StaffAccess:
        """Who may use the staff console: sign-in links (sent first by the outbox sender), sessions, the rate limit."""
        return StaffAccess(self.deps, mail=self.outbox.transports[Channel.MAIL], send_soon=self.sender.hurry)


def bridge_of(app: Flask | None = None) -> Bridge:
    """The running app's Bridge (the current app unless one is given)."""
    target = app if app is not None else current_app
    return target.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]
