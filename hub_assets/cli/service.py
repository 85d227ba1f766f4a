"""`hub-assets serve | users | tokens | promote | retire | reject`: the registry service and
who may use it."""

from __future__ import annotations

import sys

import click

from hub_assets.cli.registry import open_registry
from hub_assets.cli.startup import settings_or_exit
from hub_assets.errors import HubAssetsError, exit_code
from hub_assets.states import Permission


def _audit(
    action: str, target: str, outcome: str, detail: str | None = None, user: str = "cli"
) -> None:
    from hub_assets.registry.identity import record_audit

    registry = open_registry(settings_or_exit())
    with registry.write() as con:
        record_audit(
            con,
            username=user,
            action=action,
            target=target,
            outcome=outcome,
            request_id="cli",
            detail=detail,
        )


def _fail(e: HubAssetsError) -> None:
    click.echo(str(e), err=True)
    sys.exit(exit_code(e.outcome))


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    """Serve the registry API (Swagger UI at /docs, Prometheus at /metrics)."""
    from hub_assets.errors import MissingExtraError
    from hub_assets.extras import require_extra

    try:
        for module in ("fastapi", "uvicorn", "prometheus_client"):
            require_extra("service", module, "hub-assets serve")
    except MissingExtraError as e:
        _fail(e)
    import uvicorn

    from hub_assets.cli.instance import ensure_dagster_home
    from hub_assets.pipeline.context import Pipeline
    from hub_assets.service.app import create_app, server_config

    settings = settings_or_exit()
    ensure_dagster_home(settings)
    registry = open_registry(settings)
    app = create_app(settings, registry, Pipeline.from_settings(settings).package_store())
    secret = settings.admin_password.get_secret_value() if settings.admin_password else None
    generated = app.state.identity.ensure_admin(secret)
    if generated:
        click.echo(
            f"First start: created user 'admin' with password {generated}\n"
            "It is shown this once; store it now (or set HUB_ASSETS_ADMIN_PASSWORD before "
            "the first start).",
            err=True,
        )
    uvicorn.Server(server_config(app, settings, host, port)).run()


@click.group()
def users() -> None:
    """Users of the registry service."""


@users.command("add")
@click.argument("name")
@click.option(
    "--permission",
    "permissions",
    multiple=True,
    required=True,
    type=click.Choice([p.value for p in Permission]),
    help="Repeat for several.",
)
@click.option("--password-stdin", is_flag=True, help="Read a password (for /authenticate).")
def users_add(name: str, permissions: tuple[str, ...], password_stdin: bool) -> None:
    """Add a user, or set an existing user's permissions."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    from hub_assets.pipeline.identity import Identity

    identity = Identity(open_registry(settings_or_exit()))
    identity.registry.ensure_schema()
    try:
        identity.add_user(name, list(permissions), password, by="cli")
    except HubAssetsError as e:
        _fail(e)
    _audit("users_add", name, "ok", ",".join(permissions))
    click.echo(f"User {name}: {', '.join(permissions)}")


@users.command("list")
def users_list() -> None:
    """Every user and their permissions."""
    from hub_assets.registry.identity import list_users

    registry = open_registry(settings_or_exit())
    registry.ensure_schema()
    with registry.read() as con:
        for name, perms, created, disabled in list_users(con):
            state = " (disabled)" if disabled else ""
            click.echo(f"{name:<24} {','.join(perms):<28} {created:%Y-%m-%d}{state}")


@users.command("disable")
@click.argument("name")
def users_disable(name: str) -> None:
    """Disable a user: every token of theirs stops working at once (nothing is deleted)."""
    _set_disabled(name, True)


@users.command("enable")
@click.argument("name")
def users_enable(name: str) -> None:
    """Enable a disabled user again (their unexpired, unrevoked tokens work again)."""
    _set_disabled(name, False)


def _set_disabled(name: str, disabled: bool) -> None:
    from hub_assets.pipeline.identity import Identity

    identity = Identity(open_registry(settings_or_exit()))
    identity.registry.ensure_schema()
    try:
        identity.set_disabled(name, disabled)
    except HubAssetsError as e:
        _fail(e)
    action = "users_disable" if disabled else "users_enable"
    _audit(action, name, "ok")
    click.echo(f"User {name} {'disabled' if disabled else 'enabled'}.")


@click.group()
def tokens() -> None:
    """API tokens for automation."""


@tokens.command("create")
@click.option("--user", required=True)
@click.option("--name", required=True, help="What the token is for.")
@click.option("--expires", default=None, help="e.g. 90d, 12h (default: never).")
@click.option(
    "--profile",
    default=None,
    help="The mirror's policy profile this token selects (HUB_ASSETS_MIRROR_PROFILES; "
    "default: the profiles file's default).",
)
def tokens_create(user: str, name: str, expires: str | None, profile: str | None) -> None:
    """Create a token; it is printed once and only its hash is stored."""
    from hub_assets.errors import GateConfigError
    from hub_assets.gate.profiles import NO_PROFILES, load_profiles
    from hub_assets.pipeline.identity import Identity, parse_duration

    settings = settings_or_exit()
    identity = Identity(open_registry(settings))
    identity.registry.ensure_schema()
    try:
        if profile is not None:
            if settings.mirror_profiles is None:
                raise GateConfigError(NO_PROFILES)
            load_profiles(settings.mirror_profiles).named(profile)
        issued = identity.create_token(
            user, name, parse_duration(expires) if expires else None, profile=profile
        )
    except HubAssetsError as e:
        _fail(e)
    chosen = f", profile {profile}" if profile else ""
    _audit("tokens_create", user, "ok", f"token {issued.token_id} ({name}{chosen})")
    click.echo(issued.token)
    until = issued.expires_at.isoformat() if issued.expires_at else "never"
    click.echo(f"Token {issued.token_id} for {user} ({name}), expires {until}.", err=True)


@tokens.command("revoke")
@click.argument("token_id", type=int, required=False)
@click.option("--user", default=None, help="Revoke every live token of this user instead.")
def tokens_revoke(token_id: int | None, user: str | None) -> None:
    """Revoke a token at once, or with --user every live token of a user (sessions too)."""
    from hub_assets.pipeline.identity import Identity

    identity = Identity(open_registry(settings_or_exit()))
    identity.registry.ensure_schema()
    if (token_id is None) == (user is None):
        click.echo("Give a token id, or --user NAME (not both).", err=True)
        sys.exit(exit_code("invalid"))
    if user is not None:
        try:
            ids = identity.revoke_all(user)
        except HubAssetsError as e:
            _fail(e)
        _audit("tokens_revoke", user, "ok", f"{len(ids)} token(s): {ids}")
        click.echo(f"Revoked {len(ids)} token(s) of {user}.")
        return
    if not identity.revoke(token_id):
        click.echo(f"No live token {token_id}.", err=True)
        sys.exit(exit_code("not_found"))
    _audit("tokens_revoke", str(token_id), "ok")
    click.echo(f"Token {token_id} revoked.")


@tokens.command("list")
@click.option("--user", default=None, help="Only this user's tokens.")
def tokens_list(user: str | None) -> None:
    """Every token (never its secret): id, user, name, kind, created, expires, revoked,
    and the mirror profile it selects."""
    from hub_assets.registry.identity import list_tokens

    registry = open_registry(settings_or_exit())
    registry.ensure_schema()
    with registry.read() as con:
        rows = list_tokens(con, user)
    for token_id, name_of, label, kind, created, expires, revoked, profile in rows:
        state = f"revoked {revoked:%Y-%m-%d}" if revoked else "live"
        until = f"{expires:%Y-%m-%d %H:%M}" if expires else "never"
        click.echo(
            f"{token_id:>6}  {name_of:<20} {label:<20} {kind:<8} {created:%Y-%m-%d}  "
            f"expires {until:<16}  {state:<16}  profile {profile or '(default)'}"
        )


def _decision(action: str):  # noqa: ANN202 - a click command
    @click.command(action)
    @click.argument("model_id")
    @click.option("--revision", required=True, help="The 40-hex sha the decision is about.")
    @click.option("--reason", required=True)
    @click.option("--user", default="cli", show_default=True, help="Who decides (audit).")
    def command(model_id: str, revision: str, reason: str, user: str) -> None:
        from hub_assets.pipeline.approvals import decide

        registry = open_registry(settings_or_exit())
        registry.ensure_schema()
        try:
            event = decide(
                registry,
                model_id,
                action,
                revision,
                reason,
                user,
                "cli",
                two_person_rule=settings_or_exit().two_person_rule,
            )
        except HubAssetsError as e:
            _fail(e)
        _audit(action, model_id, "ok", reason, user=user)
        click.echo(f"{model_id}@{revision[:12]}: {event['status']} ({event['reason']})")

    command.help = f"{action.capitalize()} a model revision, with a reason (audited)."
    return command


promote, retire, reject = _decision("promote"), _decision("retire"), _decision("reject")
