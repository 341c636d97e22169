"""gunicorn settings for production: ``gunicorn -c deploy/gunicorn.conf.py``.

Every value can be set from the environment, so one file serves every instance behind the load
balancer (docs/deployment.md). The app itself reads its own settings (``BTI_*``, bti/config.py).

The access log holds no query strings and no personal data: method, path (case ids are
pseudonymous numbers; no search terms, which travel in query strings; a calendar feed's secret
token is left out), status, size, duration.
No client address, no user agent, no referrer: the audit trail in the database records who read
what; the access log is for operations.
"""

import multiprocessing
import os
import re

from gunicorn.glogging import Logger


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


wsgi_app = "app:app"
bind = os.environ.get("BTI_BIND", "127.0.0.1:8000")
# sync workers: each request has a process of its own. 2 × cores + 1 is gunicorn's rule of thumb;
# each worker keeps up to BTI_DB_POOL_SIZE + BTI_DB_MAX_OVERFLOW connections, so
# instances × workers × that must stay below PostgreSQL's max_connections.
workers = _int("BTI_WORKERS", multiprocessing.cpu_count() * 2 + 1)
worker_class = "sync"
# a request that runs longer than this is killed (the database's statement_timeout,
# BTI_DB_STATEMENT_TIMEOUT_MS, ends a slow query first, with a 503)
timeout = _int("BTI_WORKER_TIMEOUT", 60)
graceful_timeout = _int("BTI_GRACEFUL_TIMEOUT", 30)
keepalive = 5
# recycle workers now and then (a leak cannot grow for ever); jitter keeps them from restarting
# together
max_requests = _int("BTI_MAX_REQUESTS", 2000)
max_requests_jitter = max_requests // 10
# The master builds the app once (imports, workflow files checked, the workflow sync written to
# the database) and forks the workers from it: a worker starts, or restarts after max_requests,
# in milliseconds instead of repeating all of that. post_fork gives each worker its own empty
# connection pool (bti.web.after_fork), so no connection is shared across the fork.
# BTI_PRELOAD=0 builds the app in each worker instead. With preload, new code needs a restart of
# the master (systemctl restart), not a HUP.
preload_app = os.environ.get("BTI_PRELOAD", "1").strip() != "0"

# The proxy in front terminates TLS. Only it may say which scheme the client used
# (X-Forwarded-Proto); the app trusts X-Forwarded-For for BTI_PROXY_HOPS hops (ProxyFix).
forwarded_allow_ips = os.environ.get("BTI_FORWARDED_ALLOW_IPS", "127.0.0.1")

# bounded request heads
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

accesslog = os.environ.get("BTI_ACCESS_LOG", "-")
errorlog = os.environ.get("BTI_ERROR_LOG", "-")
loglevel = os.environ.get("BTI_LOG_LEVEL", "info")
# %(U)s is the path without the query string; %(M)s the duration in ms
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'

#: A calendar feed's path is its credential (bti/web/ui/settings.py): logged without the token.
_FEED_TOKEN = re.compile(r"/kalender/[^/ ?]*\.ics")


class RedactingLogger(Logger):
    """gunicorn's logger, with a calendar feed's secret token left out of the access log (the
    path atom, and the request line for a format that uses it)."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("U", "r"):
            if key in atoms:
                atoms[key] = _FEED_TOKEN.sub("/kalender/<token>.ics", atoms[key])
        return atoms


logger_class = RedactingLogger
proc_name = "bti"


def _preloaded_bti_app(server):
    """The bti app the master built (preload_app), or None (no preload, or another WSGI app on
    these settings, such as bench/floor_app.py)."""
    app = getattr(server.app, "callable", None)
    return app if "bti" in getattr(app, "extensions", {}) else None


def when_ready(server):
    """In the master, once the app is built and before the first worker is forked: with preload,
    the master closes the connections it used to build the app (a worker opens its own)."""
    app = _preloaded_bti_app(server)
    if app is not None:
        app.extensions["bti"].engine.dispose()


def post_fork(server, worker):
    """The app's own log records (``bti.*``: a 500's type and stack frames, a 503's cause; never
    personal data, see bti/web/errors.py) go to gunicorn's error log, the file BTI_ERROR_LOG names,
    not to a worker's stderr. Runs in each worker before the app first logs (and, without
    preload, before the worker builds it), so Flask finds a handler and adds no stderr handler of
    its own; the handlers are gunicorn's own, so a log
    reopen (USR1) covers them too."""
    import logging

    app_log = logging.getLogger("bti")
    app_log.handlers[:] = server.log.error_log.handlers
    app_log.setLevel(server.log.error_log.level)
    app_log.propagate = False
    # preload_app: the app was built in the master; the worker leaves the master's database
    # connections alone and opens its own (without preload there is no app yet here)
    app = _preloaded_bti_app(server)
    if app is not None:
        from bti.web import after_fork

        after_fork(app)
