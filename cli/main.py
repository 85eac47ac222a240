"""``stratus``: the admin command line. It talks to the cloud only over its public APIs, as any client.

Exit codes (``cli.client.Exit``): 0 done, 1 the cloud answered with an error or could not be reached, 2 a bad
command line, 3 no such project (or host), 4 a limit below usage refused, 5 credentials refused or not allowed,
6 ``usage --fail-at`` found a resource that full, 7 ``host drain`` or ``rebalance`` left a server unmoved.
"""

from __future__ import annotations

import os
import sys

import click
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session

from cli import host_commands, quota_commands
from cli.client import CliError, Cloud, Exit
from cli.credentials import CredentialsError, keystone_session


class Context:
    """What every command gets: the cloud named on the command line, authenticated on first use."""

    def __init__(self, cloud_name: str | None) -> None:
        self.cloud_name = cloud_name
        self._session: ks_session.Session | None = None

    def session(self) -> ks_session.Session:
        if self._session is None:
            try:
                self._session = keystone_session(self.cloud_name)
            except CredentialsError as exc:
                raise CliError(str(exc), Exit.FORBIDDEN) from None
        return self._session

    def cloud(self) -> Cloud:
        return Cloud(self.session())


@click.group()
@click.option("--os-cloud", "cloud", default=lambda: os.environ.get("OS_CLOUD"), help="Cloud name in clouds.yaml.")
@click.pass_context
def cli(ctx: click.Context, cloud: str | None) -> None:
    """Administer a Stratus cloud (credentials from clouds.yaml or OS_* variables).

    Most commands need the admin role. In Stratus, as in OpenStack, the admin role is cloud-wide: admin on any
    one project administers every project, its users and the hosts. Give it to operators only.
    """
    ctx.obj = Context(cloud)


# Mirrors api.context.CLOUD_WIDE_ROLES: the CLI reaches the cloud only through its APIs, never its code.
CLOUD_WIDE_ROLES = frozenset({"admin"})


def reach(roles: list[str], project: str | None) -> str:
    """What the credentials' roles reach, in words: the whole cloud for a cloud-wide role, else one project."""
    cloud_wide = sorted(CLOUD_WIDE_ROLES.intersection(roles))
    if cloud_wide:
        return f"the whole cloud ({', '.join(cloud_wide)} is cloud-wide: every project, not only {project})"
    return f"project {project} only" if project else "nothing until the token is scoped to a project"


@cli.command()
@click.pass_obj
def whoami(obj: Context) -> None:
    """Who the credentials authenticate as: user, project, roles, what the roles reach, and token expiry."""
    session = obj.session()
    access = session.auth.get_access(session)
    click.echo(f"user:    {access.username} ({access.user_id})")
    click.echo(f"project: {access.project_name} ({access.project_id})")
    click.echo(f"roles:   {', '.join(sorted(access.role_names))}")
    click.echo(f"reach:   {reach(access.role_names, access.project_name)}")
    click.echo(f"expires: {access.expires.isoformat()}")


@cli.command()
@click.pass_obj
def endpoints(obj: Context) -> None:
    """Every API of the cloud and whether it answers its version document."""
    session = obj.session()
    access = session.auth.get_access(session)
    failed = False
    for service in access.service_catalog.catalog:
        url = next(e["url"] for e in service["endpoints"] if e["interface"] == "public")
        response = session.get(url, authenticated=False, raise_exc=False)
        ok = response.status_code in (200, 300)
        failed |= not ok
        click.echo(f"{service['type']:<10} {url:<50} {'up' if ok else f'DOWN ({response.status_code})'}")
    if failed:
        sys.exit(Exit.ERROR)


cli.add_command(quota_commands.quota)
cli.add_command(quota_commands.usage)
cli.add_command(quota_commands.project)
cli.add_command(host_commands.host)
cli.add_command(host_commands.rebalance_command)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except CliError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(exc.code)
    except ks_exceptions.Unauthorized as exc:
        click.echo(f"error: authentication failed: {exc}", err=True)
        sys.exit(Exit.FORBIDDEN)
    except ks_exceptions.ClientException as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(Exit.ERROR)
