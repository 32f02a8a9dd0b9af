"""Desired state for automation: :func:`ensure_vm` over one host (``HostPool.ensure_vm``).

Composed of the host's operations (get, create, update, power, delete); nothing here talks
to libvirt itself. The diff rules are pure (:func:`spec_diff`, :func:`state_word`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from virtumancer._xml import parse_domain
from virtumancer.exceptions import InvalidInputError, NotFoundError, OperationTimeoutError
from virtumancer.models.domain import Domain, DomainState
from virtumancer.models.events import PowerAction
from virtumancer.models.lifecycle import DesiredState, EnsureResult, VmChange
from virtumancer.models.spec import VmSpec

if TYPE_CHECKING:
    from virtumancer.pool import HostPool

__all__ = ["ensure_vm", "spec_diff", "state_word"]

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


async def ensure_vm(
    host: HostPool,
    spec: VmSpec,
    state: DesiredState | str,
    *,
    check: bool,
    timeout: float,  # noqa: ASYNC109 (a timeout is part of the public API)
) -> EnsureResult:
    """See :meth:`virtumancer.pool.HostPool.ensure_vm`."""
    wanted = _desired(state)
    try:
        domain: Domain | None = await host.get_domain(spec.name)
    except NotFoundError:
        domain = None
    before = None if domain is None else state_word(domain.state)
    if wanted is DesiredState.ABSENT:
        if domain is None:
            return EnsureResult(changed=False, check=check)
        diff: dict[str, tuple[Any, Any]] = {"state": (before, DesiredState.ABSENT.value)}
        if not check:
            await host.delete_vm(domain.uuid, force=True)
        return EnsureResult(changed=True, diff=diff, check=check)
    # The definition, not the live domain: a running VM shows new memory/vCPUs after a restart.
    defined = (
        None if domain is None else parse_domain(await host.domain_xml(domain.uuid, inactive=True))
    )
    diff = spec_diff(spec, defined)
    if before != wanted.value:
        diff["state"] = (before, wanted.value)
    if check or not diff:
        return EnsureResult(changed=bool(diff), diff=diff, domain=domain, check=check)
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
