"""The commands that make and remove things: ``vms create|delete|clone``, ``snapshots ...``,
``volumes create|delete``, ``networks create|start|stop|delete``.

Each is one library call on the blocking facade (``SyncHost.create_vm``, ``delete_vm``,
``clone_vm``, ``create_snapshot`` ...), like the REST routes it mirrors; this module only reads
the command line (a spec file, a confirmation) and prints the result with
:func:`~virtumancer_server.cli_output.emit`. What is refused, and why, is the library's.

Against a direct URI there is no inventory, so a result is the library's model (the domain of
``vms show``), where the REST API answers with the inventory's record.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from virtumancer_server.cli_libvirt import (
    _NETWORK_COLUMNS,
    _VM_COLUMNS,
    _VOLUME_COLUMNS,
    _converter,
    host_options,
    networks,
    vms,
    volumes,
)
from virtumancer_server.cli_output import (
    Column,
    OutputFormat,
    byte_progress,
    emit,
    emit_tree,
)

if TYPE_CHECKING:
    from virtumancer import SyncHost

    _ParamType = click.ParamType[int, object]
else:
    # Generic only from Click 8.2 on; the project accepts 8.1.
    _ParamType = click.ParamType

__all__ = ["COMMANDS", "SizeType", "read_spec_file", "snapshots"]

_BINARY_UNITS: Final = {"": 2**20, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_SIZE: Final = re.compile(r"(\d+)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)


class SizeType(_ParamType):
    """A size in bytes from ``512M``, ``2GiB``, ``1g``; a bare number is MiB (as virt-install)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        match = _SIZE.fullmatch(str(value).strip())
        if match is None:
            self.fail(f"{value!r} is not a size (like 512M, 2GiB or 2048)", param, ctx)
        return int(match[1]) * _BINARY_UNITS[match[2].lower()]


def read_spec_file(path: str) -> dict[str, Any]:
    """Return the JSON object in ``path`` (``-``: standard input), JSON or YAML.

    Raise :class:`~virtumancer.InvalidInputError` (exit 2) naming the file and what is wrong.
    """
    from virtumancer import InvalidInputError

    where = "standard input" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read the spec {where}: {exc}", field="spec") from exc
    try:
        data: object = json.loads(text)
    except json.JSONDecodeError as exc:
        if path.endswith(".json"):
            raise InvalidInputError(f"{where} is not JSON: {exc}", field="spec") from exc
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as yaml_exc:
            # One line, as every error of the CLI: YAML's own message spans several.
            reason = " ".join(str(yaml_exc).split())
            raise InvalidInputError(
                f"{where} is neither JSON nor YAML: {reason}", field="spec"
            ) from yaml_exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"{where}: a VM spec must be an object (a mapping)", field="spec")
    return data


def _confirm(question: str, *, yes: bool) -> bool:
    """Return whether the user confirmed ``question``; ``--yes`` answers it for a script.

    Without ``--yes`` and without a terminal on standard input there is no one to ask:
    that is a usage error (exit 2), never a silent yes.
    """
    if yes:
        return True
    if not sys.stdin.isatty():
        raise click.UsageError("standard input is not a terminal: pass --yes to confirm")
    return click.confirm(question, default=False, err=True)


#: The exit code of a confirmation answered no: the table's "any other error" (cli.EXIT_OTHER).
_DECLINED: Final = 1


def _emit_deleted(deleted: Sequence[str], output: OutputFormat) -> int:
    """Print what a delete removed: one per line for a table, else as ``-o`` asks; exit 0."""
    if output is OutputFormat.TABLE:
        for name in deleted:
            click.echo(name)
    else:
        emit(deleted, output, ())
    return 0


_yes_option = click.option("-y", "--yes", is_flag=True, help="do not ask for confirmation")


# --- vms create | delete | clone -----------------------------------------------------------


@vms.command()
@click.option(
    "-f",
    "--spec",
    "spec_path",
    metavar="FILE",
    help="the VM spec, JSON or YAML (`-`: standard input); the REST API's create body, "
    "see docs/vm-spec.md",
)
@click.option("--name", help="the VM's name (overrides the spec's)")
@click.option("--memory", type=SizeType(), help="memory, like 512M or 2G (overrides the spec's)")
@click.option("--vcpus", type=int, help="virtual CPUs (overrides the spec's)")
@click.option("--description", help="a description (overrides the spec's)")
@click.option("--start", is_flag=True, help="start it once it is defined")
@host_options
def create(
    host: SyncHost,
    output: OutputFormat,
    spec_path: str | None,
    name: str | None,
    memory: int | None,
    vcpus: int | None,
    description: str | None,
    start: bool,
) -> None:
    """Create a VM from a spec file and/or flags (volumes, cloud-init seed, definition).

    The options override the file's fields; with no file, --name and --memory are enough
    for a VM with no disks. Prints the new domain as ``vms show`` does.
    """
    from virtumancer import structure_spec

    data = read_spec_file(spec_path) if spec_path else {}
    overrides = {
        "name": name,
        "memory_bytes": memory,
        "vcpus": vcpus,
        "description": description,
    }
    data.update({key: value for key, value in overrides.items() if value is not None})
    domain = host.create_vm(structure_spec(data), start=start)
    emit(_converter().unstructure(domain), output, _VM_COLUMNS)


@vms.command()
@click.argument("name")
@click.option(
    "--delete-storage/--keep-storage",
    default=False,
    show_default=True,
    help="also delete the volumes of its writable disks and its cloud-init seed",
)
@click.option("--force", is_flag=True, help="destroy it first if it runs")
@_yes_option
@host_options
def delete(
    host: SyncHost,
    output: OutputFormat,
    name: str,
    delete_storage: bool,
    force: bool,
    yes: bool,
) -> int:
    """Delete a VM (by name or UUID): undefine it, and its storage with --delete-storage.

    Asks first, naming the VM and the disks at stake, unless --yes. A running VM is refused
    (exit 4) unless --force. Prints the paths of the volumes deleted.
    """
    domain = host.domain(name)
    what = f"VM {domain.name!r} ({_state_word(domain.state)})"
    if delete_storage:
        # For the question only: the library decides (writable disks whose file is a pool
        # volume, plus the seed) and prints what it did delete.
        disks = [
            disk.source_path
            for disk in domain.devices.disks
            if disk.source_path and disk.device == "disk" and not (disk.read_only or disk.shareable)
        ]
        what += " and the volumes of its disks: " + (", ".join(disks) or "none")
    if not _confirm(f"Delete {what}?", yes=yes):
        click.echo("Not deleted.", err=True)
        return _DECLINED
    return _emit_deleted(
        host.delete_vm(domain.uuid, delete_storage=delete_storage, force=force), output
    )


def _state_word(state: object) -> str:
    from virtumancer import DomainState

    return state.name.lower() if isinstance(state, DomainState) else "unknown state"


@vms.command()
@click.argument("source")
@click.argument("name")
@click.option(
    "--full/--overlay",
    "full_copy",
    default=False,
    show_default=True,
    help="copy the disks, or make qcow2 overlays on them (instant; the source must then "
    "not be written while the clone uses them)",
)
@host_options
def clone(host: SyncHost, output: OutputFormat, source: str, name: str, full_copy: bool) -> None:
    """Clone the shut-off VM SOURCE as NAME (defined, not started); print the clone.

    A full copy shows a progress bar on standard error when it is a terminal.
    """
    with byte_progress(f"cloning {source} as {name}") as update:
        domain = host.clone_vm(source, name, full_copy=full_copy, progress=update)
    emit(_converter().unstructure(domain), output, _VM_COLUMNS)


# --- snapshots -----------------------------------------------------------------------------

_SNAPSHOT_COLUMNS: Final = (
    Column("NAME", "name"),
    Column("CREATED", "created_at"),
    Column("STATE", "state"),
    Column("MEMORY", "memory"),
    Column("EXTERNAL", "external"),
    Column("PARENT", "parent"),
    Column("CURRENT", "current"),
    Column("DESCRIPTION", "description"),
)


def _snapshot_label(snapshot: Mapping[str, Any]) -> str:
    parts = [str(snapshot["name"])]
    if snapshot.get("created_at"):
        parts.append(str(snapshot["created_at"]))
    if snapshot.get("state"):
        parts.append(str(snapshot["state"]))
    if snapshot.get("memory"):
        parts.append("with memory")
    if snapshot.get("current"):
        parts.append("(current)")
    if snapshot.get("description"):
        parts.append(f"- {snapshot['description']}")
    return "  ".join(parts)


@click.group()
def snapshots() -> None:
    """List, take, revert to and delete a VM's snapshots."""


@snapshots.command("list")
@click.argument("vm")
@host_options
def list_snapshots(host: SyncHost, output: OutputFormat, vm: str) -> None:
    """Show a VM's snapshots as a tree (JSON/YAML: the REST API's depth-first list)."""
    found = _converter().unstructure(host.snapshots(vm))
    emit_tree(found, output, _snapshot_label, title=f"{vm}: {len(found)} snapshot(s)")


@snapshots.command("create")
@click.argument("vm")
@click.argument("name", required=False)
@click.option("--description", default="", help="a description")
@click.option(
    "--memory/--no-memory",
    default=None,
    help="keep the guest's memory too (default: if it runs)",
)
@host_options
def create_snapshot(
    host: SyncHost,
    output: OutputFormat,
    vm: str,
    name: str | None,
    description: str,
    memory: bool | None,
) -> None:
    """Take a snapshot of VM (NAME: default, libvirt's, the time); print it."""
    taken = host.create_snapshot(vm, name, description=description, memory=memory)
    emit(_converter().unstructure(taken), output, _SNAPSHOT_COLUMNS)


@snapshots.command("revert")
@click.argument("vm")
@click.argument("snapshot")
@_yes_option
@host_options
def revert_snapshot(host: SyncHost, output: OutputFormat, vm: str, snapshot: str, yes: bool) -> int:
    """Revert VM to SNAPSHOT (disks, definition, memory if it has any); print the VM.

    What changed since the snapshot is lost: asks first unless --yes.
    """
    if not _confirm(
        f"Revert VM {vm!r} to snapshot {snapshot!r}, losing what changed since?", yes=yes
    ):
        click.echo("Not reverted.", err=True)
        return _DECLINED
    domain = host.revert_snapshot(vm, snapshot)
    emit(_converter().unstructure(domain), output, _VM_COLUMNS)
    return 0


@snapshots.command("delete")
@click.argument("vm")
@click.argument("snapshot")
@click.option("--children", is_flag=True, help="delete its descendants too")
@_yes_option
@host_options
def delete_snapshot(
    host: SyncHost, output: OutputFormat, vm: str, snapshot: str, children: bool, yes: bool
) -> int:
    """Delete SNAPSHOT of VM (its children are re-parented unless --children).

    Asks first unless --yes; prints the names of the snapshots deleted.
    """
    also = " and its descendants" if children else ""
    if not _confirm(f"Delete snapshot {snapshot!r}{also} of VM {vm!r}?", yes=yes):
        click.echo("Not deleted.", err=True)
        return _DECLINED
    return _emit_deleted(host.delete_snapshot(vm, snapshot, children=children), output)


# --- volumes create | delete ---------------------------------------------------------------


@volumes.command("create")
@click.argument("pool")
@click.argument("name")
@click.option(
    "--capacity",
    type=SizeType(),
    required=True,
    help="its size, like 512M or 20G (a bare number is MiB); allocated as it is written",
)
@click.option(
    "--format",
    "volume_format",
    type=click.Choice(["qcow2", "raw"]),
    default="qcow2",
    show_default=True,
    help="the image format",
)
@host_options
def create_volume(
    host: SyncHost,
    output: OutputFormat,
    pool: str,
    name: str,
    capacity: int,
    volume_format: str,
) -> None:
    """Create the volume NAME in storage pool POOL; print it as ``volumes`` lists it.

    A name in use, or a size beyond the pool's free space, is refused (exit 4).
    """
    made = host.create_volume(pool, name, capacity, format=volume_format)
    emit(_converter().unstructure(made), output, _VOLUME_COLUMNS)


@volumes.command("delete")
@click.argument("pool")
@click.argument("name")
@_yes_option
@host_options
def delete_volume(host: SyncHost, output: OutputFormat, pool: str, name: str, yes: bool) -> int:
    """Delete the volume NAME of storage pool POOL, and its data; print its path.

    Asks first unless --yes. A volume that is a disk of a VM is refused (exit 4).
    """
    volume = host.volume(pool, name)
    where = f" ({volume.path})" if volume.path else ""
    if not _confirm(f"Delete volume {name!r} of pool {pool!r}{where} and its data?", yes=yes):
        click.echo("Not deleted.", err=True)
        return _DECLINED
    host.delete_volume(pool, name)
    return _emit_deleted([volume.path or name], output)


# --- networks create | start | stop | delete -------------------------------------------------


@networks.command("create")
@click.argument("name")
@click.option(
    "--address",
    required=True,
    metavar="IP",
    help="the host's IPv4 address on the network (its gateway), like 192.168.150.1",
)
@click.option(
    "--prefix",
    type=click.IntRange(0, 32),
    default=24,
    show_default=True,
    help="the subnet's prefix length",
)
@click.option("--dhcp-start", metavar="IP", help="first address DHCP hands out")
@click.option("--dhcp-end", metavar="IP", help="last address DHCP hands out")
@click.option("--bridge", metavar="NAME", help="the host bridge's name (default: libvirt's virbrN)")
@click.option("--autostart", is_flag=True, help="start it when the host boots")
@click.option("--start", is_flag=True, help="start it once it is defined")
@host_options
def create_network(
    host: SyncHost,
    output: OutputFormat,
    name: str,
    address: str,
    prefix: int,
    dhcp_start: str | None,
    dhcp_end: str | None,
    bridge: str | None,
    autostart: bool,
    start: bool,
) -> None:
    """Define the NAT network NAME (stopped unless --start); print it.

    Forwarding is NAT (the library's network spec). Bad addresses, or a DHCP range outside
    the subnet, exit 2 naming the option; a name in use exits 4.
    """
    from virtumancer import NatNetworkSpec

    spec = NatNetworkSpec(
        name=name,
        address=address,
        prefix=prefix,
        dhcp_start=dhcp_start,
        dhcp_end=dhcp_end,
        bridge=bridge,
        autostart=autostart,
    )
    network = host.define_network(spec)
    if start:
        network = host.start_network(name)
    emit(_converter().unstructure(network), output, _NETWORK_COLUMNS)


@networks.command("start")
@click.argument("name")
@host_options
def start_network(host: SyncHost, output: OutputFormat, name: str) -> None:
    """Start the network NAME (exit 4 if it runs); print it."""
    emit(_converter().unstructure(host.start_network(name)), output, _NETWORK_COLUMNS)


@networks.command("stop")
@click.argument("name")
@host_options
def stop_network(host: SyncHost, output: OutputFormat, name: str) -> None:
    """Stop the network NAME (its VMs lose their link; exit 4 if stopped); print it."""
    emit(_converter().unstructure(host.stop_network(name)), output, _NETWORK_COLUMNS)


@networks.command("delete")
@click.argument("name")
@_yes_option
@host_options
def delete_network(host: SyncHost, output: OutputFormat, name: str, yes: bool) -> int:
    """Stop (if it runs) and undefine the network NAME; print its name.

    Asks first unless --yes, saying whether it runs (its VMs would lose their link).
    """
    network = host.network(name)
    running = " (running: its VMs lose their link)" if network.active else ""
    if not _confirm(f"Delete network {name!r}{running}?", yes=yes):
        click.echo("Not deleted.", err=True)
        return _DECLINED
    host.delete_network(name)
    return _emit_deleted([name], output)


#: The top-level commands of this module (the ``vms`` ones join ``vms`` on import).
COMMANDS: Final[tuple[click.Command, ...]] = (snapshots,)
