"""Which ensure_vm plans wait for a power state (and so need the event-driven pool)."""

from __future__ import annotations

import pytest

from virtumancer.lifecycle import VmPlan
from virtumancer.models.domain import Domain, DomainState
from virtumancer.models.lifecycle import DesiredState, EnsureResult
from virtumancer.models.spec import VmSpec

SPEC = VmSpec(name="web", memory_bytes=1 << 30)


def _domain(state: DomainState) -> Domain:
    return Domain(
        uuid="00000000-0000-4000-8000-000000000001",
        name="web",
        domain_type="kvm",
        vcpus=1,
        memory_bytes=1 << 30,
        current_memory_bytes=1 << 30,
        os_type="hvm",
        state=state,
    )


def _plan(state: DomainState | None, wanted: DesiredState, *, done: bool = False) -> VmPlan:
    return VmPlan(
        spec=SPEC,
        wanted=wanted,
        domain=None if state is None else _domain(state),
        diff={"vcpus": (1, 2)},
        check=False,
        done=EnsureResult(changed=False) if done else None,
    )


@pytest.mark.parametrize(
    ("state", "wanted", "waits"),
    [
        # The state it is in: only the definition changes.
        (DomainState.RUNNING, DesiredState.RUNNING, False),
        (DomainState.SHUTOFF, DesiredState.STOPPED, False),
        (DomainState.PAUSED, DesiredState.PAUSED, False),
        # A power change is watched through libvirt's events.
        (DomainState.RUNNING, DesiredState.STOPPED, True),
        (DomainState.SHUTOFF, DesiredState.RUNNING, True),
        (DomainState.RUNNING, DesiredState.PAUSED, True),
        (DomainState.PAUSED, DesiredState.RUNNING, True),
        # Deleting, or creating a VM started or not, is one call.
        (DomainState.RUNNING, DesiredState.ABSENT, False),
        (None, DesiredState.RUNNING, False),
        (None, DesiredState.STOPPED, False),
        # A new VM to be paused is suspended once it runs.
        (None, DesiredState.PAUSED, True),
    ],
)
def test_a_plan_waits_only_for_a_power_change(
    state: DomainState | None, wanted: DesiredState, waits: bool
) -> None:
    assert _plan(state, wanted).waits is waits


def test_a_plan_with_nothing_left_to_do_waits_for_nothing() -> None:
    assert not _plan(DomainState.SHUTOFF, DesiredState.RUNNING, done=True).waits
