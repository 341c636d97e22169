"""What a team works on: cases referred to it and questions without a case on the agenda of
its next meeting (or its unscheduled queue), the minutes of each item and their follow-ups,
the team page and "My teams".

Need-to-know: only a current member sees a team (``policy.may_view_team``); everyone else,
members of other teams and former members included, gets ``NotFound`` like a missing case. A
member sees a referred case's content only as far as a consent covers their service
(``policy.may_see_team_case``), otherwise only what the referral says (its text and the case
number); each read of case content from the team page is audited before it is returned.

The minutes of a case item go into the case's stafettlogg as an entry (through
``bti.services.cases.stafettlogg.append``); those of a question go back to the one who asked
(a notice). Services flush; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy import select

from bti.domain import policy
from bti.domain.cases import Case
from bti.domain.log import StafettloggEntry
from bti.domain.org import User
from bti.domain.teams import AgendaItem
from bti.domain.teams import FollowUp
from bti.domain.teams import Team
from bti.domain.teams import TeamMeeting
from bti.domain.teams import TeamMember
from bti.domain.vocabulary import AuditAction
from bti.engine.i18n import Labels
from bti.engine.inputs import check_text
from bti.services.access import audit
from bti.services.context import Ctx
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from bti.services.notify.events import Event
from bti.services.notify.outbox import emit
from bti.services.teams.keep import current_member_ids
from bti.services.teams.keep import is_member
from bti.services.teams.keep import load_team
from bti.services.teams.keep import upcoming_meetings

TEXT_MAX = 4000
#: A question's child's age (years), as the rest of bti counts children and young people.
AGE_MAX = 24
#: The trigger of the stafettlogg entry that holds a team's minutes.
MINUTES_TRIGGER = "team_minutes"
BASIS = "team_member"


# --- the referral (the workflow's ``referral`` effect) ----------------------------------------


def team_for_referral(ctx: Ctx, case: Case, kind: str) -> Team | None:
    """The active team of the case's municipality of that kind: the case's own unit's, else the
    municipality-wide one (the oldest, if there are several)."""
    teams = ctx.session.scalars(select(Team).where(
        Team.municipality_id == case.municipality_id, Team.kind == kind,
        Team.active.is_(True)).order_by(Team.id)).all()
    own = [t for t in teams if t.unit_id == case.unit_id]
    shared = [t for t in teams if t.unit_id is None]
    found = own or shared
    return found[0] if found else None


def _next_meeting_id(ctx: Ctx, team_id: int) -> int | None:
    upcoming = upcoming_meetings(ctx, team_id)
    return upcoming[0].id if upcoming else None


def refer_case(ctx: Ctx, case: Case, team_kinds: set[str], payload: dict[str, Any]
               ) -> AgendaItem | None:
    """A referral naming one of the workflow's teams (``referred_to``): the case lands on the
    agenda of that team's next meeting (or its unscheduled queue) with the referral's text,
    and the members are told. A referral elsewhere (PPT, BUP …), or to a kind of team the
    municipality does not keep, lands on no agenda."""
    kind = payload.get("referred_to")
    if kind not in team_kinds:
        return None
    team = team_for_referral(ctx, case, kind)
    if team is None:
        return None
    text = "\n\n".join(t for t in (payload.get("reason"), payload.get("notes")) if t)
    item = AgendaItem(team_id=team.id, meeting_id=_next_meeting_id(ctx, team.id), kind="case",
                      case_id=case.id, text=text, asked_by_id=ctx.actor.id,
                      created_at=ctx.now())
    ctx.session.add(item)
    ctx.session.flush()
    audit.record(ctx, AuditAction.TEAM_CASE_REFERRED, case=case, object_type="team_agenda_item",
                 object_id=item.id, team_id=team.id)
    _notify_members(ctx, team, item)
    return item


def _notify_members(ctx: Ctx, team: Team, item: AgendaItem) -> None:
    emit(ctx, Event.TEAM_AGENDA, current_member_ids(ctx, team.id), key=f"item-{item.id}",
         details={"team_id": team.id, "item_id": item.id})


# --- a question without a case ----------------------------------------------------------------


def ask(ctx: Ctx, team_id: int, *, child_age: int | None, text: str) -> AgendaItem:
    """Put a question without a case on a team's agenda (anonym drøfting, tverrfaglig
    veiledning): the child's age and what is seen, never an identity (a fødselsnummer or
    D-number is refused). Any staff member of the municipality may ask."""
    team = load_team(ctx, team_id)
    if not policy.may_ask_team(ctx.actor, team.municipality_id, team.active):
        raise NotFound(f"team {team_id}", object_type="team", object_id=team_id)
    errors: dict[str, list[str]] = {}
    text = text or ""
    if problem := check_text(text, max_length=TEXT_MAX, required=True):
        errors["text"] = [problem]
    if child_age is None:
        errors["child_age"] = ["required"]
    elif not 0 <= child_age <= AGE_MAX:
        errors["child_age"] = ["age_range"]
    if errors:
        raise InvalidInput(errors)
    item = AgendaItem(team_id=team.id, meeting_id=_next_meeting_id(ctx, team.id),
                      kind="question", case_id=None, text=text.strip(), child_age=child_age,
                      asked_by_id=ctx.actor.id, created_at=ctx.now())
    ctx.session.add(item)
    ctx.session.flush()
    audit.record(ctx, AuditAction.TEAM_QUESTION_ASKED, object_type="team_agenda_item",
                 object_id=item.id, team_id=team.id)
    _notify_members(ctx, team, item)
    return item


# --- what a member sees -----------------------------------------------------------------------


def _member_team(ctx: Ctx, team_id: int) -> Team:
    """The team, if the actor is a current member; else ``NotFound`` (like a missing case)."""
    team = ctx.session.get(Team, team_id)
    if team is None or not policy.may_view_team(
            ctx.actor, team.municipality_id, is_member(ctx, team.id, ctx.actor.id)):
        raise NotFound(f"team {team_id}", object_type="team", object_id=team_id)
    return team


@dataclass(frozen=True, slots=True)
class FollowUpRow:
    id: int
    item_id: int
    what: str
    responsible: str
    due_on: date
    done: bool


@dataclass(frozen=True, slots=True)
class ItemRow:
    id: int
    kind: str
    case_id: int | None
    text: str
    child_age: int | None
    created_at: datetime
    decision: str | None
    minuted_at: datetime | None
    follow_ups: tuple[FollowUpRow, ...]


@dataclass(frozen=True, slots=True)
class MeetingAgenda:
    id: int | None  # None: the unscheduled queue
    starts_at: datetime | None
    place: str | None
    items: tuple[ItemRow, ...]


@dataclass(frozen=True, slots=True)
class TeamPage:
    id: int
    name: str
    kind: str
    active: bool
    next_meeting: MeetingAgenda | None
    unscheduled: MeetingAgenda
    later: tuple[MeetingAgenda, ...]
    past: tuple[MeetingAgenda, ...]
    open_follow_ups: tuple[FollowUpRow, ...]
    members: tuple[str, ...]


def _follow_ups(ctx: Ctx, item_ids: list[int]) -> dict[int, list[FollowUpRow]]:
    out: dict[int, list[FollowUpRow]] = {}
    if not item_ids:
        return out
    for f, name in ctx.session.execute(
            select(FollowUp, User.display_name).join(User, User.id == FollowUp.responsible_id)
            .where(FollowUp.item_id.in_(item_ids)).order_by(FollowUp.due_on, FollowUp.id)):
        out.setdefault(f.item_id, []).append(FollowUpRow(
            f.id, f.item_id, f.what, name, f.due_on, f.done_at is not None))
    return out


def team_page(ctx: Ctx, team_id: int) -> TeamPage:
    """The team's page for a member: the agenda of its next meeting, the unscheduled queue,
    later and past meetings, the open follow-ups. Items show what the referral says (its text
    and the case number), no case content: that is ``item_view``. Audited."""
    team = _member_team(ctx, team_id)
    meetings = ctx.session.scalars(select(TeamMeeting).where(TeamMeeting.team_id == team.id)
                                   .order_by(TeamMeeting.starts_at, TeamMeeting.id)).all()
    items = ctx.session.scalars(select(AgendaItem).where(AgendaItem.team_id == team.id)
                                .order_by(AgendaItem.created_at, AgendaItem.id)).all()
    follow = _follow_ups(ctx, [i.id for i in items])

    def row(i: AgendaItem) -> ItemRow:
        return ItemRow(i.id, i.kind, i.case_id, i.text, i.child_age, i.created_at, i.decision,
                       i.minuted_at, tuple(follow.get(i.id, ())))

    by_meeting: dict[int | None, list[ItemRow]] = {}
    for i in items:
        by_meeting.setdefault(i.meeting_id, []).append(row(i))
    now = ctx.now()
    agendas = [MeetingAgenda(m.id, m.starts_at, m.place, tuple(by_meeting.get(m.id, ())))
               for m in meetings]
    upcoming = [a for a in agendas if a.starts_at is not None and a.starts_at >= now]
    past = [a for a in agendas if a.starts_at is not None and a.starts_at < now]
    members = tuple(ctx.session.scalars(
        select(User.display_name).join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.team_id == team.id, TeamMember.removed_at.is_(None))
        .order_by(User.display_name)))
    open_follow_ups = tuple(sorted((f for rows in follow.values() for f in rows if not f.done),
                                   key=lambda f: (f.due_on, f.id)))
    audit.record(ctx, AuditAction.TEAM_VIEWED, object_type="team", object_id=team.id,
                 items=len(items))
    for case_id in sorted({i.case_id for i in items if i.case_id is not None}):
        # the referral's text is about the case: each case on the page is a listed read
        audit.record(ctx, AuditAction.CASE_LISTED, case_id=case_id, object_type="team",
                     object_id=team.id, basis=BASIS)
    return TeamPage(team.id, team.name, team.kind, team.active,
                    upcoming[0] if upcoming else None,
                    MeetingAgenda(None, None, None, tuple(
                        r for r in by_meeting.get(None, ()) if r.decision is None)),
                    tuple(upcoming[1:]), tuple(reversed(past)), open_follow_ups, members)


@dataclass(frozen=True, slots=True)
class CaseContent:
    """What a covered member sees of a referred case."""

    pseudonym: str
    birth_year: int
    state_label: Labels
    level_label: Labels
    entries: tuple[tuple[datetime, Labels | None, str], ...]  # at, transition label, kind


@dataclass(frozen=True, slots=True)
class ItemView:
    team_id: int
    team_name: str
    item: ItemRow
    meeting_starts_at: datetime | None
    #: None: no consent covers the member's service (or the item is a question).
    content: CaseContent | None
    asked_by_me: bool
    members: tuple[tuple[int, str], ...]
    #: False: the one who asked, reading their question's minutes (no minutes form).
    member: bool = True


def _item(ctx: Ctx, team_id: int, item_id: int, *, asker: bool = False
          ) -> tuple[Team, AgendaItem, bool]:
    """The team's item and whether the actor is a member. ``asker``: the one who put a
    question without a case on the agenda may read it and its minutes, member or not."""
    missing = NotFound(f"agenda item {item_id}", object_type="team_agenda_item",
                       object_id=item_id)
    item = ctx.session.get(AgendaItem, item_id)
    if item is None or item.team_id != team_id:
        raise missing
    try:
        return _member_team(ctx, team_id), item, True
    except NotFound:
        team = ctx.session.get(Team, team_id)
        if (asker and team is not None and item.kind == "question"
                and item.asked_by_id == ctx.actor.id and policy.may_use_teams(ctx.actor)
                and team.municipality_id == ctx.actor.municipality_id):
            return team, item, False
        raise missing from None


def _case_content(ctx: Ctx, case: Case, item_id: int) -> CaseContent | None:
    from bti.services.cases.lifecycle import covered_units_of

    if not policy.may_see_team_case(ctx.actor, case.unit_id, covered_units_of(ctx, case)):
        return None
    workflow = ctx.workflows.for_record(ctx.session, case.workflow_definition_id)
    definition = workflow.definition
    state = definition.state(case.state)
    entries = ctx.session.scalars(select(StafettloggEntry).where(
        StafettloggEntry.case_id == case.id).order_by(StafettloggEntry.seq.desc())
        .limit(50)).all()

    def label(e: StafettloggEntry) -> Labels | None:
        if e.trigger == "open":
            return definition.opening.label
        t = workflow.transition(e.trigger, e.from_state) if e.from_state else None
        return t.label if t else None

    audit.record(ctx, AuditAction.CASE_VIEWED, case=case, object_type="team_agenda_item",
                 object_id=item_id, basis=BASIS)
    return CaseContent(case.child_pseudonym, case.child_birth_year, state.label,
                       definition.level(state.level).label,
                       tuple((e.at, label(e), e.kind) for e in entries))


def item_view(ctx: Ctx, team_id: int, item_id: int) -> ItemView:
    """One agenda item for a member: what the referral says, and, where a consent covers the
    member's service, the case's content (an audited read of the case)."""
    team, item, member = _item(ctx, team_id, item_id, asker=True)
    content = None
    if item.case_id is not None:
        case = ctx.session.get(Case, item.case_id)
        if case is not None:
            content = _case_content(ctx, case, item.id)
    meeting = ctx.session.get(TeamMeeting, item.meeting_id) if item.meeting_id else None
    follow = _follow_ups(ctx, [item.id])
    members = tuple((i, n) for i, n in ctx.session.execute(
        select(User.id, User.display_name).join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.team_id == team.id, TeamMember.removed_at.is_(None))
        .order_by(User.display_name)))
    audit.record(ctx, AuditAction.TEAM_VIEWED, object_type="team_agenda_item",
                 object_id=item.id, team_id=team.id)
    return ItemView(team.id, team.name, ItemRow(
        item.id, item.kind, item.case_id, item.text, item.child_age, item.created_at,
        item.decision, item.minuted_at, tuple(follow.get(item.id, ()))),
        meeting.starts_at if meeting else None, content, item.asked_by_id == ctx.actor.id,
        members if member else (), member)


# --- the minutes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FollowUpInput:
    what: str
    responsible_id: int | None
    due_on: date | None


def record_minutes(ctx: Ctx, team_id: int, item_id: int, *, decision: str,
                   follow_ups: list[FollowUpInput]) -> AgendaItem:
    """The minutes of one agenda item: what was decided and the follow-ups (what, who among
    the members, by when). A case item's minutes become an entry of the case's stafettlogg; a
    question's go back to the one who asked (a notice). Recorded once."""
    team, item, _member = _item(ctx, team_id, item_id)
    item = ctx.session.get(AgendaItem, item.id, with_for_update=True) or item
    errors: dict[str, list[str]] = {}
    if item.decision is not None:
        errors["decision"] = ["already_minuted"]
    elif problem := check_text(decision or "", max_length=TEXT_MAX, required=True):
        errors["decision"] = [problem]
    members = set(current_member_ids(ctx, team.id))
    clean: list[FollowUpInput] = []
    for n, f in enumerate(follow_ups, start=1):
        if not (f.what or "").strip() and f.responsible_id is None and f.due_on is None:
            continue  # an empty row of the form
        if problem := check_text(f.what or "", max_length=TEXT_MAX, required=True):
            errors[f"follow_up_{n}_what"] = [problem]
        if f.responsible_id is None:
            errors[f"follow_up_{n}_responsible"] = ["required"]
        elif f.responsible_id not in members:
            errors[f"follow_up_{n}_responsible"] = ["not_a_member"]
        if f.due_on is None:
            errors[f"follow_up_{n}_due"] = ["required"]
        elif f.due_on < ctx.today():
            errors[f"follow_up_{n}_due"] = ["in_past"]
        clean.append(f)
    if errors:
        raise InvalidInput(errors)
    item.decision = decision.strip()
    item.minuted_by_id = ctx.actor.id
    item.minuted_at = ctx.now()
    for f in clean:
        ctx.session.add(FollowUp(item_id=item.id, what=f.what.strip(),
                                 responsible_id=f.responsible_id, due_on=f.due_on))
    ctx.session.flush()
    audit.record(ctx, AuditAction.TEAM_MINUTES_RECORDED, case_id=item.case_id,
                 object_type="team_agenda_item", object_id=item.id, team_id=team.id,
                 follow_ups=len(clean))
    if item.case_id is not None:
        _minutes_to_stafettlogg(ctx, team, item, clean)
    else:
        emit(ctx, Event.TEAM_AGENDA, [item.asked_by_id], key=f"minutes-{item.id}",
             details={"team_id": team.id, "item_id": item.id, "minutes": True})
    return item


def _minutes_to_stafettlogg(ctx: Ctx, team: Team, item: AgendaItem,
                            follow_ups: list[FollowUpInput]) -> None:
    from bti.services.cases import stafettlogg

    case = ctx.session.get(Case, item.case_id, with_for_update=True)
    if case is None:  # pragma: no cover - a purged case takes its items with it
        return
    definition = ctx.workflows.for_record(ctx.session, case.workflow_definition_id).definition
    if definition.state(case.state).final:
        # a closed case's log is complete (a transferred one ends with its transfer, which
        # its signed bundle is checked against): the minutes stay on the team's item
        return
    stafettlogg.append(
        ctx, case, kind="meeting", trigger=MINUTES_TRIGGER, from_state=case.state,
        to_state=case.state, object_type="team_agenda_item", object_id=item.id,
        data={"team_id": team.id, "team_kind": team.kind, "decision": item.decision,
              "follow_ups": [{"what": f.what.strip(), "responsible_id": f.responsible_id,
                              "due_on": f.due_on.isoformat() if f.due_on else None}
                             for f in follow_ups]})


def mark_done(ctx: Ctx, team_id: int, follow_up_id: int) -> None:
    """A follow-up is done (any member may say so)."""
    team = _member_team(ctx, team_id)
    row = ctx.session.execute(select(FollowUp).join(AgendaItem, AgendaItem.id == FollowUp.item_id)
                              .where(FollowUp.id == follow_up_id,
                                     AgendaItem.team_id == team.id)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"follow-up {follow_up_id}")
    if row.done_at is None:
        row.done_at = ctx.now()
        ctx.session.flush()
        audit.record(ctx, AuditAction.TEAM_FOLLOW_UP_DONE, object_type="team_follow_up",
                     object_id=row.id, team_id=team.id)


# --- my teams, and the teams one may ask ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MyTeam:
    id: int
    name: str
    kind: str
    next_meeting_at: datetime | None
    waiting: int  # items not yet minuted


def my_teams(ctx: Ctx) -> list[MyTeam]:
    """The teams the actor is a current member of."""
    teams = ctx.session.scalars(select(Team).join(TeamMember, TeamMember.team_id == Team.id)
                                .where(TeamMember.user_id == ctx.actor.id,
                                       TeamMember.removed_at.is_(None),
                                       Team.municipality_id == ctx.actor.municipality_id)
                                .order_by(Team.name).distinct()).all()
    out = []
    for t in teams:
        upcoming = upcoming_meetings(ctx, t.id)
        waiting = ctx.session.scalar(select(func.count()).select_from(AgendaItem).where(
            AgendaItem.team_id == t.id, AgendaItem.decision.is_(None))) or 0
        out.append(MyTeam(t.id, t.name, t.kind, upcoming[0].starts_at if upcoming else None,
                          waiting))
    return out


def askable_teams(ctx: Ctx) -> list[tuple[int, str]]:
    """Active teams of the actor's municipality (for a question without a case)."""
    if not policy.may_use_teams(ctx.actor):
        return []
    return [(i, n) for i, n in ctx.session.execute(select(Team.id, Team.name).where(
        Team.municipality_id == ctx.actor.municipality_id, Team.active.is_(True))
        .order_by(Team.name))]
