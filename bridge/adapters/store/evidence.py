"""The evidence log's tables (contract section 16): leaves, per-member salts and signed checkpoints.

- `evidence_leaves`: leaf `index` (from 0, gapless), the exact leaf bytes and
  their RFC 6962 leaf hash, and a key that makes each event's append happen
  once (`granted:<result id>`, ...).
- `evidence_head`: one counter row. Appending locks it (`SELECT ... FOR
  UPDATE` on PostgreSQL; SQLite's write transactions are serial already), so
  two instances appending at once get consecutive indexes, never the same one.
- `evidence_salts`: the random salt of each member's `subject`; erasure
  deletes it.
- `evidence_checkpoints`: every signed checkpoint with its RFC 3161 token.

:class:`EvidenceStore` is the store's part `store.evidence`. Leaves are appended
inside the transaction that records their event (:meth:`EvidenceStore.append`
and :meth:`EvidenceStore.append_result`, called by the part that owns that
transaction), or on their own (:meth:`EvidenceStore.record`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, cast

from sqlalchemy import BigInteger, Integer, LargeBinary, String, Table, Text, bindparam, delete, func, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from bridge.adapters.store.database import Database, changed
from bridge.adapters.store.models import Base, InboxEvent, UtcDateTime
from bridge.domain import merkle
from bridge.domain.evidence import EvidenceEvent, LeafFields, result_fields, subject

HEAD = "log"
COUNTED_FAILURES = frozenset({"failed", "out_of_attempts"})
"""Outcomes of an applied fail that counted an attempt (the ones a `failed` leaf records)."""


class EvidenceLeaf(Base):
    """One evidence event, as the exact bytes that were hashed into the log."""

    __tablename__ = "evidence_leaves"

    index: Mapped[int] = mapped_column("leaf_index", BigInteger, primary_key=True, autoincrement=False)
    event_key: Mapped[str] = mapped_column(String(200), unique=True)
    event: Mapped[str] = mapped_column(String(20))
    member_id: Mapped[int] = mapped_column(BigInteger, index=True)
    course_id: Mapped[int | None] = mapped_column(BigInteger)
    result_id: Mapped[str | None] = mapped_column(String(80), index=True)
    leaf: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class EvidenceHead(Base):
    """The log's size: the row every append locks."""

    __tablename__ = "evidence_head"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)


class EvidenceSalt(Base):
    """A member's random salt for `subject`; deleted on erasure."""

    __tablename__ = "evidence_salts"

    member_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    salt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class EvidenceCheckpoint(Base):
    """A signed tree head, kept for ever, with its time-stamp token when an authority gave one."""

    __tablename__ = "evidence_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, index=True)
    root: Mapped[str] = mapped_column(String(64))
    time: Mapped[str] = mapped_column(String(40))
    origin: Mapped[str] = mapped_column(String(200))
    signature: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[str] = mapped_column(String(100))
    tsa_token: Mapped[bytes | None] = mapped_column(LargeBinary)
    tsa_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    def document(self) -> dict[str, object]:
        """The signed part: {"origin", "size", "root", "time"}."""
        return {"origin": self.origin, "size": self.size, "root": self.root, "time": self.time}


_HEAD_TABLE = cast("Table", EvidenceHead.__table__)
_TAKE_INDEX = (
    update(_HEAD_TABLE).where(_HEAD_TABLE.c.name == HEAD).values(size=_HEAD_TABLE.c.size + 1).returning(_HEAD_TABLE.c.size)
)
"""Take the next leaf index (the new size; the leaf's index is one less), locking the counter row."""
_GIVE_BACK_INDEX = update(_HEAD_TABLE).where(_HEAD_TABLE.c.name == HEAD).values(size=_HEAD_TABLE.c.size - 1)
"""Undo a taken index whose leaf was logged already (its key existed), so the log stays gapless."""
_LEAF_TABLE = cast("Table", EvidenceLeaf.__table__)
_LEAF_VALUES = ("event_key", "event", "member_id", "course_id", "result_id", "leaf", "leaf_hash", "recorded_at")
_APPEND_LEAF = (
    text(
        "WITH taken AS (UPDATE evidence_head SET size = size + 1 WHERE name = :head RETURNING size) "
        "INSERT INTO evidence_leaves "
        "(leaf_index, event_key, event, member_id, course_id, result_id, leaf, leaf_hash, recorded_at) "
        "SELECT size - 1, :event_key, :event, :member_id, :course_id, :result_id, :leaf, :leaf_hash, :recorded_at "
        "FROM taken "
        "ON CONFLICT DO NOTHING RETURNING leaf_index"
    )
    .bindparams(*(bindparam(name, type_=_LEAF_TABLE.c[name].type) for name in _LEAF_VALUES))
    .columns(_LEAF_TABLE.c.leaf_index)
)
"""PostgreSQL: take the next index and insert the leaf in one statement (no row: the key existed, or no counter row)."""
_SALT_TABLE = cast("Table", EvidenceSalt.__table__)
_SALT = (
    text(
        "INSERT INTO evidence_salts (member_id, salt, created_at) VALUES (:member_id, :salt, :created_at) "
        "ON CONFLICT (member_id) DO UPDATE SET salt = evidence_salts.salt RETURNING salt"
    )
    .bindparams(bindparam("created_at", type_=UtcDateTime()))
    .columns(_SALT_TABLE.c.salt)
)
"""A member's salt, inserted when they have none (SQLite and PostgreSQL spell the upsert alike)."""


class EvidenceStore:
    """The evidence log (`store.evidence`): appends within another part's transaction or on their own, and reads."""

    def __init__(self, database: Database) -> None:
        self._db = database

    @staticmethod
    def seeded_rows() -> list[tuple[Table, list[dict[str, Any]]]]:
        """The log's counter row, which migration 0008 writes (restored when the store is emptied)."""
        return [(_HEAD_TABLE, [{"name": HEAD, "size": 0}])]

    # -- appending -------------------------------------------------------------

    def append(self, session: Session, key: str, fields: LeafFields, *, email: str | None = None) -> int | None:
        """Append one leaf within the caller's transaction; its index, or None when `key` was logged already.

        Taking the next index updates the counter row, which locks it until
        the transaction ends, so no other transaction (another worker, another
        instance) can take the same index or leave a gap. Everything else (the
        salt, the leaf's bytes and hash) comes first, and callers append last
        in their transaction, so the row is held as briefly as can be: on
        PostgreSQL one statement takes the index and inserts the leaf, then the
        commit; on SQLite, whose writers take turns anyway, two statements.
        """
        if email is not None and fields.subject is None:
            fields = replace(fields, subject=subject(email, self._salt(session, fields.member_id)))
        leaf = fields.leaf()
        values = {
            "event_key": key,
            "event": fields.event,
            "member_id": fields.member_id,
            "course_id": fields.course_id,
            "result_id": fields.result_id,
            "leaf": leaf,
            "leaf_hash": merkle.leaf_hash(leaf).hex(),
            "recorded_at": self._db.now(),
        }
        if not self._db.is_sqlite:
            index = session.execute(_APPEND_LEAF, {"head": HEAD, **values}).scalar_one_or_none()
            if index is not None:
                return int(index)
            if changed(session, _GIVE_BACK_INDEX):  # the counter moved but the key was there: give the index back
                return None
        index = session.execute(_TAKE_INDEX).scalar_one_or_none()
        if index is None:  # a store whose head row is missing (created outside the migrations)
            self._db.insert_ignore(session, EvidenceHead, {"name": HEAD, "size": 0})
            index = session.execute(_TAKE_INDEX).scalar_one()
        if not self._db.insert_ignore(session, EvidenceLeaf, {"leaf_index": int(index) - 1, **values}):
            changed(session, _GIVE_BACK_INDEX)
            return None
        return int(index) - 1

    def record(self, key: str, fields: LeafFields, *, email: str | None = None) -> int | None:
        """Append one leaf in its own transaction (events with no store row of their own: removed, renewed)."""
        with self._db.write() as session:
            return self.append(session, key, fields, email=email)

    def append_result(
        self, session: Session, event_id: int, event: str, *, member_id: int | None, course_id: int | None,
        fabman_record_id: int | None, recorded_at: dt.datetime,
    ) -> int | None:  # fmt: skip
        """The leaf of an applied result, built from its stored raw body, in the caller's transaction."""
        row = session.execute(
            select(InboxEvent.payload, InboxEvent.member_id, InboxEvent.course_id).where(InboxEvent.id == event_id)
        ).first()
        if row is None:
            return None
        member = member_id if member_id is not None else row.member_id
        if member is None:
            return None
        fields, email = result_fields(
            event,
            row.payload,
            member_id=int(member),
            course_id=course_id if course_id is not None else row.course_id,
            recorded_at=recorded_at,
            fabman_record_id=fabman_record_id,
        )
        return self.append(session, f"{event}:{fields.result_id or event_id}", fields, email=email)

    def _salt(self, session: Session, member_id: int) -> bytes:
        """The member's salt, made on first use (one statement: insert, or keep and return the one there)."""
        values = {"member_id": member_id, "salt": secrets.token_hex(32), "created_at": self._db.now()}
        return bytes.fromhex(session.execute(_SALT, values).scalar_one())

    def delete_salt(self, session: Session, member_id: int) -> int:
        """Forget a member's salt (erasure): `subject` can no longer be linked to the person."""
        return int(session.execute(delete(EvidenceSalt).where(EvidenceSalt.member_id == member_id)).rowcount)  # type: ignore[attr-defined]

    # -- reading -----------------------------------------------------------------

    def size(self) -> int:
        """How many leaves the log holds."""
        with self._db.read() as session:
            return int(session.scalar(select(func.count()).select_from(EvidenceLeaf)) or 0)

    def leaves(self, *, upto: int | None = None) -> list[EvidenceLeaf]:
        """Every leaf (or the first `upto`), in index order."""
        with self._db.read() as session:
            query = select(EvidenceLeaf).order_by(EvidenceLeaf.index)
            if upto is not None:
                query = query.where(EvidenceLeaf.index < upto)
            return list(session.scalars(query))

    def iter_leaf_hashes(self, upto: int) -> Iterator[bytes]:
        """The stored leaf hashes of the first `upto` leaves, in order."""
        with self._db.read() as session:
            for value in session.scalars(
                select(EvidenceLeaf.leaf_hash).where(EvidenceLeaf.index < upto).order_by(EvidenceLeaf.index)
            ):
                yield bytes.fromhex(value)

    def latest(self, member_id: int, course_id: int, events: tuple[str, ...]) -> EvidenceLeaf | None:
        """A member's newest leaf of one of `events` for a course."""
        with self._db.read() as session:
            return session.scalars(
                select(EvidenceLeaf)
                .where(EvidenceLeaf.member_id == member_id, EvidenceLeaf.course_id == course_id, EvidenceLeaf.event.in_(events))
                .order_by(EvidenceLeaf.index.desc())
                .limit(1)
            ).first()

    def of_member(self, member_id: int) -> list[EvidenceLeaf]:
        """Every leaf naming a member."""
        with self._db.read() as session:
            return list(
                session.scalars(select(EvidenceLeaf).where(EvidenceLeaf.member_id == member_id).order_by(EvidenceLeaf.index))
            )

    def has_salt(self, member_id: int) -> bool:
        """Whether the member's subject can still be linked to them."""
        with self._db.read() as session:
            return session.get(EvidenceSalt, member_id) is not None

    # -- checkpoints -------------------------------------------------------------

    def add_checkpoint(self, values: dict[str, object]) -> EvidenceCheckpoint:
        """Keep a signed checkpoint."""
        with self._db.write() as session:
            checkpoint = EvidenceCheckpoint(**values, created_at=self._db.now())
            session.add(checkpoint)
            session.flush()
            return checkpoint

    def set_checkpoint_token(self, checkpoint_id: int, token: bytes | None, error: str | None = None) -> None:
        """Keep the time-stamping authority's token (or why there is none)."""
        with self._db.write() as session:
            session.execute(
                update(EvidenceCheckpoint).where(EvidenceCheckpoint.id == checkpoint_id).values(tsa_token=token, tsa_error=error)
            )

    def checkpoints(self) -> list[EvidenceCheckpoint]:
        """Every checkpoint, oldest first."""
        with self._db.read() as session:
            return list(session.scalars(select(EvidenceCheckpoint).order_by(EvidenceCheckpoint.size, EvidenceCheckpoint.id)))

    def checkpoint_covering(self, index: int) -> EvidenceCheckpoint | None:
        """The oldest checkpoint whose tree holds leaf `index`."""
        with self._db.read() as session:
            return session.scalars(
                select(EvidenceCheckpoint)
                .where(EvidenceCheckpoint.size > index)
                .order_by(EvidenceCheckpoint.size, EvidenceCheckpoint.id)
                .limit(1)
            ).first()

    def checkpoint_of_size(self, size: int) -> EvidenceCheckpoint | None:
        """The newest checkpoint of one tree size."""
        with self._db.read() as session:
            return session.scalars(
                select(EvidenceCheckpoint).where(EvidenceCheckpoint.size == size).order_by(EvidenceCheckpoint.id.desc()).limit(1)
            ).first()


__all__ = ["COUNTED_FAILURES", "EvidenceCheckpoint", "EvidenceEvent", "EvidenceLeaf", "EvidenceStore", "EvidenceSalt"]
