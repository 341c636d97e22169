"""Team arenas: the administrator's team pages (``/admin/teams``) and the members' pages
(``/team``: "My teams", a team's agenda, an agenda item with its minutes, a question without a
case). Thin views over ``bti.services.teams``; who sees a team is decided there (a non-member
gets 404 like a missing case)."""

from __future__ import annotations

from datetime import time

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _

from bti.domain import policy as who
from bti.engine.inputs import parse_date
from bti.engine.inputs import parse_int
from bti.services.errors import InvalidInput
from bti.services.teams import agenda
from bti.services.teams import keep
from bti.web import policy
from bti.web.db import commit_reads
from bti.web.db import get_ctx
from bti.web.forms import error_text

bp = Blueprint("teams", __name__)

TEAM = "/team/<int:team_id>"
ADMIN_TEAM = "/admin/teams/<int:team_id>"
#: Rows of follow-ups on the minutes form.
FOLLOW_UP_ROWS = 3


def team_error_text(code: str) -> str:
    texts = {
        "taken": _("A team of that name exists. Choose another name."),
        "no_case_work": _("Only staff who work on cases can be members of a team."),
        "not_a_member": _("Choose a member of the team."),
        "already_minuted": _("The minutes of this item are recorded already."),
    }
    return texts.get(code) or error_text(code)


def _id(value: str | None) -> int | None:
    value = (value or "").strip()
    return (parse_int(value, minimum=1) or 0) if value else None


def _time(value: str | None) -> time | None:
    try:
        parsed = time.fromisoformat((value or "").strip())
    except ValueError:
        return None
    return parsed.replace(second=0, microsecond=0)


# --- administration -----------------------------------------------------------------------------


def _kind_options(ctx) -> list[tuple[str, object]]:
    return [(k.id, k.label) for k in keep.team_kinds(ctx)]


def _render_list(ctx, form=None, errors=None, status=200):
    from bti.services.accounts import admin

    return render_template(
        "teams/admin_list.html", teams=keep.list_teams(ctx), kinds=dict(_kind_options(ctx)),
        kind_options=_kind_options(ctx), units=admin.list_units(ctx),
        form=form or {"name": "", "kind": "", "unit_id": ""}, errors=errors or {},
        messages=team_error_text), status


@bp.get("/admin/teams")
@policy.allowed(who.may_administer_teams)
def admin_list():
    return _render_list(get_ctx())


@bp.post("/admin/teams")
@policy.allowed(who.may_administer_teams)
def admin_create():
    ctx = get_ctx()
    form = {k: request.form.get(k, "") for k in ("name", "kind", "unit_id")}
    try:
        team = keep.create_team(ctx, name=form["name"], kind=form["kind"],
                                unit_id=_id(form["unit_id"]))
    except InvalidInput as err:
        return _render_list(ctx, form, err.fields, 422)
    flash(_("The team is created. Add its members and meeting dates."), "info")
    return redirect(url_for("teams.admin_team", team_id=team.id), 303)


def _render_team(ctx, team_id: int, form=None, errors=None, status=200):
    from bti.services.accounts import admin

    team = keep.get_team(ctx, team_id)
    return render_template(
        "teams/admin_team.html", team=team, kind_options=_kind_options(ctx),
        kinds=dict(_kind_options(ctx)), units=admin.list_units(ctx),
        choices=[(i, n) for i, n in keep.member_choices(ctx)
                 if i not in {m.user_id for m in team.members}],
        form=form or {"name": team.name, "kind": team.kind, "unit_id": team.unit_id or ""},
        errors=errors or {}, messages=team_error_text), status


@bp.get(ADMIN_TEAM)
@policy.allowed(who.may_administer_teams)
def admin_team(team_id: int):
    return _render_team(get_ctx(), team_id)


@bp.post(ADMIN_TEAM)
@policy.allowed(who.may_administer_teams)
def admin_update(team_id: int):
    ctx = get_ctx()
    form = {k: request.form.get(k, "") for k in ("name", "kind", "unit_id")}
    try:
        keep.update_team(ctx, team_id, name=form["name"], kind=form["kind"],
                         unit_id=_id(form["unit_id"]))
    except InvalidInput as err:
        return _render_team(ctx, team_id, form, err.fields, 422)
    flash(_("The team is saved."), "info")
    return redirect(url_for("teams.admin_team", team_id=team_id), 303)


@bp.post(ADMIN_TEAM + "/active")
@policy.allowed(who.may_administer_teams)
def admin_active(team_id: int):
    active = request.form.get("active") == "1"
    keep.set_active(get_ctx(), team_id, active)
    flash(_("The team is active again.") if active else _("The team is deactivated."), "info")
    return redirect(url_for("teams.admin_team", team_id=team_id), 303)


@bp.post(ADMIN_TEAM + "/members")
@policy.allowed(who.may_administer_teams)
def admin_add_member(team_id: int):
    ctx = get_ctx()
    try:
        keep.add_member(ctx, team_id, _id(request.form.get("user_id")))
    except InvalidInput as err:
        return _render_team(ctx, team_id, errors=err.fields, status=422)
    flash(_("The member is added."), "info")
    return redirect(url_for("teams.admin_team", team_id=team_id), 303)


@bp.post(ADMIN_TEAM + "/members/<int:user_id>/remove")
@policy.allowed(who.may_administer_teams)
def admin_remove_member(team_id: int, user_id: int):
    keep.remove_member(get_ctx(), team_id, user_id)
    flash(_("The member is removed and no longer sees the team."), "info")
    return redirect(url_for("teams.admin_team", team_id=team_id), 303)


@bp.post(ADMIN_TEAM + "/meetings")
@policy.allowed(who.may_administer_teams)
def admin_schedule(team_id: int):
    ctx = get_ctx()
    form = request.form
    try:
        keep.schedule_meeting(ctx, team_id, day=parse_date(form.get("day", "")),
                              at=_time(form.get("at")), place=form.get("place", ""))
    except InvalidInput as err:
        return _render_team(ctx, team_id, errors=err.fields, status=422)
    flash(_("The meeting is scheduled."), "info")
    return redirect(url_for("teams.admin_team", team_id=team_id), 303)


# --- the members' pages ---------------------------------------------------------------------------


@bp.get("/team")
@policy.allowed(who.may_use_teams)
def mine():
    ctx = get_ctx()
    return render_template("teams/mine.html", teams=agenda.my_teams(ctx),
                           askable=agenda.askable_teams(ctx))


def _render_question(ctx, form, errors=None):
    errors = errors or {}
    labels = {"team_id": _("Team"), "child_age": _("The child's age"),
              "text": _("What do you see?")}
    return render_template(
        "teams/question.html", teams=agenda.askable_teams(ctx), form=form, errors=errors,
        labels=labels, messages=team_error_text,
        summary={k: [team_error_text(c) for c in v] for k, v in errors.items()},
    ), (422 if errors else 200)


@bp.get("/team/question")
@policy.allowed(who.may_use_teams)
def question():
    """A question without a case on a team's agenda: the child's age and what is seen."""
    return _render_question(get_ctx(), {"team_id": request.args.get("team", ""),
                                        "child_age": "", "text": ""})


@bp.post("/team/question")
@policy.allowed(who.may_use_teams)
def ask():
    ctx = get_ctx()
    form = {k: request.form.get(k, "") for k in ("team_id", "child_age", "text")}
    team_id = _id(form["team_id"])
    age = form["child_age"].strip()
    try:
        if not team_id:
            raise InvalidInput({"team_id": ["required"]})
        agenda.ask(ctx, team_id, child_age=parse_int(age, maximum=200) if age else None,
                   text=form["text"])
    except InvalidInput as err:
        errors = err.fields
        if age and parse_int(age, maximum=200) is None:
            errors["child_age"] = ["not_a_number"]
        return _render_question(ctx, form, errors)
    flash(_("The question is on the team's agenda. You are told when the team has "
            "discussed it."), "info")
    return redirect(url_for("teams.mine"), 303)


@bp.get(TEAM)
@policy.allowed(who.may_use_teams)
def team(team_id: int):
    return render_template("teams/team.html", page=agenda.team_page(get_ctx(), team_id))


def _render_item(ctx, team_id: int, item_id: int, form=None, errors=None, status=200):
    view = agenda.item_view(ctx, team_id, item_id)
    if status >= 400:  # the page shows the item (and maybe the case): keep its audit
        commit_reads()
    rows = (form or {}).get("rows") or [{"what": "", "responsible": "", "due": ""}
                                         for _n in range(FOLLOW_UP_ROWS)]
    return render_template(
        "teams/item.html", view=view, form=form or {"decision": "", "rows": rows},
        rows=rows, errors=errors or {}, messages=team_error_text,
        summary={k: [team_error_text(c) for c in v] for k, v in (errors or {}).items()},
    ), status


@bp.get(TEAM + "/items/<int:item_id>")
@policy.allowed(who.may_use_teams)
def item(team_id: int, item_id: int):
    return _render_item(get_ctx(), team_id, item_id)


@bp.post(TEAM + "/items/<int:item_id>/minutes")
@policy.allowed(who.may_use_teams)
def minutes(team_id: int, item_id: int):
    ctx = get_ctx()
    rows = [{"what": request.form.get(f"follow_up_{n}_what", ""),
             "responsible": request.form.get(f"follow_up_{n}_responsible", ""),
             "due": request.form.get(f"follow_up_{n}_due", "")}
            for n in range(1, FOLLOW_UP_ROWS + 1)]
    decision = request.form.get("decision", "")
    form = {"decision": decision, "rows": rows}
    follow_ups = [agenda.FollowUpInput(r["what"], _id(r["responsible"]),
                                       parse_date(r["due"].strip()) if r["due"].strip() else None)
                  for r in rows]
    try:
        agenda.record_minutes(ctx, team_id, item_id, decision=decision,
                              follow_ups=follow_ups)
    except InvalidInput as err:
        errors = err.fields
        for n, r in enumerate(rows, start=1):
            if r["due"].strip() and parse_date(r["due"].strip()) is None:
                errors[f"follow_up_{n}_due"] = ["invalid"]
                r["due"] = ""  # a date field shows only a date
        return _render_item(ctx, team_id, item_id, form, errors, 422)
    flash(_("The minutes are recorded."), "info")
    return redirect(url_for("teams.team", team_id=team_id), 303)


@bp.post(TEAM + "/follow-ups/<int:follow_up_id>/done")
@policy.allowed(who.may_use_teams)
def follow_up_done(team_id: int, follow_up_id: int):
    agenda.mark_done(get_ctx(), team_id, follow_up_id)
    flash(_("The follow-up is marked as done."), "info")
    return redirect(url_for("teams.team", team_id=team_id), 303)
