"""Identity for the registry service: users, passwords, bearer tokens, permissions, and
back-off after failed logins.

Tokens look like `hat_<id>_<secret>`. Only an argon2 hash of the secret is stored
(argon2-cffi, the reference binding); the id finds the row, so one verification costs one
hash. A verified token is remembered in memory for 5 seconds (keyed by its SHA-256, never
the token), so a burst of requests costs one registry read; expiry is checked on every
request, and a revocation takes effect at once in the process that revokes, within those
seconds in others.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub_assets.errors import (
    AuthenticationError,
    InvalidIdentityError,
    PermissionDeniedError,
    ThrottledError,
)
from hub_assets.registry import identity as reg_identity
from hub_assets.registry.store import Registry
from hub_assets.states import Permission

PERMISSIONS = tuple(p.value for p in Permission)
ADMIN_USER = "admin"
TOKEN_PREFIX = "hat_"
# Matched whole (`fullmatch`) and ASCII only: no final newline, no other script's digits.
_TOKEN = re.compile(r"hat_([0-9]{1,18})_([A-Za-z0-9_-]{20,100})", re.ASCII)
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}", re.ASCII)
_DURATION = re.compile(r"([0-9]{1,6})([mhd])", re.ASCII)
# How long a verified token is trusted without reading the registry again. Revoking through
# this process takes effect at once; a revocation by another process (the CLI) within this.
_VERIFIED_TTL_S = 5.0
# One answer for an unknown, revoked, expired or wrong token: it tells nobody which ids exist.
INVALID_TOKEN = "Invalid or expired token: log in again, or ask an admin for a new token."


@dataclass(frozen=True)
class Principal:
    """Who is calling, and what they may do."""

    username: str
    permissions: frozenset[str]
    token_id: int
    profile: str | None = None  # the mirror's policy profile the token selects

    def may(self, permission: str) -> bool:
        """Admin may do anything; every permission includes `read`."""
        return (
            "admin" in self.permissions
            or permission in self.permissions
            or (permission == "read" and bool(self.permissions))
        )


@dataclass(frozen=True)
class IssuedToken:
    """A token as handed out once: the caller must keep it, the registry cannot show it."""

    token: str
    token_id: int
    expires_at: datetime | None


def parse_duration(text: str) -> timedelta:
    """`90d`, `12h`, `30m` as a timedelta."""
    m = _DURATION.fullmatch(text.strip())
    if not m:
        raise InvalidIdentityError(f"Invalid duration {text!r}: expected e.g. 90d, 12h or 30m.")
    unit = {"m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
    if int(m.group(1)) == 0:
        raise InvalidIdentityError(
            f"Invalid duration {text!r}: a token must expire after a positive time."
        )
    return timedelta(**{unit: int(m.group(1))})


def check_username(username: str) -> str:
    """A username: lower-case letters, digits, `.`, `_`, `-`; at most 64 characters."""
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise InvalidIdentityError(
            f"Invalid username {username!r}: use lower-case letters, digits, '.', '_' or '-' "
            "(at most 64 characters)."
        )
    return username


def check_permissions(permissions: list[str]) -> list[str]:
    """Known permissions, deduplicated in canonical order."""
    unknown = sorted(set(permissions) - set(PERMISSIONS))
    if unknown or not permissions:
        raise InvalidIdentityError(
            f"Unknown permission(s) {unknown or permissions}: expected some of "
            f"{', '.join(PERMISSIONS)}."
        )
    return [p for p in PERMISSIONS if p in permissions]


class LoginThrottle:
    """Back-off after failed logins per key (a username, a client address): after
    `free_failures` in a row, the next costs 1 s, each further one doubles it, up to 5
    minutes. An attempt is counted as a failure *before* its password is checked, in the
    same locked step as the wait check (`begin`), so parallel attempts cannot all slip in
    between a check and a count; a success then clears it. Kept in memory: a restart
    forgets it."""

    def __init__(self, free_failures: int = 2, max_wait_s: float = 300.0) -> None:
        self.free, self.max_wait_s = free_failures, max_wait_s
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def begin(self, *keys: str) -> None:
        """Raise `ThrottledError` while any key is still waiting; else count this attempt
        as a failure of each key (atomically) until `succeeded` says otherwise."""
        now = time.monotonic()
        with self._lock:
            untils = [self._failures[k][1] for k in keys if k in self._failures]
            wait = max((until - now for until in untils), default=0.0)
            if wait > 0:
                raise ThrottledError(
                    f"Too many failed logins; try again in {wait:.0f} s.", retry_after_s=wait
                )
            for key in keys:
                n, _ = self._failures.get(key, (0, 0.0))
                n += 1
                delay = 0.0 if n <= self.free else min(2 ** (n - self.free - 1), self.max_wait_s)
                self._failures[key] = (n, now + delay)

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of each key."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


class Identity:
    """Users and tokens in the registry, checked the same way by the API and the CLI."""

    def __init__(self, registry: Registry, session_hours: float = 8.0) -> None:
        self.registry = registry
        self.session = timedelta(hours=session_hours)
        self.hasher = PasswordHasher()
        # A person mistyping is throttled after 2 failures; an address (shared by a NAT or
        # a proxy) after 10.
        self.user_throttle = LoginThrottle(free_failures=2)
        self.client_throttle = LoginThrottle(free_failures=10)
        # Forged tokens naming a real id: each costs an argon2 check, so they back off too.
        self.token_throttle = LoginThrottle(free_failures=3)
        # Checked against when a token's id is unknown or dead: every answer costs the same.
        self._decoy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        self._verified: dict[str, tuple[float, Principal, datetime | None]] = {}
        self._lock = threading.Lock()

    # -- users ---------------------------------------------------------------------------
    def add_user(
        self,
        username: str,
        permissions: list[str],
        password: str | None = None,
        by: str | None = None,
    ) -> None:
        """Create a user or change its permissions (and password when given)."""
        check_username(username)
        perms = check_permissions(permissions)
        if password is not None and len(password) < 12:
            raise InvalidIdentityError("A password needs at least 12 characters.")
        hashed = self.hasher.hash(password) if password is not None else None
        with self.registry.write() as con:
            existed = reg_identity.get_user(con, username) is not None
            reg_identity.upsert_user(con, username, perms, hashed, by)
            # a new password ends the sessions the old one opened (API tokens stay)
            if existed and hashed is not None:
                reg_identity.revoke_user_tokens(con, username, kind="session")
        self._forget(username)

    def user_exists(self, username: str) -> bool:
        """Whether a user of this name exists (for the audit of a failed login)."""
        if not isinstance(username, str) or not _USERNAME.fullmatch(username):
            return False
        with self.registry.read() as con:
            return reg_identity.get_user(con, username) is not None

    def set_disabled(self, username: str, disabled: bool) -> None:
        """Disable a user (every token of theirs stops working at once, none is deleted) or
        enable them again."""
        with self.registry.write() as con:
            if not reg_identity.set_disabled(con, username, disabled):
                raise InvalidIdentityError(f"No user {username!r}.")
        self._forget(username)

    def revoke_all(self, username: str) -> list[int]:
        """Revoke every live token of a user (sessions and API tokens); the ids revoked."""
        with self.registry.write() as con:
            if reg_identity.get_user(con, username) is None:
                raise InvalidIdentityError(f"No user {username!r}.")
            ids = reg_identity.revoke_user_tokens(con, username)
        self._forget(username)
        return ids

    def _forget(self, username: str) -> None:
        """Drop this process's cached verifications of a user's tokens."""
        with self._lock:
            self._verified = {k: v for k, v in self._verified.items() if v[1].username != username}

    def ensure_admin(self, password: str | None) -> str | None:
        """Create user `admin` on first start: with `password` (HUB_ASSETS_ADMIN_PASSWORD),
        else a generated one, which is returned so it can be shown once. None when the
        admin exists already."""
        with self.registry.read() as con:
            if reg_identity.get_user(con, ADMIN_USER) is not None:
                return None
        generated = password or secrets.token_urlsafe(18)
        self.add_user(ADMIN_USER, ["admin"], generated, by="first start")
        return None if password else generated

    # -- logging in and tokens -----------------------------------------------------------
    def authenticate(self, username: str, password: str, client: str) -> IssuedToken:
        """A session token for a correct password; failures back off per user and address."""
        # each attempt takes its failure slot before the (slow) password check
        self.user_throttle.begin(username)
        self.client_throttle.begin(client)
        with self.registry.read() as con:
            user = reg_identity.get_user(con, username)
        ok = False
        if user is not None and user.password_hash and not user.disabled:
            try:
                ok = self.hasher.verify(user.password_hash, password)
            except (VerificationError, InvalidHashError):
                ok = False
        else:
            self.hasher.hash(password)  # the same cost whether or not the user exists
        if not ok:  # already counted by `begin`
            raise AuthenticationError("Unknown user or wrong password.")
        self.user_throttle.succeeded(username)
        self.client_throttle.succeeded(client)
        return self.create_token(username, "session", self.session, kind="session")

    def create_token(
        self,
        username: str,
        name: str,
        expires: timedelta | None,
        kind: str = "api",
        profile: str | None = None,
    ) -> IssuedToken:
        """A new token for an existing user (selecting the mirror's policy `profile`, if
        given: the caller checks that it is configured); only its hash is stored."""
        with self.registry.read() as con:
            if reg_identity.get_user(con, username) is None:
                raise InvalidIdentityError(f"No user {username!r}: add it first.")
        secret = secrets.token_urlsafe(32)
        if expires is not None and expires <= timedelta(0):
            raise InvalidIdentityError("A token must expire after a positive time.")
        expires_at = datetime.now(UTC) + expires if expires is not None else None
        with self.registry.write() as con:
            token_id = reg_identity.insert_token(
                con, username, name, kind, self.hasher.hash(secret), expires_at, profile
            )
        return IssuedToken(f"{TOKEN_PREFIX}{token_id}_{secret}", token_id, expires_at)

    def revoke(self, token_id: int) -> bool:
        """Revoke a token: at once in this process, within a few seconds in others."""
        with self._lock:
            self._verified = {k: v for k, v in self._verified.items() if v[1].token_id != token_id}
        with self.registry.write() as con:
            return reg_identity.revoke_token(con, token_id)

    def verify(self, token: str) -> Principal:
        """The principal of a bearer token, or `AuthenticationError`."""
        m = _TOKEN.fullmatch(token or "")
        if not m:
            raise AuthenticationError("Malformed token: expected hat_<id>_<secret>.")
        token_id, secret = int(m.group(1)), m.group(2)
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            hit = self._verified.get(key)
        if hit is not None and hit[0] > time.monotonic():
            _, principal, expires_at = hit
            if expires_at is not None and expires_at <= datetime.now(UTC):
                raise AuthenticationError(INVALID_TOKEN)
            return principal
        # the attempt takes its failure slot first: forged tokens naming an id back off
        self.token_throttle.begin(str(token_id))
        with self.registry.read() as con:
            row = reg_identity.get_token(con, token_id)
            user = reg_identity.get_user(con, row.username) if row else None
        live = (
            row is not None
            and user is not None
            and not user.disabled
            and row.revoked_at is None
            and (row.expires_at is None or row.expires_at > datetime.now(UTC))
        )
        try:  # the same argon2 cost whether the id is live, dead or unknown
            self.hasher.verify(row.secret_hash if live else self._decoy_hash, secret)
            ok = live
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            raise AuthenticationError(INVALID_TOKEN)
        self.token_throttle.succeeded(str(token_id))
        principal = Principal(user.username, frozenset(user.permissions), token_id, row.profile)
        with self._lock:
            self._verified[key] = (time.monotonic() + _VERIFIED_TTL_S, principal, row.expires_at)
        return principal

    @staticmethod
    def require(principal: Principal, permission: str) -> None:
        """Raise `PermissionDeniedError` unless the principal holds `permission`."""
        if not principal.may(permission):
            raise PermissionDeniedError(
                f"User {principal.username!r} lacks the {permission!r} permission."
            )
