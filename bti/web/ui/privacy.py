"""The family's access request (innsyn, GDPR art. 15): everything stored about a case.

``/personvern/sak/<id>`` — a page that explains innsyn in plain language and links the downloads.
``/personvern/sak/<id>/eksport.json`` and ``…/eksport.pdf`` — the export. The case's stafettholder
and the municipality's privacy officer may use them; everyone else gets 404 (decided in
``bti.services.privacy.export``). Every download is audited as ``case.exported`` with its format.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import render_template

from bti.services.privacy import export as privacy_service
from bti.web import policy
from bti.web.db import get_ctx

bp = Blueprint("privacy", __name__, url_prefix="/personvern")


def _download(data: bytes, mimetype: str, filename: str) -> Response:
    return Response(data, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store"})


@bp.get("/sak/<int:case_id>")
@policy.case
def export_page(case_id: int):
    case = privacy_service.export_page(get_ctx(), case_id)
    return render_template("privacy/export.html", case=case)


@bp.get("/sak/<int:case_id>/eksport.json")
@policy.case
def export_json(case_id: int):
    doc = privacy_service.export_case(get_ctx(), case_id, "json")
    return _download(privacy_service.json_bytes(doc), "application/json",
                     f"case-{case_id}-export.json")


@bp.get("/sak/<int:case_id>/eksport.pdf")
@policy.case
def export_pdf(case_id: int):
    doc = privacy_service.export_case(get_ctx(), case_id, "pdf")
    return _download(privacy_service.pdf_bytes(doc), "application/pdf",
                     f"case-{case_id}-export.pdf")
