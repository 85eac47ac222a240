"""``stratus``: the admin command line. It talks to the cloud only over its public APIs, as any client."""

from __future__ import annotations

import os
import sys

import click
from keystoneauth1 import exceptions as ks_exceptions

from cli.credentials import CredentialsError, keystone_session


@click.group()
@click.option("--os-cloud", "cloud", default=lambda: os.environ.get("OS_CLOUD"), help="Cloud name in clouds.yaml.")
@click.pass_context
def cli(ctx: click.Context, cloud: str | None) -> None:
    """Administer a Stratus cloud (credentials from clouds.yaml or OS_* variables)."""
    ctx.obj = cloud


def _session(ctx: click.Context):
    try:
        return keystone_session(ctx.obj)
    except CredentialsError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.pass_context
def whoami(ctx: click.Context) -> None:
    """Who the credentials authenticate as: user, project, roles and token expiry."""
    session = _session(ctx)
    access = session.auth.get_access(session)
    click.echo(f"user:    {access.username} ({access.user_id})")
    click.echo(f"project: {access.project_name} ({access.project_id})")
    click.echo(f"roles:   {', '.join(sorted(access.role_names))}")
    click.echo(f"expires: {access.expires.isoformat()}")


@cli.command()
@click.pass_context
def endpoints(ctx: click.Context) -> None:
    """Every API of the cloud and whether it answers its version document."""
    session = _session(ctx)
    access = session.auth.get_access(session)
    failed = False
    for service in access.service_catalog.catalog:
        url = next(e["url"] for e in service["endpoints"] if e["interface"] == "public")
        response = session.get(url, authenticated=False, raise_exc=False)
        ok = response.status_code in (200, 300)
        failed |= not ok
        click.echo(f"{service['type']:<10} {url:<50} {'up' if ok else f'DOWN ({response.status_code})'}")
    if failed:
        sys.exit(1)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except ks_exceptions.ClientException as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
