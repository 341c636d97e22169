"""Generating ``docs/workflows.md`` (``bti workflow docs``).

The engine renders the file format and each workflow (``bti.engine.docs``); this module adds what
only the domain knows: the roles, guards and effects of ``bti.domain.vocabulary`` with what each
means. ``tests/test_docs.py`` checks that every name in the vocabulary has a meaning here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bti.domain.vocabulary import FAMILY_ROLE
from bti.domain.vocabulary import GUARD_CHECKLIST
from bti.domain.vocabulary import GUARDS
from bti.domain.vocabulary import STANDING_ROLES
from bti.domain.vocabulary import Relation
from bti.domain.vocabulary import Role
from bti.domain.vocabulary import vocabulary
from bti.engine import Vocabulary
from bti.engine import load_directory
from bti.engine.docs import document
from bti.engine.docs import table

#: Who each role is. User roles are stored per user; relations are derived per case.
ROLE_MEANINGS: dict[str, str] = {
    Role.EMPLOYEE: "tilsett: teacher, kindergarten staff, school nurse … May open a case.",
    Role.COORDINATOR: "a municipal BTI coordinator who advances cases, often as stafettholder "
    "(not the statutory koordinator of an individual plan).",
    Role.LEADER: "leader of a unit (rektor, styrer …); on the cases of their own unit they have "
    "the relation `unit_leader`.",
    Role.ADMIN: "manages users; sees no case content without a relation to the case.",
    Role.PRIVACY_OFFICER: "personvernombod: audits the access log.",
    Relation.REPORTER: "raised the concern (opened the case).",
    Relation.STAFETTHOLDER: "holds the baton: the one adult who drives the case.",
    Relation.PARTICIPANT: "a person from a service admitted through a consent covering that "
    "service (`add_participant`); loses access when the consent is withdrawn or expires.",
    Relation.UNIT_LEADER: "a user with the role `leader` in the case's own unit.",
    Relation.HANDOVER_RECIPIENT: "proposed as the next stafettholder, until they accept or "
    "decline; from another service only while a consent covers it (withdrawal or expiry "
    "cancels the handover).",
    Relation.EMERGENCY: "an unexpired emergency access (selvautorisering): reads the case and "
    "may take the standing exits, nothing else.",
    FAMILY_ROLE: "a guardian or the young person, signed in through the family provider "
    "(ID-porten) and linked to the case by an invitation: may take the transitions listing it "
    "from the family page (giving, refusing and withdrawing their own consent), with the same "
    "effects as when staff record them.",
}

#: When each guard holds (``bti.services.cases.facts.CaseFacts``).
GUARD_MEANINGS: dict[str, str] = {
    "has_stafettholder": "the case has a stafettholder.",
    "no_stafettholder": "the case has no stafettholder yet.",
    "consent_valid": "a current consent (given, not withdrawn, not expired, not dated in the "
    "future) covers at least one service other than the case's own unit; from "
    "`youth_consent_age` the youth must have consented to it too.",
    "consent_covers_services": "the service of every participant is the case's own unit or is "
    "covered by a current consent.",
    "measures_owned_and_dated": "every active measure has a responsible person and an "
    "evaluation date.",
    "has_active_measure": "the case has at least one active measure.",
    "measures_evaluated": "every measure of the case is evaluated: none is still active, and "
    "none was stopped without an evaluation (a stop records one when it carries the effect "
    "and the child's voice).",
    "no_violence_flag": "the case is not flagged for suspected violence or abuse.",
    "violence_flag_set": "the case is flagged for suspected violence or abuse.",
    "home_informed": "the home has been informed (`inform_home`), or the case is flagged for "
    "violence, where the home is not to be informed.",
    "no_pending_handover": "no handover is waiting for an answer.",
    "is_handover_recipient": "the actor is the proposed recipient of the pending handover.",
    "has_report_awaiting_feedback": "a report to barnevernet awaits feedback: its concluding "
    "stage (`no_investigation` or `investigation_closed`) is not recorded yet. (Until its "
    "first stage from barnevernet, the report is also unanswered, overdue after "
    "`barnevern_feedback_days`.)",
    "has_active_consent": "the case has at least one current consent.",
    "ip_handover": "the pending handover is one to an individual plan (`handover_ip`).",
    "not_ip_handover": "the pending handover is one of the baton (`propose_handover`), not to "
    "an individual plan.",
    "has_ip": "the case is an IP case: a handover to an individual plan was accepted.",
    "may_edit_ansvarsgruppe": "the actor is the IP's coordinator or the stafettholder "
    "(`bti.domain.policy.may_edit_ansvarsgruppe`).",
    "may_withdraw_handover": "a handover is waiting for an answer, and the actor proposed it "
    "or is the stafettholder.",
    "has_report_without_debrief": "a report to barnevernet on the case has no debrief "
    "recorded yet (`record_debrief`).",
}

#: What each effect records (``bti.services.cases.effects``), beyond the stafettlogg entry.
EFFECT_MEANINGS: dict[str, str] = {
    "none": "nothing besides the step itself (and its reason, where required).",
    "concern": "the concern that opens a case (the `[opening]` form, not a transition); "
    "`violence_suspected` flags the case.",
    "inform_home": "the date the home was informed (not in the future).",
    "flag_violence": "flags the case for suspected violence or abuse.",
    "clear_violence_flag": "removes that flag.",
    "appoint_stafettholder": "makes an active colleague in the municipality the stafettholder.",
    "add_participant": "admits a colleague from a service; a service other than the case's own "
    "must be covered by a current consent, and nobody is added twice.",
    "goal": "a goal at the current level.",
    "measure": "an active measure at the current level; `evaluate_by` is on or after "
    "`start_date` and at most `measure_evaluation_max_days` after it.",
    "stop_measure": "stops an active measure of the case. With `effect`, `child_voice_method` "
    "and the child's voice (`child_said` or `child_not_heard_reason`) the stop also records "
    "the measure's evaluation (outcome `stop`); without them the measure still needs an "
    "evaluation.",
    "evaluation": "evaluates measures of the case with the child's voice: active ones (they "
    "become evaluated) and stopped ones without an evaluation; `child_said` or "
    "`child_not_heard_reason` is required; `evaluated_on` defaults to today and may not be in "
    "the future.",
    "meeting": "a meeting, optionally naming the team and the child's voice; `next_meeting_on` "
    "is not before `held_on`. Needs a `when` rule: which `meeting_kind`s meet the home, refused "
    "or warned under the violence flag.",
    "note": "a free-text note.",
    "consent_given": "a consent to share with the listed services; `given_on` not in the "
    "future, `expires_on` after it and not already past. Needs a `when` rule: which "
    "`given_by` values meet the home, refused or warned under the violence flag.",
    "consent_withdrawn": "withdraws a current consent; participants it no longer covers lose "
    "access at once, and a handover to a service it no longer covers is cancelled.",
    "consent_refused": "a refusal to consent, for the listed services.",
    "handover_proposed": "proposes a new stafettholder with the transition's `reason` (so use "
    "`reason = true`): not the holder, and only someone whose service may hold the case; the "
    "recipient may see the case until they answer, and is notified. `holder_stays`: the "
    "holder stays on as a participant after acceptance (only where their service may take "
    "part).",
    "handover_accepted": "the recipient becomes the stafettholder (their service still covered "
    "by a current consent, as when it was proposed); the old holder's relation ends (they "
    "become a participant if they chose `holder_stays`); the proposer is notified.",
    "handover_declined": "the recipient declines; the stafettholder stays; the proposer is "
    "notified (the reason stays in the case; their notice list shows it, read from the case "
    "while they still have access, never in the e-mail).",
    "handover_withdrawn": "the proposer or the stafettholder withdraws a waiting handover; the "
    "recipient's relation ends and they are notified.",
    "ip_handover_proposed": "proposes handing the case over to an individual plan, with the "
    "transition's `reason`: to the coordinator named (`to_user`: a colleague who may hold "
    "cases, not the holder, whose service may hold the case) or to the coordinating unit "
    "(`coordinating_unit`: a unit of kind `coordinating_unit` the case may be held in; its "
    "leaders and coordinators receive it), exactly one of them. As any handover: the "
    "recipients see the case to answer and are notified; one of them accepts "
    "(`ip_handover_accepted`) or declines (`handover_declined`), or the proposer withdraws.",
    "ip_handover_accepted": "the recipient who accepts becomes the stafettholder, the IP's "
    "coordinator and the first staff member of its ansvarsgruppe; the case becomes an IP case "
    "and continues at the transition's `dest` (nivå 3) instead of closing; every recipient's "
    "relation ends; the proposer is notified.",
    "ansvarsgruppe_member": "a member of the IP's ansvarsgruppe: `member_kind` `staff` with "
    "`member` (a colleague whose service may take part: they see the case as a participant), "
    "or `guardian` / `child` with `member_name` (a name only; one child).",
    "ansvarsgruppe_member_ended": "a member leaves (`member` for staff, `member_name` for a "
    "guardian or the child), never the coordinator; the participant relation the membership "
    "gave ends.",
    "ip_coordinator": "another staff member of the ansvarsgruppe (who may hold cases) becomes "
    "the IP's one coordinator.",
    "ansvarsgruppe_meeting": "a meeting of the ansvarsgruppe (`held_on`, not in the future; "
    "`place`) with its `minutes`, which the stafettlogg entry holds.",
    "report_barnevernet": "a report to barnevernet; feedback is expected "
    "`barnevern_feedback_days` after `sent_on`; the nearest leaders (the unit's, else the "
    "municipality's) are notified.",
    "debrief_offered": "the nearest leader records that the reporter was offered a debrief "
    "(the fact only); `debrief_report` names the report, which may be left out while only one "
    "waits for a debrief.",
    "barnevern_feedback": "one stage of barnevernet's feedback on a report (`feedback_kind`: "
    "`receipt_confirmed`, `investigation_opened`, `no_investigation`, "
    "`investigation_closed`, or `none_received` when nothing came by the deadline), dated "
    "`received_on` (not before the report, not in the future). `report` names the report; it "
    "may be left out while only one awaits feedback. Each stage once per report, nothing after "
    "a concluding stage, no `no_investigation` after `investigation_opened`, and "
    "`none_received` only after `feedback_expected_by` with no answer.",
    "avverge": "an alert under the duty to avert, to the police or barnevernet.",
    "unit_moved": "moves the case to `to_unit`, another unit of its municipality (gode "
    "overgangar), with the consent to the transfer (`given_by`, `given_on`, recorded as a consent "
    "covering the receiving unit) and the transition's `reason` (so use `reason = true`); the "
    "history is kept (`case_unit_period`). The sending unit's reporter, holder and proposed "
    "holder relations end, and its participants unless a current consent covers their service; "
    "a holder of the sending unit hands the baton to `new_stafettholder` (a case worker of the "
    "receiving unit; required then). The receiving unit's leaders and BTI coordinators are "
    "notified.",
    "transferred_out": "the family moved: with the consent to the transfer (`given_by`, "
    "`given_on`) and the transition's `reason`, the case closes as transferred to "
    "`to_municipality`; `bti case transfer-export` then writes its signed transfer bundle.",
    "referral": "a referral (to whom, in the stafettlogg entry).",
    "close": "closing details (archive reference, closing note) in the stafettlogg entry.",
}


def _code(names) -> str:
    return ", ".join(f"`{n}`" for n in names) or "–"


def _fields(spec: Mapping[str, str]) -> str:
    return ", ".join(f"`{name}` ({kind})" for name, kind in spec.items()) or "–"


def vocabulary_markdown(vocab: Vocabulary) -> str:
    """The vocabulary section: roles, guards and effects, each with its meaning."""
    user_roles = {r.value for r in Role}
    roles = table(
        ["role", "kind", "standing", "meaning"],
        [[f"`{name}`", "user role" if name in user_roles else (
            "the family" if name == FAMILY_ROLE else "relation to the case"),
          "yes" if name in vocab.standing_roles else "no", ROLE_MEANINGS[name]]
         for name in [*(r.value for r in Role), *(r.value for r in Relation), FAMILY_ROLE]],
    )
    guards = table(
        ["guard", "holds when", "refusal shown to the user (en)", "case page checklist (en)",
         "met by"],
        [[f"`{name}`", GUARD_MEANINGS[name], GUARDS[name]["en"],
          GUARD_CHECKLIST[name].text["en"],
          f"`{GUARD_CHECKLIST[name].action}`" if GUARD_CHECKLIST[name].action else "–"]
         for name in GUARDS if name in vocab.guards],
    )
    effects = table(
        ["effect", "log kind", "required fields", "optional fields", "needs guards", "records"],
        [[f"`{name}`", f"`{spec.kind}`", _fields(spec.required), _fields(spec.optional),
          _code(spec.required_guards), EFFECT_MEANINGS[name]]
         for name, spec in vocab.effects.items()],
    )
    return "\n".join([
        "## Vocabulary: roles, guards and effects",
        "",
        "The names a workflow file may use, from `bti/domain/vocabulary.py`. A new role, guard or "
        "effect is added there (with a fact in `bti/services/cases/facts.py` or a handler in "
        "`bti/services/cases/effects.py`), and its meaning here in "
        "`bti/services/workflows/docs.py`.",
        "",
        "### Roles",
        "",
        "A transition's `roles` are matched against the actor's user roles and their relations to "
        "the case. *Standing* roles must all be listed on every standing exit: the duty to report "
        f"is personal ({_code(sorted(STANDING_ROLES))}).",
        "",
        roles,
        "",
        "### Guards",
        "",
        "Conditions computed from the case when an action is tried. A failing guard refuses the "
        "action and says why, in the user's language.",
        "",
        guards,
        "",
        "### Effects",
        "",
        "What a transition records. Field types are those of `[fields.NAME]`; a transition lists "
        "the required fields under `fields` and may list the optional ones under `optional`. "
        f"The opening form uses the effect `{vocab.opening_effect}`; every file needs a standing "
        f"exit for each of {_code(sorted(vocab.standing_effects))}.",
        "",
        effects,
        "",
    ])


def generate(directory: Path, lang: str = "nb") -> str:
    """``docs/workflows.md`` for the workflow files in ``directory``, labels in ``lang``.
    Raises ``DefinitionError`` when a file is invalid."""
    vocab = vocabulary()
    definitions = load_directory(Path(directory), vocab)
    return document(list(definitions.values()), lang, vocabulary_markdown(vocab))


__all__ = ["EFFECT_MEANINGS", "GUARD_MEANINGS", "ROLE_MEANINGS", "generate",
           "vocabulary_markdown"]
