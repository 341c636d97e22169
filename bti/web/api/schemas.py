"""marshmallow schemas of the JSON API, in and out. They are also the OpenAPI components
(``bti.web.api.openapi``). Input schemas reject unknown fields (422 naming them)."""

from __future__ import annotations

import functools
from datetime import date

from marshmallow import RAISE
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate

from bti.domain import child
from bti.domain.notifications import DELIVERY_MODES
from bti.domain.org import UNIT_KINDS
from bti.domain.rules import DUE_MONTHS_AHEAD
from bti.engine.inputs import END
from bti.engine.inputs import MAX_INT
from bti.engine.inputs import QueryWholeNumber
from bti.engine.inputs import WholeNumber
from bti.services.accounts import org
from bti.services.notify import notices
from bti.services.notify.events import Event

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


class Strict(Schema):
    class Meta:
        unknown = RAISE


def Labels(**kw) -> fields.Dict:  # noqa: N802 - a field factory, named like a field
    return fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "The text in bokmål (nb), nynorsk (nn) and English (en)."}, **kw)


# --- input ----------------------------------------------------------------------------------------
#
# Each input field states exactly what the server accepts, through validators apispec turns into
# the document (``validate.Range`` → minimum/maximum, ``validate.Length`` → min/maxLength,
# ``validate.Regexp`` → pattern), built from the same constants the services check against.


class _Pseudonym(validate.Regexp):
    """``bti.domain.child``'s rule (its length too), with its error codes; apispec reads the
    pattern."""

    def __init__(self) -> None:
        super().__init__(child.pseudonym_pattern())

    # text only (Regexp also takes bytes); a Regexp still, so that apispec writes the pattern
    def __call__(self, value: str) -> str:  # type: ignore[override]
        error = child.pseudonym_error(value)
        if error:
            raise ValidationError(error)
        return value


class _DueMonth(validate.OneOf):
    """One of the due months ``bti.domain.child`` allows today (apispec writes them as the
    ``enum``), with the service's error codes (``in_past``, ``too_far``, ``invalid``)."""

    def __init__(self, today: date) -> None:
        super().__init__(child.due_months(today))
        self.today = today

    def __call__(self, value: str) -> str:
        if value not in self.choices:
            raise ValidationError(child.due_month_error(value, self.today) or "invalid")
        return value


#: Exactly one of these is given (and not null): a child is born or expected, never both.
BORN_OR_EXPECTED = ("child_birth_year", "child_due")


@functools.lru_cache(maxsize=2)
def case_create_schema(today: date) -> type[Schema]:
    """The body of ``POST /cases`` on ``today``: the birth years and due months a case may give
    move with the day (``bti.domain.child``). That exactly one of ``BORN_OR_EXPECTED`` is given
    is the service's check; the document states it as a ``oneOf`` (``bti.web.api.openapi``)."""
    first, last = child.birth_year_range(today)
    return Strict.from_dict({
        "child_pseudonym": fields.String(required=True, validate=_Pseudonym(), metadata={
            "minLength": 1, "maxLength": child.PSEUDONYM_MAX_LENGTH,
            "description": "A pseudonym or initials; never a national identity number (not "
                           "only digits and spaces), no whitespace at either end."}),
        "child_birth_year": WholeNumber(
            load_default=None, allow_none=True, validate=validate.Range(min=first, max=last),
            metadata={"description": f"This year or one of the {child.MAX_AGE_YEARS} before "
                      "it; leave out for an expected child and give `child_due`."}),
        "child_due": fields.String(
            load_default=None, allow_none=True, validate=_DueMonth(today),
            metadata={"description": "For a child not yet born (pregnancy follow-up): the due "
                      f"month, `YYYY-MM`, from this month up to {DUE_MONTHS_AHEAD} months "
                      "ahead; instead of `child_birth_year`."}),
        "unit_id": WholeNumber(
            load_default=None, allow_none=True, validate=validate.Range(min=1, max=MAX_INT),
            metadata={"description": "The unit (service) the case belongs to; the caller's "
                      "own unit when left out."}),
        "concern": fields.Dict(keys=fields.String(), required=True, metadata={
            "description": "The concern form: the fields of the opening of the caller's "
                           "municipality's workflow (component `Opening.<workflow>`)."}),
    }, name="CaseCreate")


class TransitionRequestSchema(Strict):
    trigger = fields.String(required=True, validate=validate.Length(min=1, max=60),
                            metadata={"description": "A trigger from GET …/actions."})
    payload = fields.Dict(keys=fields.String(), load_default=dict, metadata={
        "description": "The action's fields (see `fields` in GET …/actions, and the component "
                       "`Payload.<workflow>.<trigger>`). Measures, evaluations, consents, "
                       "handovers and reports are created through the payloads of their "
                       "actions. Unknown fields are refused."})
    expected_version = WholeNumber(required=True, validate=validate.Range(min=0, max=MAX_INT),
                                   metadata={"description": "The case's `version` as you read "
                                             "it; 409 if the case has changed since."})


class CaseListQuerySchema(Strict):
    include_closed = fields.Boolean(load_default=False)


class LogQuerySchema(Strict):
    cursor = QueryWholeNumber(load_default=0, validate=validate.Range(min=0, max=MAX_INT),
                              metadata={"description": "`next_cursor` of the previous page; "
                                        "leave out for the first page."})
    limit = QueryWholeNumber(load_default=DEFAULT_LIMIT,
                             validate=validate.Range(min=1, max=MAX_LIMIT))


class NotificationQuerySchema(Strict):
    unread = fields.Boolean(load_default=False, metadata={
        "description": "Only the unread notifications."})
    cursor = QueryWholeNumber(load_default=None, validate=validate.Range(min=1, max=MAX_INT),
                              metadata={"description": "`next_cursor` of the previous page; "
                                        "leave out for the first (newest) page."})
    limit = QueryWholeNumber(load_default=DEFAULT_LIMIT,
                             validate=validate.Range(min=1, max=MAX_LIMIT))


#: The events and delivery modes the settings take (``bti.services.notify.events``).
EVENT_NAMES = tuple(e.value for e in Event)


#: Event → its delivery mode: one optional field per event (the document lists them, and an
#: unknown event is refused by name).
NotificationModesSchema = Strict.from_dict(
    {name: fields.String(validate=validate.OneOf(DELIVERY_MODES)) for name in EVENT_NAMES},
    name="NotificationModesSchema")


class NotificationSettingsUpdateSchema(Strict):
    email = fields.String(allow_none=True, validate=[
        validate.Length(max=254),
        validate.Regexp(rf"^{END}|{notices.EMAIL_PATTERN}", error="invalid_email")], metadata={
        "description": "The address the e-mails go to; null or empty removes it, leaving it "
                       "out keeps it."})
    modes = fields.Nested(NotificationModesSchema, metadata={
        "description": "Event → `now` (each by e-mail at once), `digest` (a daily e-mail) or "
                       "`app` (in the app only); the events left out keep their mode."})
# --- the organisation (an administrator's token, scopes org:read and org:write) -------------------

_UNIT_KINDS = validate.OneOf(UNIT_KINDS)


class UnitCreateSchema(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=org.NAME_MAX))
    kind = fields.String(required=True, validate=_UNIT_KINDS)
    service = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=org.SERVICE_MAX),
                            metadata={"description": "The service area (tjenesteområde)."})
    serves = fields.List(WholeNumber(validate=validate.Range(min=1, max=MAX_INT)),
                         load_default=list, validate=validate.Length(max=500), metadata={
                             "description": "Ids of the other municipalities this "
                             "inter-municipal service serves (`GET /municipalities`)."})


class UnitUpdateSchema(Strict):
    """Every field optional: what is given is changed. ``active`` deactivates (refused with 422
    ``open_cases`` while the unit has open cases) or reactivates it."""

    name = fields.String(validate=validate.Length(min=1, max=org.NAME_MAX))
    kind = fields.String(validate=_UNIT_KINDS)
    service = fields.String(allow_none=True, validate=validate.Length(max=org.SERVICE_MAX))
    serves = fields.List(WholeNumber(validate=validate.Range(min=1, max=MAX_INT)),
                         validate=validate.Length(max=500))
    active = fields.Boolean()


class MunicipalityUpdateSchema(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=org.NAME_MAX))


# --- output ---------------------------------------------------------------------------------------


class UrgencySchema(Schema):
    kind = fields.String(required=True)
    on = fields.Date(required=True)
    overdue = fields.Boolean(required=True)
    object_id = fields.Integer(required=True, allow_none=True)


class CaseStateSchema(Schema):
    id = fields.Integer(required=True)
    state = fields.String(required=True)
    state_label = Labels(required=True)
    level = fields.String(required=True)
    level_number = fields.Integer(required=True, allow_none=True,
                                  metadata={"description": "nivå 0–3; null for closed."})
    level_label = Labels(required=True)
    phase = fields.String(required=True)
    final = fields.Boolean(required=True)
    version = fields.Integer(required=True, metadata={
        "description": "Changes with every transition; send it back as `expected_version`."})


class CaseSchema(CaseStateSchema):
    workflow = fields.String(required=True, metadata={"description": "The workflow file's id."})
    workflow_revision = fields.Integer(required=True, metadata={
        "description": "The stored revision of the workflow the case follows."})
    unit_id = fields.Integer(required=True)
    child_pseudonym = fields.String(required=True)
    child_birth_year = fields.Integer(required=True, metadata={
        "description": "The birth year; for an expected child the due year."})
    child_due = fields.String(required=True, allow_none=True, metadata={
        "description": "The due month (`YYYY-MM`) of a case opened for an expected child; "
                       "null for a child already born."})
    violence_flag = fields.Boolean(required=True)
    home_informed_on = fields.Date(required=True, allow_none=True)
    stafettholder_id = fields.Integer(required=True, allow_none=True)
    opened_by_id = fields.Integer(required=True)
    opened_at = fields.DateTime(required=True)
    level_entered_at = fields.DateTime(required=True)
    last_activity_at = fields.DateTime(required=True)
    closed_at = fields.DateTime(required=True, allow_none=True)
    relations = fields.List(fields.String(), required=True, metadata={
        "description": "The caller's relations to the case (reporter, participant, "
                       "stafettholder, unit_leader, handover_recipient, emergency)."})
    basis = fields.String(required=True, metadata={
        "description": "The relation the access is logged under."})


class CaseListItemSchema(CaseSchema):
    urgencies = fields.List(fields.Nested(UrgencySchema), required=True)


class CaseListSchema(Schema):
    items = fields.List(fields.Nested(CaseListItemSchema), required=True)


class OptionSchema(Schema):
    value = fields.String(required=True)
    label = Labels(required=True)


class FieldSchema(Schema):
    name = fields.String(required=True)
    type = fields.String(required=True, metadata={
        "description": "text (≤200), textarea (≤10,000), date (ISO), bool, int, choice (one of "
                       "`options`), user, unit, measure, consent, handover, report (ids), units, "
                       "measures (non-empty lists of ids)."})
    required = fields.Boolean(required=True)
    label = Labels(required=True, allow_none=True)
    options = fields.List(fields.Nested(OptionSchema), required=True)
    child_voice = fields.Boolean(required=True, metadata={
        "description": "The child's own voice (barnets stemme)."})


class RefusalSchema(Schema):
    code = fields.String(required=True, metadata={
        "description": "role, guard, final_state, not_available_in_state, unknown_trigger, "
                       "reason_required, invalid_payload."})
    guard = fields.String(required=True, allow_none=True)
    detail = fields.String(required=True, allow_none=True, metadata={
        "description": "What exactly the guard misses (for example `own_unit_only`, "
                       "`not_covered`), or null for the guard's own message."})
    params = fields.Dict(keys=fields.String(), required=True, metadata={
        "description": "What the message names (a `unit`, the `units`, an `age`, a `date`)."})
    message = Labels(required=True)


class CautionSchema(Schema):
    field = fields.String(required=True)
    values = fields.List(fields.String(), required=True)
    on_fail = fields.String(required=True, metadata={
        "description": "`refuse`: the action is refused with one of `values`; `warn`: it is "
                       "recorded, and the result carries the warning."})
    refusal = fields.Nested(RefusalSchema, required=True)


class ActionSchema(Schema):
    trigger = fields.String(required=True)
    label = Labels(required=True)
    allowed = fields.Boolean(required=True)
    refusals = fields.List(fields.Nested(RefusalSchema), required=True)
    cautions = fields.List(fields.Nested(CautionSchema), required=True, metadata={
        "description": "Rules on some values of a field whose guard fails now (for example an "
                       "undringssamtale under the violence flag)."})
    dest = fields.String(required=True, allow_none=True, metadata={
        "description": "The state the case moves to; null when it records without moving."})
    reason_required = fields.Boolean(required=True)
    fields_ = fields.List(fields.Nested(FieldSchema), required=True, data_key="fields")
    payload_schema = fields.String(required=True, metadata={
        "description": "JSON pointer to the payload's schema in this API's OpenAPI document."})


class ActionsSchema(Schema):
    case_id = fields.Integer(required=True)
    state = fields.String(required=True)
    version = fields.Integer(required=True)
    actions = fields.List(fields.Nested(ActionSchema), required=True)


class LogEntrySchema(Schema):
    seq = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    actor_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    trigger = fields.String(required=True)
    from_state = fields.String(required=True, allow_none=True)
    to_state = fields.String(required=True)
    object_type = fields.String(required=True, allow_none=True)
    object_id = fields.Integer(required=True, allow_none=True)
    data = fields.Dict(keys=fields.String(), required=True,
                       metadata={"description": "The action's validated payload."})
    prev_hash = fields.String(required=True)
    hash = fields.String(required=True)


class LogPageSchema(Schema):
    case_id = fields.Integer(required=True)
    entries = fields.List(fields.Nested(LogEntrySchema), required=True)
    next_cursor = fields.Integer(required=True, allow_none=True, metadata={
        "description": "Pass as `cursor` for the next page; null on the last page."})


class TransitionResultSchema(Schema):
    entry = fields.Nested(LogEntrySchema, required=True)
    case = fields.Nested(CaseStateSchema, required=True)
    warnings = fields.List(fields.Nested(RefusalSchema), required=True, metadata={
        "description": "Recorded, with these warnings for the user (`when` rules that warn)."})


class AccessLogRowSchema(Schema):
    at = fields.DateTime(required=True)
    user_id = fields.Integer(required=True, allow_none=True)
    user = fields.String(required=True, allow_none=True)
    roles = fields.List(fields.String(), required=True)
    unit = fields.String(required=True, allow_none=True)
    action = fields.String(required=True)
    object_type = fields.String(required=True, allow_none=True)
    object_id = fields.Integer(required=True, allow_none=True)
    basis = fields.String(required=True, allow_none=True)
    outcome = fields.String(required=True)


class AccessLogSchema(Schema):
    case_id = fields.Integer(required=True)
    basis = fields.String(required=True, metadata={
        "description": "Why the caller may read it: stafettholder or privacy_officer."})
    entries = fields.List(fields.Nested(AccessLogRowSchema), required=True)


class NotificationSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(EVENT_NAMES), metadata={
        "description": "The event (`GET /notifications/settings` lists them all)."})
    title = Labels(required=True)
    case_id = fields.Integer(required=True, allow_none=True, metadata={
        "description": "The case number it is about (null: none, e.g. an access review)."})
    link = fields.String(required=True, metadata={
        "description": "The notice in the app (the link its e-mail carries)."})
    created_at = fields.DateTime(required=True)
    read = fields.Boolean(required=True)
    read_at = fields.DateTime(required=True, allow_none=True)


class NotificationPageSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema), required=True)
    unread = fields.Integer(required=True, metadata={
        "description": "How many of the caller's notifications are unread (all pages)."})
    next_cursor = fields.Integer(required=True, allow_none=True, metadata={
        "description": "Pass as `cursor` for the next (older) page; null on the last page."})


class NotificationEventSettingSchema(Schema):
    event = fields.String(required=True, validate=validate.OneOf(EVENT_NAMES))
    title = Labels(required=True)
    mode = fields.String(required=True, validate=validate.OneOf(DELIVERY_MODES))
    default_mode = fields.String(required=True, validate=validate.OneOf(DELIVERY_MODES))
    recipients = fields.String(required=True, metadata={
        "description": "Who receives this event (English)."})


class NotificationSettingsSchema(Schema):
    email = fields.String(required=True, allow_none=True)
    events = fields.List(fields.Nested(NotificationEventSettingSchema), required=True)
class MunicipalitySchema(Schema):
    id = fields.Integer()
    slug = fields.String()
    name = fields.String()
    active = fields.Boolean()


class MunicipalityListSchema(Schema):
    items = fields.List(fields.Nested(MunicipalitySchema))


class UnitPersonSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    active = fields.Boolean()


class UnitSchema(Schema):
    id = fields.Integer()
    municipality_id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    service = fields.String(allow_none=True)
    active = fields.Boolean()
    serves = fields.List(fields.Nested(MunicipalitySchema), metadata={
        "description": "The other municipalities it serves (an inter-municipal service)."})
    leaders = fields.List(fields.Nested(UnitPersonSchema), metadata={
        "description": "Its users with the role leader."})
    coordinators = fields.List(fields.Nested(UnitPersonSchema), metadata={
        "description": "Its users with the role coordinator (BTI coordinators)."})
    staff = fields.Integer(metadata={"description": "Active users of the unit."})
    open_cases = fields.Integer(metadata={"description": "Cases of the unit not closed."})


class UnitListSchema(Schema):
    items = fields.List(fields.Nested(UnitSchema))


class AnnualWheelEntrySchema(Schema):
    """A routine of the annual wheel on its dates within the twelve months ahead, or a yearly
    review of the catalogue (for the catalogue's keepers)."""

    kind = fields.String(metadata={"description": "training, mapping, review, network, other"})
    title = fields.String()
    description = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date(metadata={"description": "The last day (the start for one day)."})
    yearly = fields.Boolean()
    unit = fields.String(allow_none=True, metadata={
        "description": "The unit it is for; null: the whole municipality."})
    responsible = fields.String()
    routine_id = fields.Integer(allow_none=True)
    catalogue_item_id = fields.Integer(allow_none=True, metadata={
        "description": "Set for a catalogue item's yearly review (not a routine)."})
    overdue = fields.Boolean()


class AnnualWheelSchema(Schema):
    month = fields.String(metadata={"description": "The current month, YYYY-MM: the first."})
    items = fields.List(fields.Nested(AnnualWheelEntrySchema), metadata={
        "description": "By date, the twelve months from the current one."})


class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Dict(keys=fields.String(), required=True, data_key="fields", metadata={
        "description": "Field name → error codes (nested for `payload`); `trigger` lists the "
                       "rules that refuse an action."})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)
