"""VM lifecycle on libvirt's test driver: create, define, change, delete, ensure, wait.

Each test gets a node of its own (``test:///<file>``), seen through one connection, so what
it creates is checked through the same host (the node's state is per connection).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import pytest

import virtumancer
from virtumancer import (
    ConflictError,
    DomainState,
    InvalidInputError,
    NotFoundError,
    SyncHost,
    VmChange,
    XMLParseError,
    structure_spec,
)
from virtumancer.models.spec import ExistingVolume, NewVolume, VmSpec

MIB = 1024 * 1024
GIB = 1024 * MIB
POOL = "guest-pool0"


@pytest.fixture
def host(test_uri: str) -> Iterator[SyncHost]:
    with virtumancer.connect(test_uri) as connected:
        yield connected


def _spec(name: str = "made", **changes: Any) -> VmSpec:
    spec = VmSpec(
        name=name,
        memory_bytes=128 * MIB,
        disks=(NewVolume(pool=POOL, size_bytes=GIB),),
        description="made by a test",
    )
    return attrs.evolve(spec, **changes)


def _volumes(host: SyncHost) -> set[str]:
    return {volume.name for volume in host.storage_volumes(POOL)}


def _domains(host: SyncHost) -> set[str]:
    return {domain.name for domain in host.domains()}


def test_create_from_a_spec_makes_the_volume_and_a_managed_domain(host: SyncHost) -> None:
    before = _volumes(host)
    domain = host.create_vm(_spec(), start=True)
    assert domain.state is DomainState.RUNNING
    assert domain.metadata is not None
    assert domain.metadata.managed_by == "virtumancer"
    assert domain.description == "made by a test"
    assert _volumes(host) - before == {"made-disk0.qcow2"}
    disk = domain.devices.disks[0]
    assert (disk.target_dev, disk.driver_type) == ("vda", "qcow2")
    assert disk.source_path is not None
    assert disk.source_path.endswith("/made-disk0.qcow2")


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        (
            {"disks": (NewVolume(pool="no-such-pool", size_bytes=GIB),)},
            InvalidInputError,
            "disks[0].pool",
        ),
        (
            {
                "disks": (
                    NewVolume(pool=POOL, size_bytes=GIB),
                    NewVolume(pool=POOL, size_bytes=10**15),
                )
            },
            ConflictError,
            "disks[1].size_bytes",
        ),
        (
            {
                "disks": (
                    NewVolume(pool=POOL, size_bytes=GIB),
                    ExistingVolume(pool=POOL, volume="missing.qcow2"),
                )
            },
            InvalidInputError,
            "disks[1].volume",
        ),
        ({"name": "guest-0000"}, ConflictError, "name"),
    ],
    ids=["unknown pool", "too big for the pool", "unknown volume", "name taken"],
)
def test_a_bad_spec_is_refused_and_nothing_is_made(
    host: SyncHost, changes: dict[str, Any], error: type[Exception], field: str
) -> None:
    volumes, domains = _volumes(host), _domains(host)
    with pytest.raises(error) as caught:
        host.create_vm(_spec(**changes))
    assert getattr(caught.value, "field", None) == field
    assert _volumes(host) == volumes
    assert _domains(host) == domains


def test_a_failure_half_way_removes_what_was_made(host: SyncHost) -> None:
    # The test driver cannot upload into a volume: the seed ISO fails after the disk exists.
    volumes, domains = _volumes(host), _domains(host)
    spec = structure_spec(
        {
            "name": "seeded",
            "memory_bytes": 128 * MIB,
            "disks": [{"kind": "new_volume", "pool": POOL, "size_bytes": GIB}],
            "cloud_init": {"ssh_authorized_keys": ["ssh-ed25519 AAAAC3Nza test"]},
        }
    )
    with pytest.raises(virtumancer.VirtumancerError):
        host.create_vm(spec)
    assert _volumes(host) == volumes
    assert _domains(host) == domains


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"name": "x", "memory_bytes": 0}, "memory_bytes"),
        (
            {"name": "x", "memory_bytes": 128 * MIB, "nics": [{"network": "n", "mac": "zz"}]},
            "nics[0].mac",
        ),
    ],
    ids=["0 memory", "invalid MAC"],
)
def test_invalid_values_are_refused_before_any_host_call(
    document: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        structure_spec(document)
    assert caught.value.field == field


def test_delete_keeps_or_deletes_the_volumes(host: SyncHost) -> None:
    host.create_vm(_spec("keep"))
    host.create_vm(_spec("drop"))
    assert host.delete_vm("keep") == []
    assert "keep-disk0.qcow2" in _volumes(host)
    deleted = host.delete_vm("drop", delete_storage=True)
    assert [path.rpartition("/")[2] for path in deleted] == ["drop-disk0.qcow2"]
    assert "drop-disk0.qcow2" not in _volumes(host)
    assert not {"keep", "drop"} & _domains(host)


def test_delete_refuses_a_running_vm_unless_forced(host: SyncHost) -> None:
    host.create_vm(_spec(), start=True)
    with pytest.raises(ConflictError) as caught:
        host.delete_vm("made")
    assert caught.value.field == "force"
    assert "made" in _domains(host)
    host.delete_vm("made", force=True, delete_storage=True)
    assert "made" not in _domains(host)
    with pytest.raises(NotFoundError):
        host.domain("made")


_FOREIGN_XML = """<domain type='test'>
  <name>foreign</name>
  <title>kept title</title>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <metadata><other:thing xmlns:other='urn:example:other'>keep me</other:thing></metadata>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>
    <watchdog model='i6300esb' action='reset'/>
    <panic model='isa'/>
  </devices>
</domain>"""


def test_define_from_xml_then_changes_keep_what_we_do_not_model(host: SyncHost) -> None:
    domain = host.define_vm_xml(_FOREIGN_XML)
    assert domain.metadata is not None  # our provenance was added
    changed = host.update_vm(
        "foreign",
        VmChange(
            memory_bytes=256 * MIB,
            vcpus=2,
            description="now described",
            autostart=True,
            cdrom_media={"hdc": "/srv/install.iso"},
        ),
    )
    assert (changed.memory_bytes, changed.vcpus) == (256 * MIB, 2)
    assert changed.description == "now described"
    assert changed.autostart is True
    cdrom = changed.devices.disks[0]
    assert cdrom.source_path == "/srv/install.iso"
    xml = host.domain_xml("foreign", inactive=True).decode()
    for kept in ("keep me", "urn:example:other", "<panic", "kept title", "i6300esb"):
        assert kept in xml
    ejected = host.update_vm("foreign", VmChange(cdrom_media={"hdc": ""}))
    assert ejected.devices.disks[0].source_path is None
    assert "keep me" in host.domain_xml("foreign", inactive=True).decode()


def test_define_refuses_xml_the_parser_refuses_and_names_in_use(host: SyncHost) -> None:
    domains = _domains(host)
    with pytest.raises(XMLParseError):
        host.define_vm_xml("<domain><name>x</name><!ENTITY boom 'x'></domain>")
    with pytest.raises(ConflictError) as caught:
        host.define_vm_xml(_FOREIGN_XML.replace("foreign", "guest-0000"))
    assert caught.value.field == "name"
    assert _domains(host) == domains


def test_update_refuses_bad_values_naming_the_field(host: SyncHost) -> None:
    with pytest.raises(InvalidInputError) as caught:
        host.update_vm("guest-0000", VmChange(memory_bytes=1000))
    assert caught.value.field == "memory_bytes"
    with pytest.raises(InvalidInputError) as caught:
        host.update_vm("guest-0000", VmChange(cdrom_media={"hdz": "/x.iso"}))
    assert caught.value.field == "cdrom_media"


def test_ensure_vm_is_idempotent_and_check_mode_changes_nothing(host: SyncHost) -> None:
    spec = _spec("ensured")
    planned = host.ensure_vm(spec, "running", check=True)
    assert planned.changed
    assert planned.diff["state"] == (None, "running")
    assert "ensured" not in _domains(host)  # check mode made nothing

    first = host.ensure_vm(spec, "running")
    assert first.changed
    assert first.domain is not None
    assert first.domain.state is DomainState.RUNNING
    second = host.ensure_vm(spec, "running")
    assert (second.changed, second.diff) == (False, {})

    bigger = attrs.evolve(spec, vcpus=2, description="changed")
    check = host.ensure_vm(bigger, "paused", check=True)
    assert check.diff == {
        "vcpus": (1, 2),
        "description": ("made by a test", "changed"),
        "state": ("running", "paused"),
    }
    assert host.domain("ensured").state is DomainState.RUNNING  # unchanged by check mode
    assert host.ensure_vm(bigger, "paused").changed
    assert not host.ensure_vm(bigger, "paused").changed
    assert host.domain("ensured").state is DomainState.PAUSED
    assert host.ensure_vm(bigger, "stopped").diff == {"state": ("paused", "stopped")}
    assert host.ensure_vm(bigger, "absent").changed
    assert not host.ensure_vm(bigger, "absent").changed
    assert "ensured" not in _domains(host)
    assert "ensured-disk0.qcow2" in _volumes(host)  # absent keeps the volumes


def test_power_with_wait_returns_in_the_new_state(host: SyncHost) -> None:
    host.create_vm(_spec("waited"))
    host.power("waited", "start", wait=True)
    assert host.domain("waited").state is DomainState.RUNNING
    host.power("waited", "suspend", wait=True)
    assert host.wait_for_state("waited", "paused").state is DomainState.PAUSED
    host.power("waited", "destroy", wait=True)
    assert host.wait_for_state("waited", DomainState.SHUTOFF, 5).state is DomainState.SHUTOFF


def test_wait_for_state_times_out_with_a_timeout_error(host: SyncHost) -> None:
    with pytest.raises(virtumancer.OperationTimeoutError):
        host.wait_for_state("guest-0009", "running", 0.2)
    with pytest.raises(InvalidInputError) as caught:
        host.wait_for_state("guest-0009", "sleeping", 0.2)
    assert caught.value.field == "state"
