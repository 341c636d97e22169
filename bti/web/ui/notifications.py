"""Varsler: the signed-in user's notifications (newest first, opening one marks it read and
goes to its case or task), and their delivery settings (e-mail address; per event now, a daily
digest or in the app only)."""

from __future__ import annotations

from flask import Blueprint
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user

from bti.domain.notifications import DELIVERY_MODES
from bti.services.notify import notices
from bti.services.notify import outbox
from bti.services.notify import texts
from bti.services.notify.events import Event
from bti.web import i18n
from bti.web import policy
from bti.web.db import get_ctx
from bti.web.db import get_session
from bti.web.forms import error_text
from bti.web.ui.inbox import case_url

bp = Blueprint("notifications", __name__, url_prefix="/varsler")


def mode_labels() -> dict[str, str]:
    return {"now": _("By e-mail at once"), "digest": _("By e-mail in a daily digest"),
            "app": _("In the app only")}


def notification_error_text(code: str) -> str:
    if code == "invalid_email":
        return _("Write an e-mail address, like navn@kommune.no.")
    return error_text(code)


def target_of(n) -> str:
    """Where a notice leads: its case, the review item, else the list."""
    details = notices.details_of(n)
    if n.kind == Event.AUDIT_REVIEW.value and isinstance(details.get("item_id"), int):
        return url_for("audit.review", item_id=details["item_id"])
    if n.kind == Event.TEAM_AGENDA.value and isinstance(details.get("team_id"), int):
        if isinstance(details.get("item_id"), int):
            return url_for("teams.item", team_id=details["team_id"], item_id=details["item_id"])
        return url_for("teams.team", team_id=details["team_id"])
    if n.kind == Event.FAMILY_MESSAGE.value and n.case_id is not None:
        return url_for("family_voice.messages", case_id=n.case_id)
    if n.kind == Event.CONCERN_NEW.value and isinstance(details.get("family_concern_id"), int):
        return url_for("family_voice.unit_concerns",
                       _anchor=f"concern-{details['family_concern_id']}")
    if n.case_id is not None:
        return case_url(n.case_id)
    return url_for("notifications.index")


def title_of(n) -> str:
    try:
        return texts.title(n.kind, lang=i18n.lang(), details=notices.details_of(n))
    except ValueError:
        return _("A notification")


def unread_badge() -> int | None:
    """The header's unread count for a signed-in user (one COUNT query per page), else None."""
    if not (current_user.is_authenticated and getattr(current_user, "mfa_satisfied", False)):
        return None
    if g.get("error_page"):  # an error page (a lost database among them) reads nothing
        return None
    if "unread_notifications" not in g:
        # notices are marked read by POSTs (which redirect), but a GET may write new ones (a
        # listing that finds a consent about to expire): the count read with the session
        # stands for a GET that wrote none; otherwise it is counted again
        known = getattr(current_user, "unread_notifications", None) \
            if request.method in ("GET", "HEAD") and not outbox.wrote_notices(get_session()) \
            else None
        g.unread_notifications = known if known is not None else notices.unread_count(get_ctx())
    return g.unread_notifications


@bp.get("/")
@policy.signed_in
def index():
    ctx = get_ctx()
    rows = notices.list_notifications(ctx)
    reasons = notices.decline_reasons(ctx, rows)
    items = [dict(id=n.id, title=title_of(n), case_id=n.case_id, created_at=n.created_at,
                  unread=n.read_at is None, reason=reasons.get(n.id)) for n in rows]
    return render_template("notifications/index.html", items=items,
                           unread=sum(1 for i in items if i["unread"]))


@bp.get("/<int:notification_id>")
@policy.signed_in
def show(notification_id: int):
    """Where an e-mail's link leads: the notice in the list, to open from there (a GET changes
    nothing, so it does not mark it read)."""
    notices.get_notification(get_ctx(), notification_id)  # 404 unless it is the user's
    return redirect(url_for("notifications.index", _anchor=f"notification-{notification_id}"))


@bp.post("/<int:notification_id>")
@policy.signed_in
def open_(notification_id: int):
    """Open a notice: marked read, then its case or task. A POST (a GET changes nothing)."""
    n = notices.open_notification(get_ctx(), notification_id)
    return redirect(target_of(n))


@bp.post("/<int:notification_id>/lest")
@policy.signed_in
def mark_read(notification_id: int):
    notices.open_notification(get_ctx(), notification_id)
    flash(_("The notification is marked as read."), "ok")
    return redirect(url_for("notifications.index"))


@bp.post("/lest")
@policy.signed_in
def mark_all_read():
    notices.mark_all_read(get_ctx())
    flash(_("All notifications are marked as read."), "ok")
    return redirect(url_for("notifications.index"))


def _render_settings(settings, errors=None, status=200):
    return render_template("notifications/settings.html", settings=settings,
                           events=list(Event),
                           titles={e: texts.title(e, lang=i18n.lang()) for e in Event},
                           mode_options=[(m, mode_labels()[m]) for m in DELIVERY_MODES],
                           errors=errors or {},
                           messages=notification_error_text), status


@bp.get("/innstillinger")
@policy.signed_in
def settings():
    return _render_settings(notices.get_settings(get_ctx()))


@bp.post("/innstillinger")
@policy.signed_in
def save_settings():
    from bti.services.errors import InvalidInput

    ctx = get_ctx()
    email = request.form.get("email", "")
    modes = {e.value: request.form.get(f"mode-{e.value}", "") for e in Event
             if f"mode-{e.value}" in request.form}
    try:
        notices.save_settings(ctx, email=email, modes=modes)
    except InvalidInput as err:
        current = notices.get_settings(ctx)
        shown = notices.Settings(email, {e: modes.get(e.value, m)
                                         for e, m in current.modes.items()})
        return _render_settings(shown, err.fields, 422)
    flash(_("Your notification settings are saved."), "ok")
    return redirect(url_for("notifications.settings"))
