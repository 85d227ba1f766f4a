"""`hub-assets keys create` and `hub-assets verify`: signing keys for a deployment, and the
offline check of a package and its proof."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hub_assets.cli.startup import settings_or_exit
from hub_assets.errors import HubAssetsError, exit_code


@click.group("keys")
def keys() -> None:
    """Signing keys for packages."""


@keys.command("create")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("keys"),
    show_default=True,
    help="Where to write signing-key.pem (mode 0600) and signing-key.pub.pem.",
)
@click.option("--password-stdin", is_flag=True, help="Encrypt the private key; read from stdin.")
def create(folder: Path, password_stdin: bool) -> None:
    """Make an elliptic-curve (P-256) key pair for signing packages."""
    from hub_assets.proof.keys import create_keys, key_id, load_public

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    try:
        private, public = create_keys(folder, password)
    except HubAssetsError as e:
        click.echo(str(e), err=True)
        sys.exit(exit_code(e.outcome))
    click.echo(f"Private key: {private} (keep it secret; mode 0600)")
    click.echo(f"Public key:  {public} (key id {key_id(load_public(public))[:16]}…)")
    click.echo(
        f"Sign packages with HUB_ASSETS_SIGNING_KEY={private}"
        + (" and HUB_ASSETS_SIGNING_KEY_PASSWORD" if password else "")
        + f"; verify them with HUB_ASSETS_VERIFY_KEY={public} or --key."
    )


@click.command("verify")
@click.argument("package")
@click.option(
    "--key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Public key the signature must match (default: HUB_ASSETS_VERIFY_KEY).",
)
@click.option(
    "--cert-chain",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Certificate mode: the chain the signing certificate must lead to.",
)
@click.option("--allow-unsigned", is_flag=True, help="Accept a package made with no key.")
def verify(
    package: str, key: Path | None, cert_chain: tuple[Path, ...], allow_unsigned: bool
) -> None:
    """Check a package offline: files against the manifest, the signature, the evidence
    attestation and the bill of materials. PACKAGE is its folder or package.zip, local or
    s3://, or a bundle (package.zip with its proof/, as the service's /bundle sends it).
    Exits non-zero naming the first failure."""
    from hub_assets.pipeline.context import Pipeline
    from hub_assets.proof.verify import verify_package

    settings = settings_or_exit()
    key = key or settings.verify_key
    store = Pipeline.from_settings(settings).package_store(
        package if package.startswith("s3://") else "."
    )
    try:
        verify_package(
            package,
            store,
            public_key=key,
            chain=tuple(cert_chain),
            allow_unsigned=allow_unsigned,
            report=lambda line: click.echo(f"ok  {line}"),
        )
    except HubAssetsError as e:
        click.echo(f"FAILED  {e}", err=True)
        sys.exit(exit_code(e.outcome))
    click.echo("Verified.")
