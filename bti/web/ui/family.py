"""The family's pages (``/familie/``): a guardian or the young person signs in through the
municipality's family provider (ID-porten: the authorization code flow of ``bti.web.oidc``, the
``pid`` claim as the person, only its HMAC stored, the municipality's ``acr`` level required),
redeems the invitation code the stafettholder gave them, and reads their case in plain words.

A family session is a session of its own (``family_session``, cookie key ``fsid``): it reaches
only the routes marked ``@policy.family``, and a staff session reaches none of them; either way
the answer is 404 as for a missing case (``bti.web.policy``). Signing in clears the cookie of any
staff session and the staff sign-in clears a family one. Sign-out ends the session on the
server and at the provider (RP-initiated logout).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import session as cookie
from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import select

from bti.config import OidcProvider
from bti.domain.org import Municipality
from bti.domain.vocabulary import AuditAction
from bti.engine import TransitionRefused
from bti.engine.inputs import parse_int
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from bti.services.family import consent as family_consent
from bti.services.family import invitations
from bti.services.family import sessions
from bti.services.family import view
from bti.services.family.sessions import FamilyActor
from bti.services.privacy.export import json_bytes
from bti.web import oidc
from bti.web import policy
from bti.web.db import commit_reads
from bti.web.db import get_session
from bti.web.db import request_id
from bti.web.forms import error_text
from bti.web.forms import errors_from_refusal
from bti.web.i18n import LANGUAGES
from bti.web.throttle import FamilyCodeThrottle
from bti.web.ui.cases import Said
from bti.web.ui.cases import refusal_text

bp = Blueprint("family", __name__, url_prefix="/familie")
#: The cookie keys of a family session: its token, and the provider that signed it in.
COOKIE_SID = "fsid"
COOKIE_PROVIDER = "fprovider"


def family_text(kind: str, code: str | None) -> str:
    """A family code in words: a role, an invitation's status, why access ended."""
    table = {
        "role": {"guardian": _("guardian"), "youth": _("the young person")},
        "status": {"invited": _("Invited, not joined yet"), "joined": _("Joined"),
                   "expired": _("The code expired unused"), "ended": _("Access ended")},
        "end": {"staff": _("ended by the stafettholder"),
                "violence_flag": _("ended because the case is flagged for suspected violence "
                                   "or abuse"),
                "youth": _("ended by the young person")},
        "given_by": {"guardians": _("the guardians"), "youth": _("the young person"),
                     "guardians_and_youth": _("the guardians and the young person")},
    }[kind]
    return table.get(code or "", code or "")


def family_code_text(code: str) -> str:
    """An error code of the family's forms (and the invitation form) in words."""
    if isinstance(code, Said):  # a refusal already said in words
        return code
    texts = {
        "invalid": _("The code is not valid, or it has been used already. Check the code or "
                     "ask the stafettholder for a new one."),
        "expired": _("The code has expired. Ask the stafettholder for a new one."),
        "throttled": _("Too many wrong codes. Wait a while and try again."),
        "too_young": _("The young person can be invited from the workflow's consent age."),
        "violence_flag": _("Guardians cannot be invited while the case is flagged for "
                           "suspected violence or abuse."),
        "closed": _("The case is closed."),
        "already_ended": _("The access has ended already."),
        "not_allowed": _("Choose one of the options."),
        "already_answered": _("It is marked as answered already."),
        "already_handled": _("The concern is handled already."),
        "birth_year_range": _("Give the year the child was born, for a child up to 24 years "
                              "old."),
    }
    return texts.get(code) or error_text(code)


def family_errors(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """The error summary's texts of a family form."""
    return {name: [family_code_text(c) for c in codes] for name, codes in errors.items()}


def family_role_options(roles) -> list[tuple[str, str]]:
    return [(r, family_text("role", r).capitalize()) for r in roles]


def _now():
    return current_app.extensions["bti"].clock()


def current_family() -> FamilyActor | None:
    """The family member of this request's session (resolved once per request)."""
    if "family" not in g:
        g.family = sessions.resolve(get_session(), cookie.get(COOKIE_SID), now=_now())
    return g.family


def _actor() -> FamilyActor:
    actor = current_family()
    if actor is None:  # the policy let nobody else through
        abort(404)
    return actor


def family_providers() -> list[OidcProvider]:
    return [p for p in current_app.extensions["bti"].settings.oidc_providers if p.family]


def _provider(slug: str) -> OidcProvider:
    provider = current_app.extensions["bti"].settings.family_provider(slug)
    if provider is None:
        abort(404)
    return provider


def _municipality_id(slug: str) -> int | None:
    return get_session().scalar(select(Municipality.id).where(Municipality.slug == slug))


def _failure(slug: str, provider: OidcProvider, reason: str, status: int):
    s = get_session()
    municipality_id = _municipality_id(slug)
    if municipality_id is not None:
        sessions.record(s, AuditAction.FAMILY_SIGN_IN_FAILED, now=_now(),
                        municipality_id=municipality_id, identity_id=None, outcome="denied",
                        request_id=request_id(), reason=reason)
    s.commit()  # the record of the failed attempt stays; nothing else was written
    return render_template("family/sign_in_error.html", reason=reason, provider=provider), status


@bp.get("/")
@policy.public
def index():
    """The family's sign-in page (their cases once signed in)."""
    if current_family() is not None:
        return redirect(url_for(".cases"))
    return render_template("family/index.html", providers=family_providers())


@bp.post("/<slug>/logg-inn")
@policy.public
def start(slug: str):
    provider = _provider(slug)
    try:
        return oidc.begin(provider, url_for(".callback", slug=slug, _external=True))
    except oidc.Refused as refused:
        return _failure(slug, provider, refused.reason, refused.status)


@bp.get("/<slug>/callback")
@policy.public
def callback(slug: str):
    provider = _provider(slug)
    try:
        claims = oidc.verified_claims(provider, want=(provider.subject_claim,))
    except oidc.Refused as refused:
        return _failure(slug, provider, refused.reason, refused.status)
    person = claims.get(provider.subject_claim)
    if not isinstance(person, str) or not person:
        return _failure(slug, provider, "token", 400)
    s = get_session()
    municipality = s.scalar(select(Municipality).where(Municipality.slug == slug))
    if municipality is None:
        abort(404)
    now = _now()
    identity = sessions.identify(
        s, municipality=municipality, issuer=provider.issuer,
        subject_claim=provider.subject_claim, person=person,
        key=current_app.extensions["bti"].settings.identity_key(), now=now)
    token = sessions.start(s, identity, municipality_id=municipality.id, now=now,
                           request_id=request_id())
    lang = cookie.get("lang")
    cookie.clear()  # a new session: nothing from before survives (fixation, a staff session)
    if lang in LANGUAGES:
        cookie["lang"] = lang
    cookie[COOKIE_SID] = token
    cookie[COOKIE_PROVIDER] = slug
    cookie.permanent = True
    return redirect(url_for(".cases"))


@bp.get("/saker")
@policy.family
def cases():
    return _cases_page()


def _cases_page(errors: dict[str, list[str]] | None = None, code: str = "",
                status: int = 200, headers: dict[str, str] | None = None):
    actor = _actor()
    cards = view.my_cases(get_session(), actor, current_app.extensions["bti"].workflows,
                          now=_now(), request_id=request_id())
    if status >= 400:  # the page lists the family's cases: keep its audit
        commit_reads()
    return render_template("family/cases.html", cards=cards, errors=errors or {},
                           code=code), status, headers or {}


@bp.post("/kode")
@policy.family
def redeem():
    actor = _actor()
    code = request.form.get("code", "")[:100]
    throttle = FamilyCodeThrottle.for_identity(actor.identity_id)
    wait = throttle.wait_seconds()
    if wait is not None:  # refused before the code is looked at
        return _cases_page({"code": ["throttled"]}, code, 429, {"Retry-After": str(wait)})
    s = get_session()
    try:
        member = invitations.redeem(s, actor, code, now=_now(), request_id=request_id())
    except InvalidInput as err:
        throttle.count_failure()
        s.commit()  # the failed attempt is recorded; nothing else was written
        return _cases_page(err.fields, code, 422)
    flash(_("You are now linked to the case."), "info")
    return redirect(url_for(".case", case_id=member.case_id))


def _not_found(case_id: int):
    """A case the family member may not see: audited as refused, answered as missing."""
    actor = _actor()
    s = get_session()
    s.rollback()
    sessions.record(s, AuditAction.ACCESS_DENIED, now=_now(),
                    municipality_id=actor.municipality_id, identity_id=actor.identity_id,
                    object_type="case", object_id=case_id, outcome="denied",
                    request_id=request_id())
    s.commit()
    abort(404)


@bp.get("/saker/<int:case_id>")
@policy.family
def case(case_id: int):
    return case_page(case_id)


def case_page(case_id: int, errors: dict[str, list[str]] | None = None,
              values: dict[str, Any] | None = None, status: int = 200, **forms: Any):
    """The family's case page, with the consent form's ``errors`` and ``values`` and, in
    ``forms``, what another form on it (the comment) needs drawn again."""
    workflows = current_app.extensions["bti"].workflows
    try:
        page = view.case_page(get_session(), _actor(), case_id, workflows, now=_now(),
                              request_id=request_id())
        panel = family_consent.panel(get_session(), _actor(), case_id, workflows, now=_now(),
                                     request_id=request_id())
    except NotFound:
        return _not_found(case_id)
    if status >= 400:  # the page shows the case: keep its audit
        commit_reads()
    return render_template("family/case.html", page=page, consent=panel,
                           consent_errors=errors or {}, consent_values=values or {},
                           **forms), status


def _refused(case_id: int, err: InvalidInput | TransitionRefused,
             values: dict[str, Any] | None = None):
    """A family write refused: nothing of it is kept, the page again with the errors."""
    get_session().rollback()
    if isinstance(err, InvalidInput):
        errors = dict(err.fields)
    else:
        found = errors_from_refusal(err)
        errors = dict(found.fields)
        if found.refusals:
            errors["form"] = [Said(refusal_text(r)) for r in found.refusals]
    return case_page(case_id, errors, values, 422)


@bp.post("/saker/<int:case_id>/samtykke")
@policy.family
def consent_decide(case_id: int):
    form = request.form
    services = [parse_int(v) or v for v in form.getlist("services") if v.strip()][:50]
    texts = {name: form.get(name, "") for name in ("decision", "information", "expires_on",
                                                    "notes")}
    values: dict[str, Any] = {**texts, "services": form.getlist("services")}
    try:
        result = family_consent.decide(
            get_session(), _actor(), case_id, current_app.extensions["bti"].workflows,
            decision=texts["decision"], services=services,
            information=texts["information"][:10000], expires_on=texts["expires_on"][:20],
            notes=texts["notes"][:10000], now=_now(), request_id=request_id())
    except NotFound:
        return _not_found(case_id)
    except (InvalidInput, TransitionRefused) as err:
        return _refused(case_id, err, values)
    flash(_("Your consent is recorded.") if result.step.trigger == "give_consent"
          else _("Your refusal is recorded."), "info")
    return redirect(url_for(".case", case_id=case_id) + "#h-consent")


@bp.post("/saker/<int:case_id>/samtykke/<int:consent_id>/trekk")
@policy.family
def consent_withdraw(case_id: int, consent_id: int):
    try:
        family_consent.withdraw(get_session(), _actor(), case_id, consent_id,
                                current_app.extensions["bti"].workflows, now=_now(),
                                request_id=request_id())
    except NotFound:
        return _not_found(case_id)
    except (InvalidInput, TransitionRefused) as err:
        return _refused(case_id, err)
    flash(_("The consent is withdrawn."), "info")
    return redirect(url_for(".case", case_id=case_id) + "#h-consent")


@bp.post("/saker/<int:case_id>/foresatte")
@policy.family
def end_guardians(case_id: int):
    try:
        family_consent.end_guardians(get_session(), _actor(), case_id,
                                     current_app.extensions["bti"].workflows, now=_now(),
                                     request_id=request_id())
    except NotFound:
        return _not_found(case_id)
    except InvalidInput as err:
        return _refused(case_id, err)
    flash(_("Your guardians no longer have access to the case here."), "info")
    return redirect(url_for(".case", case_id=case_id))


@bp.get("/saker/<int:case_id>/innsyn.json")
@policy.family
def export(case_id: int):
    try:
        doc = view.export(get_session(), _actor(), case_id, now=_now(), request_id=request_id())
    except NotFound:
        return _not_found(case_id)
    return Response(json_bytes(doc), mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="sak-{case_id}.json"',
        "Cache-Control": "no-store"})


@bp.post("/logg-ut")
@policy.family
def logout():
    sessions.end(get_session(), cookie.get(COOKIE_SID), now=_now(), request_id=request_id())
    slug = cookie.get(COOKIE_PROVIDER)
    lang = cookie.get("lang")
    cookie.clear()
    if lang in LANGUAGES:
        cookie["lang"] = lang
    provider = current_app.extensions["bti"].settings.family_provider(slug) if slug else None
    if provider is not None:
        to_provider = oidc.end_at_provider(
            provider, url_for(".signed_out", slug=provider.municipality, _external=True))
        if to_provider is not None:
            return to_provider
    flash(_("You are signed out."), "info")
    return redirect(url_for(".index"))


@bp.get("/<slug>/utlogget")
@policy.public
def signed_out(slug: str):
    """Where the provider sends the browser back after its own sign-out."""
    _provider(slug)
    flash(_("You are signed out."), "info")
    return redirect(url_for(".index"))


