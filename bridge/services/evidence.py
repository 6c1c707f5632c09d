"""The evidence log's use cases (contract section 16): checkpoints, proof bundles, consistency, verification.

The store appends the leaves (in the transactions that record their events);
this module signs tree heads, hands out proofs anyone can check with the
public key alone, and checks the whole log against the store the way an
auditor would: recompute every signed root from the stored leaves, check
every signature, and hold each ledger row to the leaf that recorded it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bridge.adapters.signing import TimeStampError, public_key_text, request_timestamp
from bridge.adapters.store.evidence import EvidenceCheckpoint, EvidenceLeaf
from bridge.answers import answer, described
from bridge.domain import merkle
from bridge.domain.evidence import PROOF_EVENTS, EvidenceEvent, LeafFields, canonical, origin_of, utc_text
from bridge.domain.messages import OutgoingMessage
from bridge.domain.statuses import Channel
from bridge.errors import NotFound
from bridge.services.deps import Deps

log = logging.getLogger(__name__)

BACKDATE_MARGIN = dt.timedelta(minutes=10)
"""How much earlier than a checkpoint a leaf it does not hold may say it was recorded (a transaction in flight)."""
PUBLIC_KEY = "0nq4ckl3YH9DS1Jb9bxYpP9GnD6b8cQ2Zc3n6v0lPqY="
ORIGIN = "FabLab Brno training evidence"


@answer
class EvidenceKey:
    """What a bundle is checked with: the log's public key and name (section 16)."""

    public_key: str = described(PUBLIC_KEY, "base64 of the 32-byte Ed25519 public key that signs checkpoints.")
    origin: str = described(ORIGIN, "The log's name: FABLAB_NAME followed by ' training evidence'.")


@answer
class TreeHead:
    """A checkpoint's signed part: canonical JSON of these four keys is what the signature covers."""

    origin: str = described(ORIGIN)
    size: int = described(3, "How many leaves the tree holds.")
    root: str = described(
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77", "RFC 6962 root hash, lower-case hex."
    )
    time: str = described(
        "2026-12-07T01:45:00Z", "When it was signed, ISO 8601 UTC.", schema={"type": "string", "format": "date-time"}
    )


@answer
class SignedCheckpoint:
    """One kept checkpoint with its Ed25519 signature and, when an authority stamped it, the RFC 3161 token."""

    checkpoint: TreeHead = described()
    signature: str = described("q1b2...==", "base64 Ed25519 signature of the checkpoint's canonical JSON.")
    public_key: str = described(PUBLIC_KEY, "base64 of the public key it verifies with.")
    tsa_token: str | None = described(None, "base64 DER RFC 3161 TimeStampToken over the canonical JSON.", default=None)


@answer
class EvidenceBundle:
    """A member's latest granted or renewed event of a course, with all it takes to check it offline."""

    leaf: str = described(
        "eyJjb3Vyc2VfaWQiOjYsImV2ZW50IjoiZ3JhbnRlZCIsLi4ufQ==", "base64 of the leaf bytes exactly as hashed (UTF-8 JSON)."
    )
    index: int = described(2, "The leaf's index in the log (from 0).")
    inclusion: list[str] = described(
        ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        "RFC 6962 inclusion proof: hex hashes from the leaf up.",
    )
    checkpoint: TreeHead = described()
    signature: str = described("q1b2...==")
    public_key: str = described(PUBLIC_KEY)
    tsa_token: str | None = described("MIIE...", "Present when the checkpoint was time-stamped.", omit_none=True, default=None)


@answer
class ConsistencyProof:
    """That the log of `second` leaves extends the log of `first` leaves (RFC 6962 2.1.2)."""

    first: int = described(2)
    second: int = described(5)
    proof: list[str] = described(
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
        "Hex hashes.",
    )


@dataclass
class VerifyReport:
    """What `flask evidence verify` found: the first index that does not hold, and why."""

    size: int
    checkpoints: int
    problems: list[tuple[int, str]] = field(default_factory=list)

    @property
    def first_bad_index(self) -> int | None:
        """The lowest index any problem names."""
        return min((index for index, _ in self.problems), default=None)

    def add(self, index: int, why: str) -> None:
        self.problems.append((index, why))


class Evidence:
    """Signs, proves and verifies the evidence log of one bridge."""

    def __init__(self, deps: Deps, key: Ed25519PrivateKey) -> None:
        self.deps = deps
        self.key = key
        self.public_key = public_key_text(key.public_key())
        self.origin = origin_of(deps.settings.fablab_name)

    # -- checkpoints -----------------------------------------------------------

    def checkpoint(self) -> SignedCheckpoint:
        """Sign the log's current tree head, keep it, mail it to the witnesses and time-stamp it."""
        store, settings = self.deps.store, self.deps.settings
        size = store.evidence.size()
        root = merkle.root_of(list(store.evidence.iter_leaf_hashes(size)))
        document = {"origin": self.origin, "size": size, "root": root.hex(), "time": utc_text(self.deps.now())}
        signature = base64.b64encode(self.key.sign(canonical(document))).decode("ascii")
        kept = store.evidence.add_checkpoint({**document, "signature": signature, "public_key": self.public_key})
        if settings.evidence_tsa_url:
            try:
                store.evidence.set_checkpoint_token(kept.id, request_timestamp(settings.evidence_tsa_url, canonical(document)))
            except (TimeStampError, OSError) as error:
                log.warning("checkpoint %s not time-stamped: %s", kept.id, error)
                store.evidence.set_checkpoint_token(kept.id, None, str(error)[:300])
        store.outbox.queue(self._witness_mail(kept.id, document, signature))
        self.deps.sender.wake()
        answer = self.describe(store.evidence.checkpoint_of_size(size) or kept)
        log.info("evidence checkpoint %s: size %s", kept.id, size)
        return answer

    def _witness_mail(self, checkpoint_id: int, document: dict[str, Any], signature: str) -> list[OutgoingMessage]:
        body = (
            f"{self.origin}: signed checkpoint {checkpoint_id}.\n\n"
            "Keep this mail. It lets anyone check later that the bridge's evidence log was not rewritten\n"
            "(docs/evidence.md, 'Being a witness').\n\n"
            f"checkpoint: {canonical(document).decode('utf-8')}\n"
            f"signature: {signature}\n"
            f"public_key: {self.public_key}\n"
        )
        return [
            OutgoingMessage(
                dedupe_key=f"checkpoint:{checkpoint_id}:{address.lower()}"[:160],
                channel=Channel.MAIL,
                recipient=address,
                subject=f"{self.origin}: checkpoint of {document['size']} events",
                body_text=body,
            )
            for address in self.deps.settings.evidence_witness_emails
        ]

    @staticmethod
    def describe(checkpoint: EvidenceCheckpoint) -> SignedCheckpoint:
        """One checkpoint for staff and witnesses: the signed document, its signature, key and token."""
        return SignedCheckpoint(
            checkpoint=TreeHead(origin=checkpoint.origin, size=checkpoint.size, root=checkpoint.root, time=checkpoint.time),
            signature=checkpoint.signature,
            public_key=checkpoint.public_key,
            tsa_token=base64.b64encode(checkpoint.tsa_token).decode("ascii") if checkpoint.tsa_token else None,
        )

    def checkpoints(self) -> list[SignedCheckpoint]:
        """Every checkpoint kept, oldest first."""
        return [self.describe(checkpoint) for checkpoint in self.deps.store.evidence.checkpoints()]

    def key_info(self) -> EvidenceKey:
        """The public key a bundle is checked with, and the log's name."""
        return EvidenceKey(public_key=self.public_key, origin=self.origin)

    # -- proofs -----------------------------------------------------------------

    def bundle(self, member_id: int, course_id: int) -> EvidenceBundle:
        """The member's latest granted or renewed event of the course as a bundle that verifies offline.

        When no checkpoint covers the event yet, one is made first. NotFound when there is no such event.
        """
        store = self.deps.store
        leaf = store.evidence.latest(member_id, course_id, PROOF_EVENTS)
        if leaf is None:
            raise NotFound(f"no granted or renewed training of course {course_id} for member {member_id} in the evidence log")
        checkpoint = store.evidence.checkpoint_covering(leaf.index)
        if checkpoint is None:
            self.checkpoint()
            checkpoint = store.evidence.checkpoint_covering(leaf.index)
            assert checkpoint is not None
        hashes = list(store.evidence.iter_leaf_hashes(checkpoint.size))
        signed = self.describe(checkpoint)
        return EvidenceBundle(
            leaf=base64.b64encode(leaf.leaf).decode("ascii"),
            index=leaf.index,
            inclusion=[node.hex() for node in merkle.inclusion_proof(hashes, leaf.index)],
            checkpoint=signed.checkpoint,
            signature=signed.signature,
            public_key=signed.public_key,
            tsa_token=signed.tsa_token,
        )

    def consistency(self, first: int, second: int) -> ConsistencyProof:
        """A proof that the log of `second` leaves extends the log of `first` (checkpoint sizes)."""
        size = self.deps.store.evidence.size()
        if not 0 < first <= second <= size:
            raise NotFound(f"no consistency proof from size {first} to size {second}: the log holds {size} events")
        hashes = list(self.deps.store.evidence.iter_leaf_hashes(second))
        return ConsistencyProof(
            first=first, second=second, proof=[node.hex() for node in merkle.consistency_proof(hashes, first)]
        )

    # -- verification --------------------------------------------------------------

    def verify(self, public_key: Ed25519PublicKey | None = None) -> VerifyReport:
        """Recompute every checkpoint from the stored leaves, check signatures and hold the ledger to its leaves."""
        store = self.deps.store
        key = public_key or self.key.public_key()
        leaves = store.evidence.leaves()
        checkpoints = store.evidence.checkpoints()
        report = VerifyReport(len(leaves), len(checkpoints))
        hashes: list[bytes] = []
        for position, leaf in enumerate(leaves):
            if leaf.index != position:
                report.add(position, f"leaf {position} is missing (the next stored leaf is {leaf.index})")
                break
            digest = merkle.leaf_hash(leaf.leaf)
            if digest.hex() != leaf.leaf_hash:
                report.add(position, "the stored leaf hash is not the hash of the leaf")
            hashes.append(digest)
        self._check_checkpoints(report, key, hashes, checkpoints)
        self._check_ledger(report, leaves[: len(hashes)])
        return report

    def _check_checkpoints(
        self, report: VerifyReport, key: Ed25519PublicKey, hashes: list[bytes], checkpoints: list[EvidenceCheckpoint]
    ) -> None:
        proven = 0
        for checkpoint in checkpoints:
            try:
                key.verify(base64.b64decode(checkpoint.signature), canonical(checkpoint.document()))
            except (InvalidSignature, ValueError):
                report.add(proven, f"checkpoint of size {checkpoint.size} ({checkpoint.time}): the signature does not verify")
                continue
            if checkpoint.size > len(hashes):
                report.add(len(hashes), f"checkpoint of size {checkpoint.size} covers leaves the store no longer holds")
                continue
            if merkle.root_of(hashes[: checkpoint.size]).hex() != checkpoint.root:
                report.add(
                    proven,
                    f"the stored leaves {proven}..{checkpoint.size - 1} do not give the root signed at {checkpoint.time} "
                    f"(size {checkpoint.size}); leaves before {proven} still hold",
                )
                continue
            proven = max(proven, checkpoint.size)
        self._check_backdated(report, hashes, checkpoints)

    def _check_backdated(self, report: VerifyReport, hashes: list[bytes], checkpoints: list[EvidenceCheckpoint]) -> None:
        """A leaf no checkpoint holds cannot claim a time well before the newest checkpoint (a backdated insert)."""
        newest = max(checkpoints, key=lambda checkpoint: checkpoint.size, default=None)
        if newest is None:
            return
        latest_allowed = dt.datetime.fromisoformat(newest.time.replace("Z", "+00:00")) - BACKDATE_MARGIN
        for leaf in self.deps.store.evidence.leaves():
            if leaf.index < newest.size or leaf.index >= len(hashes):
                continue
            claimed = _claimed_time(leaf.leaf)
            if claimed is not None and claimed < latest_allowed:
                report.add(
                    leaf.index,
                    f"leaf {leaf.index} claims {utc_text(claimed)}, before the checkpoint of {newest.time} that does not hold it",
                )
                return

    def _check_ledger(self, report: VerifyReport, leaves: list[EvidenceLeaf]) -> None:
        """Each granted or renewed leaf has its ledger row saying the same; no ledger row lacks its leaf."""
        ledger = {row.result_id: row for row in self.deps.store.ledger.entries()}
        logged: set[str] = set()
        for leaf in leaves:
            if leaf.event not in PROOF_EVENTS:
                continue
            try:
                said = json.loads(leaf.leaf)
            except ValueError:
                report.add(leaf.index, "the leaf is not JSON")
                continue
            result_id = said.get("result_id")
            if str(result_id) in logged:
                report.add(leaf.index, f"result {result_id} is granted a second time")
                continue
            logged.add(str(result_id))
            row = ledger.get(str(result_id))
            if row is None:
                report.add(leaf.index, f"result {result_id} has a granted leaf but no ledger row")
                continue
            differs = _ledger_differs(said, row)
            if differs:
                report.add(leaf.index, f"the ledger row of result {result_id} differs from its leaf in {', '.join(differs)}")
        for result_id, row in ledger.items():
            if result_id not in logged:
                report.add(len(leaves), f"ledger row {row.id} (result {result_id}) has no leaf in the evidence log")


def _claimed_time(leaf: bytes) -> dt.datetime | None:
    """When a leaf says its event was recorded."""
    try:
        text = json.loads(leaf).get("recorded_at")
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if isinstance(text, str) else None
    except (ValueError, AttributeError):
        return None


def _ledger_differs(said: dict[str, Any], row: Any) -> list[str]:
    """The fields where a ledger row and its granted leaf disagree."""

    def number(text: Any) -> float | None:
        try:
            return None if text is None else float(str(text).strip().rstrip("%"))
        except ValueError:
            return None

    checks = {
        "member_id": said.get("member_id") == row.member_id,
        "course_id": said.get("course_id") == row.course_id,
        "fabman_record_id": said.get("fabman_record_id") == row.fabman_record_id,
        "score": number(said.get("score")) == row.percentage,
        "passmark": number(said.get("passmark")) == row.percentage_passmark,
        "finished_at": said.get("finished_at") == utc_text(row.time_finished),
        "recorded_at": said.get("recorded_at") == utc_text(row.granted_at),
    }
    return [name for name, holds in checks.items() if not holds]


def record_fields(event: str, member_id: int, course_id: int | None, record_id: int, recorded_at: Any) -> LeafFields:
    """The leaf of an event about one Fabman training record (`removed`, `renewed`): no result, no score."""
    return LeafFields(
        event=event, member_id=member_id, course_id=course_id, recorded_at=utc_text(recorded_at), fabman_record_id=record_id
    )


def removal_fields(member_id: int, course_id: int | None, record_id: int, recorded_at: Any) -> LeafFields:
    """The leaf of a training record the expiry sweep removed."""
    return record_fields(EvidenceEvent.REMOVED, member_id, course_id, record_id, recorded_at)


def record_renewal(deps: Deps, member_id: int, course_id: int, record_id: int, *, email: str | None = None) -> int | None:
    """Log a training renewed by use (section 15) on its new Fabman record; the leaf's index (None: logged before).

    The hook for renew-on-use: call it once the new record exists in Fabman.
    """
    fields = record_fields(EvidenceEvent.RENEWED, member_id, course_id, record_id, deps.now())
    return deps.store.evidence.record(f"renewed:{member_id}:{record_id}", fields, email=email)
