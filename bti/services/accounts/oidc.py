"""Staff sign-in through a municipality's OpenID provider: who the verified ID token names. No
Flask and no protocol here: the web layer (``bti.web.oidc``) runs the authorization code flow
with Authlib and hands over the claims of an ID token whose signature, issuer, audience, expiry,
nonce and ``acr`` it has checked.

The provider's subject identifier is never stored: ``external_identity`` keeps an HMAC-SHA256 of
the issuer and the subject under the installation's key (``BTI_IDENTITY_HMAC_KEY``). That is
enough to recognise the same person next time, and a national identity number used as a subject
cannot be read back out of the database.

Linking a staff account (the safer of the two simple ways): on a person's *first* sign-in, the
provider's configured claim (``link_claim``, e.g. ``preferred_username``) must equal the user
name of an active staff user of the same municipality who has no identity of this provider yet;
the link is then recorded and from then on only the subject counts. A later change of that claim
at the provider neither moves the link nor takes over another account; a second subject claiming
an already linked user name is refused. Anyone else gets "no account linked" and nothing is
signed in. An administrator ends a link by deactivating the user (the row goes with the user).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bti.domain.org import Actor
from bti.domain.org import ExternalIdentity
from bti.domain.org import Municipality
from bti.domain.org import User
from bti.domain.vocabulary import AuditAction
from bti.services.access import audit


def subject_hmac(key: bytes, issuer: str, subject: str) -> str:
    """The stored form of a provider's subject: HMAC-SHA256 over issuer and subject."""
    return hmac.new(key, f"{issuer}\x00{subject}".encode(), hashlib.sha256).hexdigest()


def acr_accepted(acr: Any, accepted: tuple[str, ...]) -> bool:
    """Whether the ID token's ``acr`` is one of the levels the municipality accepts (any level
    when it names none)."""
    return not accepted or (isinstance(acr, str) and acr in accepted)


@dataclass(frozen=True)
class Outcome:
    actor: Actor | None
    #: Why nothing was signed in: ``no_account`` (no staff user linked or linkable).
    refusal: str | None = None


def failed(session: Session, *, municipality_id: int | None, provider: str, reason: str,
           now: datetime, request_id: str | None) -> None:
    """Audit a sign-in through a provider that did not complete (state, code, token, acr,
    provider down): never the claims, only the reason."""
    audit.record_system(session, AuditAction.AUTH_OIDC_FAILED, now=now,
                        municipality_id=municipality_id, basis=None, outcome="denied",
                        request_id=request_id, reason=reason, provider=provider)


def identify(session: Session, *, municipality: Municipality, issuer: str, subject: str,
             claims: dict[str, Any], link_claim: str, key: bytes, now: datetime,
             request_id: str | None = None) -> Outcome:
    """The staff user the verified claims name, recorded in ``external_identity``; links the
    identity on first sign-in (module docstring). The caller starts the session."""
    digest = subject_hmac(key, issuer, subject)
    identity = session.scalar(select(ExternalIdentity).where(
        ExternalIdentity.provider == issuer, ExternalIdentity.subject_hmac == digest))
    user = None
    if identity is not None and identity.user_id is not None:
        user = session.get(User, identity.user_id)
    elif identity is None or identity.municipality_id == municipality.id:
        # first sign-in (nothing is stored for a person no account is found for)
        user = _linkable(session, municipality.id, issuer, claims.get(link_claim))
        if user is not None:
            if identity is None:
                identity = ExternalIdentity(municipality_id=municipality.id, provider=issuer,
                                            subject_hmac=digest, created_at=now,
                                            last_seen_at=now)
                session.add(identity)
            identity.user_id = user.id
            session.flush()
            audit.record_system(session, AuditAction.AUTH_IDENTITY_LINKED, now=now,
                                municipality_id=municipality.id, actor_id=user.id,
                                object_type="user", object_id=user.id, basis=None,
                                request_id=request_id, provider=issuer)
    if identity is None or user is None or not user.active \
            or user.municipality_id != municipality.id:
        failed(session, municipality_id=municipality.id, provider=issuer,
               reason="no_account" if user is None else "inactive", now=now,
               request_id=request_id)
        return Outcome(None, "no_account")
    identity.last_seen_at = now
    return Outcome(user.as_actor())


def _linkable(session: Session, municipality_id: int, issuer: str, value: Any) -> User | None:
    if not isinstance(value, str) or not value:
        return None
    user = session.scalar(select(User).where(User.municipality_id == municipality_id,
                                             User.username == value[:80]))
    if user is None or not user.active:
        return None
    taken = session.scalar(select(ExternalIdentity.id).where(
        ExternalIdentity.provider == issuer, ExternalIdentity.user_id == user.id))
    return None if taken is not None else user
