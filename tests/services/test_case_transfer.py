"""A case that follows the family to another municipality (issue 15, section 4): two
installations, each with its own database (two SQLite files; on PostgreSQL two schemas), the
sending case closed as transferred through the workflow, then ``bti case transfer-export`` and
``bti case transfer-import`` run as commands in a subprocess with their own keys. Both sides'
chains verify afterwards (stafettlogg and audit trail, ``bti audit verify``); the receiving
case continues with its whole history, and the sender's chain can be checked again from the
receiving database. A tampered entry, a wrong key, a reordered or truncated bundle are refused
with a clear error and nothing written. All names are made up."""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess  # nosec B404 - the installed command, an argument list
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bti.config import TransferSettings
from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.domain.cases import Case
from bti.domain.log import AuditEvent
from bti.domain.log import CaseTransfer
from bti.domain.log import canonical_json
from bti.domain.org import Municipality
from bti.services.cases import lifecycle as cases
from bti.services.cases.stafettlogg import verify_case
from bti.services.context import Ctx
from bti.services.privacy import transfer
from tests.dbs import ON_POSTGRES
from tests.dbs import schema_pool
from tests.factories import CONCERN
from tests.factories import FIXED_NOW
from tests.factories import TODAY
from tests.factories import make_municipality
from tests.factories import make_unit
from tests.factories import make_user

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SENDER, RECEIVER = "valdres-bti", "fosen-bti"
#: The destination a bundle names: the receiving installation and municipality, by id.
TO = ("--to-installation", RECEIVER, "--to-municipality", "indre-fosen")


@dataclass
class Installation:
    name: str
    url: str
    private: str
    public: str

    def env(self, trusted: dict[str, str]) -> dict[str, str]:
        env = dict(os.environ, BTI_DATABASE_URL=self.url, BTI_DEV="1",
                   BTI_WORKFLOWS_DIR=str(ROOT / "workflows"), BTI_INSTALLATION_ID=self.name,
                   BTI_TRANSFER_SIGNING_KEY=self.private,
                   BTI_TRANSFER_TRUSTED_KEYS=",".join(f"{k}={v}" for k, v in trusted.items()))
        for name in ("BTI_LOG_KEYS", "BTI_AUDIT_ANCHOR_FILE"):
            env.pop(name, None)
        return env


@contextmanager
def _database(tmp: Path, name: str) -> Iterator[str]:
    if ON_POSTGRES:
        with schema_pool().schema() as url:
            yield url
        return
    url = f"sqlite:///{tmp / name}.sqlite3"
    eng = make_engine(url)
    create_schema(eng)
    eng.dispose()
    yield url


def _keys() -> tuple[str, str]:
    return transfer.generate_key()


@pytest.fixture
def installations(tmp_path, registry):
    with _database(tmp_path, "sender") as a, _database(tmp_path, "receiver") as b:
        sender = Installation(SENDER, a, *_keys())
        receiver = Installation(RECEIVER, b, *_keys())
        yield sender, receiver


def _session(url: str):
    eng = make_engine(url)
    return eng, make_session_factory(eng)


def _sending_case(url: str, registry) -> int:
    """Vang (the sender) with a case at nivå 1 closed as transferred to Indre Fosen."""
    eng, factory = _session(url)
    try:
        with factory.begin() as s:
            m = make_municipality(s, slug="vang", name="Vang kommune")
            school = make_unit(s, m, "school", name="Vang skule")
            teacher = make_user(s, m, school, ("employee",), username="vang-laerar")
            holder = make_user(s, m, school, ("employee", "coordinator"), username="vang-koord")
            leader = make_user(s, m, school, ("employee", "leader"), username="vang-rektor")
            registry.sync(s)
            s.flush()

            def ctx(actor):
                return Ctx(session=s, actor=actor, workflows=registry, now=lambda: FIXED_NOW)

            case = cases.open_case(ctx(teacher), unit_id=None, child_pseudonym="Test F.",
                                   child_birth_year=2015, concern=dict(CONCERN)).case
            day = TODAY.isoformat()
            cases.fire(ctx(teacher), case.id, "start")
            cases.fire(ctx(teacher), case.id, "inform_home", {"informed_on": day})
            cases.fire(ctx(leader), case.id, "appoint_stafettholder",
                       {"stafettholder": holder.id})
            for trigger in ("assess", "decide"):
                cases.fire(ctx(holder), case.id, trigger)
            cases.fire(ctx(holder), case.id, "escalate", {"reason": "Tiltak trengst."})
            cases.fire(ctx(holder), case.id, "transfer_municipality", {
                "to_municipality": "Indre Fosen", "given_by": "guardians", "given_on": day,
                "reason": "Familien flyttar til Indre Fosen"})
            assert case.closed_at is not None
            return case.id
    finally:
        eng.dispose()


def _receiving_side(url: str, registry) -> None:
    eng, factory = _session(url)
    try:
        with factory.begin() as s:
            m = make_municipality(s, slug="indre-fosen", name="Indre Fosen kommune",
                                  workflow_id="orland")
            unit = make_unit(s, m, "school", name="Fosen skule")
            make_user(s, m, unit, ("employee", "coordinator"), username="fosen-koord")
            make_user(s, m, None, ("admin",), username="fosen-admin")
            registry.sync(s)
    finally:
        eng.dispose()


def bti(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([BIN / "bti", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def _count_cases(url: str) -> int:
    eng, factory = _session(url)
    try:
        with factory() as s:
            return s.scalar(select(func.count()).select_from(Case))
    finally:
        eng.dispose()


def _import(receiver: Installation, env, path: Path) -> subprocess.CompletedProcess:
    return bti(env, "case", "transfer-import", str(path), "--municipality", "indre-fosen",
               "--receiver", "fosen-koord")


def test_a_case_moves_between_two_installations_and_both_chains_verify(installations, registry,
                                                                       tmp_path):
    sender, receiver = installations
    case_id = _sending_case(sender.url, registry)
    _receiving_side(receiver.url, registry)
    out = tmp_path / "bundle.json"
    exported = bti(sender.env({}), "case", "transfer-export", "--case", str(case_id),
                   "--out", str(out), *TO)
    assert exported.returncode == 0, exported.stderr
    again = tmp_path / "again.json"
    assert bti(sender.env({}), "case", "transfer-export", "--case", str(case_id),
               "--out", str(again), *TO).returncode == 0
    assert again.read_bytes() == out.read_bytes()  # the same bundle, byte for byte
    env = receiver.env({SENDER: sender.public})
    imported = _import(receiver, env, out)
    assert imported.returncode == 0, imported.stderr
    assert "imported as case" in imported.stdout
    twice = _import(receiver, env, out)
    assert twice.returncode == 1
    assert "imported already" in twice.stderr

    # the sending side: closed as transferred, its chain intact, the tombstone and audit rows
    eng, factory = _session(sender.url)
    with factory() as s:
        case = s.get_one(Case, case_id)
        assert case.closed_at is not None
        assert verify_case(s, case, None) is None
        [tomb] = s.scalars(select(CaseTransfer)).all()
        assert (tomb.direction, tomb.case_id, tomb.entry_count, tomb.head_hash,
                tomb.counterpart_installation, tomb.counterpart_municipality) == (
            "out", case_id, case.log_seq, case.log_head, RECEIVER, "indre-fosen")
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case_id))
        assert "case.transfer_exported" in set(actions)
        sent_head, sent_count = case.log_head, case.log_seq
    eng.dispose()
    # the receiving side: the case continues at nivå 1 with its whole history
    eng, factory = _session(receiver.url)
    with factory() as s:
        [case] = s.scalars(select(Case)).all()
        assert case.closed_at is None
        assert case.state == "n1_plan"
        assert verify_case(s, case, None) is None
        assert transfer.verify_received(s, case) is None
        assert case.log_seq == sent_count + 1  # every entry, and the import
        [row] = s.scalars(select(CaseTransfer)).all()
        assert (row.direction, row.head_hash, row.source_case_id, row.counterpart_installation
                ) == ("in", sent_head, case_id, SENDER)
        holder = case.stafettholder
        assert holder is not None
        assert holder.username == "fosen-koord"
    eng.dispose()
    for side, trusted in ((sender, {}), (receiver, {SENDER: sender.public})):
        verified = bti(side.env(trusted), "audit", "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr


def _resign(bundle: dict, private: str) -> bytes:
    """The bundle re-signed after a change (an attacker who holds a trusted key): the chain
    checks must still catch it."""
    bundle["manifest"]["content_sha256"] = transfer._sha256(
        {"case": bundle["case"], "entries": bundle["entries"]})
    bundle["manifest"]["entry_count"] = len(bundle["entries"])
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(private))
    bundle["signature"] = base64.b64encode(
        key.sign(canonical_json(bundle["manifest"]).encode())).decode()
    return canonical_json(bundle).encode()


def test_a_bundle_that_fails_is_refused_and_nothing_is_written(installations, registry,
                                                               tmp_path):
    sender, receiver = installations
    case_id = _sending_case(sender.url, registry)
    _receiving_side(receiver.url, registry)
    out = tmp_path / "bundle.json"
    assert bti(sender.env({}), "case", "transfer-export", "--case", str(case_id),
               "--out", str(out), *TO).returncode == 0
    good = json.loads(out.read_bytes())
    env = receiver.env({SENDER: sender.public})

    tampered = copy.deepcopy(good)
    tampered["entries"][1]["data"] = tampered["entries"][1]["data"].replace("}", ',"x":1}')
    bad = tmp_path / "tampered.json"
    bad.write_bytes(canonical_json(tampered).encode())
    r = _import(receiver, env, bad)
    assert r.returncode == 1
    assert "does not match its signed manifest" in r.stderr

    wrong_key = receiver.env({SENDER: receiver.public})  # trusts another key for the sender
    r = _import(receiver, wrong_key, out)
    assert r.returncode == 1
    assert "signature does not match" in r.stderr
    r = _import(receiver, receiver.env({}), out)
    assert r.returncode == 1
    assert "not a trusted installation" in r.stderr

    settings = TransferSettings(RECEIVER, None, {SENDER: base64.b64decode(sender.public)})
    reordered = copy.deepcopy(good)
    reordered["entries"][2], reordered["entries"][3] = (reordered["entries"][3],
                                                        reordered["entries"][2])
    truncated = copy.deepcopy(good)
    del truncated["entries"][-1]
    edited = copy.deepcopy(good)  # edited and re-signed: the entry's hash gives it away
    edited["entries"][0]["data"] = edited["entries"][0]["data"].replace("}", ',"x":1}')
    for name, doc, message in (("reordered", reordered, "sequence number"),
                               ("truncated", truncated, "head is not the manifest's"),
                               ("edited", edited, "does not match its hash")):
        data = _resign(doc, sender.private)  # truncated: the signed head names the old end
        with pytest.raises(transfer.TransferRefused, match=message):
            transfer.check_bundle(data, settings)
        path = tmp_path / f"{name}.json"
        path.write_bytes(data)
        r = _import(receiver, env, path)
        assert r.returncode == 1, name
        assert "refused, nothing imported" in r.stderr, name
    assert _count_cases(receiver.url) == 0
    eng, factory = _session(receiver.url)
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(CaseTransfer)) == 0
    eng.dispose()


def test_an_open_case_cannot_be_exported(installations, registry, tmp_path):
    sender, _ = installations
    _sending_case(sender.url, registry)
    r = bti(sender.env({}), "case", "transfer-export", "--case", "999999",
            "--out", str(tmp_path / "x.json"), *TO)
    assert r.returncode == 1
    assert "no case 999999" in r.stderr
    assert not (tmp_path / "x.json").exists()


def test_a_bundle_for_another_destination_is_refused_and_nothing_is_written(
        installations, registry, tmp_path):
    """The bundle names its destination by id (installation, municipality slug), signed: the
    receiver refuses one addressed elsewhere, and a case has one destination."""
    sender, receiver = installations
    case_id = _sending_case(sender.url, registry)
    _receiving_side(receiver.url, registry)
    env = receiver.env({SENDER: sender.public})
    for name, to in (("other-installation", ("other-bti", "indre-fosen")),
                     ("other-municipality", (RECEIVER, "orland"))):
        eng, factory = _session(sender.url)
        with factory.begin() as s:  # a fresh export per destination (one per case)
            s.execute(delete(CaseTransfer))
        eng.dispose()
        path = tmp_path / f"{name}.json"
        r = bti(sender.env({}), "case", "transfer-export", "--case", str(case_id), "--out",
                str(path), "--to-installation", to[0], "--to-municipality", to[1])
        assert r.returncode == 0, r.stderr
        assert json.loads(path.read_bytes())["manifest"]["destination"] == {
            "installation": to[0], "municipality": to[1]}
        r = _import(receiver, env, path)
        assert r.returncode == 1, name
        assert "refused, nothing imported" in r.stderr
        assert (f"addressed to municipality '{to[1]}' at installation '{to[0]}', not to "
                f"'indre-fosen' at '{RECEIVER}'") in r.stderr
    # exported already to orland at the receiver: another destination is refused
    r = bti(sender.env({}), "case", "transfer-export", "--case", str(case_id), "--out",
            str(tmp_path / "x.json"), *TO)
    assert r.returncode == 1
    assert "a bundle has one destination" in r.stderr
    r = bti(sender.env({}), "case", "transfer-export", "--case", str(case_id), "--out",
            str(tmp_path / "x.json"), "--to-installation", "Fosen BTI", "--to-municipality",
            "indre-fosen")
    assert r.returncode == 1
    assert "is not an id" in r.stderr
    assert not (tmp_path / "x.json").exists()
    assert _count_cases(receiver.url) == 0
    eng, factory = _session(receiver.url)
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(CaseTransfer)) == 0
    eng.dispose()


def test_the_same_bundle_cannot_be_recorded_twice(installations, registry, tmp_path):
    """The unique index behind "imported already" (two imports at once): a second row of the
    same direction and bundle hash is refused by the database."""
    _, receiver = installations
    _receiving_side(receiver.url, registry)
    eng, factory = _session(receiver.url)
    try:
        with factory.begin() as s:
            m = s.scalar(select(Municipality))
            row = dict(municipality_id=m.id, direction="in", counterpart_installation=SENDER,
                       counterpart_municipality="vang", source_case_id=7, entry_count=3,
                       head_hash="a" * 64, bundle_sha256="b" * 64, created_at=FIXED_NOW)
            s.add(CaseTransfer(case_id=1, **row))
        with pytest.raises(IntegrityError), factory.begin() as s:
            s.add(CaseTransfer(case_id=2, **row))
        with factory.begin() as s:  # the other direction is another record
            s.add(CaseTransfer(case_id=2, **dict(row, direction="out")))
        with factory() as s:
            assert s.scalar(select(func.count()).select_from(CaseTransfer)) == 2
    finally:
        eng.dispose()
