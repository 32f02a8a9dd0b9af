"""Where a VM's graphics console can be reached, as resolved from its live domain XML."""

from __future__ import annotations

import enum

import attrs

__all__ = ["ConsoleKind", "ConsoleRoute", "ConsoleTarget"]


class ConsoleKind(enum.StrEnum):
    """The graphics protocols a console relay speaks."""

    VNC = "vnc"
    SPICE = "spice"


class ConsoleRoute(enum.StrEnum):
    """How the relay reaches the graphics server.

    - ``LOCAL``: the hypervisor is this machine; dial the listen address directly.
    - ``SSH``: the host's URI is ``qemu+ssh``; open an SSH tunnel to that host with the
      URI's credentials and dial the listen address from there.
    - ``NETWORK``: a remote host reached without SSH (``qemu+tcp``/``qemu+tls``); dial the
      URI's host name, which only works when the graphics listen on every address.
    """

    LOCAL = "local"
    SSH = "ssh"
    NETWORK = "network"


@attrs.frozen(kw_only=True)
class ConsoleTarget:
    """A graphics server of a running domain and the way to reach it.

    ``address``/``port`` are what the relay dials *from the end of the route*: for ``SSH`` the
    address is seen from the hypervisor (usually ``127.0.0.1``), for ``LOCAL`` from this
    machine, for ``NETWORK`` it is the host name of the libvirt URI. ``socket_path`` is set
    instead of an address for graphics listening on a UNIX socket. The password, if any, is
    never kept: ``has_password`` only says that the client will be asked for one.
    """

    host_id: str
    vm_name: str
    domain_uuid: str
    kind: ConsoleKind
    route: ConsoleRoute
    address: str | None = None
    port: int | None = None
    socket_path: str | None = None
    listen: str | None = None
    autoport: bool = False
    tls_port: int | None = None
    has_password: bool = False
