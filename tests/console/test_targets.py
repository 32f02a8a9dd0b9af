"""Which address a console relay dials, decided from the live domain XML and the host's URI.

Pure: a host here is just a URI and a domain XML document (the real-guest tests in
``test_relay.py`` cover the same code against libvirt). What is checked is what a user would
see: where the relay connects, and which VMs are refused with which error.
"""

from __future__ import annotations

import attrs
import pytest

from virtumancer import ConflictError, Domain, DomainState, NotFoundError, parse_domain
from virtumancer.models.console import ConsoleKind, ConsoleRoute
from virtumancer.services.console import resolve_console_target, ssh_endpoint

pytestmark = [pytest.mark.anyio, pytest.mark.unit]

LOCAL = "qemu:///system"
SSH = "qemu+ssh://admin@kvm1.example:2200/system?keyfile=/keys/id&no_verify=1"
TCP = "qemu+tcp://kvm2.example/system"


class XmlHost:
    """A host whose one domain is the parse of a fixed live XML document.

    Running when the XML carries an ``id`` (as libvirt's live XML of an active domain does).
    """

    def __init__(self, uri: str, xml: str) -> None:
        self.host_id = "h1"
        self.uri = uri
        self._xml = xml

    async def get_domain(self, name_or_uuid: str) -> Domain:
        parsed = parse_domain(self._xml)
        state = DomainState.RUNNING if parsed.id is not None else DomainState.SHUTOFF
        return attrs.evolve(parsed, state=state)


def domain(graphics: str, *, running: bool = True) -> str:
    id_attr = " id='7'" if running else ""
    return (
        f"<domain type='kvm'{id_attr}><name>web1</name>"
        "<uuid>6f2a1c3e-0000-4000-8000-000000000001</uuid>"
        f"<devices>{graphics}</devices></domain>"
    )


VNC = "<graphics type='vnc' port='5905' autoport='yes' listen='127.0.0.1'/>"
SPICE = "<graphics type='spice' port='5906' tlsPort='5907' autoport='yes' listen='127.0.0.1'/>"


async def test_a_local_vnc_console_is_dialled_where_the_xml_says() -> None:
    target = await resolve_console_target(XmlHost(LOCAL, domain(VNC)), "web1")
    assert (target.kind, target.route) == (ConsoleKind.VNC, ConsoleRoute.LOCAL)
    assert (target.address, target.port) == ("127.0.0.1", 5905)
    assert target.domain_uuid == "6f2a1c3e-0000-4000-8000-000000000001"


async def test_vnc_is_preferred_when_no_kind_is_asked() -> None:
    target = await resolve_console_target(XmlHost(LOCAL, domain(SPICE + VNC)), "web1")
    assert target.kind is ConsoleKind.VNC


async def test_spice_is_found_when_asked() -> None:
    target = await resolve_console_target(XmlHost(LOCAL, domain(VNC + SPICE)), "web1", "spice")
    assert (target.kind, target.port, target.tls_port) == (ConsoleKind.SPICE, 5906, 5907)


async def test_graphics_on_every_address_are_dialled_on_loopback_or_the_uri_host() -> None:
    xml = domain("<graphics type='vnc' port='5900' listen='0.0.0.0'/>")
    local = await resolve_console_target(XmlHost(LOCAL, xml), "web1")
    over_ssh = await resolve_console_target(XmlHost(SSH, xml), "web1")
    over_tcp = await resolve_console_target(XmlHost(TCP, xml), "web1")
    assert (local.route, local.address) == (ConsoleRoute.LOCAL, "127.0.0.1")
    assert (over_ssh.route, over_ssh.address) == (ConsoleRoute.SSH, "127.0.0.1")
    assert (over_tcp.route, over_tcp.address) == (ConsoleRoute.NETWORK, "kvm2.example")


async def test_loopback_graphics_of_a_host_without_ssh_are_refused() -> None:
    with pytest.raises(ConflictError) as refused:
        await resolve_console_target(XmlHost(TCP, domain(VNC)), "web1")
    assert refused.value.code == "console_unreachable"


async def test_a_unix_socket_console_is_dialled_by_path() -> None:
    xml = domain(
        "<graphics type='vnc'><listen type='socket' socket='/run/libvirt/qemu/vnc.sock'/>"
        "</graphics>"
    )
    target = await resolve_console_target(XmlHost(LOCAL, xml), "web1")
    assert (target.socket_path, target.address, target.port) == (
        "/run/libvirt/qemu/vnc.sock",
        None,
        None,
    )


async def test_a_stopped_vm_is_refused() -> None:
    with pytest.raises(ConflictError) as refused:
        await resolve_console_target(XmlHost(LOCAL, domain(VNC, running=False)), "web1")
    assert refused.value.code == "vm_not_running"


async def test_a_vm_without_that_graphics_is_refused() -> None:
    with pytest.raises(NotFoundError) as refused:
        await resolve_console_target(XmlHost(LOCAL, domain(VNC)), "web1", "spice")
    assert refused.value.code == "no_console"
    with pytest.raises(NotFoundError):
        await resolve_console_target(XmlHost(LOCAL, domain("")), "web1")


async def test_graphics_listening_nowhere_are_refused() -> None:
    xml = domain("<graphics type='vnc'><listen type='none'/></graphics>")
    with pytest.raises(NotFoundError):
        await resolve_console_target(XmlHost(LOCAL, xml), "web1")


async def test_the_test_driver_has_no_consoles() -> None:
    with pytest.raises(ConflictError) as refused:
        await resolve_console_target(XmlHost("test:///default", domain(VNC)), "web1")
    assert refused.value.code == "console_unavailable"


def test_the_ssh_tunnel_uses_the_uris_credentials() -> None:
    endpoint = ssh_endpoint(SSH)
    assert (endpoint.host, endpoint.port, endpoint.username) == ("kvm1.example", 2200, "admin")
    assert endpoint.client_keys == ["/keys/id"]
    assert endpoint.known_hosts is None  # no_verify=1


def test_the_ssh_tunnel_checks_host_keys_unless_told_not_to() -> None:
    assert ssh_endpoint("qemu+ssh://kvm1/system").known_hosts == ()
    custom = ssh_endpoint("qemu+ssh://kvm1/system?known_hosts=/etc/vm/known")
    assert custom.known_hosts == "/etc/vm/known"
    assert custom.port == 22
    assert custom.client_keys is None
