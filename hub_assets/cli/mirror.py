"""`hub-assets mirror serve | lock | fetch | verify-cache | usage`: the curated mirror,
reproducible pulls through it, the files on a consumer's disk checked against the lock
offline, and who pulled what (the mirror's access log)."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import click

from hub_assets.cli.browse import FORMAT, table
from hub_assets.cli.registry import open_registry
from hub_assets.cli.startup import settings_or_exit
from hub_assets.errors import HubAssetsError, exit_code


def _fail(e: HubAssetsError) -> None:
    click.echo(str(e), err=True)
    sys.exit(exit_code(e.outcome))


@click.group("mirror")
def mirror() -> None:
    """The curated mirror: approved models over the Hub protocol (HF_ENDPOINT)."""


@mirror.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8766, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    """Serve approved models; point clients at it with HF_ENDPOINT=http://HOST:PORT."""
    from hub_assets.errors import HubError
    from hub_assets.hub_protocol.http import ProtocolServer
    from hub_assets.mirror import mirror_state
    from hub_assets.pipeline.context import Pipeline
    from hub_assets.pipeline.identity import Identity

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = settings_or_exit()
    registry = open_registry(settings)
    store = Pipeline.from_settings(settings).package_store()
    identity = Identity(registry, session_hours=settings.api_session_hours)
    state = mirror_state(settings, registry, store, identity)
    try:
        approved = state.store.repos("model")  # read and verify every package now
    except HubError as e:  # the registry cannot be read
        click.echo(e.message, err=True)
        sys.exit(exit_code("error"))
    server = ProtocolServer(state, host=host, port=port)
    who = "everyone" if settings.mirror_public else "token holders"
    which = "promoted" if settings.mirror_require_promoted else "approved"
    click.echo(
        f"Mirror of {len(approved)} {which} models for {who} at {server.url}\n"
        f"Use it with: HF_ENDPOINT={server.url}"
    )
    # SIGTERM (a service manager, `kill`) stops it as Ctrl-C does: the access log is written
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _os_user() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no name for this uid (a bare container)
        return None


@click.command("lock")
@click.argument("model_ids", nargs=-1, required=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default="models.lock"
)
@click.option(
    "--profile",
    default=None,
    help="Lock what this policy profile approves (HUB_ASSETS_MIRROR_PROFILES; default: "
    "the profiles file's default, as the mirror serves anonymous callers).",
)
def lock(model_ids: tuple[str, ...], output: Path, profile: str | None) -> None:
    """Write the approved revision, every file's sha256 and size, and the package of each
    model to a lockfile."""
    from hub_assets.errors import GateConfigError
    from hub_assets.gate.profiles import NO_PROFILES, load_profiles
    from hub_assets.mirror.lockfile import make_lock, write_lock
    from hub_assets.pipeline.context import Pipeline
    from hub_assets.pipeline.profiles import profile_views
    from hub_assets.registry.packages import record_lockfile

    settings = settings_or_exit()
    pipeline = Pipeline.from_settings(settings)
    try:
        view = None
        if settings.mirror_profiles is not None:
            profiles = load_profiles(settings.mirror_profiles)
            name = profiles.named(profile).name
            views = profile_views(
                open_registry(settings),
                pipeline.gate_config(),
                profiles,
                settings.mirror_require_promoted,
            )
            view = views[name]
        elif profile is not None:
            raise GateConfigError(NO_PROFILES)
        data = make_lock(
            open_registry(settings),
            list(model_ids),
            settings.mirror_require_promoted,
            pipeline.package_store(),
            view,
        )
    except HubAssetsError as e:
        _fail(e)
    write_lock(data, output)
    try:  # so a gate change or a revocation can name the locks it affects
        with open_registry(settings).write() as con:
            record_lockfile(
                con,
                str(output.resolve()),
                {m: entry["revision"] for m, entry in data["models"].items()},
                _os_user(),
            )
    except HubAssetsError as e:
        click.echo(f"Warning: the lock was written but not recorded in the registry: {e}", err=True)
    n = sum(len(m["files"]) for m in data["models"].values())
    click.echo(f"Locked {len(data['models'])} models ({n} files) in {output}")


@click.command("fetch")
@click.option(
    "--lock",
    "lock_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
)
@click.option("--dir", "dest", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--endpoint", default=None, help="The mirror's URL (default: HF_ENDPOINT).")
@click.option(
    "--key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Check each package's signature and attestation with this public key first "
    "(default: HUB_ASSETS_VERIFY_KEY).",
)
def fetch(lock_path: Path, dest: Path, endpoint: str | None, key: Path | None) -> None:
    """Download every locked file through the mirror and verify every byte (and, with a
    key, the signed proof of every package before any download)."""
    from huggingface_hub.errors import GatedRepoError

    from hub_assets.mirror.lockfile import fetch_locked, read_lock

    settings = settings_or_exit()
    try:
        data = read_lock(lock_path)
        fetch_locked(
            data,
            dest,
            endpoint=(endpoint or settings.hub_endpoint).rstrip("/"),
            token=settings.token(),
            echo=click.echo,
            public_key=key or settings.verify_key,
        )
    except HubAssetsError as e:
        _fail(e)
    except Exception as e:  # noqa: BLE001 - the Hub client's other errors, in words
        from hub_assets.errors import plain_message

        # the mirror no longer serves a locked revision (revoked, retired): huggingface_hub
        # raises it as is, or, on a forced download, as the cause of a ValueError
        refused = e if isinstance(e, GatedRepoError) else e.__cause__
        if isinstance(refused, GatedRepoError):
            click.echo(
                f"Fetch refused by the mirror: {refused.server_message or refused}", err=True
            )
            sys.exit(exit_code("refused"))
        click.echo(f"Fetch failed: {plain_message(str(e))}", err=True)
        sys.exit(1)


@click.command("verify-cache")
@click.option(
    "--lock",
    "lock_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="A Hugging Face cache (default: the one huggingface_hub uses, HF_HUB_CACHE).",
)
@click.option(
    "--local-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Files downloaded to a folder: DIR/<model id>/ (hub-assets fetch --dir DIR), or "
    "DIR itself when one model is checked (hf download MODEL --local-dir DIR).",
)
@click.option("--model", "models", multiple=True, help="Check only this model (repeatable).")
@click.option(
    "--key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Check each package's signature and attestation in the lock with this public key "
    "too (default: HUB_ASSETS_VERIFY_KEY).",
)
def verify_cache(
    lock_path: Path,
    cache_dir: Path | None,
    local_dir: Path | None,
    models: tuple[str, ...],
    key: Path | None,
) -> None:
    """Check the files on this disk against a lockfile, with no network: every locked file
    of each model's locked revision present with its size and sha256, no file beside them
    that the lock does not name, and (with a key) the lock's signatures. Prints one line per
    problem and exits non-zero if there is any."""
    from hub_assets.guard import default_cache_dir
    from hub_assets.hub.locked_files import (
        cache_snapshot,
        check_snapshot,
        local_snapshot,
        read_lock,
    )
    from hub_assets.progress import TransferBars

    if cache_dir is not None and local_dir is not None:
        click.echo("Give --cache-dir or --local-dir, not both.", err=True)
        sys.exit(exit_code("invalid"))
    settings = settings_or_exit()
    try:
        data = read_lock(lock_path)
    except HubAssetsError as e:
        _fail(e)
    locked = {m.lower(): m for m in data["models"]}
    unknown = [m for m in models if m.lower() not in locked]
    if unknown:
        click.echo(f"Not in {lock_path}: {', '.join(unknown)}", err=True)
        sys.exit(exit_code("not_found"))
    chosen = [locked[m.lower()] for m in models] or sorted(data["models"])
    public_key = key or settings.verify_key
    problems: list[str] = []
    outcome = "checksum_mismatch"
    total = sum(f["size"] for m in chosen for f in data["models"][m]["files"])
    with TransferBars({"verify": total}) as bars:
        for model_id in chosen:
            entry = data["models"][model_id]
            if public_key is not None:
                from hub_assets.mirror.lockfile import check_locked_proof

                try:
                    check_locked_proof(model_id, entry, Path(public_key))
                except HubAssetsError as e:
                    problems.append(str(e))
                    outcome = e.outcome  # a signature that does not verify: unverified
                    continue
            if local_dir is not None:
                found = local_snapshot(local_dir, model_id, only_model=len(chosen) == 1)
            else:
                found = cache_snapshot(
                    cache_dir or default_cache_dir(), model_id, entry["revision"]
                )
            check = check_snapshot(
                model_id,
                entry,
                found,
                lambda path, done, size, m=model_id: bars("verify", f"{m}/{path}", done, size),
            )
            problems += check.problems()
            if check.ok:
                signed = " and its signatures" if public_key is not None else ""
                click.echo(
                    f"ok  {model_id}@{entry['revision'][:12]}: "
                    f"{len(check.verified)} files{signed} verified"
                )
    if problems:
        for line in problems:
            click.echo(f"FAILED  {line}", err=True)
        sys.exit(exit_code(outcome))
    click.echo(f"Verified {len(chosen)} models against {lock_path}.")


@click.command("usage")
@click.option("--model", "model_id", help="One model's usage only.")
@click.option("--since", help="From this long ago (30m, 24h, 7d, 2w) or an ISO date or time.")
@click.option("--caller", help="One registry user's usage only (anonymous: unsigned callers).")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@FORMAT
def usage(
    model_id: str | None, since: str | None, caller: str | None, limit: int, fmt: str
) -> None:
    """Who pulled which model at which revision through the mirror, and who was refused
    what and why (the mirror's access log)."""
    import json

    from hub_assets.pipeline.usage import since_of, usage_report

    try:
        start = since_of(since) if since is not None else None
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--since") from None
    settings = settings_or_exit()
    try:
        report = usage_report(
            open_registry(settings), model_id=model_id, since=start, caller=caller, limit=limit
        )
    except HubAssetsError as e:
        _fail(e)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
        return
    if not report["downloads"] and not report["refusals"]:
        click.echo("No mirror request matches.")
        return
    if report["downloads"]:
        click.echo(
            table(
                ["caller", "model", "revision", "downloads", "files", "bytes", "last"],
                [
                    [
                        d["caller"],
                        d["model_id"],
                        (d["revision_sha"] or "")[:12],
                        d["downloads"],
                        d["files"],
                        _size(d["bytes"]),
                        d["last_at"],
                    ]
                    for d in report["downloads"]
                ],
            )
        )
    if report["refusals"]:
        click.echo(("\n" if report["downloads"] else "") + "Refused:")
        click.echo(
            table(
                ["caller", "model", "revision asked", "reason", "status", "requests", "last"],
                [
                    [
                        r["caller"],
                        r["model_id"],
                        r["revision"],
                        r["refusal"],
                        r["status"],
                        r["requests"],
                        r["last_at"],
                    ]
                    for r in report["refusals"]
                ],
            )
        )


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"
