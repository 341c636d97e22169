"""Invitations: how a guardian or the young person joins a case.

The case's stafettholder invites a guardian, or the young person from the workflow's consent
age (``youth_consent_age``). The app makes a one-time code: 16 symbols of Crockford's base32
(80 bits, read aloud in groups of four, ``0``/``O`` and ``1``/``I``/``L`` read alike), shown
once on a printable page with a QR code, stored only as its SHA-256 (a code of that entropy
needs no slow hash). It expires after 14 days (``bti.domain.clock``). The family member signs in
with ID-porten and redeems it; from then on that identity is linked to the case in that role.
The stafettholder sees who has joined (role and when, never an identity number) and can end a
family member's access with a reason.

Safety: flagging a case for suspected violence or abuse ends every guardian's access and every
open guardian invitation (``bti.services.family.safety``), so lifting the flag restores nothing
by itself.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bti.domain.cases import Case
from bti.domain.clock import family_invitation_expiry
from bti.domain.family import END_BY_STAFF
from bti.domain.family import FAMILY_ROLES
from bti.domain.family import GUARDIAN
from bti.domain.family import YOUTH
from bti.domain.family import FamilyMember
from bti.domain.policy import may_manage_family
from bti.domain.rules import youth_consent_required
from bti.domain.vocabulary import AuditAction
from bti.services.access import audit
from bti.services.cases.lifecycle import CaseAccess
from bti.services.cases.lifecycle import get_case
from bti.services.context import Ctx
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from bti.services.family.sessions import FamilyActor
from bti.services.family.sessions import record

#: Crockford's base32: no I, L, O, U (read alike or rude).
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16
#: Longest reason text for ending a family member's access.
END_NOTE_MAX = 500
_READ_ALIKE = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code() -> str:
    """A new invitation code, grouped for reading aloud: ``7K3M-Q9XD-…``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, CODE_LENGTH, 4))


def normalised(code: str) -> str:
    """The code as typed, without spaces or dashes, in capitals, read-alike letters mapped."""
    return "".join(c for c in code.upper() if c.isalnum()).translate(_READ_ALIKE)


def code_hash(code: str) -> str:
    return hashlib.sha256(normalised(code).encode()).hexdigest()


@dataclass(frozen=True)
class Invitation:
    member: FamilyMember
    #: The code in clear: shown once, never stored.
    code: str


def _managed(ctx: Ctx, case_id: int) -> CaseAccess:
    access = get_case(ctx, case_id)
    if not may_manage_family(ctx.actor, access.case.municipality_id, access.relations):
        raise NotFound(f"case {case_id}", object_type="case", object_id=case_id)
    return access


def may_manage(ctx: Ctx, case_id: int) -> bool:
    """Whether the actor may invite to this case (no audit: asks for the link only)."""
    try:
        _managed(ctx, case_id)
    except NotFound:
        return False
    return True


def invitable_roles(ctx: Ctx, access: CaseAccess) -> tuple[str, ...]:
    """The roles the stafettholder may invite now: a guardian unless the case is flagged for
    suspected violence or abuse; the young person from the workflow's consent age."""
    case = access.case
    out = []
    if not case.violence_flag:
        out.append(GUARDIAN)
    if youth_consent_required(case.child_birth_year, ctx.today(),
                              access.workflow.definition.settings.youth_consent_age):
        out.append(YOUTH)
    return tuple(out)


def invite(ctx: Ctx, case_id: int, role: str) -> Invitation:
    """A new invitation to the case in ``role``; its code is returned once."""
    access = _managed(ctx, case_id)
    if role not in FAMILY_ROLES:
        raise InvalidInput({"role": ["not_allowed"]})
    if role not in invitable_roles(ctx, access):
        raise InvalidInput({"role": ["violence_flag" if role == GUARDIAN else "too_young"]})
    if access.case.closed_at is not None:
        raise InvalidInput({"role": ["closed"]})
    now = ctx.now()
    code = new_code()
    member = FamilyMember(case_id=access.case.id, role=role, code_hash=code_hash(code),
                          invited_by_id=ctx.actor.id, invited_at=now,
                          expires_at=family_invitation_expiry(now))
    ctx.session.add(member)
    ctx.session.flush()
    audit.record(ctx, AuditAction.FAMILY_INVITED, case=access.case, object_type="family_member",
                 object_id=member.id, basis=access.basis, role=role)
    return Invitation(member, code)


@dataclass(frozen=True)
class MemberRow:
    id: int
    role: str
    invited_at: datetime
    expires_at: datetime
    redeemed_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    end_note: str | None

    def status(self, now: datetime) -> str:
        if self.ended_at is not None:
            return "ended"
        if self.redeemed_at is not None:
            return "joined"
        return "expired" if now >= self.expires_at else "invited"


def members(ctx: Ctx, case_id: int) -> tuple[CaseAccess, list[MemberRow], tuple[str, ...]]:
    """Who has been invited to the case and who has joined (no identity shown), for the
    stafettholder; audited. Also the roles that may be invited now."""
    access = _managed(ctx, case_id)
    rows = ctx.session.scalars(select(FamilyMember).where(FamilyMember.case_id == case_id)
                               .order_by(FamilyMember.id)).all()
    audit.record(ctx, AuditAction.FAMILY_MEMBERS_VIEWED, case=access.case,
                 object_type="case", object_id=access.case.id, basis=access.basis)
    return access, [MemberRow(m.id, m.role, m.invited_at, m.expires_at, m.redeemed_at,
                              m.ended_at, m.end_reason, m.end_note) for m in rows], \
        invitable_roles(ctx, access)


def end_access(ctx: Ctx, case_id: int, member_id: int, note: str) -> FamilyMember:
    """End a family member's access (or an open invitation), with the reason; audited."""
    access = _managed(ctx, case_id)
    member = ctx.session.get(FamilyMember, member_id) if isinstance(member_id, int) else None
    if member is None or member.case_id != access.case.id:
        raise NotFound(f"family member {member_id}", object_type="family_member",
                       object_id=member_id)
    note = (note or "").strip()
    errors = {}
    if not note:
        errors["note"] = ["required"]
    elif len(note) > END_NOTE_MAX:
        errors["note"] = ["too_long"]
    if member.ended_at is not None:
        errors["note"] = ["already_ended"]
    if errors:
        raise InvalidInput(errors)
    member.ended_at = ctx.now()
    member.ended_by_id = ctx.actor.id
    member.end_reason = END_BY_STAFF
    member.end_note = note
    audit.record(ctx, AuditAction.FAMILY_ACCESS_ENDED, case=access.case,
                 object_type="family_member", object_id=member.id, basis=access.basis,
                 role=member.role, reason=END_BY_STAFF)
    return member


def redeem(session: Session, actor: FamilyActor, code: str, *, now: datetime,
           request_id: str | None = None) -> FamilyMember:
    """Link the signed-in family member to the case the code was made for. Every refusal is
    the same ``InvalidInput({"code": ["invalid"]})`` (a used, ended or unknown code, a code of
    another municipality, a guardian's code on a case flagged for suspected violence or abuse)
    except an expired one (``["expired"]``); both are audited, as is the success."""
    member = None
    if len(normalised(code)) == CODE_LENGTH:
        member = session.scalar(select(FamilyMember).where(
            FamilyMember.code_hash == code_hash(code)).with_for_update())
    case = session.get(Case, member.case_id) if member is not None else None
    problem = _problem(session, actor, member, case, now)
    if problem is not None or member is None or case is None:
        record(session, AuditAction.FAMILY_CODE_FAILED, now=now,
               municipality_id=actor.municipality_id, identity_id=actor.identity_id,
               outcome="denied", request_id=request_id, reason=problem or "invalid")
        raise InvalidInput({"code": [problem or "invalid"]})
    member.identity_id = actor.identity_id
    member.redeemed_at = now
    record(session, AuditAction.FAMILY_JOINED, now=now, municipality_id=case.municipality_id,
           identity_id=actor.identity_id, case_id=case.id, object_type="family_member",
           object_id=member.id, basis=member.role, request_id=request_id)
    return member


def _problem(session: Session, actor: FamilyActor, member: FamilyMember | None,
             case: Case | None, now: datetime) -> str | None:
    if member is None or case is None or case.municipality_id != actor.municipality_id:
        return "invalid"
    if member.redeemed_at is not None or member.ended_at is not None:
        return "invalid"
    if member.role == GUARDIAN and case.violence_flag:
        return "invalid"
    if now >= member.expires_at:
        return "expired"
    linked = session.scalar(select(FamilyMember.id).where(
        FamilyMember.case_id == case.id, FamilyMember.identity_id == actor.identity_id,
        FamilyMember.ended_at.is_(None)))
    return "invalid" if linked is not None else None  # already linked to this case
