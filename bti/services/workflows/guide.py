"""«Slik jobber vi»: the municipality's own action guide, read from the workflow it runs now.

Every signed-in employee reads it (``bti.domain.policy.may_read_guide``): the levels and steps of
the workflow in plain words (the workflow file's own labels and help texts, in the reader's
language), who takes each step (the roles and relations the file names), what each step asks of
the case (its guards, in the words of ``bti.domain.vocabulary.GUARDS``), the deadlines, the
standing exits, and the municipality's child welfare contacts. The graph of the flowchart is the
one the Mermaid diagram draws (``bti.engine.mermaid.arrows``); where each box goes is the web
layer's (``bti.web.charts.workflow_chart``).

No case data is read, so nothing is audited: the guide is the same for everyone in the
municipality.
"""

from __future__ import annotations

from dataclasses import dataclass

from bti.domain.org import Municipality
from bti.domain.policy import may_read_guide
from bti.domain.vocabulary import GUARDS
from bti.engine import WorkflowDefinition
from bti.engine.definition import PHASES
from bti.engine.definition import Deadlines
from bti.engine.definition import TransitionDef
from bti.engine.i18n import pick
from bti.engine.mermaid import arrows
from bti.engine.mermaid import standing_exits
from bti.services.cases.audience import BarnevernContacts
from bti.services.context import Ctx
from bti.services.errors import NotFound


@dataclass(frozen=True)
class GuideAction:
    """One step a user takes: a transition of the workflow."""

    trigger: str
    label: str
    help: str | None
    #: Roles and relations that may take it, as the workflow file names them (sorted).
    roles: tuple[str, ...]
    #: Where the case goes (a state name), or None when the case stays (a recording).
    dest: str | None
    dest_label: str | None
    #: What the step asks of the case, in words (one per guard).
    requires: tuple[str, ...]
    reason: bool


@dataclass(frozen=True)
class GuideStep:
    """One state of the workflow and the steps that lead on from it."""

    name: str
    label: str
    help: str | None
    phase: str
    final: bool
    moves: tuple[GuideAction, ...]
    #: What may be recorded here without moving the case: (trigger, its first label).
    records: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class GuideLevel:
    id: str
    number: int | None
    label: str
    colour: str | None
    final: bool
    #: Days from entering the level until its decision is due, if the workflow sets a limit.
    decision_days: int | None
    steps: tuple[GuideStep, ...]


@dataclass(frozen=True)
class GraphNode:
    name: str
    label: str
    level: str
    #: Index of the level in the workflow (the layer of the layered layout).
    layer: int
    #: Order within the level: the phase, then the file's order.
    order: int
    final: bool


@dataclass(frozen=True)
class GraphEdge:
    source: str
    dest: str
    trigger: str
    label: str


@dataclass(frozen=True)
class GuideGraph:
    """The state graph the Mermaid diagram draws: states, and every state-changing arrow."""

    #: Cache key: workflow id, version, content hash and language.
    key: tuple[str, int, str, str]
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    initial: str
    level_labels: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Guide:
    workflow_id: str
    version: int
    #: The stored revision new cases start on (what the municipality runs now).
    record_id: int
    title: str
    description: str | None
    initial: str
    levels: tuple[GuideLevel, ...]
    standing: tuple[GuideAction, ...]
    deadlines: Deadlines
    youth_consent_age: int
    contacts: BarnevernContacts
    municipality_name: str
    graph: GuideGraph
    #: The guidance panels of the workflow file: (title, text).
    guidance: tuple[tuple[str, str], ...]

    def step(self, name: str) -> GuideStep | None:
        for level in self.levels:
            for step in level.steps:
                if step.name == name:
                    return step
        return None


def _action(d: WorkflowDefinition, t: TransitionDef, lang: str) -> GuideAction:
    guards = [*t.guards, *(w.guard for w in t.when)]
    requires = tuple(dict.fromkeys(pick(GUARDS[g], lang) for g in guards if g in GUARDS))
    return GuideAction(
        trigger=t.trigger, label=pick(t.label, lang),
        help=pick(t.help, lang) if t.help else None, roles=tuple(sorted(t.roles)),
        dest=t.dest, dest_label=pick(d.state(t.dest).label, lang) if t.dest else None,
        requires=requires, reason=t.reason)


def _graph(d: WorkflowDefinition, lang: str) -> GuideGraph:
    layer = {lv.id: i for i, lv in enumerate(d.levels)}
    phase = {p: i for i, p in enumerate(PHASES)}
    ranked = sorted(enumerate(d.states),
                    key=lambda e: (layer[e[1].level], phase.get(e[1].phase, 0), e[0]))
    seen: dict[str, int] = {}
    nodes = []
    for _, s in ranked:
        order = seen.get(s.level, 0)
        seen[s.level] = order + 1
        nodes.append(GraphNode(s.name, pick(s.label, lang), s.level, layer[s.level], order,
                               s.final))
    edges = tuple(GraphEdge(src, dst, t.trigger, pick(t.label, lang))
                  for src, dst, t in arrows(d))
    return GuideGraph((d.id, d.version, d.source_sha256, lang), tuple(nodes), edges, d.initial,
                      tuple((lv.id, pick(lv.label, lang)) for lv in d.levels))


def build(d: WorkflowDefinition, lang: str, *, record_id: int,
          contacts: BarnevernContacts, municipality_name: str) -> Guide:
    """The guide of definition ``d`` in ``lang`` (pure; ``guide`` reads what it needs)."""
    moving: dict[str, list[GuideAction]] = {s.name: [] for s in d.states}
    recording: dict[str, dict[str, str]] = {s.name: {} for s in d.states}
    for t in d.transitions:
        if t.standing:
            continue
        for source in t.sources:
            if t.dest is None or t.dest == source:
                recording[source].setdefault(t.trigger, pick(t.label, lang))
            else:
                moving[source].append(_action(d, t, lang))
    levels = []
    for lv in d.levels:
        steps = tuple(
            GuideStep(s.name, pick(s.label, lang), pick(s.help, lang) if s.help else None,
                      s.phase, s.final, tuple(moving[s.name]),
                      tuple(recording[s.name].items()))
            for s in d.states if s.level == lv.id)
        levels.append(GuideLevel(lv.id, lv.number, pick(lv.label, lang), lv.colour, lv.final,
                                 d.deadlines.level_decision_days.get(lv.id), steps))
    return Guide(
        workflow_id=d.id, version=d.version, record_id=record_id, title=pick(d.title, lang),
        description=pick(d.description, lang) if d.description else None, initial=d.initial,
        levels=tuple(levels),
        standing=tuple(_action(d, t, lang) for t in standing_exits(d)),
        deadlines=d.deadlines, youth_consent_age=d.settings.youth_consent_age,
        contacts=contacts, municipality_name=municipality_name, graph=_graph(d, lang),
        guidance=tuple((pick(g.title, lang),
                        pick(g.text, lang).replace("{youth_consent_age}",
                                                   str(d.settings.youth_consent_age)))
                       for g in d.guidance))


def guide(ctx: Ctx, lang: str) -> Guide:
    """The guide of the workflow the actor's municipality runs now (the revision new cases
    start on), in ``lang``. ``NotFound`` for an actor who may not read it."""
    if not may_read_guide(ctx.actor):
        raise NotFound("guide")
    m = ctx.session.get_one(Municipality, ctx.actor.municipality_id)
    record_id = ctx.workflows.current_record_id(ctx.session, m.workflow_id)
    definition = ctx.workflows.for_record(ctx.session, record_id).definition
    contacts = BarnevernContacts(m.barnevern_phone, m.barnevern_email, m.barnevernvakt_phone)
    return build(definition, lang, record_id=record_id, contacts=contacts,
                 municipality_name=m.name)
