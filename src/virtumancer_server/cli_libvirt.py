"""The commands that drive one libvirt host directly: ``hosts``, ``vms ...``, ``pools`` ...

Each command is one call (or one call per named VM) into the library's blocking facade
(:func:`virtumancer.connect`), then :func:`~virtumancer_server.cli_output.emit`. No logic lives
here: URIs go through the library's URI policy, errors are the library's exceptions (mapped
to exit codes by :data:`virtumancer_server.cli.EXIT_BY_ERROR`), shapes are its converter's.

A new command costs one function: decorate it with ``@vms.command()`` (or ``@main.command()``
for a top-level one) and ``@host_options``; it receives an open ``SyncHost`` and the output
format.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, Final, ParamSpec, TypeVar

import click

from virtumancer_server.cli_output import (
    Column,
    OutputFormat,
    emit,
    human_bytes,
    output_option,
    progress,
)

if TYPE_CHECKING:
    from virtumancer import SyncHost

__all__ = [
    "CONFIG_PATH_ENV",
    "URI_ENV_VARS",
    "ListingGroup",
    "config_path",
    "console_url",
    "host_options",
    "hosts",
    "networks",
    "pools",
    "resolve_uri",
    "vms",
    "volumes",
]

#: Environment variables that name the default URI, first match wins.
URI_ENV_VARS: Final = ("VIRTUMANCER_URI", "LIBVIRT_DEFAULT_URI")
#: Overrides the config file's path (tests, odd setups).
CONFIG_PATH_ENV: Final = "VIRTUMANCER_CONFIG"

P = ParamSpec("P")
R = TypeVar("R")


def config_path() -> Path:
    """Return the config file: ``$VIRTUMANCER_CONFIG``, else XDG's ``virtumancer/config.toml``."""
    explicit = os.environ.get(CONFIG_PATH_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "virtumancer" / "config.toml"


def resolve_uri(option: str | None) -> str:
    """Return the URI to use: ``-c`` > ``$VIRTUMANCER_URI`` > ``$LIBVIRT_DEFAULT_URI`` > config.

    Raise :class:`click.UsageError` (exit 2) naming every place looked at when none is set.
    """
    if option:
        return option
    for name in URI_ENV_VARS:
        value = os.environ.get(name)
        if value:
            return value
    import tomllib  # only when neither -c nor the environment named the host

    path = config_path()
    try:
        with path.open("rb") as file:
            config = tomllib.load(file)
    except FileNotFoundError:
        config = {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise click.UsageError(f"cannot read {path}: {exc}") from exc
    uri = config.get("uri")
    if isinstance(uri, str) and uri:
        return uri
    raise click.UsageError(
        "no libvirt URI: pass -c/--connect URI, set VIRTUMANCER_URI or LIBVIRT_DEFAULT_URI, "
        f'or put uri = "qemu:///system" in {path}'
    )


def host_options(
    fn: Callable[Concatenate[SyncHost, OutputFormat, P], R],
) -> Callable[..., R]:
    """Add ``-c/--connect`` and ``-o/--output`` to a command and pass it an open host."""

    @click.option(
        "-c",
        "--connect",
        "uri",
        metavar="URI",
        help="libvirt URI (default: $VIRTUMANCER_URI, $LIBVIRT_DEFAULT_URI, then the "
        "config file's `uri`)",
    )
    @output_option()
    @functools.wraps(fn)
    def command(uri: str | None, output: str, *args: P.args, **kwargs: P.kwargs) -> R:
        import virtumancer

        # A one-shot call: no libvirt event loop (each RPC is cheaper without one).
        with virtumancer.connect(resolve_uri(uri), events=False) as host:
            return fn(host, OutputFormat(output), *args, **kwargs)

    return command


def _converter() -> Any:
    import virtumancer

    return virtumancer.make_converter()


def _state(value: object) -> str:
    from virtumancer import DomainState

    if not isinstance(value, int):
        return "-"
    try:
        return DomainState(value).name.lower()
    except ValueError:
        return str(value)


# --- host --------------------------------------------------------------------------------

_HOST_COLUMNS: Final = (
    Column("HOSTNAME", "hostname"),
    Column("ARCH", "arch"),
    Column("CPUS", "cpu"),
    Column("CPU MODEL", "cpu_model"),
    Column("MEMORY", "memory", human_bytes),
    Column("HYPERVISOR", "hypervisor_type"),
    Column("HYPERVISOR VERSION", "hypervisor_version"),
    Column("LIBVIRT VERSION", "libvirt_version"),
)


@click.command()
@host_options
def hosts(host: SyncHost, output: OutputFormat) -> None:
    """Show the connected host (the REST API's /hosts/{id}/info shape)."""
    from virtumancer import host_info_payload

    emit(host_info_payload(host.info()), output, _HOST_COLUMNS)


# --- VMs ---------------------------------------------------------------------------------

_VM_COLUMNS: Final = (
    Column("NAME", "name"),
    Column("STATE", "state", _state),
    Column("VCPUS", "vcpus"),
    Column("MEMORY", "memory_bytes", human_bytes),
    Column("AUTOSTART", "autostart"),
    Column("UUID", "uuid"),
)


@click.group()
def vms() -> None:
    """List, show and power VMs (libvirt domains)."""


@vms.command("list")
@host_options
def list_vms(host: SyncHost, output: OutputFormat) -> None:
    """List every domain of the host (by name, as every list here is sorted)."""
    domains = sorted(host.domains(), key=lambda domain: domain.name)
    emit(_converter().unstructure(domains), output, _VM_COLUMNS)


@vms.command()
@click.argument("name")
@host_options
def show(host: SyncHost, output: OutputFormat, name: str) -> None:
    """Show one domain (by name or UUID) with its devices."""
    emit(_converter().unstructure(host.domain(name)), output, _VM_COLUMNS)


def _power_command(action: str, summary: str) -> click.Command:
    @click.argument("names", nargs=-1, required=True, metavar="NAME...")
    @host_options
    def command(host: SyncHost, output: OutputFormat, names: Sequence[str]) -> None:
        # One VM after another; the first error stops the run (its exit code is the error's).
        with progress(len(names), f"{action} {len(names)} VMs") as advance:
            for name in names:
                host.power(name, action)
                advance()

    command.__doc__ = f"{summary} (one or more VMs, by name or UUID)."
    return vms.command(action)(command)


for _action, _summary in (
    ("start", "Start shut-off VMs"),
    ("shutdown", "Ask VMs to shut down (ACPI; a guest may ignore it)"),
    ("reboot", "Ask VMs to reboot"),
    ("destroy", "Force VMs off"),
    ("reset", "Force VMs to reset"),
    ("suspend", "Pause running VMs"),
    ("resume", "Resume paused VMs"),
):
    _power_command(_action, _summary)


# --- storage and networks ------------------------------------------------------------------

_POOL_COLUMNS: Final = (
    Column("NAME", "name"),
    Column("TYPE", "type"),
    Column("STATE", "state"),
    Column("CAPACITY", "capacity_bytes", human_bytes),
    Column("AVAILABLE", "available_bytes", human_bytes),
    Column("PATH", "target_path"),
)

_VOLUME_COLUMNS: Final = (
    Column("POOL", "pool_name"),
    Column("NAME", "name"),
    Column("FORMAT", "format"),
    Column("CAPACITY", "capacity_bytes", human_bytes),
    Column("ALLOCATION", "allocation_bytes", human_bytes),
    Column("PATH", "path"),
)

_NETWORK_COLUMNS: Final = (
    Column("NAME", "name"),
    Column("ACTIVE", "active"),
    Column("FORWARD", "forward_mode"),
    Column("BRIDGE", "bridge"),
    Column("AUTOSTART", "autostart"),
    Column("UUID", "uuid"),
)


@click.command()
@host_options
def pools(host: SyncHost, output: OutputFormat) -> None:
    """List storage pools."""
    found = sorted(host.storage_pools(), key=lambda pool: pool.name)
    emit(_converter().unstructure(found), output, _POOL_COLUMNS)


class ListingGroup(click.Group):
    """A group whose bare call lists: ``volumes --pool P`` is ``volumes list --pool P``.

    So the listing kept its short form when the group got commands that make and remove.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        first = args[0] if args else None
        # Completion parses resiliently: there the group must offer its commands instead.
        listing = first is None or (first.startswith("-") and first not in ctx.help_option_names)
        if listing and not ctx.resilient_parsing:
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group(cls=ListingGroup)
def volumes() -> None:
    """List, create and delete storage volumes (bare ``volumes``: ``volumes list``)."""


@volumes.command("list")
@click.option("--pool", "pool_name", metavar="POOL", help="only this pool's volumes")
@host_options
def list_volumes(host: SyncHost, output: OutputFormat, pool_name: str | None) -> None:
    """List the volumes of every active pool (or of --pool)."""
    found = sorted(host.storage_volumes(pool_name), key=lambda v: (v.pool_name or "", v.name))
    emit(_converter().unstructure(found), output, _VOLUME_COLUMNS)


@click.group(cls=ListingGroup)
def networks() -> None:
    """List, create, start, stop and delete virtual networks (bare: ``networks list``)."""


@networks.command("list")
@host_options
def list_networks(host: SyncHost, output: OutputFormat) -> None:
    """List virtual networks."""
    found = sorted(host.networks(), key=lambda network: network.name)
    emit(_converter().unstructure(found), output, _NETWORK_COLUMNS)


# --- consoles ------------------------------------------------------------------------------

_CONSOLE_COLUMNS: Final = (
    Column("URL", "url"),
    Column("KIND", "kind"),
    Column("ROUTE", "route"),
    Column("SOCKET", "socket_path"),
    Column("PASSWORD", "has_password"),
)


@click.command("console-url")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["vnc", "spice"]),
    default=None,
    help="which graphics (default: the first VNC, else SPICE)",
)
@host_options
def console_url(host: SyncHost, output: OutputFormat, name: str, kind: str | None) -> None:
    """Print a vnc:// or spice:// URL for a running VM's graphics.

    For a qemu+ssh host the address is the one seen from the hypervisor (``route: ssh``):
    reach it through an SSH tunnel. Graphics on a UNIX socket have no URL (``socket_path``).
    """
    target = host.console_target(name, kind)
    url = None
    if target.address is not None and target.port is not None:
        address = f"[{target.address}]" if ":" in target.address else target.address
        url = f"{target.kind.value}://{address}:{target.port}"
    payload = {"url": url, **_converter().unstructure(target)}
    if output is OutputFormat.TABLE and url is not None:
        click.echo(url)
        return
    emit(payload, output, _CONSOLE_COLUMNS)


#: Every command of this module, as :mod:`virtumancer_server.cli` adds them to the root.
COMMANDS: Final[tuple[click.Command, ...]] = (
    hosts,
    vms,
    pools,
    volumes,
    networks,
    console_url,
)
