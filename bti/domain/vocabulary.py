"""The words a workflow file may use: roles, guards and effects, with their nb/nn/en texts.

A new guard means an entry here, a function in ``bti.domain.facts`` and a test; a new effect means
an entry here and a handler in ``bti.services.cases.effects`` (a test checks both registries match).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from bti.engine import EffectSpec
from bti.engine import Vocabulary


class Role(StrEnum):
    """Roles a user holds in the municipality (stored per user)."""

    EMPLOYEE = "employee"  # tilsett: teacher, kindergarten staff, school nurse …
    COORDINATOR = "coordinator"  # koordinator: advances cases, often the stafettholder
    LEADER = "leader"  # leiar: leader of a unit
    ADMIN = "admin"  # manages users; sees no case content without a relation
    PRIVACY_OFFICER = "privacy_officer"  # personvernombod: audits the access log


class Relation(StrEnum):
    """Roles a user has on one case, from their relation to it."""

    REPORTER = "reporter"  # raised the concern
    STAFETTHOLDER = "stafettholder"  # holds the baton
    PARTICIPANT = "participant"  # admitted through a consent covering their service
    UNIT_LEADER = "unit_leader"  # leader of the case's unit
    HANDOVER_RECIPIENT = "handover_recipient"  # proposed as the next stafettholder
    EMERGENCY = "emergency"  # selvautorisering: an unexpired emergency access to the case


#: The role a family member (a guardian or the young person, signed in through the family
#: provider) acts in on their own case: a workflow transition listing it may be taken from the
#: family page (``bti.services.family.consent``). Not a relation of a staff member, so no
#: standing role.
FAMILY_ROLE = "family"

ALL_ROLES = frozenset({*(r.value for r in Role), *(r.value for r in Relation), FAMILY_ROLE})

#: Everyone who may take a standing exit (report to barnevernet, avvergeplikt): everyone who may
#: read the case, through whichever relation. The duty is personal and never gated by approval
#: (domain.md §5.3); a new relation is a standing role at once, and every workflow file must
#: open its standing exits to it (the schema check refuses a file that does not).
STANDING_ROLES = frozenset(r.value for r in Relation)

L = dict[str, str]

GUARDS: dict[str, L] = {
    "has_stafettholder": {
        "nb": "Saken må ha en stafettholder før den løftes til nivå 1 eller høyere.",
        "nn": "Saka må ha ein stafetthaldar før ho blir løfta til nivå 1 eller høgare.",
        "en": "The case needs a stafettholder before it moves to level 1 or above.",
    },
    "no_stafettholder": {
        "nb": "Saken har allerede en stafettholder; bytte skjer ved overføring.",
        "nn": "Saka har allereie ein stafetthaldar; byte skjer ved overføring.",
        "en": "The case already has a stafettholder; change it through a handover.",
    },
    "consent_valid": {
        "nb": "Det må foreligge et gyldig samtykke fra foresatte (og fra ungdommen når alderen "
        "krever det).",
        "nn": "Det må liggje føre eit gyldig samtykke frå føresette (og frå ungdommen når alderen "
        "krev det).",
        "en": "A valid consent from the guardians (and from the youth, where their age requires "
        "it) is needed.",
    },
    "consent_covers_services": {
        "nb": "Samtykket må dekke alle tjenestene som deltar i saken.",
        "nn": "Samtykket må dekkje alle tenestene som deltek i saka.",
        "en": "The consent must cover every service taking part in the case.",
    },
    "measures_owned_and_dated": {
        "nb": "Alle aktive tiltak må ha en ansvarlig og en evalueringsdato.",
        "nn": "Alle aktive tiltak må ha ein ansvarleg og ein evalueringsdato.",
        "en": "Every active measure needs a responsible person and an evaluation date.",
    },
    "has_active_measure": {
        "nb": "Saken må ha minst ett aktivt tiltak.",
        "nn": "Saka må ha minst eitt aktivt tiltak.",
        "en": "The case needs at least one active measure.",
    },
    "measures_evaluated": {
        "nb": "Alle tiltak må være evaluert først, også tiltak som er avsluttet uten "
        "evaluering.",
        "nn": "Alle tiltak må vere evaluerte først, også tiltak som er avslutta utan "
        "evaluering.",
        "en": "Every measure must be evaluated first, including measures stopped without an "
        "evaluation.",
    },
    "no_violence_flag": {
        "nb": "Det er mistanke om vold eller overgrep: heimen skal ikke informeres før "
        "barnevernet eller politiet er konsultert.",
        "nn": "Det er mistanke om vald eller overgrep: heimen skal ikkje informerast før "
        "barnevernet eller politiet er konsultert.",
        "en": "Violence or abuse is suspected: do not inform the home before child welfare or "
        "the police have been consulted.",
    },
    "violence_flag_set": {
        "nb": "Saken er ikke merket med mistanke om vold eller overgrep.",
        "nn": "Saka er ikkje merkt med mistanke om vald eller overgrep.",
        "en": "The case is not flagged for suspected violence or abuse.",
    },
    "home_informed": {
        "nb": "Heimen må være informert (undringssamtale) først.",
        "nn": "Heimen må vere informert (undringssamtale) først.",
        "en": "The home must be informed (undringssamtale) first.",
    },
    "no_pending_handover": {
        "nb": "En overføring venter allerede på svar.",
        "nn": "Ei overføring ventar allereie på svar.",
        "en": "A handover is already waiting for an answer.",
    },
    "is_handover_recipient": {
        "nb": "Bare den som er foreslått som ny stafettholder kan svare på overføringen.",
        "nn": "Berre den som er føreslått som ny stafetthaldar kan svare på overføringa.",
        "en": "Only the proposed new stafettholder can answer the handover.",
    },
    "ip_handover": {
        "nb": "Overføringen som venter, gjelder ikke individuell plan.",
        "nn": "Overføringa som ventar, gjeld ikkje individuell plan.",
        "en": "The handover waiting is not one to an individual plan.",
    },
    "not_ip_handover": {
        "nb": "Overføringen gjelder individuell plan: ta imot saken som koordinator.",
        "nn": "Overføringa gjeld individuell plan: ta imot saka som koordinator.",
        "en": "The handover is to an individual plan: accept the case as its coordinator.",
    },
    "has_ip": {
        "nb": "Saken har ikke individuell plan (ennå).",
        "nn": "Saka har ikkje individuell plan (enno).",
        "en": "The case has no individual plan (yet).",
    },
    "may_edit_ansvarsgruppe": {
        "nb": "Bare koordinatoren og stafettholderen kan endre ansvarsgruppen.",
        "nn": "Berre koordinatoren og stafetthaldaren kan endre ansvarsgruppa.",
        "en": "Only the coordinator and the stafettholder can change the ansvarsgruppe.",
    },
    "may_withdraw_handover": {
        "nb": "Bare den som foreslo overføringen, eller stafettholderen, kan trekke den tilbake, "
        "og bare mens den venter på svar.",
        "nn": "Berre den som føreslo overføringa, eller stafetthaldaren, kan trekkje ho tilbake, "
        "og berre medan ho ventar på svar.",
        "en": "Only the one who proposed the handover, or the stafettholder, can withdraw it, and "
        "only while it waits for an answer.",
    },
    "has_report_awaiting_feedback": {
        "nb": "Ingen bekymringsmelding venter på tilbakemelding fra barnevernet: alle er "
        "henlagt eller ferdig undersøkt.",
        "nn": "Inga bekymringsmelding ventar på tilbakemelding frå barnevernet: alle er "
        "lagde bort eller ferdig undersøkte.",
        "en": "No report is waiting for feedback from child welfare: every report was closed "
        "without investigation or its investigation has ended.",
    },
    "has_active_consent": {
        "nb": "Det finnes ikke noe gjeldende samtykke å trekke tilbake.",
        "nn": "Det finst ikkje noko gjeldande samtykke å trekkje tilbake.",
        "en": "There is no current consent to withdraw.",
    },
    "has_report_without_debrief": {
        "nb": "Ingen bekymringsmelding venter på at en debrief er tilbudt den som meldte.",
        "nn": "Inga bekymringsmelding ventar på at ein debrief er tilboden den som melde.",
        "en": "No report is waiting for a debrief to be offered to the reporter.",
    },
}


#: What exactly a guard misses, when the facts can tell (``Refusal.detail``), with the
#: parameters the facts give (``Refusal.params``, ``{unit}``, ``{units}``, ``{age}``, ``{date}``).
#: Without a detail the guard's own message above is shown.
#: Refusals that no workflow file names as a guard, made by the service around the engine: a
#: practice case's step that would reach outside its sandbox
#: (``bti.services.cases.lifecycle._practice_sandbox``). Each has its texts in
#: ``GUARD_DETAILS`` only.
SERVICE_GUARDS: frozenset[str] = frozenset({"practice"})

GUARD_DETAILS: dict[str, dict[str, L]] = {
    "practice": {  # a practice case (øvingssak) never reaches outside its sandbox
        "outside": {
            "nb": "Dette steget når andre personer eller tjenester, og kan derfor ikke gjøres i "
            "en øvingssak. I en ekte sak gjør du det her.",
            "nn": "Dette steget når andre personar eller tenester, og kan difor ikkje gjerast i "
            "ei øvingssak. I ei ekte sak gjer du det her.",
            "en": "This step reaches other people or services, so it cannot be done in a "
            "practice case. In a real case you do it here.",
        },
    },
    "consent_valid": {
        "missing": GUARDS["consent_valid"],
        "missing_with_youth": {
            "nb": "Det må foreligge et gyldig samtykke fra foresatte og fra ungdommen selv "
            "(fra {age} år).",
            "nn": "Det må liggje føre eit gyldig samtykke frå føresette og frå ungdommen sjølv "
            "(frå {age} år).",
            "en": "A valid consent from the guardians and from the youth (aged {age} or over) "
            "is needed.",
        },
        "own_unit_only": {
            "nb": "Samtykket må gjelde minst én tjeneste utenom {unit}.",
            "nn": "Samtykket må gjelde minst éi teneste utanom {unit}.",
            "en": "The consent must cover at least one service other than {unit}.",
        },
        "youth_missing": {
            "nb": "Samtykke fra ungdommen selv mangler: fra {age} år må ungdommen samtykke.",
            "nn": "Samtykke frå ungdommen sjølv manglar: frå {age} år må ungdommen samtykkje.",
            "en": "The youth's own consent is missing: from the age of {age} the youth must "
            "consent.",
        },
        "guardians_missing": {
            "nb": "Samtykke fra foresatte mangler.",
            "nn": "Samtykke frå føresette manglar.",
            "en": "The guardians' consent is missing.",
        },
        "no_common_service": {
            "nb": "Foresatte og ungdommen må samtykke til minst én felles tjeneste utenom "
            "{unit}.",
            "nn": "Føresette og ungdommen må samtykkje til minst éi felles teneste utanom "
            "{unit}.",
            "en": "The guardians and the youth must consent to at least one common service "
            "other than {unit}.",
        },
        "expired": {
            "nb": "Samtykket gjaldt til {date} og er utløpt. Registrer et nytt samtykke.",
            "nn": "Samtykket galdt til {date} og har gått ut. Registrer eit nytt samtykke.",
            "en": "The consent was valid until {date} and has expired. Record a new consent.",
        },
    },
    "consent_covers_services": {
        "not_covered": {
            "nb": "Samtykket dekker ikke {units}.",
            "nn": "Samtykket dekkjer ikkje {units}.",
            "en": "The consent does not cover {units}.",
        },
    },
}



#: The checklist text of each guard on the case page ("what comes next"): the guard phrased as
#: the condition that holds when it is met ("samtykke som dekker en annen tjeneste enn
#: {unit}"), and the trigger of the action that meets it, where there is one (None: nothing the
#: user can do on the case meets it, for example waiting for an answer to a handover).
#: Parameters: ``{unit}``, the case's own unit. A test checks every guard has all three texts
#: and that every named trigger exists in every shipped workflow file.
CHECKLIST_PARAMS = frozenset({"unit"})


@dataclass(frozen=True)
class GuardCheck:
    text: L
    action: str | None = None


GUARD_CHECKLIST: dict[str, GuardCheck] = {
    "has_stafettholder": GuardCheck({
        "nb": "en stafettholder er utnevnt",
        "nn": "ein stafetthaldar er utnemnd",
        "en": "a stafettholder is appointed",
    }, "appoint_stafettholder"),
    "no_stafettholder": GuardCheck({
        "nb": "saken har ingen stafettholder ennå (bytte skjer ved overføring)",
        "nn": "saka har ingen stafetthaldar enno (byte skjer ved overføring)",
        "en": "the case has no stafettholder yet (a change goes through a handover)",
    }),
    "consent_valid": GuardCheck({
        "nb": "samtykke som dekker en annen tjeneste enn {unit}",
        "nn": "samtykke som dekkjer ei anna teneste enn {unit}",
        "en": "consent covering a service other than {unit}",
    }, "give_consent"),
    "consent_covers_services": GuardCheck({
        "nb": "samtykke som dekker alle tjenestene som deltar",
        "nn": "samtykke som dekkjer alle tenestene som deltek",
        "en": "consent covering every service taking part",
    }, "give_consent"),
    "measures_owned_and_dated": GuardCheck({
        "nb": "alle aktive tiltak har en ansvarlig og en evalueringsdato",
        "nn": "alle aktive tiltak har ein ansvarleg og ein evalueringsdato",
        "en": "every active measure has a responsible person and an evaluation date",
    }),
    "has_active_measure": GuardCheck({
        "nb": "minst ett aktivt tiltak",
        "nn": "minst eitt aktivt tiltak",
        "en": "at least one active measure",
    }, "add_measure"),
    "measures_evaluated": GuardCheck({
        "nb": "alle tiltak er evaluert, også de som er avsluttet",
        "nn": "alle tiltak er evaluerte, også dei som er avslutta",
        "en": "every measure is evaluated, stopped ones included",
    }, "record_evaluation"),
    # meeting it means lifting the flag: never offered as the way forward (domain.md §5.4)
    "no_violence_flag": GuardCheck({
        "nb": "saken er ikke merket med mistanke om vold eller overgrep",
        "nn": "saka er ikkje merkt med mistanke om vald eller overgrep",
        "en": "the case is not flagged for suspected violence or abuse",
    }),
    "violence_flag_set": GuardCheck({
        "nb": "saken er merket med mistanke om vold eller overgrep",
        "nn": "saka er merkt med mistanke om vald eller overgrep",
        "en": "the case is flagged for suspected violence or abuse",
    }, "flag_violence"),
    "home_informed": GuardCheck({
        "nb": "heimen er informert (undringssamtale)",
        "nn": "heimen er informert (undringssamtale)",
        "en": "the home is informed (undringssamtale)",
    }, "inform_home"),
    "no_pending_handover": GuardCheck({
        "nb": "ingen overføring venter på svar",
        "nn": "inga overføring ventar på svar",
        "en": "no handover is waiting for an answer",
    }),
    "is_handover_recipient": GuardCheck({
        "nb": "du er foreslått som ny stafettholder",
        "nn": "du er føreslått som ny stafetthaldar",
        "en": "you are proposed as the new stafettholder",
    }),
    "ip_handover": GuardCheck({
        "nb": "overføringen som venter, gjelder individuell plan",
        "nn": "overføringa som ventar, gjeld individuell plan",
        "en": "the handover waiting is to an individual plan",
    }),
    "not_ip_handover": GuardCheck({
        "nb": "overføringen som venter, gjelder stafettpinnen",
        "nn": "overføringa som ventar, gjeld stafettpinnen",
        "en": "the handover waiting is of the baton",
    }),
    "has_ip": GuardCheck({
        "nb": "saken har individuell plan (overføringen er tatt imot)",
        "nn": "saka har individuell plan (overføringa er teken imot)",
        "en": "the case has an individual plan (the handover is accepted)",
    }, "handover_ip"),
    "may_edit_ansvarsgruppe": GuardCheck({
        "nb": "du er koordinator eller stafettholder",
        "nn": "du er koordinator eller stafetthaldar",
        "en": "you are the coordinator or the stafettholder",
    }),
    "may_withdraw_handover": GuardCheck({
        "nb": "du foreslo overføringen eller er stafettholder, og den venter på svar",
        "nn": "du føreslo overføringa eller er stafetthaldar, og ho ventar på svar",
        "en": "you proposed the handover or hold the baton, and it waits for an answer",
    }),
    "has_report_awaiting_feedback": GuardCheck({
        "nb": "en bekymringsmelding venter på tilbakemelding fra barnevernet",
        "nn": "ei bekymringsmelding ventar på tilbakemelding frå barnevernet",
        "en": "a report awaits feedback from child welfare",
    }, "report_barnevernet"),
    "has_active_consent": GuardCheck({
        "nb": "et gjeldende samtykke",
        "nn": "eit gjeldande samtykke",
        "en": "a current consent",
    }, "give_consent"),
    "has_report_without_debrief": GuardCheck({
        "nb": "en bekymringsmelding der den som meldte ennå ikke er tilbudt debrief",
        "nn": "ei bekymringsmelding der den som melde enno ikkje er tilboden debrief",
        "en": "a report whose reporter has not yet been offered a debrief",
    }),
}


def _e(kind: str, required: Mapping[str, str] | None = None,
       optional: Mapping[str, str] | None = None, guards: Iterable[str] = (),
       when: Iterable[tuple[str, str]] = (), informs_home: bool = False) -> EffectSpec:
    return EffectSpec(kind=kind, required=required or {}, optional=optional or {},
                      required_guards=tuple(guards), required_when=tuple(when),
                      may_inform_home=informs_home)


#: Contact with the home under the violence flag: as ``inform_home`` is guarded by
#: ``no_violence_flag``, a meeting of a kind that meets the home (undringssamtale) and a consent
#: from the guardians need a ``when`` rule in the workflow file saying which values meet the
#: home and whether the flag refuses or warns.
_HOME_MEETING = (("meeting_kind", "no_violence_flag"),)
_HOME_CONSENT = (("given_by", "no_violence_flag"),)


EFFECTS: dict[str, EffectSpec] = {
    # a phase or level change that records only the step (and its reason, where required)
    "none": _e("phase"),
    "concern": _e(
        "concern",
        {"what_seen": "textarea"},
        {"since": "text", "earlier_concerns": "textarea", "child_said": "textarea",
         "who_knows": "textarea", "violence_suspected": "bool"},
    ),
    "inform_home": _e("home", {"informed_on": "date"}, {"how": "textarea"},
                      guards=("no_violence_flag",)),
    "flag_violence": _e("flag"),
    "clear_violence_flag": _e("flag"),
    "appoint_stafettholder": _e("stafettholder", {"stafettholder": "user"}),
    "add_participant": _e("participant", {"participant": "user", "service": "unit"},
                          {"task": "text"}),
    "goal": _e("goal", {"goal_text": "textarea"}),
    "measure": _e(
        "measure",
        {"description": "textarea", "responsible": "user", "start_date": "date",
         "evaluate_by": "date"},
        {"setting": "choice", "goal_text": "textarea", "catalogue": "catalogue"},
    ),
    # the stop may record the measure's evaluation with it (effect and the child's voice);
    # without one the measure still needs an evaluation (guard ``measures_evaluated``)
    "stop_measure": _e("measure", {"measure": "measure"},
                       {"effect": "choice", "child_voice_method": "choice",
                        "child_said": "textarea", "child_not_heard_reason": "textarea",
                        "evaluated_on": "date"}),
    "evaluation": _e(
        "evaluation",
        {"measures": "measures", "effect": "choice", "child_voice_method": "choice",
         "outcome": "choice"},
        {"child_said": "textarea", "child_not_heard_reason": "textarea", "notes": "textarea",
         "evaluated_on": "date"},
    ),
    "meeting": _e(
        "meeting",
        {"meeting_kind": "choice", "held_on": "date"},
        {"attendees": "textarea", "minutes": "textarea", "next_meeting_on": "date",
         "team": "choice", "child_voice_method": "choice", "child_said": "textarea",
         "home_present": "bool"},
        # a meeting with the home (the undringssamtale) may say the home is informed
        when=_HOME_MEETING, informs_home=True,
    ),
    "note": _e("note", {"text": "textarea"}),
    "consent_given": _e(
        "consent",
        {"given_by": "choice", "services": "units", "information": "textarea", "given_on": "date"},
        {"expires_on": "date", "consent_form": "choice"},
        when=_HOME_CONSENT,
    ),
    "consent_withdrawn": _e("consent", {"consent": "consent"}, {"notes": "textarea"}),
    "consent_refused": _e("consent", {"given_by": "choice", "services": "units"},
                          {"notes": "textarea"}),
    # ``holder_stays``: the stafettholder stays on as a participant once it is accepted (only
    # where their service may take part: ``bti.services.cases.handover``)
    "handover_proposed": _e("handover", {"to_user": "user", "reason": "textarea"},
                            {"holder_stays": "bool"}, guards=("no_pending_handover",)),
    "handover_accepted": _e("handover", {}, {},
                            guards=("is_handover_recipient", "not_ip_handover")),
    "handover_declined": _e("handover", {}, {}, guards=("is_handover_recipient",)),
    # a handover to an individual plan names the coordinator (``to_user``) or the coordinating
    # unit (``coordinating_unit``), exactly one of them (``bti.services.cases.effects``)
    "ip_handover_proposed": _e("handover", {"reason": "textarea"},
                               {"to_user": "user", "coordinating_unit": "unit"},
                               guards=("no_pending_handover",)),
    "ip_handover_accepted": _e("handover", {}, {},
                               guards=("is_handover_recipient", "ip_handover")),
    # the ansvarsgruppe of an IP case: staff as users (``member``), guardians and the child by
    # name (``member_name``); one coordinator; meetings with minutes
    "ansvarsgruppe_member": _e("participant", {"member_kind": "choice"},
                               {"member": "user", "member_name": "text", "member_role": "text"},
                               guards=("has_ip", "may_edit_ansvarsgruppe")),
    "ansvarsgruppe_member_ended": _e("participant", {}, {"member": "user", "member_name": "text"},
                                     guards=("has_ip", "may_edit_ansvarsgruppe")),
    "ip_coordinator": _e("participant", {"coordinator": "user"},
                         guards=("has_ip", "may_edit_ansvarsgruppe")),
    "ansvarsgruppe_meeting": _e("meeting", {"held_on": "date", "place": "text",
                                            "minutes": "textarea"},
                                guards=("has_ip", "may_edit_ansvarsgruppe")),
    "handover_withdrawn": _e("handover", {}, {}, guards=("may_withdraw_handover",)),
    # gode overgangar: the case moves to another unit of its municipality with the consent to
    # the transfer (``given_by``, ``given_on``); ``new_stafettholder`` takes the baton when the
    # holder belongs to the sending unit (bti.services.cases.moves)
    "unit_moved": _e("move", {"to_unit": "unit", "given_by": "choice", "given_on": "date",
                              "reason": "textarea"},
                     {"new_stafettholder": "user"}, guards=("no_pending_handover",)),
    # the family moved: the case closes as transferred to ``to_municipality`` with the consent
    # to the transfer; the signed bundle is written by ``bti case transfer-export``
    "transferred_out": _e("close", {"to_municipality": "text", "given_by": "choice",
                                    "given_on": "date", "reason": "textarea"},
                          {}, guards=("no_pending_handover",)),
    "report_barnevernet": _e("report", {"sent_on": "date"}, {"grounds": "choice",
                                                            "notes": "textarea"}),
    # one stage of barnevernet's feedback (``feedback_kind``, bti.domain.cases.FEEDBACK_STAGES)
    # on ``report``, which may be left out while only one report awaits feedback
    "barnevern_feedback": _e("report", {"received_on": "date", "feedback_kind": "choice"},
                             {"report": "report", "notes": "textarea"},
                             guards=("has_report_awaiting_feedback",)),
    # the nearest leader offered the reporter a debrief: the fact only, on ``debrief_report``
    # (may be left out while only one report waits for it), never what was said
    "debrief_offered": _e("report", {}, {"debrief_report": "report"},
                          guards=("has_report_without_debrief",)),
    "avverge": _e("report", {"reported_to": "choice", "reported_on": "date"},
                  {"notes": "textarea"}),
    "referral": _e("referral", {"referred_to": "choice"}, {"notes": "textarea"}),
    "close": _e("close", {}, {"archive_reference": "text", "closing_note": "textarea"}),
}

#: Effects of a transition that leaves the case from any state (the family moved away): offered
#: with the other actions on the case page, not as a next step of the level.
SIDE_EXITS = frozenset({"transferred_out"})

#: The stafettlogg entry kinds, in the order the case page offers them as filters.
LOG_KINDS = (
    "concern", "measure", "evaluation", "meeting", "consent", "handover", "report",
    "level_change", "note", "goal", "home", "flag", "stafettholder", "participant", "referral",
    "move", "phase", "close",
)


@functools.cache
def vocabulary() -> Vocabulary:
    """The one vocabulary of this code base (immutable, built once)."""
    return Vocabulary(
        roles=ALL_ROLES,
        guards=frozenset(GUARDS),
        effects=EFFECTS,
        standing_roles=STANDING_ROLES,
        standing_effects=frozenset({"report_barnevernet", "avverge"}),
        opening_effect="concern",
        log_kinds=frozenset(LOG_KINDS),
    )


class AuditAction(StrEnum):
    """Every action the audit trail records (``audit_event.action``): a closed vocabulary, so
    that every row can be shown to a privacy officer in words (``bti/web/ui/audit.py`` labels
    each) and a typo cannot create an action nobody searches for. The builders in
    ``bti.services.access.audit`` take only these; the column holds the plain string."""

    # reads and writes of case data
    CASE_OPENED = "case.opened"
    CASE_VIEWED = "case.viewed"
    CASE_LOG_VIEWED = "case.log_viewed"
    CASE_LISTED = "case.listed"
    CASE_TRANSITION = "case.transition"
    CASE_EMERGENCY_ACCESS = "case.emergency_access"
    CASE_ACCESS_LOG_VIEWED = "case.access_log_viewed"
    CASE_ACCESS_LOG_EXPORTED = "case.access_log_exported"
    CASE_EXPORT_PAGE_VIEWED = "case.export_page_viewed"
    CASE_EXPORTED = "case.exported"
    CASE_ARCHIVED = "case.archived"
    CASE_PURGED = "case.purged"
    # the family moved: a case sent to or received from another municipality as a signed
    # transfer bundle (bti.services.privacy.transfer)
    CASE_TRANSFER_EXPORTED = "case.transfer_exported"
    CASE_TRANSFER_IMPORTED = "case.transfer_imported"
    CASE_GENERATED = "case.generated"
    UNIT_OVERVIEW_VIEWED = "unit.overview_viewed"

    # refused access (written in a transaction of their own)
    ACCESS_DENIED = "access.denied"
    ACCESS_FORBIDDEN = "access.forbidden"

    # sign-in
    AUTH_LOGIN = "auth.login"
    AUTH_LOGIN_FAILED = "auth.login_failed"
    AUTH_LOGOUT = "auth.logout"
    AUTH_MFA_ENROLLED = "auth.mfa_enrolled"
    AUTH_MFA_FAILED = "auth.mfa_failed"
    AUTH_MFA_PASSED = "auth.mfa_passed"
    AUTH_OIDC_FAILED = "auth.oidc_failed"
    AUTH_IDENTITY_LINKED = "auth.identity_linked"

    # the family (guardians and the young person, channel "family"); a staff member's part
    FAMILY_INVITED = "family.invited"
    FAMILY_MEMBERS_VIEWED = "family.members_viewed"
    FAMILY_ACCESS_ENDED = "family.access_ended"
    FAMILY_SIGNED_IN = "family.signed_in"
    FAMILY_SIGNED_OUT = "family.signed_out"
    FAMILY_SIGN_IN_FAILED = "family.sign_in_failed"
    FAMILY_CODE_FAILED = "family.code_failed"
    FAMILY_JOINED = "family.joined"
    FAMILY_CASES_LISTED = "family.cases_listed"
    FAMILY_CASE_VIEWED = "family.case_viewed"
    FAMILY_CONSENT_FORM_VIEWED = "family.consent_form_viewed"
    FAMILY_GUARDIANS_ENDED = "family.guardians_ended"

    # administration
    USER_CREATED = "user.created"
    USER_DEACTIVATED = "user.deactivated"
    USER_REACTIVATED = "user.reactivated"
    USER_LISTED = "user.listed"
    USER_MFA_RESET = "user.mfa_reset"
    USER_PASSWORD_CHANGED = "user.password_changed"  # noqa: S105 # nosec B105 - a name
    USER_ROLES_CHANGED = "user.roles_changed"
    USER_EMAIL_CHANGED = "user.email_changed"
    MUNICIPALITY_SETTINGS_CHANGED = "municipality.settings_changed"
    # the organisation (bti.services.accounts.org): municipalities and units, never deleted
    MUNICIPALITY_CREATED = "municipality.created"
    MUNICIPALITY_RENAMED = "municipality.renamed"
    MUNICIPALITY_DEACTIVATED = "municipality.deactivated"
    MUNICIPALITY_REACTIVATED = "municipality.reactivated"
    UNIT_CREATED = "unit.created"
    UNIT_CHANGED = "unit.changed"
    UNIT_DEACTIVATED = "unit.deactivated"
    UNIT_REACTIVATED = "unit.reactivated"
    ORG_IMPORTED = "org.imported"
    API_TOKEN_CREATED = "api_token.created"  # noqa: S105 # nosec B105 - a name
    API_TOKEN_REVOKED = "api_token.revoked"  # noqa: S105 # nosec B105 - a name
    # a user's private calendar feed (bti.services.notify.calendar); a read of it is a read
    # of the case data in it (dates and the case number), one row per case
    CALENDAR_FEED_ENABLED = "calendar_feed.enabled"
    CALENDAR_FEED_REVOKED = "calendar_feed.revoked"
    CALENDAR_FEED_READ = "calendar_feed.read"
    # a user's own notifications through the API (bti.services.notify.notices): the list names
    # case numbers, so it is recorded like a list of cases
    NOTIFICATION_LISTED = "notification.listed"
    NOTIFICATION_READ = "notification.read"
    NOTIFICATION_SETTINGS_CHANGED = "notification.settings_changed"
    # a declined handover's reason shown in its proposer's notice (read from the handover row
    # at display time, after checking the proposer still has access): one row per case
    NOTIFICATION_REASON_READ = "notification.reason_read"

    # team arenas: the teams kept by the administrator; the agenda, the minutes and each read
    # of a referred case's content from the team page (also ``case.viewed``, basis team_member)
    TEAM_CREATED = "team.created"
    TEAM_CHANGED = "team.changed"
    TEAM_DEACTIVATED = "team.deactivated"
    TEAM_REACTIVATED = "team.reactivated"
    TEAM_MEMBER_ADDED = "team.member_added"
    TEAM_MEMBER_REMOVED = "team.member_removed"
    TEAM_MEETING_SCHEDULED = "team.meeting_scheduled"
    TEAM_VIEWED = "team.viewed"
    TEAM_CASE_REFERRED = "team.case_referred"
    TEAM_QUESTION_ASKED = "team.question_asked"
    TEAM_MINUTES_RECORDED = "team.minutes_recorded"
    TEAM_FOLLOW_UP_DONE = "team.follow_up_done"

    # the family's voice (bti.services.family.voice): a message to the case, answered by the
    # stafettholder; a concern a guardian raises with a unit, handled by its leader
    FAMILY_MESSAGE_SENT = "family.message_sent"
    FAMILY_MESSAGES_VIEWED = "family.messages_viewed"
    FAMILY_MESSAGE_ANSWERED = "family.message_answered"
    FAMILY_CONCERN_RAISED = "family.concern_raised"
    FAMILY_CONCERNS_LISTED = "family.concerns_listed"
    FAMILY_CONCERN_HANDLED = "family.concern_handled"

    # analytics and the catalogue of measures
    ANALYTICS_VIEWED = "analytics.viewed"
    ANALYTICS_EXPORTED = "analytics.exported"
    ANALYTICS_STUCK_LISTED = "analytics.stuck_listed"
    CATALOGUE_CREATED = "catalogue.created"
    CATALOGUE_UPDATED = "catalogue.updated"
    CATALOGUE_ACTIVATED = "catalogue.activated"
    CATALOGUE_DEACTIVATED = "catalogue.deactivated"
    # the annual wheel (årshjul) of BTI routines (bti.services.workflows.annual_wheel)
    ANNUAL_WHEEL_CREATED = "annual_wheel.created"
    ANNUAL_WHEEL_UPDATED = "annual_wheel.updated"
    ANNUAL_WHEEL_DELETED = "annual_wheel.deleted"

    # the audit trail itself
    AUDIT_SEARCHED = "audit.searched"
    AUDIT_ANCHOR_EXPORTED = "audit.anchor_exported"
    AUDIT_REVIEW_RUN = "audit.review_run"
    AUDIT_REVIEWS_LISTED = "audit.reviews_listed"
    AUDIT_REVIEW_VIEWED = "audit.review_viewed"
    AUDIT_REVIEW_CLOSED = "audit.review_closed"
    # practice mode (øvingsmodus)
    PRACTICE_LISTED = "practice.listed"
    PRACTICE_DELETED = "practice.deleted"
    PRACTICE_PROGRESS_VIEWED = "practice.progress_viewed"


#: How the stafettlogg names a transition the family took on the family page (the entry's
#: ``via``, ``bti.services.cases.lifecycle.fire`` with ``FamilyVia``): the label, and who by
#: role through which provider.
FAMILY_VIA_LABEL: dict[str, str] = {"nb": "Gitt av", "nn": "Gitt av", "en": "Given by"}
FAMILY_VIA: dict[str, dict[str, str]] = {
    "guardian": {"nb": "foresatt via ID-porten", "nn": "føresett via ID-porten",
                 "en": "a guardian through ID-porten"},
    "youth": {"nb": "ungdommen selv via ID-porten", "nn": "ungdommen sjølv via ID-porten",
              "en": "the young person through ID-porten"},
}
