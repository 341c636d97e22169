"""One template macro library (issue 12): form controls come from field() in _macros.html, the
CSRF token from csrf(), and every POST form sends it. Checked on the parsed templates, so a new
template is held to the same rules without a test of its own."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import Environment
from jinja2 import nodes

TEMPLATES = Path(__file__).resolve().parents[2] / "bti" / "web" / "templates"
LIBRARY = "_macros.html"
ALL = sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html"))
CONTROL = re.compile(r"<\s*(input|select|textarea)\b", re.I)


def _parse(name: str) -> nodes.Template:
    env = Environment(extensions=["jinja2.ext.i18n"])
    return env.parse((TEMPLATES / name).read_text(encoding="utf-8"))


def _markup(node: nodes.Node) -> str:
    """The literal HTML a node renders (the template data, without the Jinja expressions)."""
    return "".join(t.data for t in node.find_all(nodes.TemplateData))


def test_there_are_templates_and_the_library_defines_the_helpers():
    assert len(ALL) > 20
    macros = {m.name for m in _parse(LIBRARY).find_all(nodes.Macro)}
    assert {"field", "wf_field", "csrf", "table", "cell"} <= macros


@pytest.mark.parametrize("name", [n for n in ALL if n != LIBRARY])
def test_no_macro_outside_the_library_renders_a_form_control(name):
    offenders = [m.name for m in _parse(name).find_all(nodes.Macro) if CONTROL.search(_markup(m))]
    assert offenders == [], f"{name}: use field() of {LIBRARY} in {offenders}"


@pytest.mark.parametrize("name", ALL)
def test_no_template_writes_the_csrf_token_by_hand(name):
    if name == LIBRARY:
        tree = _parse(name)
        outside = [n for n in tree.body if not isinstance(n, nodes.Macro)]
        macros = [m for m in tree.find_all(nodes.Macro) if m.name != "csrf"]
        text = "".join(_markup(n) for n in outside + macros)
    else:
        text = (TEMPLATES / name).read_text(encoding="utf-8")
    assert "csrf_token" not in text, f"{name}: use {{{{ csrf() }}}}"


class _Forms(HTMLParser):
    """The POST forms of a template's literal HTML, each with the text up to its </form>."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[int] = []
        self.posts: list[tuple[int, int]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "form":
            method = (dict(attrs).get("method") or "get").lower()
            self.open.append(self.getpos()[0] if method == "post" else -1)

    def handle_endtag(self, tag):
        if tag == "form" and self.open:
            start = self.open.pop()
            if start >= 0:
                self.posts.append((start, self.getpos()[0]))


@pytest.mark.parametrize("name", ALL)
def test_every_post_form_sends_the_csrf_token(name):
    source = (TEMPLATES / name).read_text(encoding="utf-8")
    parser = _Forms()
    parser.feed(source)
    lines = source.splitlines()
    missing = [start for start, end in parser.posts
               if "csrf()" not in "\n".join(lines[start - 1:end])]
    assert missing == [], f"{name}: POST form(s) at line(s) {missing} without {{{{ csrf() }}}}"


def test_the_checks_catch_what_they_are_for():
    """The rules above fail on a template that breaks them."""
    env = Environment()
    bad_macro = env.parse('{% macro x(n) %}<input name="{{ n }}">{% endmacro %}')
    assert any(CONTROL.search(_markup(m)) for m in bad_macro.find_all(nodes.Macro))
    parser = _Forms()
    parser.feed('<form method="post" action="/x">\n<button>Go</button>\n</form>\n'
                '<form method="get"><input name="q"></form>')
    assert parser.posts == [(1, 3)]
