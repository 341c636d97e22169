"""The user's own settings (``/innstillinger``): the private calendar feed, and a way to the
password change; and the feed itself (``/kalender/<token>.ics``), which asks for no sign-in.

The feed's address is shown once, in the answer to switching it on (never on a later visit:
only its hash is stored). The feed route looks the token up by its hash
(``bti.services.notify.calendar.resolve``) and answers an unknown, revoked or deactivated
user's address alike with 404; unknown addresses are throttled per client address (429 once
over the limit; a live feed is still served there), reads of one feed per feed
(``bti.web.throttle``). Each read is audited per case.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import select

from bti.domain.org import Municipality
from bti.services.notify import calendar
from bti.web import policy
from bti.web.db import get_ctx
from bti.web.db import get_session
from bti.web.i18n import LANGUAGES
from bti.web.throttle import FeedMissThrottle
from bti.web.throttle import FeedReadThrottle

bp = Blueprint("settings", __name__)

FEED_HEADERS = {"Cache-Control": "private, no-store",
                "Content-Disposition": 'inline; filename="bti.ics"'}


def _page(token: str | None = None):
    feed = calendar.active_feed(get_ctx())
    url = url_for("settings.feed", token=token, _external=True) if token else None
    return render_template("settings/index.html", feed=feed, feed_url=url)


@bp.get("/innstillinger")
@policy.signed_in
def index():
    return _page()


@bp.post("/innstillinger/kalender")
@policy.signed_in
def enable_calendar():
    # answered with the page itself, not a redirect: the address is in this answer only
    return _page(calendar.enable_feed(get_ctx()))


@bp.post("/innstillinger/kalender/av")
@policy.signed_in
def revoke_calendar():
    if calendar.revoke_feed(get_ctx()):
        flash(_("The calendar feed is switched off. Its address no longer works."), "info")
    return redirect(url_for("settings.index"), 303)


def _too_many(wait: int) -> Response:
    return Response("429 Too Many Requests\n", status=429, mimetype="text/plain",
                    headers={"Retry-After": str(wait), "Cache-Control": "no-store"})


@bp.get("/kalender/<token>.ics")
@policy.public
def feed(token: str):
    session = get_session()
    found = calendar.resolve(session, token, now=current_app.extensions["bti"].clock())
    if found is None:
        misses = FeedMissThrottle.for_request()
        if (wait := misses.wait_seconds()) is not None:
            return _too_many(wait)
        misses.count_failure()
        abort(404)
    row, user = found
    reads = FeedReadThrottle.for_feed(row.id)
    if (wait := reads.wait_seconds()) is not None:
        return _too_many(wait)
    reads.count_failure()
    lang = user.locale if user.locale in LANGUAGES else session.scalar(
        select(Municipality.malform).where(Municipality.id == user.municipality_id))
    body = calendar.feed_ics(
        get_ctx(actor=user.as_actor()), host=urlsplit(request.host_url).hostname or "bti",
        lang=lang or "nb", feed_id=row.id,
        case_url=lambda case_id: url_for("cases.show", case_id=case_id, _external=True))
    return Response(body, mimetype="text/calendar", headers=FEED_HEADERS)
