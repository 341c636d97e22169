"""The family's journey in a real browser on a phone (390 × 844 px), in bokmål and nynorsk
(issue 16): the stafettholder makes an invitation code on the case's family page; a guardian
signs in through the local OpenID provider (tests/oidc/provider.mjs, the certified
``oidc-provider`` package, as the municipality's family provider: ``pid`` claim, ``acr``
required), redeems the code and reads the case. axe finds no WCAG 2.1 A/AA violation on any
app page of the journey, and nothing scrolls sideways. Made-up names; the identity number is a
synthetic Tenor number."""

from __future__ import annotations

import re
import secrets
import threading

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from werkzeug.serving import make_server

from bti.config import OidcProvider
from bti.config import Settings
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.demo.seed import DEMO_SLUG
from bti.demo.seed import make_demo
from bti.domain.cases import Case
from bti.domain.org import Municipality
from bti.domain.org import User
from bti.migrate import upgrade
from bti.services.workflows.registry import WorkflowRegistry
from bti.web import create_app
from tests.e2e.conftest import DEMO_PASSWORD
from tests.e2e.conftest import ROOT
from tests.e2e.conftest import TIMEOUT_S
from tests.e2e.conftest import assert_fits

WIDTH, HEIGHT = 390, 844
CLIENT_ID = "bti-e2e-family"
CLIENT_SECRET = "an-e2e-client-secret-not-for-production"  # noqa: S105 - made up
GUARDIANS = {"nb": "family-24818299835", "nn": "family-15897499312"}  # synthetic (month + 80)
TEXT = {
    "nb": {"sign_in": "Logg inn med ID-porten (test)", "code": "Invitasjonskode",
           "join": "Bli med i saken", "seen": "Hvem har sett saken", "cases": "Dine saker",
           "invite": "Lag en invitasjonskode", "goals": "Mål"},
    "nn": {"sign_in": "Logg inn med ID-porten (test)", "code": "Invitasjonskode",
           "join": "Bli med i saka", "seen": "Kven har sett saka", "cases": "Sakene dine",
           "invite": "Lag ein invitasjonskode", "goals": "Mål"},
}


@pytest.fixture(scope="module")
def family_server(tmp_path_factory):
    """The app on a migrated SQLite file with the demo municipality, and the demo
    municipality's family provider: the local OpenID provider, started for this module."""
    pytest.importorskip("playwright")
    from tests.web.test_oidc import NODE_DIR  # skips the module without node/oidc-provider
    from tests.web.test_oidc import Provider

    url = f"sqlite:///{tmp_path_factory.mktemp('e2e-family') / 'bti.sqlite3'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        with make_session_factory(engine).begin() as s:
            make_demo(s, WorkflowRegistry(ROOT / "workflows"), password=DEMO_PASSWORD)
            s.scalar(select(Municipality).where(Municipality.slug == DEMO_SLUG)) \
                .mfa_required = False
    finally:
        engine.dispose()
    server = make_server("127.0.0.1", 0, lambda env, start: [], threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    assert NODE_DIR.exists()
    provider = Provider(redirect_uri=f"{base}/familie/{DEMO_SLUG}/callback",
                      post_logout_uri=f"{base}/familie/{DEMO_SLUG}/utlogget",
                      client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    settings = Settings(
        database_url=url, secret_key=secrets.token_urlsafe(32),
        workflows_dir=ROOT / "workflows", testing=True,
        oidc_providers=(OidcProvider(
            municipality=DEMO_SLUG, name="ID-porten (test)", issuer=provider.issuer,
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, acr_values=("substantial", "high"),
            family=True, subject_claim="pid", scope="openid profile"),),
        identity_hmac_key=secrets.token_urlsafe(32).encode())
    app = create_app(settings)
    server.app = app
    thread = threading.Thread(target=server.serve_forever, name="bti-e2e-family", daemon=True)
    thread.start()
    try:
        yield base, app
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        provider.stop()
        app.extensions["bti"].engine.dispose()


def _case_of_koordinator(app) -> int:
    with app.extensions["bti"].session_factory() as s:
        holder = s.scalar(select(User.id).where(User.username == "koordinator"))
        return s.scalars(select(Case.id).where(
            Case.stafettholder_id == holder, Case.violence_flag.is_(False),
            Case.closed_at.is_(None), Case.state.like("n1_%")).order_by(Case.id)).first()


def _context(browser, base: str, html_pages, test: str):
    context = browser.new_context(base_url=base, locale="nb-NO",
                                  viewport={"width": WIDTH, "height": HEIGHT})
    context.set_default_timeout(TIMEOUT_S * 1000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # only the app's own pages go to the Nu HTML Checker, not the test provider's
    page.on("requestfinished", lambda req: html_pages.add(test, req)
            if req.url.startswith(base) else None)
    return context, page, errors


def _choose_language(page, lang: str) -> None:
    page.get_by_label(re.compile(r"^(Språk|Language)$")).select_option(lang)
    with page.expect_navigation():
        page.locator(".header-tools form").first.get_by_role("button").click()
    expect(page.locator("html")).to_have_attribute("lang", lang)

def _coordinator_signs_in(page, lang: str) -> None:
    """The coordinator (the demo's stafettholder) signs in, in ``lang``."""
    page.goto("/auth/login")
    _choose_language(page, lang)
    page.locator("#f-username").fill("koordinator")
    page.locator("#f-password").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.locator("form.form button[type=submit]").first.click()



def _check(page, axe, screenshot_as, step: str, lang: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", lang)
    assert_fits(page)
    axe(page)
    screenshot_as(page, f"family-{step}-{lang}-{WIDTH}px")


@pytest.mark.parametrize("lang", ["nb", "nn"])
def test_a_guardian_signs_in_redeems_a_code_and_reads_the_case(
        request, browser, family_server, axe, screenshot_as, html_pages, lang):
    base, app = family_server
    t = TEXT[lang]
    case_id = _case_of_koordinator(app)
    assert case_id is not None
    # the stafettholder makes the code on the case's family page
    staff, page, errors = _context(browser, base, html_pages, request.node.name)
    _coordinator_signs_in(page, lang)
    page.goto(f"/saker/{case_id}/familie")
    _check(page, axe, screenshot_as, "staff-access", lang)
    with page.expect_navigation():
        page.get_by_role("button", name=t["invite"]).click()
    code = page.locator(".invitation-code").inner_text().strip()
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", code)
    expect(page.locator(".invitation-qr svg")).to_be_visible()
    _check(page, axe, screenshot_as, "staff-invitation", lang)
    assert not errors, errors
    staff.close()

    # the guardian, on their own phone
    family, page, errors = _context(browser, base, html_pages, request.node.name)
    page.goto("/familie/")
    _choose_language(page, lang)
    _check(page, axe, screenshot_as, "sign-in", lang)
    with page.expect_navigation():
        page.get_by_role("button", name=t["sign_in"]).click()
    # the local provider's own login form (not the app: not checked by axe or Nu)
    page.locator("input[name=login]").fill(GUARDIANS[lang])
    page.locator("select[name=acr]").select_option("high")
    with page.expect_navigation(url=re.compile(r"/familie/saker$")):
        page.locator("button[type=submit]").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t["cases"])
    _check(page, axe, screenshot_as, "cases", lang)
    page.get_by_label(t["code"]).fill(code.lower().replace("-", " "))
    with page.expect_navigation():
        page.get_by_role("button", name=t["join"]).click()
    expect(page).to_have_url(re.compile(rf"/familie/saker/{case_id}$"))
    expect(page.get_by_role("heading", name=t["seen"])).to_be_visible()
    _check(page, axe, screenshot_as, "case", lang)
    # the guardian gives consent to cooperation with a service the case has no consent for
    unit_id, unit_name, user_id, user_name = _uncovered_service(app, case_id)
    page.locator("#f-decision-give").check()
    page.locator(f"#f-services-{unit_id}").check()
    page.locator("#f-information").fill("Trivsel og helse")
    with page.expect_navigation():
        page.get_by_role("button", name="Send svaret").click()
    expect(page.get_by_text("Samtykket ditt er registrert.")).to_be_visible()
    expect(page.locator("#h-consent ~ .card, section .card").filter(has_text=unit_name)
           .first).to_be_visible()
    _check(page, axe, screenshot_as, "consent-given", lang)
    # bad input: nothing chosen gives a clear error and writes nothing
    with page.expect_navigation():
        page.get_by_role("button", name="Send svaret").click()
    expect(page.locator(".error-summary")).to_be_visible()
    _check(page, axe, screenshot_as, "consent-error", lang)
    # a family session never reaches a staff page
    response = page.goto(f"/saker/{case_id}")
    assert response is not None
    assert response.status == 404
    assert not errors, errors
    family.close()

    # the coordinator's next request: the service is covered, the colleague is admitted
    staff, page, errors = _context(browser, base, html_pages, request.node.name)
    _coordinator_signs_in(page, lang)
    page.goto(f"/saker/{case_id}/handling/add_participant")
    page.locator("select[name=participant]").select_option(str(user_id))
    page.locator("[name=service]").first.select_option(str(unit_id)) \
        if page.locator("select[name=service]").count() else \
        page.locator(f"input[name=service][value='{unit_id}']").check()
    with page.expect_navigation():
        page.locator("form.form button[type=submit]").last.click()
    expect(page).to_have_url(re.compile(rf"/saker/{case_id}$"))
    expect(page.get_by_text(user_name).first).to_be_visible()
    # the stafettlogg says who gave the consent and how
    via = {"nb": "foresatt via ID-porten", "nn": "føresett via ID-porten"}[lang]
    assert page.get_by_text(via).count() >= 1
    _check(page, axe, screenshot_as, "participant-admitted", lang)
    with app.extensions["bti"].session_factory() as s:
        from bti.domain.cases import Consent
        from bti.domain.cases import Participant

        consent = s.scalars(select(Consent).where(Consent.case_id == case_id,
                                                  Consent.channel == "family")
                            .order_by(Consent.id.desc())).first()
        assert consent is not None
        assert unit_id in consent.unit_ids
        assert s.scalar(select(Participant.id).where(
            Participant.case_id == case_id, Participant.user_id == user_id,
            Participant.ended_at.is_(None), Participant.consent_id == consent.id)) is not None
    assert not errors, errors
    staff.close()


def _uncovered_service(app, case_id: int) -> tuple[int, str, int, str]:
    """A service of the case's municipality no current consent of the case covers, and an
    active employee of it who does not take part: (unit id, unit name, user id, name)."""
    from bti.domain.cases import Consent
    from bti.domain.cases import Participant
    from bti.domain.org import Unit

    with app.extensions["bti"].session_factory() as s:
        case = s.get_one(Case, case_id)
        covered = {u for c in s.scalars(select(Consent).where(
            Consent.case_id == case_id, Consent.status == "given",
            Consent.withdrawn_at.is_(None))) for u in c.unit_ids}
        taking_part = set(s.scalars(select(Participant.user_id).where(
            Participant.case_id == case_id, Participant.ended_at.is_(None))))
        for unit in s.scalars(select(Unit).where(
                Unit.municipality_id == case.municipality_id, Unit.active.is_(True),
                Unit.id != case.unit_id).order_by(Unit.id)):
            if unit.id in covered:
                continue
            user = s.scalars(select(User).where(User.unit_id == unit.id,
                                                User.active.is_(True)).order_by(User.id)
                             .where(User.id.not_in(taking_part or {0}))).first()
            if user is not None:
                return unit.id, unit.name, user.id, user.display_name
    raise AssertionError("the demo has no uncovered service with staff")


#: The second journey's guardians (synthetic Tenor numbers) and its texts.
WRITERS = {"nb": "family-01819010001", "nn": "family-02819010004"}
VOICE = {
    "nb": {"field": "Din kommentar eller ditt spørsmål", "send": "Send",
           "waiting": "Ikke besvart ennå.", "task": "Familien skrev en kommentar",
           "messages": "Kommentarer og spørsmål fra familien", "answer": "Merk som besvart",
           "answered": "Besvart"},
    "nn": {"field": "Kommentaren eller spørsmålet ditt", "send": "Send",
           "waiting": "Ikkje svart enno.", "task": "Familien skreiv ein kommentar",
           "messages": "Kommentarar og spørsmål frå familien", "answer": "Merk som svart",
           "answered": "Svart"},
}


def _invitation_code(app, case_id: int) -> str:
    from bti.services.context import Ctx
    from bti.services.family import invitations

    ext = app.extensions["bti"]
    with ext.session_factory.begin() as s:
        holder = s.scalar(select(User).where(User.username == "koordinator"))
        ctx = Ctx(session=s, actor=holder, workflows=ext.workflows, now=ext.clock)
        return invitations.invite(ctx, case_id, "guardian").code


@pytest.mark.parametrize("lang", ["nb", "nn"])
def test_a_guardians_comment_becomes_the_stafettholders_task(
        request, browser, family_server, axe, screenshot_as, html_pages, lang):
    base, app = family_server
    t, v = TEXT[lang], VOICE[lang]
    case_id = _case_of_koordinator(app)
    code = _invitation_code(app, case_id)
    question = f"Kan vi møtast før jul? ({lang})"

    # the guardian signs in on their phone, joins the case and writes a question
    family, page, errors = _context(browser, base, html_pages, request.node.name)
    page.goto("/familie/")
    _choose_language(page, lang)
    with page.expect_navigation():
        page.get_by_role("button", name=t["sign_in"]).click()
    page.locator("input[name=login]").fill(WRITERS[lang])
    page.locator("select[name=acr]").select_option("high")
    with page.expect_navigation(url=re.compile(r"/familie/saker$")):
        page.locator("button[type=submit]").click()
    page.get_by_label(t["code"]).fill(code)
    with page.expect_navigation():
        page.get_by_role("button", name=t["join"]).click()
    page.get_by_label(v["field"]).fill(question)
    with page.expect_navigation():
        page.get_by_role("button", name=v["send"], exact=True).click()
    expect(page).to_have_url(re.compile(rf"/familie/saker/{case_id}(#h-messages)?$"))
    card = page.locator("#h-messages ~ ul .card", has_text=question)
    expect(card).to_contain_text(v["waiting"])
    _check(page, axe, screenshot_as, "message-sent", lang)
    assert not errors, errors

    # the stafettholder sees it as a task and marks it answered
    staff, spage, serrors = _context(browser, base, html_pages, request.node.name)
    _coordinator_signs_in(spage, lang)
    spage.goto("/saker/")
    expect(spage.locator("li[data-kind=family_message]").first).to_contain_text(v["task"])
    _check(spage, axe, screenshot_as, "task", lang)
    spage.goto(f"/saker/{case_id}")
    with spage.expect_navigation():
        spage.get_by_role("link", name=v["messages"]).click()
    item = spage.locator(".card", has_text=question)
    expect(item).to_be_visible()
    _check(spage, axe, screenshot_as, "staff-messages", lang)
    with spage.expect_navigation():
        item.get_by_role("button", name=v["answer"]).click()
    expect(spage.locator(".card", has_text=question)).to_contain_text(v["answered"])
    assert not serrors, serrors
    staff.close()

    # the guardian sees that it was answered
    page.reload()
    expect(page.locator("#h-messages ~ ul .card", has_text=question)).to_contain_text(
        v["answered"])
    _check(page, axe, screenshot_as, "message-answered", lang)
    family.close()
