"""The municipality's own settings an administrator keeps in the app: the child welfare
service's contact details (shown on the urgent page and the report form). The command line
(``bti municipality set``) uses the same rules. Every change is audited with the fields it
changed; these are a public service's numbers and addresses, not personal data."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError
from marshmallow.validate import Email

from bti.domain.org import Municipality
from bti.domain.policy import may_administer_users
from bti.domain.vocabulary import AuditAction
from bti.services.access import audit
from bti.services.cases.audience import BarnevernContacts
from bti.services.context import Ctx
from bti.services.errors import Forbidden
from bti.services.errors import InvalidInput

#: Each contact field: its kind and its column's length.
CONTACT_FIELDS: dict[str, tuple[str, int]] = {
    "barnevern_phone": ("phone", 40),
    "barnevern_email": ("email", 200),
    "barnevernvakt_phone": ("phone", 40),
}
#: A phone number as people write it: digits, spaces, "+", "-", "(" and ")", 3 to 15 digits.
_PHONE = re.compile(r"\+?[0-9 ()\-]+")
_EMAIL = Email()


def clean_contacts(values: Mapping[str, str | None]) -> dict[str, str | None]:
    """The given contact fields, trimmed and checked (an empty value clears the field; a field
    not given is left out). Raises ``InvalidInput`` with a code per bad field."""
    out: dict[str, str | None] = {}
    errors: dict[str, list[str]] = {}
    for name, value in values.items():
        if name not in CONTACT_FIELDS:
            errors[name] = ["unknown"]
            continue
        if value is None:
            continue
        kind, length = CONTACT_FIELDS[name]
        text = value.strip()
        if "\x00" in text:
            errors[name] = ["nul"]
        elif len(text) > length:
            errors[name] = ["too_long"]
        elif not text:
            out[name] = None
        elif kind == "phone" and not (_PHONE.fullmatch(text)
                                      and 3 <= sum(c.isdigit() for c in text) <= 15):
            errors[name] = ["not_a_phone"]
        elif kind == "email" and not _valid_email(text):
            errors[name] = ["not_an_email"]
        else:
            out[name] = text
    if errors:
        raise InvalidInput(errors)
    return out


def _valid_email(text: str) -> bool:
    try:
        _EMAIL(text)
    except ValidationError:
        return False
    return True


def contacts(ctx: Ctx) -> BarnevernContacts:
    _require_admin(ctx)
    m = ctx.session.get_one(Municipality, ctx.actor.municipality_id)
    return BarnevernContacts(m.barnevern_phone, m.barnevern_email, m.barnevernvakt_phone)


def set_contacts(ctx: Ctx, values: Mapping[str, str | None]) -> dict[str, Any]:
    """Save the child welfare contacts of the actor's municipality; returns what changed
    (audited when anything did). The caller commits."""
    _require_admin(ctx)
    cleaned = clean_contacts(values)
    m = ctx.session.get_one(Municipality, ctx.actor.municipality_id)
    changed: dict[str, Any] = {k: v for k, v in cleaned.items() if getattr(m, k) != v}
    for name, value in changed.items():
        setattr(m, name, value)
    if changed:
        audit.record(ctx, AuditAction.MUNICIPALITY_SETTINGS_CHANGED, object_type="municipality",
                     object_id=m.id, via="web", **changed)
    return changed


def _require_admin(ctx: Ctx) -> None:
    if not may_administer_users(ctx.actor):
        raise Forbidden("not an administrator")
