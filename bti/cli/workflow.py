"""The workflow group: check, list, show, diagram and document workflow files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bti.cli.common import load_registry
from bti.cli.common import workflows_dir
from bti.domain.vocabulary import vocabulary
from bti.engine import DefinitionError
from bti.engine import check_paths
from bti.engine.i18n import LANGS
from bti.engine.i18n import pick


@click.group(help="Workflow files: check, list, show, diagram.")
def workflow() -> None:
    pass


@workflow.command("check", help="Validate workflow files; print every problem, exit 1 if any.")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def workflow_check(files: tuple[Path, ...]) -> None:
    problems = check_paths(files, vocabulary())
    for p in problems:
        click.echo(p)
    if problems:
        sys.exit(1)
    click.echo(f"ok: {len(files)} file(s) valid")


@workflow.command("list", help="The workflows in BTI_WORKFLOWS_DIR.")
def workflow_list() -> None:
    registry = load_registry()
    for wf_id in registry.ids():
        d = registry.files[wf_id]
        click.echo(f"{wf_id:<16} v{d.version}  {len(d.states):>2} states "
                   f"{len(d.transitions):>3} transitions  {pick(d.title, 'nb')}")


def _definition(wf_id: str):
    registry = load_registry()
    if wf_id not in registry.files:
        raise click.ClickException(f"no workflow {wf_id!r}; known: {', '.join(registry.ids())}")
    return registry.files[wf_id]


@workflow.command("show", help="States and transitions of one workflow.")
@click.argument("workflow_id")
@click.option("--lang", type=click.Choice(LANGS), default="nb", show_default=True)
def workflow_show(workflow_id: str, lang: str) -> None:
    d = _definition(workflow_id)
    click.echo(f"{d.id} v{d.version}: {pick(d.title, lang)}")
    click.echo(f"initial: {d.initial}")
    click.echo("states:")
    for s in d.states:
        flag = " (final)" if s.final else ""
        click.echo(f"  {s.name:<16} {s.level:<7} {s.phase:<11} {pick(s.label, lang)}{flag}")
    click.echo("transitions:")
    for t in d.transitions:
        dest = t.dest or "(stays)"
        src = "every non-final state" if t.standing else ", ".join(t.sources)
        extra = []
        if t.guards:
            extra.append("guards=" + ",".join(t.guards))
        if t.reason:
            extra.append("reason")
        click.echo(f"  {t.trigger:<26} {src} -> {dest}  roles={','.join(sorted(t.roles))} "
                   + " ".join(extra))


@workflow.command("diagram", help="Mermaid state diagram of one workflow.")
@click.argument("workflow_id")
@click.option("--lang", type=click.Choice(LANGS), default="nb", show_default=True)
def workflow_diagram(workflow_id: str, lang: str) -> None:
    from bti.engine.mermaid import diagram

    click.echo(diagram(_definition(workflow_id), lang))


DOCS_OUTPUT = Path("docs/workflows.md")


@workflow.command("docs", help="Write the workflow documentation (docs/workflows.md): the file "
                  "format, the vocabulary, and every workflow's states, transitions and diagram.")
@click.option("--lang", type=click.Choice(LANGS), default="nb", show_default=True,
              help="Language of the workflow labels (the prose is English).")
@click.option("--output", default=str(DOCS_OUTPUT), show_default=True, metavar="FILE",
              help="File to write; '-' for standard output.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 if FILE differs from what would be generated.")
def workflow_docs(lang: str, output: str, check: bool) -> None:
    import difflib

    from bti.services.workflows.docs import generate

    try:
        text = generate(workflows_dir(), lang)
    except DefinitionError as err:
        click.echo("\n".join(err.problems), err=True)
        sys.exit(1)
    command = "bti workflow docs"
    if lang != "nb":
        command += f" --lang {lang}"
    if output != str(DOCS_OUTPUT):
        command += f" --output {output}"
    if check:
        if output == "-":
            raise click.UsageError("--check compares with a file; give --output FILE")
        path = Path(output)
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            click.echo(f"ok: {output} is up to date")
            return
        if current is None:
            click.echo(f"{output} does not exist; generate it with: {command}", err=True)
        else:
            diff = list(difflib.unified_diff(
                current.splitlines(), text.splitlines(), f"{output} (on disk)",
                f"{output} (generated)", lineterm="", n=1))
            click.echo("\n".join(diff[:40] + (["…"] if len(diff) > 40 else [])), err=True)
            click.echo(f"{output} is out of date with the workflow files in "
                       f"{workflows_dir()}; regenerate it with: {command}", err=True)
        sys.exit(1)
    if output == "-":
        click.echo(text, nl=False)
        return
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    click.echo(f"wrote {output}")
