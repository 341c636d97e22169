"""Import a municipality's units and users from a CSV file (docs/org-import.md): all or nothing.

Every row is checked before anything is written; a file with any bad row is refused whole
(``ImportRefused``, each problem with its line number, the column and a code), so nothing is
half-imported. A good file is written in the caller's one transaction: the units first (a user
row may name a unit of the same file), then the users, each with a generated one-time password
(shown once to whoever imports, never stored; the user chooses their own at the first
sign-in, as for a user an administrator creates). The file holds no passwords. Existing units
and users are never changed by an import: a name or user name already taken is a bad row.

The administrator imports into their own municipality (``may_administer_organisation``), the
operator into the one named (``bti municipality import``). Every unit and user is audited as
when created one by one, and the import itself once (``org.imported``, with the counts).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from dataclasses import field

from sqlalchemy import func
from sqlalchemy import select

from bti.domain.org import Unit
from bti.domain.org import UnitMunicipality
from bti.domain.org import User
from bti.domain.vocabulary import AuditAction
from bti.domain.vocabulary import Role
from bti.services.accounts import org
from bti.services.accounts import users
from bti.services.accounts.admin import generate_password
from bti.services.context import Ctx
from bti.services.errors import InvalidInput
from bti.services.errors import ServiceError

#: The columns of the file, in this order in the documentation (any order is read).
COLUMNS = ("record", "unit", "kind", "service", "serves", "username", "name", "email", "roles")
REQUIRED_COLUMNS = ("record", "unit")
#: A file larger than this, or with more rows, is refused before it is read.
MAX_BYTES = 1_000_000
MAX_ROWS = 5000
ROLE_VALUES = tuple(r.value for r in Role)
#: Each problem's code in words, for the command line (the pages say it in the user's language).
ENGLISH = {
    "too_large": f"the file is larger than {MAX_BYTES} bytes",
    "too_many_rows": f"more than {MAX_ROWS} rows",
    "not_utf8": "the file is not UTF-8 text",
    "not_csv": "not a CSV line (a quote not closed?)",
    "nul": "invalid character",
    "empty": "no rows",
    "unknown_column": "unknown column",
    "missing_column": "column missing",
    "duplicate_column": "a column appears twice",
    "wrong_column_count": "not as many values as the header has columns",
    "required": "required",
    "too_long": "too long",
    "invalid": "not valid",
    "taken": "already taken",
    "duplicate_in_file": "appears twice in the file",
    "unknown_unit": "no such unit in the municipality or the file",
    "inactive_unit": "the unit is deactivated",
    "unknown_municipality": "no such municipality",
    "unknown_record": "record must be unit or user",
    "invalid_role": "unknown role",
    "invalid_email": "not an e-mail address",
    "not_for_unit": "only for a user row",
    "not_for_user": "only for a unit row",
}


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One problem: the file's line (1 is the header), the column, an error code."""

    line: int
    column: str
    code: str


class ImportRefused(ServiceError):
    """The file was refused whole: nothing was imported."""

    code = "import_refused"

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__("; ".join(f"line {p.line}: {p.column}: {p.code}" for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class ImportedUser:
    username: str
    display_name: str
    unit: str | None
    roles: tuple[str, ...]
    #: The one-time password, shown once to whoever imported.
    password: str


@dataclass
class ImportResult:
    units: list[str] = field(default_factory=list)
    users: list[ImportedUser] = field(default_factory=list)


@dataclass
class _UnitRow:
    line: int
    name: str
    kind: str
    service: str | None
    serves: list[int]


@dataclass
class _UserRow:
    line: int
    username: str
    display_name: str
    unit: str | None
    email: str | None
    roles: list[str]


def _rows(data: bytes) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and the rows with their line numbers; ``ImportRefused`` for a file that is
    not UTF-8 CSV, too large, or without the required columns."""
    if len(data) > MAX_BYTES:
        raise ImportRefused([RowProblem(0, "file", "too_large")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused([RowProblem(0, "file", "not_utf8")]) from None
    if "\x00" in text:
        raise ImportRefused([RowProblem(0, "file", "nul")])
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except csv.Error:
        raise ImportRefused([RowProblem(1, "file", "not_csv")]) from None
    problems = [RowProblem(1, h or "?", "unknown_column") for h in header if h not in COLUMNS]
    problems += [RowProblem(1, c, "missing_column") for c in REQUIRED_COLUMNS
                 if c not in header]
    if len(set(header)) != len(header):
        problems.append(RowProblem(1, "file", "duplicate_column"))
    if problems:
        raise ImportRefused(problems)
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue  # an empty line
            if len(rows) >= MAX_ROWS:
                raise ImportRefused([RowProblem(line, "file", "too_many_rows")])
            if len(values) != len(header):
                problems.append(RowProblem(line, "file", "wrong_column_count"))
                continue
            rows.append((line, dict(zip(header, values, strict=True))))
    except csv.Error:
        raise ImportRefused([*problems, RowProblem(reader.line_num, "file", "not_csv")]) \
            from None
    if problems:
        raise ImportRefused(problems)
    if not rows:
        raise ImportRefused([RowProblem(1, "file", "empty")])
    return header, rows


def _check(ctx: Ctx, home: int, rows: list[tuple[int, dict[str, str]]]
           ) -> tuple[list[_UnitRow], list[_UserRow], list[RowProblem]]:
    from bti.services.notify.notices import check_email

    problems: list[RowProblem] = []
    units: list[_UnitRow] = []
    people: list[_UserRow] = []
    slugs = {m.slug: m.id for m in org.municipalities(ctx) if m.id != home}
    existing_units = {n.casefold() for n in ctx.session.scalars(
        select(Unit.name).where(Unit.municipality_id == home, Unit.active.is_(True)))}
    inactive_units = {n.casefold() for n in ctx.session.scalars(
        select(Unit.name).where(Unit.municipality_id == home, Unit.active.is_(False)))}
    file_units: set[str] = set()
    file_users: set[str] = set()

    def bad(line: int, column: str, code: str) -> None:
        problems.append(RowProblem(line, column, code))

    for line, row in rows:
        record = row.get("record", "").strip().lower()
        if record == "unit":
            for column in ("username", "name", "email", "roles"):
                if row.get(column, "").strip():
                    bad(line, column, "not_for_unit")
            try:
                cleaned = org.clean_unit(ctx, home, name=row.get("unit"), kind=row.get("kind"),
                                         service=row.get("service"), taken=file_units)
            except InvalidInput as err:
                for name, codes in err.fields.items():
                    for code in codes:
                        bad(line, "unit" if name == "name" else name, code)
                continue
            served: list[int] = []
            for slug in (row.get("serves") or "").replace(";", " ").replace("|", " ").split():
                if slug.lower() not in slugs:
                    bad(line, "serves", "unknown_municipality")
                else:
                    served.append(slugs[slug.lower()])
            file_units.add(cleaned["name"])
            units.append(_UnitRow(line, cleaned["name"], cleaned["kind"], cleaned["service"],
                                  sorted(set(served))))
        elif record == "user":
            for column in ("kind", "service", "serves"):
                if row.get(column, "").strip():
                    bad(line, column, "not_for_user")
            username = (row.get("username") or "").strip()
            plain = username.replace(".", "").replace("-", "")
            if not username:
                bad(line, "username", "required")
            elif len(username) > 80 or not plain.isalnum() or not plain.isascii():
                bad(line, "username", "invalid")
            elif username.casefold() in file_users:
                bad(line, "username", "duplicate_in_file")
            elif ctx.session.scalar(select(User.id).where(
                    func.lower(User.username) == username.lower())) is not None:
                bad(line, "username", "taken")
            file_users.add(username.casefold())
            display, name_code = org.clean_text(row.get("name"), required=True, length=200)
            if name_code:
                bad(line, "name", name_code)
            unit, unit_code = org.clean_text(row.get("unit"), required=False, length=200)
            if unit_code:
                bad(line, "unit", unit_code)
            elif unit is not None and unit.casefold() not in existing_units \
                    and unit.casefold() not in {u.casefold() for u in file_units}:
                bad(line, "unit", "inactive_unit" if unit.casefold() in inactive_units
                    else "unknown_unit")
            try:
                email = check_email(row.get("email"))
            except InvalidInput as err:
                for code in err.fields["email"]:
                    bad(line, "email", code)
                email = None
            roles = [r.strip().lower() for r in (row.get("roles") or "").replace(
                ";", " ").replace("|", " ").replace(",", " ").split()]
            if not roles:
                bad(line, "roles", "required")
            elif any(r not in ROLE_VALUES for r in roles):
                bad(line, "roles", "invalid_role")
            people.append(_UserRow(line, username, display or "", unit, email,
                                   sorted(set(roles), key=lambda r: ROLE_VALUES.index(r)
                                          if r in ROLE_VALUES else 0)))
        else:
            bad(line, "record", "unknown_record" if record else "required")
    return units, people, problems


def import_file(ctx: Ctx, data: bytes, municipality_id: int | None = None) -> ImportResult:
    """Import the units and users of a CSV file into the municipality (the administrator's
    own, or for the operator the one named). ``ImportRefused`` with every problem found when
    any row is bad: nothing is written then. The caller commits."""
    home = org.home_municipality(ctx, municipality_id)
    _, rows = _rows(data)
    units, people, problems = _check(ctx, home, rows)
    if problems:
        raise ImportRefused(sorted(problems, key=lambda p: (p.line, COLUMNS.index(p.column)
                                                            if p.column in COLUMNS else 99)))
    result = ImportResult()
    now = ctx.now()
    unit_ids: dict[str, int] = {u.name.casefold(): u.id for u in ctx.session.scalars(
        select(Unit).where(Unit.municipality_id == home, Unit.active.is_(True)))}
    for u in units:
        row = Unit(municipality_id=home, name=u.name, kind=u.kind, service=u.service,
                   active=True)
        row.serves = [UnitMunicipality(municipality_id=m, created_at=now) for m in u.serves]
        ctx.session.add(row)
        ctx.session.flush()
        unit_ids[u.name.casefold()] = row.id
        org.audit_change(ctx, AuditAction.UNIT_CREATED, home, object_type="unit", object_id=row.id,
                   kind=row.kind, serves=u.serves, via_import=True)
        result.units.append(u.name)
    for p in people:
        password = generate_password()
        while users.password_problems(password, username=p.username):  # pragma: no cover
            password = generate_password()
        unit_id = unit_ids[p.unit.casefold()] if p.unit else None
        user = users.create_user(ctx.session, municipality_id=home, unit_id=unit_id,
                                 username=p.username, display_name=p.display_name,
                                 password=password, roles=p.roles, now=now)
        user.email = p.email
        user.password_change_required = True  # whoever imported has seen this password
        ctx.session.flush()
        org.audit_change(ctx, AuditAction.USER_CREATED, home, object_type="user", object_id=user.id,
                   roles=p.roles, unit_id=unit_id, via_import=True)
        result.users.append(ImportedUser(p.username, p.display_name, p.unit, tuple(p.roles),
                                         password))
    org.audit_change(ctx, AuditAction.ORG_IMPORTED, home, object_type="municipality",
               object_id=home, units=len(result.units), users=len(result.users))
    return result

