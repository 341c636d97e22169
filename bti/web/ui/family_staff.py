"""The stafettholder's side of the family (``/saker/<id>/familie``): who in the family has been
invited and has joined (role and when, never an identity number), a new invitation (its
one-time code on a printable page with a QR code, rendered as inline SVG by ``segno``), and
ending a family member's access with a reason (audited and shown here)."""

from __future__ import annotations

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _
from markupsafe import Markup

from bti.services.errors import InvalidInput
from bti.services.family import invitations
from bti.web import policy
from bti.web.db import commit_reads
from bti.web.db import get_ctx

bp = Blueprint("family_staff", __name__, url_prefix="/saker")


def _qr_svg(text: str) -> Markup:
    """The QR code of ``text`` as inline SVG (no script, no external resource: fits the CSP)."""
    import segno  # on this page only, not at start-up (issue 17)

    qr = segno.make(text, error="m")
    svg = qr.svg_inline(scale=5, border=2, title=_("QR code of the invitation"))
    # segno's own SVG markup of a text the app made (the link and the code): safe to embed
    return Markup(svg)  # noqa: S704 # nosec B704


def _page(case_id: int, errors: dict[str, list[str]] | None = None, status: int = 200):
    ctx = get_ctx()
    access, rows, roles = invitations.members(ctx, case_id)
    if status >= 400:  # the page lists the family members: keep its audit
        commit_reads()
    return render_template("family/staff_members.html", case=access.case, rows=rows,
                           roles=roles, errors=errors or {}, now=ctx.now()), status


@bp.get("/<int:case_id>/familie")
@policy.case
def members(case_id: int):
    return _page(case_id)


@bp.post("/<int:case_id>/familie/invitasjon")
@policy.case
def invite(case_id: int):
    ctx = get_ctx()
    try:
        made = invitations.invite(ctx, case_id, request.form.get("role", ""))
    except InvalidInput as err:
        ctx.session.rollback()
        return _page(case_id, err.fields, 422)
    link = url_for("family.index", _external=True)
    return render_template(
        "family/staff_invitation.html", case_id=case_id, role=made.member.role,
        code=made.code, expires_at=made.member.expires_at, link=link,
        qr=_qr_svg(link)), 200, {"Cache-Control": "no-store"}


@bp.post("/<int:case_id>/familie/<int:member_id>/avslutt")
@policy.case
def end(case_id: int, member_id: int):
    ctx = get_ctx()
    try:
        invitations.end_access(ctx, case_id, member_id, request.form.get("note", ""))
    except InvalidInput as err:
        ctx.session.rollback()
        return _page(case_id, err.fields, 422)
    flash(_("The family member's access has ended."), "info")
    return redirect(url_for(".members", case_id=case_id))


