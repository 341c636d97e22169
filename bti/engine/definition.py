"""Frozen, validated workflow definitions, and the vocabulary a file may use.

A ``WorkflowDefinition`` is immutable. Cases store the id of the stored definition they started
on; the engine never changes a definition in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from types import MappingProxyType

#: Phases every level runs through (domain.md §2, "intra-level cycle"); ``closed`` for final states.
PHASES = ("plan", "active", "evaluation", "decision", "closed")

#: Field types a workflow form may use, and what each loads into.
FIELD_TYPES = (
    "text",  # one line, at most 200 characters
    "textarea",  # free text, at most 10,000 characters
    "date",  # ISO date
    "bool",
    "int",
    "choice",  # one of the field's options
    "user",  # id of a user in the case's municipality
    "unit",  # id of a unit (service)
    "units",  # non-empty list of unit ids
    "measure",  # id of a measure on the case
    "measures",  # non-empty list of measure ids on the case
    "consent",  # id of a consent on the case
    "handover",  # id of a handover on the case
    "report",  # id of a report to barnevernet on the case
    "catalogue",  # id of a measure in the municipality's catalogue (tiltaksoversikt)
)


@dataclass(frozen=True)
class EffectSpec:
    """What an effect (the record a transition writes) consumes, declared by the domain.

    ``required`` and ``optional`` map field name to field type. ``required_guards`` are guards a
    transition with this effect must declare (for example ``inform_home`` needs
    ``no_violence_flag``). ``required_when`` are (field, guard) pairs a transition with this
    effect must declare a ``when`` rule for: the guard applies to the values of the field the
    workflow names, and the workflow says whether it refuses or warns (for example a meeting of
    kind undringssamtale under the violence flag).
    """

    kind: str
    required: Mapping[str, str] = field(default_factory=dict)
    optional: Mapping[str, str] = field(default_factory=dict)
    required_guards: tuple[str, ...] = ()
    required_when: tuple[tuple[str, str], ...] = ()
    #: A transition with this effect may say that it informs the home
    #: (``home_informed_by``): a meeting of a given kind with the home present.
    may_inform_home: bool = False


@dataclass(frozen=True)
class Vocabulary:
    """The names a workflow file may reference. Passed in by the caller, so the engine stays
    ignorant of the domain (architecture §4.5)."""

    roles: frozenset[str]
    guards: frozenset[str]
    effects: Mapping[str, EffectSpec]
    #: Roles a standing exit must be open to: every employee related to the case.
    standing_roles: frozenset[str] = frozenset()
    #: Effects that must each be offered by a standing exit.
    standing_effects: frozenset[str] = frozenset()
    #: Effect used for the initial concern (the ``[opening]`` table).
    opening_effect: str = "concern"
    #: The stafettlogg entry kinds; a ``[family_sharing]`` table must give each a default.
    log_kinds: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Option:
    value: str
    label: Mapping[str, str]


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    label: Mapping[str, str]
    help: Mapping[str, str] | None = None
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class LevelDef:
    id: str
    number: int | None
    final: bool
    label: Mapping[str, str]
    colour: str | None = None


@dataclass(frozen=True)
class StateDef:
    name: str
    level: str
    phase: str
    final: bool
    label: Mapping[str, str]
    help: Mapping[str, str] | None = None


#: What a failing ``when`` rule does: refuse the action, or let it through with a warning.
WHEN_OUTCOMES = ("refuse", "warn")
#: The values of a ``[family_sharing]`` entry: the kind's default for the family's page.
FAMILY_SHARING = ("shared", "internal")


@dataclass(frozen=True)
class WhenDef:
    """A guard that applies only when the payload's ``field`` takes one of ``values``: if the
    guard fails, the action is refused (``on_fail = "refuse"``) or recorded with a warning
    (``"warn"``)."""

    field: str
    values: frozenset[str]
    guard: str
    on_fail: str


@dataclass(frozen=True)
class HomeInformedBy:
    """A recording that also says the home is informed, so one act is recorded once: the
    choice ``field`` takes one of ``values`` (a meeting of kind undringssamtale) and the bool
    field ``present`` is true (the home took part)."""

    field: str
    values: frozenset[str]
    present: str

    def met(self, payload: Mapping[str, object]) -> bool:
        return payload.get(self.field) in self.values and payload.get(self.present) is True


@dataclass(frozen=True)
class TransitionDef:
    trigger: str
    sources: tuple[str, ...]
    dest: str | None  # None: an internal transition that records but does not move the case
    roles: frozenset[str]
    guards: tuple[str, ...]
    reason: bool
    effect: str
    fields: tuple[str, ...]
    optional: tuple[str, ...]
    label: Mapping[str, str]
    help: Mapping[str, str] | None = None
    standing: bool = False  # a standing exit: open in every non-final state, never gated
    when: tuple[WhenDef, ...] = ()  # guards that apply to some values of a field
    #: The stafettlogg entry's title in the past tense ("{stafettholder} ble stafettholder"),
    #: its placeholders fields of this transition, resolved from the entry's payload.
    title: Mapping[str, str] | None = None
    #: The message after saving, in the past tense ("Tiltaket er lagt til").
    saved: Mapping[str, str] | None = None
    #: When recording this also informs the home (``[transitions.home_informed_by]``).
    home_informed_by: HomeInformedBy | None = None

    @property
    def internal(self) -> bool:
        return self.dest is None


@dataclass(frozen=True)
class OpeningDef:
    roles: frozenset[str]
    fields: tuple[str, ...]
    optional: tuple[str, ...]
    label: Mapping[str, str]
    title: Mapping[str, str] | None = None
    saved: Mapping[str, str] | None = None


@dataclass(frozen=True)
class GuidanceDef:
    """A guidance panel the workflow file gives, shown on the forms of the transitions ``on``
    (what an undringssamtale is, what consent is for): the municipality's own words, its
    ``{youth_consent_age}`` filled in from the settings."""

    id: str
    on: tuple[str, ...]
    title: Mapping[str, str]
    text: Mapping[str, str]


@dataclass(frozen=True)
class TeamDef:
    id: str
    label: Mapping[str, str]


@dataclass(frozen=True)
class Deadlines:
    #: Days from entering a level until its decision is due (``{"n0": 14}``).
    level_decision_days: Mapping[str, int]
    #: Latest evaluation date of a measure, in days after its start.
    measure_evaluation_max_days: int
    #: Days after a report until barnevernet's confirmation of receipt is expected.
    barnevern_feedback_days: int
    #: Warn the stafettholder this many days before a consent expires.
    consent_expiry_warning_days: int
    #: A case with no log entry for this many days is "inactive".
    inactivity_days: int


@dataclass(frozen=True)
class Settings:
    #: Age from which the youth's own consent is needed (15 or 16).
    youth_consent_age: int
    #: Whether a young person from that age decides if their guardians keep access to the
    #: family pages of the case (``bti.services.family.consent.end_guardians``).
    youth_decides_guardian_access: bool = True


@dataclass(frozen=True)
class WorkflowDefinition:
    id: str
    version: int
    title: Mapping[str, str]
    initial: str
    levels: tuple[LevelDef, ...]
    states: tuple[StateDef, ...]
    transitions: tuple[TransitionDef, ...]
    fields: Mapping[str, FieldDef]
    deadlines: Deadlines
    settings: Settings
    opening: OpeningDef
    teams: tuple[TeamDef, ...] = ()
    description: Mapping[str, str] | None = None
    guidance: tuple[GuidanceDef, ...] = ()
    #: The stafettlogg entry kinds shared with the family by default (``[family_sharing]``);
    #: every other kind is internal. Staff may choose otherwise per entry.
    family_shared_kinds: frozenset[str] = frozenset()
    source_sha256: str = ""
    source: str = field(default="", repr=False, compare=False)

    _state_index: Mapping[str, StateDef] = field(init=False, repr=False, compare=False)
    _level_index: Mapping[str, LevelDef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_state_index", MappingProxyType({s.name: s for s in self.states}))
        object.__setattr__(
            self, "_level_index", MappingProxyType({lv.id: lv for lv in self.levels})
        )

    def state(self, name: str) -> StateDef:
        return self._state_index[name]

    def level(self, level_id: str) -> LevelDef:
        return self._level_index[level_id]

    def level_of(self, state: str) -> LevelDef:
        return self._level_index[self._state_index[state].level]

    def shared_by_default(self, kind: str) -> bool:
        """Whether an entry of ``kind`` is shared with the family unless staff say otherwise."""
        return kind in self.family_shared_kinds

    @property
    def final_states(self) -> frozenset[str]:
        return frozenset(s.name for s in self.states if s.final)

    @property
    def triggers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.trigger for t in self.transitions))
