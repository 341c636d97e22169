"""Browser tests: the real app on a migrated SQLite file with the demo data, served by werkzeug on
127.0.0.1, driven by Debian's Chromium through Playwright, checked with axe-core.

Fixtures (see README.md here): ``live_server``, ``browser``, ``page``, ``sign_in``, ``axe``,
``screenshot``, ``screenshot_as``, ``case_at``. The tests skip only when /usr/bin/chromium is
missing and BTI_REQUIRE_E2E is not set; CI sets it (after tests/e2e/install-deps.sh), so there
they fail instead of skipping.
Playwright never downloads a browser here: it launches /usr/bin/chromium.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from bti.config import Settings
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.demo.seed import DEMO_SLUG
from bti.demo.seed import make_demo
from bti.domain.org import Municipality
from bti.migrate import upgrade
from bti.services.workflows.registry import WorkflowRegistry
from bti.web import create_app
from tests.dbs import ON_POSTGRES
from tests.dbs import pg_schema
from tests.dbs import require_postgres

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CHROMIUM = Path(os.environ.get("BTI_CHROMIUM", "/usr/bin/chromium"))
REQUIRED = os.environ.get("BTI_REQUIRE_E2E", "") not in ("", "0")
ARTIFACTS = Path(os.environ.get("BTI_E2E_ARTIFACTS", ROOT / "test-artifacts" / "e2e"))
VNU_REQUIRED = os.environ.get("BTI_REQUIRE_VNU", "") not in ("", "0")
VNU_CANDIDATES = [Path(p) for p in (os.environ.get("BTI_VNU_JAR"),) if p] + [
    ROOT / ".venv" / d / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
    for d in ("e2e-node", "vnu")]
#: The page width of a journey unless the test parametrizes ``viewport_width`` (390: a phone).
DESKTOP_WIDTH = 1280
AXE_CANDIDATES = [
    Path(p) for p in (os.environ.get("BTI_AXE_JS"),) if p
] + [ROOT / ".venv" / "e2e-node" / "node_modules" / "axe-core" / "axe.min.js"]
#: The WCAG 2.1 A and AA rules.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
DEMO_PASSWORD = "demo-passord-for-nettlesartestar"  # noqa: S105 - made up, for fictional users
#: Seconds Playwright waits for an element or a navigation before failing.
TIMEOUT_S = 10
INSTALL_HINT = "run `bash tests/e2e/install-deps.sh` (as root: apt-get chromium, npm ci axe-core)"

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: a browser test (tests/e2e)")


def pytest_collection_modifyitems(config, items):
    timeout = config.pluginmanager.hasplugin("timeout")
    for item in items:
        if HERE not in Path(str(item.fspath)).parents:
            continue
        item.add_marker(pytest.mark.e2e)
        if timeout:
            item.add_marker(pytest.mark.timeout(120))
        if not CHROMIUM.exists() and not REQUIRED:
            item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} not found; {INSTALL_HINT}"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


_REPORTS = pytest.StashKey[dict]()


def _unavailable(what: str) -> None:
    if REQUIRED:
        pytest.fail(f"BTI_REQUIRE_E2E is set but {what}; {INSTALL_HINT}")
    pytest.skip(f"{what}; {INSTALL_HINT}")


# -- the app ---------------------------------------------------------------------------------

@dataclass
class LiveServer:
    url: str
    app: object
    password: str
    #: demo username → display name and roles (bti.demo.seed.USERS)
    users: dict[str, dict] = field(default_factory=dict)
    database_url: str = ""

    def session(self):
        """A SQLAlchemy session on the server's database (``with live_server.session() as s``),
        for setting up or checking data around a journey."""
        return self.app.extensions["bti"].session_factory.begin()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> LiveServer:
    """The real app (create_app) on a migrated SQLite file (a PostgreSQL schema when
    ``BTI_TEST_DATABASE=postgres``) with the demo municipality: users
    laerar, koordinator, rektor, helsesjukepleiar, ppt, personvernombod, admin (all with
    ``live_server.password``) and 12 cases at every level, built through the services. Second
    factor is off for the demo municipality, so a journey signs in with the password alone."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found")
    with contextlib.ExitStack() as stack:
        if ON_POSTGRES:  # BTI_TEST_DATABASE=postgres: a fresh, migrated schema (tests/dbs.py)
            url = stack.enter_context(pg_schema(require_postgres(), prefix="bti_e2e"))
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('e2e-db') / 'bti.sqlite3'}"
        yield from _serve(url)


def _serve(url: str):
    workflows = ROOT / "workflows"
    engine = make_engine(url)
    try:
        upgrade(engine)
        registry = WorkflowRegistry(workflows)
        with make_session_factory(engine).begin() as s:
            made = make_demo(s, registry, password=DEMO_PASSWORD)
            s.scalar(select(Municipality).where(Municipality.slug == DEMO_SLUG)) \
                .mfa_required = False
    finally:
        engine.dispose()
    settings = Settings(database_url=url, secret_key=secrets.token_urlsafe(32),
                        workflows_dir=workflows, testing=True)
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="bti-e2e-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app,
                         password=DEMO_PASSWORD, database_url=url,
                         users={u.username: {"display_name": u.display_name, "roles": u.roles}
                                for u in made})
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.extensions["bti"].engine.dispose()


@pytest.fixture(autouse=True)
def _demo_users_have_chosen_no_language(request):
    """Each test starts with no demo user having saved a language, whatever an earlier test
    chose with the language selector: the browser's language (``page``: nb-NO) decides."""
    yield
    if "live_server" in request.fixturenames:
        from sqlalchemy import update

        from bti.domain.org import User

        with request.getfixturevalue("live_server").session() as s:
            s.execute(update(User).values(locale=None))


@pytest.fixture(autouse=True)
def _fresh_login_throttle(request) -> None:
    """Each test starts with the sign-in throttle empty (bti.web.auth: 10 sign-ins per user in
    15 minutes, 100 per address an hour): the suite signs the same demo users in more often
    than that, and one test's sign-ins must not make a later test see "Too many attempts"."""
    if "live_server" in request.fixturenames:
        from bti.web.auth import limiter

        with request.getfixturevalue("live_server").app.app_context():
            limiter.reset()


# -- the browser -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, started once per test session."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def viewport_width() -> int:
    """The width of ``page``'s viewport: 1280 px, unless a test parametrizes it
    (``@pytest.mark.parametrize("viewport_width", [390])``: a phone, 844 px high)."""
    return DESKTOP_WIDTH


@pytest.fixture
def page(request, browser, live_server, viewport_width, html_pages):
    """A fresh browser context (no cookies) and page; relative URLs go to the live server.
    The HTML of every document the page loads goes to ``html_pages`` (the Nu HTML Checker at
    the session's end). A failing test leaves a screenshot: test-artifacts/e2e/<test>-FAILED.png."""
    height = 900 if viewport_width >= 800 else 844
    context = browser.new_context(base_url=live_server.url, locale="nb-NO",
                                  viewport={"width": viewport_width, "height": height})
    context.set_default_timeout(TIMEOUT_S * 1000)
    pg = context.new_page()
    pg.on("requestfinished", lambda req: html_pages.add(request.node.name, req))
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(msg):
        # every error counts, a missing icon's 404 too (base.html links static/favicon.svg)
        if msg.type == "error":
            errors.append(f"{msg.text} ({msg.location.get('url', '')})")

    def on_response(response):
        if response.status >= 400 and response.request.resource_type != "document":
            errors.append(f"{response.status} for {response.url}")

    pg.on("console", on_console)
    pg.on("response", on_response)
    #: what the page logged as errors (CSP refusals show up here) and the page's resources
    #: that answered 4xx/5xx (a missing icon, style sheet or script)
    pg.js_errors = errors
    try:
        yield pg
    finally:
        reports = request.node.stash.get(_REPORTS, {})
        if reports.get("call") is not None and reports["call"].failed:
            _save(pg, _artifact_name(request.node, "FAILED"))
        context.close()


def _artifact_name(node, label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "-", f"{node.name}-{label}").strip("-")


def _save(pg, name: str) -> Path | None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    try:
        pg.screenshot(path=str(path), full_page=True)
    except Exception:  # the page may be gone; the test's own failure is what matters
        return None
    return path


@pytest.fixture
def screenshot(request):
    """``screenshot(page, "nb")`` → test-artifacts/e2e/<test name>-nb.png (full page)."""
    def take(pg, label: str) -> Path | None:
        return _save(pg, _artifact_name(request.node, label))

    return take


@pytest.fixture
def sign_in(live_server):
    """``sign_in(page, "laerar")`` signs in through the form in the page's current language and
    waits for the page after it. Returns the page."""
    def do(pg, username: str, password: str | None = None):
        if "/auth/login" not in pg.url:
            pg.goto("/auth/login")
        pg.locator("#f-username").fill(username)
        pg.locator("#f-password").fill(password or live_server.password)
        with pg.expect_navigation():
            pg.locator("form.form button[type=submit]").click()
        return pg

    return do


# -- valid HTML: every document the journeys load, checked in one run at the session's end ------

#: What differs between two loads of the same page: the CSRF token and the script's nonce.
_VOLATILE = re.compile(r'(?<=name="csrf_token" value=")[^"]*|(?<=nonce=")[^"]*')


class HtmlPages:
    """The HTML of each document a ``page`` loaded (main frame, 2xx or an error page), once per
    distinct body. ``check()`` runs the Nu HTML Checker once over all of them."""

    def __init__(self, jar: Path | None) -> None:
        self.jar = jar
        self.pages: dict[str, str] = {}
        self._seen: set[str] = set()

    def add(self, test: str, req) -> None:
        if self.jar is None or req.resource_type != "document" or req.frame.parent_frame:
            return
        response = req.response()
        if response is None or response.status >= 300 and response.status < 400:
            return
        if "text/html" not in (response.headers.get("content-type") or ""):
            return
        try:
            body = response.text()
        except Exception:  # the page navigated on before the body was read
            return
        # the same page again, but for its CSRF token and script nonce, is checked once
        digest = hashlib.sha256(_VOLATILE.sub("", body).encode()).hexdigest()
        if digest in self._seen:
            return
        self._seen.add(digest)
        path = re.sub(r"^https?://[^/]+", "", response.url)
        self.pages[f"{test}: {req.method} {path} ({response.status})"] = body

    def errors(self) -> list[str]:
        """Every error vnu finds, as ``<test>: <method> <path> (<status>):<line>: message``."""
        if self.jar is None or not self.pages:
            return []
        with tempfile.TemporaryDirectory(prefix="bti-vnu-") as tmp:
            names = {}
            for i, (name, html) in enumerate(self.pages.items()):
                path = Path(tmp) / f"page-{i:04d}.html"
                path.write_text(html, encoding="utf-8")
                names[path.resolve().as_uri()] = name
            import subprocess

            run = subprocess.run(  # noqa: S603 - our own jar and files
                ["java", "-jar", str(self.jar), "--errors-only", "--format", "json",
                 "--exit-zero-always", tmp], capture_output=True, text=True, timeout=600,
                check=True)
            messages = json.loads(run.stderr or run.stdout)["messages"]

        def page_of(url: str | None) -> str:
            url = url or ""
            return names.get(url) or names.get(url.replace("file:/", "file:///", 1)) or url

        return [f"{page_of(m.get('url'))}:{m.get('lastLine')}: {m.get('message')}"
                f" [{(m.get('extract') or '').strip()[:100]}]"
                for m in messages if m.get("type") in ("error", "non-document-error")]


def _vnu_jar() -> Path | None:
    jar = next((p for p in VNU_CANDIDATES if p.is_file()), None)
    if jar is None or shutil.which("java") is None:
        message = ("the Nu HTML Checker is missing (vnu.jar: BTI_VNU_JAR or "
                   "tests/e2e/install-deps.sh; Java 17+)")
        if VNU_REQUIRED:
            pytest.fail(f"BTI_REQUIRE_VNU is set but {message}")
        import warnings

        warnings.warn(f"{message}: the journeys' pages are not checked for valid HTML",
                      stacklevel=1)
        return None
    return jar


_HTML_SUMMARY = pytest.StashKey[str]()


#: axe-core runs of the session that found no violation (the figure of the accessibility
#: statement, bti/web/ui/accessibility.py, printed in the summary).
AXE_RUNS = {"passed": 0}


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if line := config.stash.get(_HTML_SUMMARY, ""):
        terminalreporter.write_line(line)
    if AXE_RUNS["passed"]:
        terminalreporter.write_line(f"axe-core: {AXE_RUNS['passed']} checks without a violation")


@pytest.fixture(scope="session")
def html_pages(pytestconfig) -> HtmlPages:
    """Collects the HTML of every page the journeys reach; at the session's end the Nu HTML
    Checker runs once over all of it and any error fails the session (an error in the teardown
    of the last browser test, listing page and message)."""
    pages = HtmlPages(_vnu_jar())
    yield pages
    errors = pages.errors()
    if pages.jar is not None:
        pytestconfig.stash[_HTML_SUMMARY] = (
            f"Nu HTML Checker: {len(pages.pages)} distinct pages from the browser tests, "
            f"{len(errors)} error(s)")
    if errors:
        pytest.fail(f"Nu HTML Checker: {len(errors)} error(s) on the {len(pages.pages)} pages "
                    "the browser tests reached:\n" + "\n".join(errors), pytrace=False)


# -- layout: nothing wider than the window ------------------------------------------------------

FITS_JS = """() => {
  const root = document.documentElement, width = root.clientWidth;
  const clipped = el => {
    for (let n = el.parentElement; n && n !== document.body; n = n.parentElement) {
      if (getComputedStyle(n).overflowX !== 'visible') return true;
    }
    return false;
  };
  const wide = [...document.querySelectorAll('main, main *')].filter(e => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && (r.right > width + 1 || r.left < -1) && !clipped(e);
  }).slice(0, 8).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
      + (typeof e.className === 'string' && e.className.trim()
         ? '.' + e.className.trim().split(/\\s+/).join('.') : '')
      + ' [' + Math.round(e.getBoundingClientRect().left) + '–'
      + Math.round(e.getBoundingClientRect().right) + ' px]');
  return {scroll: root.scrollWidth, width: width, wide: wide};
}"""


def assert_fits(pg) -> None:
    """The page does not scroll sideways (the document is no wider than the window), and no
    element of the main content sticks out of the window, unless it sits in a scrolling region
    (a wide table in ``div.table-scroll``)."""
    r = pg.evaluate(FITS_JS)
    where = (f"{pg.url} is wider than the {r['width']} px window "
             f"(scrollWidth {r['scroll']} px); sticking out: {r['wide']}")
    assert r["scroll"] <= r["width"], where
    assert not r["wide"], where


# -- accessibility ---------------------------------------------------------------------------

def _axe_source() -> str:
    for path in AXE_CANDIDATES:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    _unavailable("axe-core is not installed (looked in "
                 + ", ".join(str(p) for p in AXE_CANDIDATES) + ")")
    raise AssertionError("unreachable")


def format_violations(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v.get('impact')}): {v['help']}  {v.get('helpUrl', '')}")
        for node in v.get("nodes", [])[:8]:
            target = " ".join(json.dumps(t, ensure_ascii=False) for t in node.get("target", []))
            summary = (node.get("failureSummary") or "").replace("\n", " / ")
            lines.append(f"    at {target}: {summary}")
            lines.append(f"       {node.get('html', '')[:200]}")
    return "\n".join(lines)


@pytest.fixture(scope="session")
def axe_source() -> str:
    return _axe_source()


@pytest.fixture
def axe(axe_source):
    """``axe(page)`` runs axe-core's WCAG 2.1 A/AA rules on the page as it is now and fails
    with a readable list of violations. ``axe(page, include="main")`` limits it to a selector;
    ``disable=["rule-id"]`` switches rules off (say why in the test). Returns the full result.

    axe is injected with page.evaluate, which the page's Content-Security-Policy does not
    govern, so the app's CSP stays as strict as in production."""
    def run(pg, *, include: str | None = None, disable: tuple[str, ...] | list[str] = ()):
        if not pg.evaluate("() => typeof window.axe === 'object'"):
            pg.evaluate(axe_source)
        options = {"runOnly": {"type": "tag", "values": AXE_TAGS},
                   "resultTypes": ["violations"],
                   "rules": {rule: {"enabled": False} for rule in disable}}
        result = pg.evaluate(
            "([ctx, opts]) => window.axe.run(ctx || document, opts)", [include, options])
        violations = result["violations"]
        assert not violations, (f"axe: {len(violations)} WCAG 2.1 A/AA violation(s) on "
                                f"{pg.url}:\n{format_violations(violations)}")
        AXE_RUNS["passed"] += 1
        return result

    return run


@pytest.fixture
def check(axe, screenshot_as, viewport_width):
    """``check(page, "journey2", "nivaa2", "nn")``: the page is in ``lang``, it fits the window
    (``assert_fits``), axe finds no WCAG 2.1 A/AA violation, and the page is saved as
    journey2-nivaa2-nn.png (journey2-nivaa2-nn-390px.png in a 390 px run)."""
    suffix = "" if viewport_width == DESKTOP_WIDTH else f"-{viewport_width}px"

    def run(page, journey: str, step: str, lang: str) -> None:
        from playwright.sync_api import expect

        expect(page.locator("html")).to_have_attribute("lang", lang)
        assert_fits(page)
        axe(page)
        screenshot_as(page, f"{journey}-{step}-{lang}{suffix}")

    return run


@pytest.fixture
def screenshot_as():
    """``screenshot_as(page, "journey1-receipt-nb")`` → test-artifacts/e2e/journey1-receipt-nb.png
    (full page), named exactly as given rather than after the test."""
    def take(pg, name: str) -> Path | None:
        return _save(pg, re.sub(r"[^A-Za-z0-9_.]+", "-", name).strip("-"))

    return take


# -- cases built through the services (preconditions a journey does not click) ----------------

#: The states ``case_at`` can stop in, in the order the standard path reaches them.
CASE_STOPS = ("n0_plan", "n1_plan", "n2_plan", "n2_reported", "ip")


@pytest.fixture
def case_at(live_server):
    """``case_at("n1_plan", "Selje J3 nb")`` builds a fresh case through the services
    (``bti.services.cases.lifecycle.open_case`` / ``fire``, exactly what the UI calls) and returns
    its id.

    The teacher (laerar) reports the concern at Fjordvik skule; the leader (rektor) appoints
    koordinator as stafettholder; koordinator moves it on. Stops: ``n0_plan`` (just opened),
    ``n1_plan`` (home informed, nivå 0 decided, escalated), ``n2_plan`` (a measure, an
    evaluation with the child's voice, consent covering Helsestasjonen and PPT, escalated, the
    health nurse added as participant) and ``n2_reported`` (n2_plan plus a report to
    barnevernet). The clock starts ~40 days back and moves two days a step, so the case has a
    history to draw on a timeline; every date lies in the past."""
    from datetime import timedelta

    from bti.domain.cases import Measure
    from bti.domain.org import Unit
    from bti.domain.org import User
    from bti.services.cases import lifecycle as cases
    from bti.services.context import Ctx
    from bti.services.context import utcnow

    registry = live_server.app.extensions["bti"].workflows

    def build(stop: str, pseudonym: str) -> int:
        assert stop in CASE_STOPS, stop
        with live_server.session() as s:
            users = {u.username: u for u in s.scalars(select(User))}
            units = {u.name: u for u in s.scalars(select(Unit))}
            clock = [utcnow() - timedelta(days=40)]

            def ctx(username: str) -> Ctx:
                clock[0] += timedelta(days=2)
                at = clock[0]
                return Ctx(session=s, actor=users[username], workflows=registry,
                           now=lambda: at)

            def day(offset: int = 0) -> str:
                return (clock[0] + timedelta(days=offset)).date().isoformat()

            opened = cases.open_case(
                ctx("laerar"), unit_id=None, child_pseudonym=pseudonym,
                child_birth_year=clock[0].year - 9,
                concern={"what_seen": "Barnet verkar trøytt og trekkjer seg unna leik.",
                         "since": "Etter haustferien"})
            cid = opened.case.id

            def fire(username: str, trigger: str, payload=None) -> None:
                cases.fire(ctx(username), cid, trigger, payload)

            if stop == "n0_plan":
                return cid
            coord = users["koordinator"]
            fire("laerar", "start")
            fire("laerar", "inform_home", {"informed_on": day(), "how": "Samtale i skuletida."})
            fire("rektor", "appoint_stafettholder", {"stafettholder": coord.id})
            fire("koordinator", "assess")
            fire("koordinator", "decide")
            fire("koordinator", "escalate", {"reason": "Tiltak i eiga teneste."})
            if stop == "n1_plan":
                return cid
            fire("koordinator", "add_measure", {
                "description": "Fast samtale med kontaktlærar kvar veke.",
                "responsible": coord.id, "start_date": day(), "evaluate_by": day(14)})
            fire("koordinator", "start")
            fire("koordinator", "evaluate")
            measures = [m.id for m in s.scalars(select(Measure).where(
                Measure.case_id == cid, Measure.status == "active"))]
            fire("koordinator", "record_evaluation", {
                "measures": measures, "effect": "some", "child_voice_method": "conversation",
                "child_said": "Det er litt betre no.", "outcome": "adjust"})
            fire("koordinator", "decide")
            fire("koordinator", "give_consent", {
                "given_by": "guardians",
                "services": [units["Helsestasjonen"].id, units["PPT"].id],
                "information": "Skulefråvær og trivsel, for samarbeid med helsestasjonen.",
                "given_on": day(), "expires_on": day(365)})
            fire("koordinator", "escalate", {"reason": "Tiltaka verka ikkje åleine."})
            fire("koordinator", "add_participant", {
                "participant": users["helsesjukepleiar"].id,
                "service": units["Helsestasjonen"].id})
            if stop == "n2_reported":
                fire("koordinator", "report_barnevernet",
                     {"sent_on": day(), "grounds": "neglect"})
            if stop == "ip":
                fire("koordinator", "add_measure", {
                    "description": "Samtalar på helsestasjonen.", "responsible": coord.id,
                    "start_date": day(), "evaluate_by": day(14)})
                fire("koordinator", "start")
                fire("koordinator", "evaluate")
                measures = [m.id for m in s.scalars(select(Measure).where(
                    Measure.case_id == cid, Measure.status == "active"))]
                fire("koordinator", "record_evaluation", {
                    "measures": measures, "effect": "some", "child_voice_method": "conversation",
                    "child_said": "Eg vil ha ein vaksen å gå til.", "outcome": "adjust"})
                fire("koordinator", "decide")
                fire("koordinator", "handover_ip", {"to_user": users["rektor"].id,
                                                    "reason": "Individuell plan er vedteken."})
                fire("rektor", "accept_ip_handover", {"reason": "Eg koordinerer planen."})
                fire("rektor", "add_ansvarsgruppe_member", {
                    "member_kind": "guardian", "member_name": "Testmor Fjordvik",
                    "member_role": "Mor"})
                fire("rektor", "record_ansvarsgruppe_meeting", {
                    "held_on": day(), "place": "Fjordvik skule",
                    "minutes": "Planen er lagd saman med heimen og helsestasjonen."})
            return cid

    return build
