"""docs/workflows.md is generated (``bti workflow docs``) and kept in step with the workflows."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from bti.cli import main
from bti.domain.vocabulary import ALL_ROLES
from bti.domain.vocabulary import EFFECTS
from bti.domain.vocabulary import GUARDS
from bti.domain.vocabulary import vocabulary
from bti.engine import Workflow
from bti.engine import load_text
from bti.engine.definition import FIELD_TYPES
from bti.engine.docs import EXAMPLE_TOML
from bti.engine.docs import FIELD_TYPE_MEANINGS
from bti.engine.docs import FORMAT_KEYS
from bti.engine.docs import format_reference
from bti.engine.docs import source_plan
from bti.engine.mermaid import diagram
from bti.engine.schema import DeadlinesSchema
from bti.engine.schema import FieldSchema
from bti.engine.schema import GuidanceSchema
from bti.engine.schema import LevelSchema
from bti.engine.schema import OpeningSchema
from bti.engine.schema import SettingsSchema
from bti.engine.schema import StandingExitSchema
from bti.engine.schema import StateSchema
from bti.engine.schema import TeamSchema
from bti.engine.schema import TransitionSchema
from bti.engine.schema import WorkflowSchema
from bti.services.workflows.docs import EFFECT_MEANINGS
from bti.services.workflows.docs import GUARD_MEANINGS
from bti.services.workflows.docs import ROLE_MEANINGS
from bti.services.workflows.docs import generate
from tests.conftest import ROOT
from tests.conftest import WORKFLOWS

DOC = ROOT / "docs" / "workflows.md"
REGENERATE = "bti workflow docs"


@pytest.fixture(scope="module")
def generated() -> str:
    return generate(WORKFLOWS, "nb")


def test_docs_workflows_md_is_up_to_date(generated):
    on_disk = DOC.read_text(encoding="utf-8") if DOC.is_file() else None
    assert on_disk == generated, (
        "docs/workflows.md is out of date with workflows/*.toml (or the format text in "
        f"bti/engine/docs.py, or the vocabulary); regenerate it with `{REGENERATE}` "
        "(from the repository root) and commit the result."
    )


def _section(text: str, workflow_id: str) -> str:
    match = re.search(rf"^### .*\(`{re.escape(workflow_id)}` v\d+\)$(.*?)(?=^### |\Z)", text,
                      re.MULTILINE | re.DOTALL)
    assert match is not None, f"no section for workflow {workflow_id!r}"
    return match.group(1)


def test_every_workflow_has_its_section_and_mermaid_diagram(generated, registry):
    ids = registry.ids()
    assert ids == sorted(ids)
    assert len(re.findall(r"^```mermaid$", generated, re.MULTILINE)) == len(ids)
    headings = re.findall(r"^### .*\(`([a-z0-9-]+)` v\d+\)$", generated, re.MULTILINE)
    assert headings == ids  # one section per workflow, sorted by id
    for wf_id in ids:
        section = _section(generated, wf_id)
        fence = re.search(r"^```mermaid\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
        assert fence is not None, f"{wf_id}: no ```mermaid block"
        assert fence.group(1) == diagram(registry.files[wf_id], "nb")
        assert f"File: `workflows/{wf_id}.toml`." in section
        for state in registry.files[wf_id].states:
            assert f"| `{state.name}` | `{state.level}` | {state.phase} |" in section


def test_municipal_sections_name_their_source_plan(generated):
    seeds = {"donna": ["002_6c3231e584829bdd.txt"],
             "aukra": ["001_f7cb220f4817d5bd.txt", "000_ebe721f9f8d6e687.txt"],
             "orland": ["003_4e87ed611f6f3170.txt"],
             "vestre-slidre": ["004_6717627e6007985c.txt"]}
    for wf_id, files in seeds.items():
        intro = _section(generated, wf_id).split("<details>")[0]
        for name in files:
            assert name in intro, (wf_id, name)
    assert "Source plan: none named" in _section(generated, "bti-standard")


def test_source_plan_is_read_from_the_header_comment():
    text = ("# x: a variant.\n#\n# Source plan: seed 9.txt, Testkommune,\n#   \"Plan\" (title). "
            "The parts of this file follow these places in it:\n#   - a\nid = \"x\"\n")
    assert source_plan(text) == ['seed 9.txt, Testkommune, "Plan" (title).']
    two = ("# Source plans:\n#   - seed 1.txt, A;\n#   - seed 2.txt, B.\n"
           "# The parts of this file follow these places in them:\n#   - x\n")
    assert source_plan(two) == ["seed 1.txt, A;", "seed 2.txt, B."]
    assert source_plan("# no plan here\nid = \"x\"\n") == []


def _schema_keys(schema_cls) -> set[str]:
    return {f.data_key or name for name, f in schema_cls._declared_fields.items()}


@pytest.mark.parametrize(("section", "schema_cls"), [
    ("top", WorkflowSchema), ("settings", SettingsSchema), ("deadlines", DeadlinesSchema),
    ("teams", TeamSchema), ("fields", FieldSchema), ("levels", LevelSchema),
    ("states", StateSchema), ("opening", OpeningSchema), ("transitions", TransitionSchema),
    ("standing_exits", StandingExitSchema), ("guidance", GuidanceSchema),
])
def test_format_section_documents_exactly_the_keys_the_schema_accepts(section, schema_cls):
    documented = [row[0] for row in FORMAT_KEYS[section]]
    assert len(documented) == len(set(documented))
    assert set(documented) == _schema_keys(schema_cls)
    for key, _kind, required, _meaning in FORMAT_KEYS[section]:
        field = schema_cls._declared_fields.get(key) or next(
            f for f in schema_cls._declared_fields.values() if f.data_key == key)
        assert required.startswith("yes") == field.required, (section, key)
    text = format_reference()
    assert "{{keys:" not in text
    for key in documented:
        assert f"| `{key}` |" in text


def test_every_field_type_is_documented():
    assert list(FIELD_TYPE_MEANINGS) == list(FIELD_TYPES)
    for name in FIELD_TYPES:
        assert f"| `{name}` |" in format_reference()


def test_the_example_file_in_the_docs_is_valid():
    definition = load_text(EXAMPLE_TOML, "example.toml", vocabulary())
    Workflow(definition)
    assert "```toml\n" + EXAMPLE_TOML in format_reference() + "\n"


def test_every_role_guard_and_effect_has_a_meaning(generated):
    assert set(ROLE_MEANINGS) == set(ALL_ROLES)
    assert set(GUARD_MEANINGS) == set(GUARDS)
    assert set(EFFECT_MEANINGS) == set(EFFECTS)
    vocab = generated.split("## Vocabulary", 1)[1].split("\n## Workflows", 1)[0]
    for name in [*ALL_ROLES, *GUARDS, *EFFECTS]:
        assert f"| `{name}` |" in vocab, name


# --- the command ---------------------------------------------------------------------------------


def _run(*args, env=None):
    return CliRunner().invoke(main, ["workflow", "docs", *args],
                              env={"BTI_WORKFLOWS_DIR": str(WORKFLOWS), **(env or {})})


def test_cli_check_passes_on_the_committed_file():
    result = _run("--output", str(DOC), "--check")
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_cli_writes_then_checks(tmp_path, generated):
    out = tmp_path / "sub" / "workflows.md"
    result = _run("--output", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == generated
    assert _run("--output", str(out), "--check").exit_code == 0


def test_cli_check_fails_with_the_command_to_regenerate(tmp_path, generated):
    stale = tmp_path / "workflows.md"
    stale.write_text(generated.replace("Nivå 0 – undring og avklaring", "Nivå 0 (gammel)"),
                     encoding="utf-8")
    result = _run("--output", str(stale), "--check")
    assert result.exit_code == 1
    assert "is out of date" in result.stderr
    assert f"{REGENERATE} --output {stale}" in result.stderr
    assert "-| `n0` | 0 | green | no | Nivå 0 (gammel) |" in result.stderr  # shows the diff
    missing = _run("--output", str(tmp_path / "none.md"), "--check")
    assert missing.exit_code == 1
    assert "does not exist" in missing.stderr


def test_cli_language_and_stdout(generated):
    result = _run("--lang", "en", "--output", "-")
    assert result.exit_code == 0
    assert result.stdout != generated
    assert "Labels in this part are in `en`" in result.stdout
    assert 'state "Level 0 – wondering and clarification" as level_n0' in result.stdout
    assert _run("--output", "-", "--check").exit_code == 2  # --check needs a file


def test_cli_reports_an_invalid_workflow_file(tmp_path):
    (tmp_path / "broken.toml").write_text('id = "broken"\n', encoding="utf-8")
    result = _run("--output", "-", env={"BTI_WORKFLOWS_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert "broken.toml" in result.stderr
