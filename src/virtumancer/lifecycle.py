"""Desired state for automation over one host: VMs, snapshots, volumes, NAT networks.

:func:`ensure_vm`, :func:`ensure_snapshot`, :func:`ensure_volume` and :func:`ensure_network`
back the ``HostPool`` methods of the same names; each returns ``changed`` and a
``{field: (before, after)}`` diff, and in check mode changes nothing.

Composed of the host's operations (get, create, update, power, delete); nothing here talks
to libvirt itself. The diff rules are pure (:func:`spec_diff`, :func:`state_word`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from virtumancer._xml import parse_domain
from virtumancer.exceptions import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    OperationTimeoutError,
)
from virtumancer.models.domain import DomainState
from virtumancer.models.events import PowerAction
from virtumancer.models.lifecycle import (
    DesiredState,
    EnsureNetworkResult,
    EnsureResult,
    EnsureSnapshotResult,
    EnsureVolumeResult,
    VmChange,
)

if TYPE_CHECKING:
    from virtumancer.models.domain import Domain
    from virtumancer.models.network import NatNetworkSpec, Network
    from virtumancer.models.spec import VmSpec
    from virtumancer.models.storage import StorageVolume
    from virtumancer.pool import HostPool

__all__ = [
    "ensure_network",
    "ensure_snapshot",
    "ensure_vm",
    "ensure_volume",
    "network_diff",
    "spec_diff",
    "state_word",
]

#: The spec fields an existing VM is brought to (the others only shape a new VM).
ENSURED_FIELDS = ("memory_bytes", "vcpus", "description")


def state_word(state: DomainState | None) -> str:
    """Return the desired-state word of a domain state: ``running``, ``paused`` or ``stopped``."""
    if state in (DomainState.RUNNING, DomainState.BLOCKED):
        return DesiredState.RUNNING.value
    if state in (DomainState.PAUSED, DomainState.PMSUSPENDED):
        return DesiredState.PAUSED.value
    return DesiredState.STOPPED.value


def spec_diff(spec: VmSpec, domain: Domain | None) -> dict[str, tuple[Any, Any]]:
    """Return ``{field: (now, wanted)}`` for the ensured fields where ``domain`` differs."""
    diff: dict[str, tuple[Any, Any]] = {}
    for field in ENSURED_FIELDS:
        wanted = getattr(spec, field)
        current = None if domain is None else getattr(domain, field)
        if current != wanted:
            diff[field] = (current, wanted)
    return diff


def _desired(state: DesiredState | str) -> DesiredState:
    try:
        return DesiredState(state)
    except ValueError:
        choices = ", ".join(member.value for member in DesiredState)
        raise InvalidInputError(
            f"unknown state {state!r} (one of {choices})", field="state"
        ) from None


@attrs.frozen(kw_only=True)
class VmPlan:
    """What :func:`ensure_vm` read and decided before changing anything.

    ``done`` is the result when there is nothing left to do (no difference, check mode, or
    an absent VM that should be absent); otherwise :func:`apply_vm` makes ``diff`` so.
    """

    spec: VmSpec
    wanted: DesiredState
    domain: Domain | None
    diff: dict[str, tuple[Any, Any]]
    check: bool
    done: EnsureResult | None

    @property
    def waits(self) -> bool:
        """Whether applying the plan waits for a power state (libvirt's events, the pool)."""
        if self.done is not None or self.wanted is DesiredState.ABSENT:
            return False
        if self.domain is None:
            return self.wanted is DesiredState.PAUSED
        return state_word(self.domain.state) != self.wanted.value


async def plan_vm(
    host: HostPool, spec: VmSpec, state: DesiredState | str, *, check: bool
) -> VmPlan:
    """Read the VM ``spec.name`` and compare it with ``spec`` and ``state`` (no change made)."""
    wanted = _desired(state)
    try:
        domain: Domain | None = await host.get_domain(spec.name)
    except NotFoundError:
        domain = None
    before = None if domain is None else state_word(domain.state)
    if wanted is DesiredState.ABSENT:
        if domain is None:
            done: EnsureResult | None = EnsureResult(changed=False, check=check)
            return VmPlan(spec=spec, wanted=wanted, domain=None, diff={}, check=check, done=done)
        diff: dict[str, tuple[Any, Any]] = {"state": (before, DesiredState.ABSENT.value)}
        done = EnsureResult(changed=True, diff=diff, check=check) if check else None
        return VmPlan(spec=spec, wanted=wanted, domain=domain, diff=diff, check=check, done=done)
    # The definition, not the live domain: a running VM shows new memory/vCPUs after a restart.
    defined = (
        None if domain is None else parse_domain(await host.domain_xml(domain.uuid, inactive=True))
    )
    diff = spec_diff(spec, defined)
    if before != wanted.value:
        diff["state"] = (before, wanted.value)
    done = None
    if check or not diff:
        done = EnsureResult(changed=bool(diff), diff=diff, domain=domain, check=check)
    return VmPlan(spec=spec, wanted=wanted, domain=domain, diff=diff, check=check, done=done)


async def apply_vm(host: HostPool, plan: VmPlan, *, timeout: float) -> EnsureResult:  # noqa: ASYNC109 (a timeout is part of the public API)
    """Make the changes of ``plan`` (see :func:`plan_vm`); return the result."""
    if plan.done is not None:
        return plan.done
    spec, wanted, domain, diff, check = plan.spec, plan.wanted, plan.domain, plan.diff, plan.check
    if wanted is DesiredState.ABSENT:
        assert domain is not None  # a plan without a domain is done
        await host.delete_vm(domain.uuid, force=True)
        return EnsureResult(changed=True, diff=diff, check=check)
    if domain is None:
        running = wanted is not DesiredState.STOPPED
        domain = await host.create_vm(spec, start=running)
        if wanted is DesiredState.PAUSED:
            await host.power(domain.uuid, PowerAction.SUSPEND, wait=True, timeout=timeout)
    else:
        fields = {name: new for name, (_, new) in diff.items() if name != "state"}
        if fields:
            await host.update_vm(domain.uuid, VmChange(**fields))
        await _reach(host, domain, wanted, timeout)
    return EnsureResult(
        changed=True, diff=diff, domain=await host.get_domain(domain.uuid), check=check
    )


async def ensure_vm(
    host: HostPool,
    spec: VmSpec,
    state: DesiredState | str,
    *,
    check: bool,
    timeout: float,  # noqa: ASYNC109 (a timeout is part of the public API)
) -> EnsureResult:
    """See :meth:`virtumancer.pool.HostPool.ensure_vm`."""
    plan = await plan_vm(host, spec, state, check=check)
    return await apply_vm(host, plan, timeout=timeout)


async def _reach(host: HostPool, domain: Domain, wanted: DesiredState, timeout: float) -> None:  # noqa: ASYNC109 (a timeout is part of the public API)
    """Move a domain from its state to ``wanted`` with the fewest power actions."""
    now = state_word(domain.state)
    uuid = domain.uuid
    if now == wanted.value:
        return
    if wanted is DesiredState.STOPPED:
        try:
            await host.power(uuid, PowerAction.SHUTDOWN, wait=True, timeout=timeout)
        except OperationTimeoutError:
            # The guest ignored ACPI (no OS, or it is hung): stopped is what was asked for.
            await host.power(uuid, PowerAction.DESTROY, wait=True, timeout=timeout)
        return
    if now == DesiredState.PAUSED.value:  # wanted is running
        await host.power(uuid, PowerAction.RESUME, wait=True, timeout=timeout)
        return
    if now == DesiredState.STOPPED.value:
        await host.power(uuid, PowerAction.START, wait=True, timeout=timeout)
    if wanted is DesiredState.PAUSED:
        await host.power(uuid, PowerAction.SUSPEND, wait=True, timeout=timeout)


# -- snapshots, volumes, networks ---------------------------------------------------------

SNAPSHOT_STATES = ("present", "absent", "reverted")
VOLUME_STATES = ("present", "absent")
NETWORK_STATES = ("present", "absent", "started", "stopped")
#: The spec fields of a defined network an existing one is brought to.
NETWORK_FIELDS = ("address", "prefix", "dhcp_start", "dhcp_end", "bridge", "autostart")
_MIB = 1024 * 1024


def _choice(state: str, choices: tuple[str, ...]) -> str:
    if state not in choices:
        raise InvalidInputError(
            f"unknown state {state!r} (one of {', '.join(choices)})", field="state"
        )
    return state


async def ensure_snapshot(
    host: HostPool,
    vm: str,
    name: str,
    state: str,
    *,
    memory: bool | None,
    description: str,
    check: bool,
) -> EnsureSnapshotResult:
    """See :meth:`virtumancer.pool.HostPool.ensure_snapshot`."""
    _choice(state, SNAPSHOT_STATES)
    try:
        snapshots = await host.list_snapshots(vm)
    except NotFoundError:
        if state == "absent":  # no VM, so no snapshot of it
            return EnsureSnapshotResult(changed=False, check=check)
        raise
    found = next((snapshot for snapshot in snapshots if snapshot.name == name), None)
    if state == "absent":
        if found is None:
            return EnsureSnapshotResult(changed=False, check=check)
        if not check:
            await host.delete_snapshot(vm, name)
        return EnsureSnapshotResult(
            changed=True, diff={"state": ("present", "absent")}, check=check
        )
    if state == "reverted":
        if found is None:
            raise NotFoundError(f"VM {vm!r} has no snapshot {name!r}", field="name", vm_name=vm)
        # Always a change: what the guest wrote since cannot be seen, and a revert drops it.
        if check:
            return EnsureSnapshotResult(
                changed=True, diff={"state": ("present", "reverted")}, snapshot=found, check=True
            )
        await host.revert_snapshot(vm, name)
        reverted = next(s for s in await host.list_snapshots(vm) if s.name == name)
        return EnsureSnapshotResult(
            changed=True, diff={"state": ("present", "reverted")}, snapshot=reverted
        )
    if found is not None:  # a snapshot is never changed after it is taken
        return EnsureSnapshotResult(changed=False, snapshot=found, check=check)
    running = state_word((await host.get_domain(vm)).state) != DesiredState.STOPPED.value
    with_memory = running if memory is None else memory
    if with_memory and not running:
        raise ConflictError(
            f"VM {vm!r} is not running: it has no memory to snapshot", field="memory", vm_name=vm
        )
    diff: dict[str, tuple[Any, Any]] = {"state": (None, "present"), "memory": (None, with_memory)}
    if description:
        diff["description"] = (None, description)
    if check:
        return EnsureSnapshotResult(changed=True, diff=diff, check=True)
    taken = await host.create_snapshot(vm, name, description=description, memory=with_memory)
    return EnsureSnapshotResult(changed=True, diff=diff, snapshot=taken)


def _volume_format(value: str) -> str:
    from virtumancer.models.spec import VolumeFormat

    try:
        return VolumeFormat(value).value
    except ValueError:
        choices = ", ".join(member.value for member in VolumeFormat)
        raise InvalidInputError(f"format: one of {choices}", field="format") from None


async def ensure_volume(
    host: HostPool,
    pool_name: str,
    name: str,
    state: str,
    *,
    capacity_bytes: int | None,
    format: str | None,
    check: bool,
) -> EnsureVolumeResult:
    """See :meth:`virtumancer.pool.HostPool.ensure_volume`."""
    _choice(state, VOLUME_STATES)
    if capacity_bytes is not None and (
        isinstance(capacity_bytes, bool)
        or not isinstance(capacity_bytes, int)
        or capacity_bytes < _MIB
    ):
        raise InvalidInputError(
            "capacity_bytes: an integer of at least 1 MiB", field="capacity_bytes"
        )
    wanted_format = None if format is None else _volume_format(format)
    try:
        volume: StorageVolume | None = await host.get_volume(pool_name, name)
    except NotFoundError as exc:
        if exc.field == "pool":
            raise
        volume = None
    if state == "absent":
        if volume is None:
            return EnsureVolumeResult(changed=False, check=check)
        if not check:
            await host.delete_volume(pool_name, name)
        return EnsureVolumeResult(changed=True, diff={"state": ("present", "absent")}, check=check)
    if volume is None:
        if capacity_bytes is None:
            raise InvalidInputError(
                f"capacity_bytes: needed to create volume {name!r}", field="capacity_bytes"
            )
        fmt = wanted_format or "qcow2"
        diff: dict[str, tuple[Any, Any]] = {
            "state": (None, "present"),
            "capacity_bytes": (None, capacity_bytes),
            "format": (None, fmt),
        }
        if check:
            return EnsureVolumeResult(changed=True, diff=diff, check=True)
        created = await host.create_volume(pool_name, name, capacity_bytes, format=fmt)
        return EnsureVolumeResult(changed=True, diff=diff, volume=created)
    if wanted_format is not None and volume.format not in (None, wanted_format):
        raise ConflictError(
            f"format: volume {name!r} is {volume.format}, not {wanted_format}; a volume's"
            " format is not converted (remove it first)",
            field="format",
        )
    current = volume.capacity_bytes or 0
    if capacity_bytes is None or capacity_bytes == current:
        return EnsureVolumeResult(changed=False, volume=volume, check=check)
    if capacity_bytes < current:
        raise ConflictError(
            f"capacity_bytes: volume {name!r} has {current} bytes; shrinking it to"
            f" {capacity_bytes} would cut data off",
            field="capacity_bytes",
        )
    diff = {"capacity_bytes": (current, capacity_bytes)}
    if check:
        return EnsureVolumeResult(changed=True, diff=diff, volume=volume, check=True)
    resized = await host.resize_volume(pool_name, name, capacity_bytes)
    return EnsureVolumeResult(changed=True, diff=diff, volume=resized)


def network_diff(spec: NatNetworkSpec, defined: NatNetworkSpec) -> dict[str, tuple[Any, Any]]:
    """Return ``{field: (now, wanted)}`` where a network's definition differs from ``spec``.

    ``bridge`` ``None`` in ``spec`` leaves the bridge libvirt chose alone.
    """
    diff: dict[str, tuple[Any, Any]] = {}
    for field in NETWORK_FIELDS:
        wanted = getattr(spec, field)
        if field == "bridge" and wanted is None:
            continue
        current = getattr(defined, field)
        if current != wanted:
            diff[field] = (current, wanted)
    return diff


async def ensure_network(
    host: HostPool,
    name: str,
    state: str,
    *,
    spec: NatNetworkSpec | None,
    check: bool,
) -> EnsureNetworkResult:
    """See :meth:`virtumancer.pool.HostPool.ensure_network`."""
    # Only networks need their XML: a VM task does not load it.
    from virtumancer._xml.network import parse_nat_network_spec, render_nat_network

    _choice(state, NETWORK_STATES)
    if spec is not None:
        if spec.name != name:
            raise InvalidInputError(
                f"name: the spec's name {spec.name!r} differs from {name!r}", field="name"
            )
        render_nat_network(spec)  # checks the addresses, in check mode too
    try:
        network: Network | None = await host.get_network(name)
    except NotFoundError:
        network = None
    before = None if network is None else ("started" if network.active else "stopped")
    if state == "absent":
        if network is None:
            return EnsureNetworkResult(changed=False, check=check)
        if not check:
            await host.delete_network(name)
        return EnsureNetworkResult(changed=True, diff={"state": (before, "absent")}, check=check)
    if network is None and spec is None:
        raise InvalidInputError(f"address: needed to define network {name!r}", field="address")
    diff: dict[str, tuple[Any, Any]] = {}
    if spec is not None:
        if network is None:
            diff = {
                field: (None, getattr(spec, field))
                for field in NETWORK_FIELDS
                if field != "bridge" or spec.bridge is not None
            }
        else:
            defined = parse_nat_network_spec(await host.network_xml(name, inactive=True))
            diff = network_diff(spec, attrs.evolve(defined, autostart=bool(network.autostart)))
    after = before or "stopped"
    if state in ("started", "stopped"):
        after = state
    if after != before:
        diff["state"] = (before, after)
    if check or not diff:
        return EnsureNetworkResult(changed=bool(diff), diff=diff, network=network, check=check)
    # Stop before a new definition, start after it: a stopped network takes it at once.
    if before == "started" and after == "stopped":
        await host.stop_network(name)
    if spec is not None and (network is None or set(diff) - {"state"}):
        await host.define_network(spec, replace=network is not None)
    if before != "started" and after == "started":
        await host.start_network(name)
    return EnsureNetworkResult(changed=True, diff=diff, network=await host.get_network(name))
