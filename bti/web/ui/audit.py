"""Access-log search for leaders (cases of their own unit) and the privacy officer (the whole
municipality). Filters go in the address (GET), so they hold ids only, never a child's name; the
search itself is logged."""

from __future__ import annotations

import re
from datetime import date

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _

from bti.domain import policy as who
from bti.engine.inputs import parse_int
from bti.services.access import emergency as access_service
from bti.services.access import review as review_service
from bti.services.errors import InvalidInput
from bti.web import policy
from bti.web.db import get_ctx

bp = Blueprint("audit", __name__, url_prefix="/tilgang")


def action_labels() -> dict[str, str]:
    """Every audit action (``bti.domain.vocabulary.AuditAction``) in words."""
    return {
        "case.opened": _("Registered a new concern"),
        "case.viewed": _("Opened the case"),
        "case.log_viewed": _("Read the stafettlogg"),
        "case.listed": _("Saw the case in a list"),
        "case.transition": _("Recorded a step on the case"),
        "case.emergency_access": _("Took emergency access"),
        "case.access_log_viewed": _("Read the case's access log"),
        "case.access_log_exported": _("Downloaded the case's access log"),
        "case.export_page_viewed": _("Opened the case's export page"),
        "case.exported": _("Exported the case (right of access)"),
        "case.archived": _("Archived the case"),
        "case.purged": _("Deleted the case's content"),
        "case.transfer_exported": _("Exported the case's transfer bundle to another "
                                    "municipality"),
        "case.transfer_imported": _("Received the case from another municipality"),
        "case.generated": _("Generated as demo data"),
        "unit.overview_viewed": _("Opened the unit overview"),
        "access.denied": _("Was refused access to a case"),
        "access.forbidden": _("Was refused access to a page"),
        "auth.login": _("Signed in"),
        "auth.login_failed": _("Failed sign-in"),
        "auth.logout": _("Signed out"),
        "auth.mfa_enrolled": _("Set up two-step verification"),
        "auth.mfa_failed": _("Failed two-step verification"),
        "auth.mfa_passed": _("Passed two-step verification"),
        "auth.oidc_failed": _("Failed sign-in through an identity provider"),
        "auth.identity_linked": _("Linked an identity provider's sign-in to the account"),
        "family.invited": _("Invited a family member to the case"),
        "family.members_viewed": _("Saw who in the family has joined the case"),
        "family.access_ended": _("Ended a family member's access to the case"),
        "family.signed_in": _("A family member signed in"),
        "family.signed_out": _("A family member signed out"),
        "family.sign_in_failed": _("A family member's sign-in failed"),
        "family.code_failed": _("A family member gave a wrong or expired invitation code"),
        "family.joined": _("A family member joined the case with an invitation code"),
        "family.cases_listed": _("A family member saw the case in their list"),
        "family.case_viewed": _("A family member read the case"),
        "family.consent_form_viewed": _("A family member opened the consent form"),
        "family.guardians_ended": _("The young person ended the guardians' access"),
        "user.created": _("Created a user"),
        "user.deactivated": _("Deactivated a user"),
        "user.reactivated": _("Reactivated a user"),
        "user.listed": _("Listed users"),
        "user.mfa_reset": _("Reset a user's two-step verification"),
        "user.password_changed": _("Changed a password"),
        "user.roles_changed": _("Changed a user's roles"),
        "user.email_changed": _("Changed a user's e-mail address"),
        "municipality.settings_changed": _("Changed the municipality's settings"),
        "municipality.created": _("Created a municipality"),
        "municipality.renamed": _("Renamed the municipality"),
        "municipality.deactivated": _("Deactivated a municipality"),
        "municipality.reactivated": _("Reactivated a municipality"),
        "unit.created": _("Created a unit"),
        "unit.changed": _("Changed a unit"),
        "unit.deactivated": _("Deactivated a unit"),
        "unit.reactivated": _("Reactivated a unit"),
        "org.imported": _("Imported units and users from a file"),
        "api_token.created": _("Created an API token"),
        "api_token.revoked": _("Revoked an API token"),
        "calendar_feed.enabled": _("Switched on a calendar feed"),
        "calendar_feed.revoked": _("Switched off a calendar feed"),
        "calendar_feed.read": _("The case's dates were read through a calendar feed"),
        "notification.listed": _("Listed their notifications"),
        "notification.read": _("Marked a notification as read"),
        "notification.settings_changed": _("Changed their notification settings"),
        "notification.reason_read": _("Read the reason a handover was declined, in a notification"),
        "analytics.viewed": _("Opened the analytics dashboard"),
        "practice.listed": _("Listed their practice cases"),
        "practice.deleted": _("Deleted their practice case"),
        "practice.progress_viewed": _("Viewed who in the unit has completed a practice case"),
        "analytics.exported": _("Exported the analytics report"),
        "analytics.stuck_listed": _("Listed stuck cases"),
        "catalogue.created": _("Added a measure to the catalogue"),
        "catalogue.updated": _("Changed a measure in the catalogue"),
        "catalogue.activated": _("Reactivated a measure in the catalogue"),
        "catalogue.deactivated": _("Deactivated a measure in the catalogue"),
        "annual_wheel.created": _("Added a routine to the annual wheel"),
        "annual_wheel.updated": _("Changed a routine in the annual wheel"),
        "annual_wheel.deleted": _("Removed a routine from the annual wheel"),
        "team.created": _("Created a team"),
        "team.changed": _("Changed a team"),
        "team.deactivated": _("Deactivated a team"),
        "team.reactivated": _("Reactivated a team"),
        "team.member_added": _("Added a team member"),
        "team.member_removed": _("Removed a team member"),
        "team.meeting_scheduled": _("Scheduled a team meeting"),
        "team.viewed": _("Opened a team's page"),
        "team.case_referred": _("Put a case on a team's agenda"),
        "team.question_asked": _("Put a question without a case on a team's agenda"),
        "team.minutes_recorded": _("Recorded the minutes of a team's agenda item"),
        "team.follow_up_done": _("Marked a team follow-up as done"),
        "family.message_sent": _("A family member wrote a comment or question to the case"),
        "family.messages_viewed": _("Read the family's comments and questions"),
        "family.message_answered": _("Marked a family member's comment or question answered"),
        "family.concern_raised": _("A guardian raised a concern with the unit"),
        "family.concerns_listed": _("Saw the concerns guardians raised with the unit"),
        "family.concern_handled": _("Handled a concern a guardian raised"),
        "audit.searched": _("Searched the access log"),
        "audit.anchor_exported": _("Exported the audit anchor"),
        "audit.review_run": _("Ran the access-log review"),
        "audit.reviews_listed": _("Listed access-log review items"),
        "audit.review_viewed": _("Opened an access-log review item"),
        "audit.review_closed": _("Closed an access-log review item"),
    }


def basis_labels() -> dict[str, str]:
    """Why access was given (relations to the case, roles, scopes)."""
    return {
        "stafettholder": _("Stafettholder"),
        "reporter": _("Raised the concern"),
        "participant": _("Participant (with consent)"),
        "unit_leader": _("Leader of the case's unit"),
        "handover_recipient": _("Proposed as stafettholder"),
        "emergency": _("Emergency access"),
        "team_member": _("Member of the team the case was referred to"),
        "guardian": _("Guardian (invited to the case)"),
        "youth": _("The young person (invited to the case)"),
        "system": _("System (command line)"),
        "privacy_officer": _("Privacy officer"),
        "leader": _("Leader"),
        "admin": _("Administrator"),
        "unit": _("Own unit"),
        "municipality": _("Whole municipality"),
    }


def pattern_labels() -> dict[str, str]:
    """Why the review job raised an item (``bti.services.access.review.PATTERNS``)."""
    return {
        "many_cases": _("Many different cases opened within one hour"),
        "emergency_access": _("Emergency access to a case"),
        "off_hours": _("Case data used outside working hours"),
        "mass_export": _("Many exports in one day"),
        "repeated_denials": _("Refused access to cases several times within one hour"),
    }


def conclusion_labels() -> dict[str, str]:
    return {
        "legitimate": _("Checked: the use was part of the user's work"),
        "followed_up": _("Followed up with the user or reported as a breach"),
    }


def outcome_labels() -> dict[str, str]:
    return {"allowed": _("Allowed"), "denied": _("Refused")}


def audit_label(kind: str, code: str | None) -> str:
    """An audit code in words in the current language; an unknown code is shown as it is."""
    if not code:
        return ""
    table = {"action": action_labels, "basis": basis_labels, "outcome": outcome_labels,
             "pattern": pattern_labels, "conclusion": conclusion_labels}[kind]()
    return table.get(code, code)

_ACTION = re.compile(r"^[a-z_]{1,30}(\.[a-z_]{1,30}){0,2}$")
_USERNAME = re.compile(r"^[\w.@-]{1,80}$")


def _parse(args) -> tuple[access_service.LogFilter, int, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    values: dict = {}

    def number(name: str) -> int | None:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        value = parse_int(raw)
        if value is None:
            errors[name] = ["not_a_number"]
        return value

    def day(name: str) -> date | None:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            errors[name] = ["invalid"]
            return None

    user = (args.get("user") or "").strip()  # a user's id or user name
    if user.isdigit():  # "²" and "١٢" too: a number, in digits we do not read
        values["user_id"] = number("user")
    elif user:
        if _USERNAME.match(user):
            values["username"] = user
        else:
            errors["user"] = ["invalid"]
    values["case_id"] = number("case")
    action = (args.get("action") or "").strip()
    if action and not _ACTION.match(action):
        errors["action"] = ["not_a_choice"]
    elif action:
        values["action"] = action
    values["date_from"] = day("from")
    values["date_to"] = day("to")
    if values["date_from"] and values["date_to"] and values["date_from"] > values["date_to"]:
        errors["to"] = ["invalid"]
    page = number("page") or 1
    return access_service.LogFilter(**values), page, errors


@bp.get("/logg")
@policy.allowed(who.may_search_access_log)
def search():
    ctx = get_ctx()
    flt, page, errors = _parse(request.args)
    result = None if errors else access_service.search_log(ctx, flt, page)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("audit/search.html", result=result, errors=errors,
                           args=request.args, page_args=args,
                           actions=access_service.log_actions(ctx)), (422 if errors else 200)


# --- follow-up of the access log (AUD-07) ---------------------------------------------------------


@bp.get("/gjennomgang")
@policy.allowed(who.may_follow_up_access_log)
def reviews():
    status = request.args.get("status", "open")
    if status not in ("open", "closed"):
        status = "open"
    items = review_service.list_items(get_ctx(), status=status)
    return render_template("audit/reviews.html", items=items, status=status)


@bp.route("/gjennomgang/<int:item_id>", methods=["GET", "POST"])
@policy.allowed(who.may_follow_up_access_log)
def review(item_id: int):
    ctx = get_ctx()
    errors: dict[str, list[str]] = {}
    form = {"conclusion": "", "comment": ""}
    if request.method == "POST":
        form = {"conclusion": request.form.get("conclusion", ""),
                "comment": request.form.get("comment", "")}
        try:
            review_service.close_item(ctx, item_id, conclusion=form["conclusion"],
                                      comment=form["comment"])
        except InvalidInput as err:
            errors = err.fields
        else:
            flash(_("The review item is closed."), "info")
            return redirect(url_for("audit.reviews"), 303)
    view = review_service.get_item(ctx, item_id)
    return render_template("audit/review.html", view=view, errors=errors, form=form,
                           conclusions=review_service.CONCLUSIONS,
                           comment_max=review_service.COMMENT_MAX), (422 if errors else 200)
