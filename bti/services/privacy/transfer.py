"""A case that follows the family to another municipality (issue 15, section 4): the signed
transfer bundle, written by the sending installation and imported by the receiving one (the
same installation or another).

The sending side first closes the case as transferred (the workflow's ``transfer_municipality``,
effect ``transferred_out``, with the consent to the transfer). ``export_bundle`` then writes
the bundle (JSON):

- ``case``: the child's pseudonym, birth year (or due month), the violence flag, when the home
  was informed, the workflow and the state the case was in before it closed;
- ``entries``: every stafettlogg entry as its hash covers it, with ``prev_hash`` and ``hash``;
- ``manifest``: the format version, the sending installation and municipality, the
  ``destination`` (the receiving installation's id and municipality's slug: stable ids, not
  the free text the closing transition recorded), the case number, the entry count, the
  chain head, the SHA-256 of ``case`` and ``entries`` and when it
  was made; ``signature``: Ed25519 over the manifest's canonical JSON, with the installation's
  key (``bti.config.TransferSettings``).

The sending side keeps a ``case_transfer`` row (direction ``out``): the tombstone that outlives
the content, which the archive and purge rules then handle as for any closed case; its audit
rows stay. Exporting again gives the same bytes (the manifest's time is the first export's, and
Ed25519 signs deterministically).

``import_bundle`` checks everything before it writes anything: a trusted sender, the signature,
the content hash, the chain (sequence, links, every hash, the states) and its head and count,
that the bundle is addressed to this installation and the municipality importing it, and that
the bundle was not imported before (also under two imports at once: a unique index on
``case_transfer`` (direction, bundle_sha256)). Any failure is a ``TransferRefused`` naming it.
It then creates the case in the receiving municipality, in the receiving user's unit and with
them as stafettholder, continuing in the state it had (the receiving workflow's first state if
it has no such state). The case's own chain holds one entry per received entry (its original
time, kind, trigger and states; its content and the sender's ids and hashes under ``source``,
so the sender's chain can be checked again from the receiving database: ``verify_received``)
and a last entry recording the import. A ``case_transfer`` row (direction ``in``) names the
bundle.

The bundle holds case content: it is moved over a secure channel (as the archive packages)
and deleted once imported.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bti.config import TransferSettings
from bti.domain.cases import GENESIS_HASH
from bti.domain.cases import Case
from bti.domain.cases import Participant
from bti.domain.log import CaseTransfer
from bti.domain.log import StafettloggEntry
from bti.domain.log import canonical_json
from bti.domain.log import chain_hash
from bti.domain.org import Municipality
from bti.domain.org import User
from bti.domain.policy import works_on_cases
from bti.domain.vocabulary import AuditAction
from bti.domain.vocabulary import Relation
from bti.services.access import audit
from bti.services.cases import stafettlogg
from bti.services.context import Ctx
from bti.services.errors import ServiceError

FORMAT = "bti-transfer/1"
#: The trigger that closes a case as transferred (every shipped workflow uses this name).
TRANSFER_TRIGGER = "transfer_municipality"
#: The receiving case's last entry: the import itself.
IMPORT_TRIGGER = "transfer_import"
IMPORT_KIND = "transfer"


class TransferRefused(ServiceError):
    """The bundle cannot be written or imported; ``str()`` says why. Nothing was written."""

    code = "transfer_refused"


def generate_key() -> tuple[str, str]:
    """A new Ed25519 key pair, base64: (private key for ``BTI_TRANSFER_SIGNING_KEY``, public
    key for the receivers' ``BTI_TRANSFER_TRUSTED_KEYS``)."""
    from cryptography.hazmat.primitives import serialization

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw)
    return base64.b64encode(private).decode(), base64.b64encode(public).decode()


def _sha256(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def _entry_doc(e: StafettloggEntry) -> dict[str, Any]:
    return {**StafettloggEntry.content_of(e), "prev_hash": e.prev_hash, "hash": e.hash}


# --- export ------------------------------------------------------------------------------------


#: An installation id or a municipality slug as a destination (as ``BTI_INSTALLATION_ID``
#: and the slugs are written: lower case, digits, ``.``, ``_``, ``-``).
_DESTINATION_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")


def export_bundle(session: Session, case_id: int, settings: TransferSettings, now: datetime,
                  *, to_installation: str, to_municipality: str, via: str = "cli",
                  actor_id: int | None = None) -> bytes:
    """The signed bundle of a case closed as transferred, addressed to ``to_municipality``
    (its slug) at installation ``to_installation`` (its ``BTI_INSTALLATION_ID``), with its
    ``case_transfer`` tombstone and audit row (the caller commits). ``TransferRefused`` when
    the case is not closed as transferred, its chain does not verify, no signing key is
    configured, the destination is not a pair of ids (or, on this installation, names no
    other municipality here), or the case was exported to another destination before."""
    if not settings.installation or settings.signing_key is None:
        raise TransferRefused("no signing key: set BTI_INSTALLATION_ID and "
                              "BTI_TRANSFER_SIGNING_KEY (docs/deployment.md)")
    for label, value in (("installation", to_installation), ("municipality", to_municipality)):
        if not isinstance(value, str) or not _DESTINATION_ID.fullmatch(value):
            raise TransferRefused(f"the destination {label} {value!r} is not an id (lower "
                                  "case, digits, '.', '_', '-': BTI_INSTALLATION_ID, the "
                                  "municipality's slug)")
    case = session.get(Case, case_id)
    if case is None:
        raise TransferRefused(f"no case {case_id}")
    entries = list(session.scalars(select(StafettloggEntry)
                                   .where(StafettloggEntry.case_id == case.id)
                                   .order_by(StafettloggEntry.seq)))
    last = entries[-1] if entries else None
    if case.closed_at is None or last is None or last.trigger != TRANSFER_TRIGGER:
        raise TransferRefused(f"case {case_id} is not closed as transferred to another "
                              f"municipality (the {TRANSFER_TRIGGER} action)")
    problem = stafettlogg.check_chain(case, entries)
    if problem is not None:
        raise TransferRefused(f"the case's stafettlogg does not verify: {problem}")
    municipality = session.get_one(Municipality, case.municipality_id)
    if to_installation == settings.installation:  # to a municipality of this installation
        here = session.scalar(select(Municipality.id).where(
            Municipality.slug == to_municipality))
        if here is None or here == municipality.id:
            raise TransferRefused(f"no other municipality {to_municipality!r} on this "
                                  f"installation ({settings.installation})")
    earlier = session.scalar(select(CaseTransfer).where(CaseTransfer.direction == "out",
                                                        CaseTransfer.case_id == case.id))
    if earlier is not None and earlier.counterpart_installation and (
            earlier.counterpart_installation, earlier.counterpart_municipality) != (
            to_installation, to_municipality):
        raise TransferRefused(
            f"case {case_id} was exported to {earlier.counterpart_municipality!r} at "
            f"{earlier.counterpart_installation!r} already; a bundle has one destination")
    created_at = earlier.created_at if earlier is not None else now
    named = json.loads(last.data).get("to_municipality")
    body: dict[str, Any] = {
        "case": {
            "child_pseudonym": case.child_pseudonym, "child_birth_year": case.child_birth_year,
            "child_due_month": case.child_due_month, "violence_flag": case.violence_flag,
            "home_informed_on": case.home_informed_on.isoformat()
            if case.home_informed_on else None,
            "opened_at": case.opened_at.isoformat(timespec="microseconds"),
            "state_before": last.from_state,
            "to_municipality": named,
        },
        "entries": [_entry_doc(e) for e in entries],
    }
    manifest = {
        "format": FORMAT, "installation": settings.installation,
        "municipality": municipality.slug,
        "destination": {"installation": to_installation, "municipality": to_municipality},
        "case_id": case.id, "entry_count": len(entries),
        "head_hash": case.log_head, "content_sha256": _sha256(body),
        "created_at": created_at.isoformat(timespec="microseconds"),
    }
    key = Ed25519PrivateKey.from_private_bytes(settings.signing_key)
    signature = key.sign(canonical_json(manifest).encode("utf-8"))
    bundle = {"manifest": manifest, "signature": base64.b64encode(signature).decode(), **body}
    digest = _sha256(manifest)
    if earlier is not None and not earlier.counterpart_installation:
        # a row from before bundles named their destination: it now names it
        earlier.counterpart_installation = to_installation
        earlier.counterpart_municipality = to_municipality
        earlier.bundle_sha256 = digest
        session.flush()
    if earlier is None:
        session.add(CaseTransfer(
            municipality_id=case.municipality_id, case_id=case.id, direction="out",
            counterpart_installation=to_installation,
            counterpart_municipality=to_municipality,
            source_case_id=case.id, entry_count=len(entries), head_hash=case.log_head,
            bundle_sha256=digest, created_at=now))
        session.flush()
    audit.record_system(session, AuditAction.CASE_TRANSFER_EXPORTED, now=now,
                        municipality_id=case.municipality_id, case_id=case.id,
                        object_type="case_transfer", object_id=case.id, actor_id=actor_id,
                        via=via, bundle_sha256=digest, entries=len(entries))
    return (canonical_json(bundle) + "\n").encode("utf-8")


# --- import ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """A bundle that passed every check."""

    manifest: dict[str, Any]
    case: dict[str, Any]
    entries: list[dict[str, Any]]
    bundle_sha256: str


def _parse_at(value: Any) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise TransferRefused("an entry's time is not a valid ISO 8601 time") from None
    if at.tzinfo is None:
        raise TransferRefused("an entry's time has no time zone")
    return at


def check_chain_docs(entries: list[dict[str, Any]]) -> str | None:
    """The first break in a bundle's (or a received case's source) chain, or None."""
    prev = GENESIS_HASH
    state: str | None = None
    for i, doc in enumerate(entries, start=1):
        if doc.get("seq") != i:
            return f"entry {i}: sequence number {doc.get('seq')!r} (missing or reordered)"
        if doc.get("prev_hash") != prev:
            return f"entry {i}: does not link to the entry before it"
        try:
            content = {k: doc[k] for k in StafettloggEntry.HASHED}
        except KeyError as err:
            return f"entry {i}: no {err.args[0]!r}"
        if chain_hash(prev, content) != doc.get("hash"):
            return f"entry {i}: content does not match its hash (edited)"
        if doc.get("from_state") != state:
            return f"entry {i}: starts from a state the log did not reach"
        prev, state = doc["hash"], doc.get("to_state")
    return None


def check_bundle(data: bytes, settings: TransferSettings) -> Checked:
    """Every check of a bundle, before anything is written."""
    try:
        bundle = json.loads(data.decode("utf-8"))
        manifest, signature = bundle["manifest"], bundle["signature"]
        case, entries = bundle["case"], bundle["entries"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        raise TransferRefused("not a transfer bundle (JSON with manifest, signature, case "
                              "and entries)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise TransferRefused(f"unknown bundle format (expected {FORMAT})")
    if not isinstance(entries, list) or not isinstance(case, dict):
        raise TransferRefused("not a transfer bundle (entries must be a list)")
    sender = manifest.get("installation")
    public = settings.trusted.get(sender) if isinstance(sender, str) else None
    if public is None:
        raise TransferRefused(f"the sender {sender!r} is not a trusted installation "
                              "(BTI_TRANSFER_TRUSTED_KEYS)")
    try:
        raw = base64.b64decode(signature, validate=True)
        Ed25519PublicKey.from_public_bytes(public).verify(
            raw, canonical_json(manifest).encode("utf-8"))
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        raise TransferRefused("the signature does not match the manifest (tampered, or "
                              f"not signed by {sender}'s key)") from None
    if _sha256({"case": case, "entries": entries}) != manifest.get("content_sha256"):
        raise TransferRefused("the bundle's content does not match its signed manifest "
                              "(an entry or the case was changed, added, removed or reordered)")
    if manifest.get("entry_count") != len(entries):
        raise TransferRefused("the bundle holds another number of entries than its manifest")
    problem = check_chain_docs(entries)
    if problem is not None:
        raise TransferRefused(f"the stafettlogg chain does not verify: {problem}")
    if not entries or entries[-1]["hash"] != manifest.get("head_hash"):
        raise TransferRefused("the chain's head is not the manifest's (truncated)")
    if entries[-1].get("trigger") != TRANSFER_TRIGGER:
        raise TransferRefused("the case was not closed as transferred")
    for doc in entries:
        _parse_at(doc["at"])
    return Checked(manifest, case, entries, _sha256(manifest))


def check_destination(checked: Checked, settings: TransferSettings,
                      municipality_slug: str) -> None:
    """``TransferRefused`` unless the bundle is addressed to this installation and to the
    municipality importing it."""
    dest = checked.manifest.get("destination")
    if not isinstance(dest, dict) or not isinstance(dest.get("installation"), str) \
            or not isinstance(dest.get("municipality"), str):
        raise TransferRefused("the bundle names no destination (installation and "
                              "municipality): export it again with --to-installation and "
                              "--to-municipality")
    if not settings.installation:
        raise TransferRefused("this installation has no id: set BTI_INSTALLATION_ID "
                              "(docs/deployment.md)")
    if (dest["installation"], dest["municipality"]) != (settings.installation,
                                                         municipality_slug):
        raise TransferRefused(
            f"the bundle is addressed to municipality {dest['municipality']!r} at installation "
            f"{dest['installation']!r}, not to {municipality_slug!r} at "
            f"{settings.installation!r}")


def import_bundle(ctx: Ctx, data: bytes, settings: TransferSettings, *,
                  municipality_slug: str, receiver_username: str) -> Case:
    """Create the case of a verified bundle in the receiving municipality (the caller
    commits): ``ctx`` is a system context (the CLI); the receiver is an active case worker of
    the municipality, who becomes the stafettholder in their unit."""
    session = ctx.session
    checked = check_bundle(data, settings)
    check_destination(checked, settings, municipality_slug)
    municipality = session.scalar(select(Municipality).where(
        Municipality.slug == municipality_slug))
    if municipality is None:
        raise TransferRefused(f"no municipality {municipality_slug!r}")
    receiver = session.scalar(select(User).where(User.username == receiver_username,
                                                 User.municipality_id == municipality.id))
    if receiver is None or not works_on_cases(receiver.as_actor()) or receiver.unit_id is None:
        raise TransferRefused(f"{receiver_username!r} is not an active case worker with a unit "
                              f"in {municipality_slug}")
    if session.scalar(select(CaseTransfer.id).where(
            CaseTransfer.direction == "in", CaseTransfer.bundle_sha256 == checked.bundle_sha256)):
        raise TransferRefused("this bundle was imported already")
    m, c = checked.manifest, checked.case
    record_id = ctx.workflows.current_record_id(session, municipality.workflow_id)
    definition = ctx.workflows.for_record(session, record_id).definition
    before = c.get("state_before")
    known = {s.name for s in definition.states}
    state = (before if isinstance(before, str) and before in known
             and not definition.state(before).final else definition.initial)
    now = ctx.now()
    home = c.get("home_informed_on")
    case = Case(
        municipality_id=municipality.id, unit_id=receiver.unit_id,
        workflow_definition_id=record_id, state=state,
        child_pseudonym=str(c.get("child_pseudonym") or "")[:60],
        child_birth_year=int(c["child_birth_year"]), child_due_month=c.get("child_due_month"),
        violence_flag=bool(c.get("violence_flag")),
        home_informed_on=datetime.fromisoformat(home).date() if home else None,
        stafettholder_id=receiver.id, opened_by_id=receiver.id,
        opened_at=_parse_at(c.get("opened_at") or checked.entries[0]["at"]),
        level_entered_at=now, last_activity_at=now)
    session.add(case)
    session.flush()
    record = CaseTransfer(
        municipality_id=municipality.id, case_id=case.id, direction="in",
        counterpart_installation=str(m["installation"]),
        counterpart_municipality=str(m["municipality"])[:60],
        source_case_id=int(m["case_id"]), entry_count=int(m["entry_count"]),
        head_hash=str(m["head_hash"]), bundle_sha256=checked.bundle_sha256, created_at=now)
    try:  # first, so that a concurrent import of the same bundle stops here
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        raise TransferRefused("this bundle was imported already") from None
    session.add(Participant(case_id=case.id, user_id=receiver.id, unit_id=receiver.unit_id,
                            relation=Relation.STAFETTHOLDER.value, added_by_id=receiver.id,
                            added_at=now))
    work = Ctx(session=session, actor=receiver.as_actor(), workflows=ctx.workflows,
               now=ctx.now)
    for doc in checked.entries:
        stafettlogg.append(
            work, case, kind=doc["kind"], trigger=doc["trigger"], from_state=doc["from_state"],
            to_state=doc["to_state"], at=_parse_at(doc["at"]),
            data={"source": {k: doc[k] for k in (*StafettloggEntry.HASHED, "prev_hash",
                                                 "hash")}})
    entry = stafettlogg.append(
        work, case, kind=IMPORT_KIND, trigger=IMPORT_TRIGGER,
        from_state=checked.entries[-1]["to_state"], to_state=state,
        data={"installation": m["installation"], "municipality": m["municipality"],
              "case_id": m["case_id"], "entry_count": m["entry_count"],
              "head_hash": m["head_hash"], "bundle_sha256": checked.bundle_sha256})
    audit.record_system(session, AuditAction.CASE_TRANSFER_IMPORTED, now=now,
                        municipality_id=municipality.id, case_id=case.id,
                        object_type="case_transfer", object_id=case.id, actor_id=receiver.id,
                        via="cli", bundle_sha256=checked.bundle_sha256,
                        entries=int(m["entry_count"]), log_seq=entry.seq)
    session.flush()
    return case


def verify_received(session: Session, case: Case) -> str | None:
    """The sender's chain again, from a received case's entries (their ``source``): None when
    it verifies and ends at the head the import recorded."""
    entries = list(session.scalars(select(StafettloggEntry)
                                   .where(StafettloggEntry.case_id == case.id)
                                   .order_by(StafettloggEntry.seq)))
    if not entries or entries[-1].trigger != IMPORT_TRIGGER:
        return "not a received case"
    docs = [json.loads(e.data)["source"] for e in entries[:-1]]
    problem = check_chain_docs(docs)
    if problem is not None:
        return problem
    head = json.loads(entries[-1].data)["head_hash"]
    return None if docs and docs[-1]["hash"] == head else "the sender's head does not match"
