"""Listing domains with their XML, and writing our ``<metadata>`` into one or many domains.

Against libvirt's test driver in process (``test:///``) and through libvirtd
(``test+unix:///``), and a real KVM guest on ``qemu:///system``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import pytest

from tests.pool._support import test_pool
from virtumancer import DomainState, HostUnavailableError, NotFoundError
from virtumancer.models.metadata import METADATA_NAMESPACE, VirtumancerMetadata
from virtumancer.testing import virsh

pytestmark = pytest.mark.anyio

PROVENANCE = VirtumancerMetadata(
    managed_by="virtumancer",
    imported_at=dt.datetime(2026, 11, 25, 22, 0, tzinfo=dt.UTC),
    imported_by="tests",
    version="9.9",
)


@pytest.fixture(params=["test", "test+unix"])
def uri(request: pytest.FixtureRequest) -> str:
    fixture = "test_uri" if request.param == "test" else "test_unix_uri"
    return str(request.getfixturevalue(fixture))


async def test_listing_with_xml_matches_the_plain_listing(uri: str) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("h", uri)
        plain = {domain.uuid: domain for domain in await host.list_domains()}
        listing = await host.list_domains_with_xml()

        assert {entry.domain.uuid for entry in listing} == set(plain)
        for entry in listing:
            assert entry.domain == plain[entry.domain.uuid]
            assert entry.xml == await host.domain_xml(entry.domain.uuid)
            assert entry.parsed.state is None  # the pure parse: no runtime fields
            assert entry.domain.state in {DomainState.RUNNING, DomainState.SHUTOFF}
            assert entry.domain.persistent is True
            assert entry.domain.autostart is not None

        without_autostart = await host.list_domains_with_xml(autostart=False)
        assert [entry.domain.autostart for entry in without_autostart] == [None] * len(plain)
        assert [attrs.evolve(e.domain, autostart=None) for e in listing] == [
            attrs.evolve(e.domain, autostart=None) for e in without_autostart
        ]


async def test_listing_reuses_the_parse_of_unchanged_xml_only(uri: str) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("h", uri)
        first = {entry.domain.uuid: entry for entry in await host.list_domains_with_xml()}
        changed = sorted(first)[3]
        await host.set_metadata(changed, PROVENANCE)

        second = {e.domain.uuid: e for e in await host.list_domains_with_xml(first)}

        assert set(second) == set(first)
        assert second[changed].xml != first[changed].xml
        assert second[changed].domain.metadata == PROVENANCE
        for uuid, entry in second.items():
            if uuid != changed:
                assert entry.parsed is first[uuid].parsed
                assert entry.domain.metadata is None
        # Runtime fields are always fresh, even where the parse is reused.
        running = next(u for u, e in second.items() if e.domain.state is DomainState.RUNNING)
        await host.power(running, "suspend")
        third = {e.domain.uuid: e for e in await host.list_domains_with_xml(second)}
        assert third[running].parsed is second[running].parsed
        assert third[running].domain.state is DomainState.PAUSED


async def test_set_metadata_many_writes_each_domain_and_reports_failures(uri: str) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("h", uri)
        domains = await host.list_domains()
        by_name, by_uuid, by_model = domains[0], domains[1], domains[2:5]
        other = attrs.evolve(PROVENANCE, version="other")

        failures = await host.set_metadata_many(
            [
                (by_name.name, PROVENANCE),
                (by_uuid.uuid, other),
                ("vmt-no-such-domain", PROVENANCE),
                *((domain, PROVENANCE) for domain in by_model),
            ]
        )

        assert list(failures) == ["vmt-no-such-domain"]
        assert isinstance(failures["vmt-no-such-domain"], NotFoundError)
        assert failures["vmt-no-such-domain"].host_id == "h"
        seen = {domain.uuid: domain.metadata for domain in await host.list_domains()}
        assert seen[by_name.uuid] == PROVENANCE
        assert seen[by_uuid.uuid] == other
        for domain in by_model:
            assert seen[domain.uuid] == PROVENANCE
        assert all(seen[d.uuid] is None for d in domains[5:])

        # None removes our element again.
        assert await host.set_metadata_many([(d, None) for d in by_model]) == {}
        assert await host.set_metadata_many([]) == {}
        for domain in by_model:
            assert (await host.get_domain(domain.uuid)).metadata is None


async def test_set_metadata_many_survives_stale_states(uri: str) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("h", uri)
        domains = await host.list_domains()
        running = next(d for d in domains if d.state is DomainState.RUNNING)
        stopped = next(d for d in domains if d.state is DomainState.SHUTOFF)
        # What the caller believes is the opposite of the truth.
        stale = [
            attrs.evolve(running, state=DomainState.SHUTOFF),
            attrs.evolve(stopped, state=DomainState.RUNNING),
        ]
        assert await host.set_metadata_many([(d, PROVENANCE) for d in stale]) == {}
        # Believed running: libvirt refuses the live write, and the retry gets it right.
        assert (await host.get_domain(stopped.uuid)).metadata == PROVENANCE
        # Believed shut off: only the persistent definition is written (documented); the
        # running domain shows it from its next start on.
        assert b"<virtumancer:managed-by>" in await host.domain_xml(running.uuid, inactive=True)


async def test_set_metadata_many_on_a_disconnected_host_fails_whole(test_uri: str) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("h", test_uri)
        await host.disconnect()
        with pytest.raises(HostUnavailableError):
            await host.set_metadata_many([("guest-0000", PROVENANCE)])


@pytest.mark.kvm
async def test_metadata_on_a_real_guest_live_and_persistent(kvm_guest: Any) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("kvm", kvm_guest.uri)
        await host.set_metadata(kvm_guest.name, PROVENANCE)
        for extra in ((), ("--config",)):
            shown = virsh(kvm_guest.uri, "metadata", kvm_guest.name, METADATA_NAMESPACE, *extra)
            assert "<managed-by>virtumancer</managed-by>" in shown
            assert "<version>9.9</version>" in shown
        assert (await host.get_domain(kvm_guest.uuid)).metadata == PROVENANCE

        domain = await host.get_domain(kvm_guest.uuid)
        other = attrs.evolve(PROVENANCE, version="10.0")
        assert await host.set_metadata_many([(domain, other)]) == {}
        for extra in ((), ("--config",)):
            shown = virsh(kvm_guest.uri, "metadata", kvm_guest.name, METADATA_NAMESPACE, *extra)
            assert "<version>10.0</version>" in shown

        listing = {e.domain.uuid: e for e in await host.list_domains_with_xml()}
        assert listing[kvm_guest.uuid].domain.metadata == other
        assert listing[kvm_guest.uuid].domain.state is DomainState.RUNNING

        await host.set_metadata(kvm_guest.name, None)
        assert (await host.get_domain(kvm_guest.uuid)).metadata is None
        shown = virsh(
            kvm_guest.uri, "metadata", kvm_guest.name, METADATA_NAMESPACE, "--config", check=False
        )
        assert "virtumancer" not in shown
