"""A small app that mounts only the console routes over a minimal manager, for uvicorn.

Used by the console tests when the full service (``create_app`` over ``Virtumancer``) cannot
serve a guest yet. Hosts come from ``VMT_CONSOLE_HOSTS`` (JSON ``{host_id: uri}``), the token
from ``VMT_CONSOLE_TOKEN``. Domain XML is read with ``virsh`` -- the real libvirt, over the
host's own URI (so ``qemu+ssh`` goes through SSH).
"""

from __future__ import annotations

import json
import os
import subprocess
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal

import anyio
import anyio.abc
import attrs
import falcon.asgi

from virtumancer import Domain, DomainState, NotFoundError, parse_domain
from virtumancer.models.console import ConsoleTarget
from virtumancer.services.console import open_console_stream, resolve_console_target
from virtumancer.testing import virsh
from virtumancer_server.auth import AuthMiddleware
from virtumancer_server.config import ServerConfig
from virtumancer_server.console import STATIC_DIR, add_routes
from virtumancer_server.errors import install_error_handlers
from virtumancer_server.upgrade import App


class VirshHost:
    """A host seen through ``virsh``: enough of :class:`HostPool` for consoles."""

    def __init__(self, host_id: str, uri: str) -> None:
        self.host_id = host_id
        self.uri = uri

    async def get_domain(self, name_or_uuid: str) -> Domain:
        def read() -> Domain:
            xml = virsh(self.uri, "dumpxml", "--security-info", name_or_uuid)
            state = virsh(self.uri, "domstate", name_or_uuid).strip()
            running = DomainState.RUNNING if state == "running" else DomainState.SHUTOFF
            return attrs.evolve(parse_domain(xml), state=running)

        try:
            return await anyio.to_thread.run_sync(read)
        except subprocess.CalledProcessError as exc:
            raise NotFoundError(
                "no such VM", host_id=self.host_id, vm_name=name_or_uuid, code="vm_not_found"
            ) from exc


class ConsoleOnlyManager:
    """The two console calls of the facade, over :class:`VirshHost` hosts."""

    def __init__(self, hosts: dict[str, str]) -> None:
        self._hosts = {host_id: VirshHost(host_id, uri) for host_id, uri in hosts.items()}

    def _host(self, host_id: str) -> VirshHost:
        try:
            return self._hosts[host_id]
        except KeyError:
            raise NotFoundError("no such host", host_id=host_id) from None

    async def console_target(
        self, host_id: str, vm_name: str, kind: Literal["vnc", "spice"] | None = None
    ) -> ConsoleTarget:
        return await resolve_console_target(self._host(host_id), vm_name, kind)

    def open_console(
        self, target: ConsoleTarget
    ) -> AbstractAsyncContextManager[anyio.abc.ByteStream]:
        return open_console_stream(self._host(target.host_id), target)


def make_app() -> falcon.asgi.App[Any, Any]:
    """Build the console-only app from the environment."""
    hosts = json.loads(os.environ["VMT_CONSOLE_HOSTS"])
    config = ServerConfig(
        token=os.environ["VMT_CONSOLE_TOKEN"],
        console_ticket_ttl=ServerConfig.console_ticket_ttl_from_env(),
    )
    app: falcon.asgi.App[Any, Any] = App(middleware=[AuthMiddleware(config)])
    install_error_handlers(app)
    app.add_static_route("/static", str(STATIC_DIR))
    add_routes(app, ConsoleOnlyManager(hosts), config)
    return app


def make_full_app() -> falcon.asgi.App[Any, Any]:
    """Build the whole service (``create_app`` over ``Virtumancer``) from the environment."""
    from virtumancer_server.app import create_app

    config = ServerConfig(
        token=os.environ["VMT_CONSOLE_TOKEN"],
        database_url=os.environ["VMT_CONSOLE_DB"],
        console_ticket_ttl=ServerConfig.console_ticket_ttl_from_env(),
    )
    return create_app(config)


class FixedTargetManager:
    """Console calls that always lead to one TCP port on loopback (a stand-in graphics server)."""

    def __init__(self, port: int) -> None:
        from virtumancer.models.console import ConsoleKind, ConsoleRoute

        self._host = VirshHost("fixed", "qemu:///system")
        self._target = ConsoleTarget(
            host_id="fixed",
            vm_name="source",
            domain_uuid="00000000-0000-4000-8000-000000000000",
            kind=ConsoleKind.VNC,
            route=ConsoleRoute.LOCAL,
            address="127.0.0.1",
            port=port,
            listen="127.0.0.1",
        )

    async def console_target(
        self, host_id: str, vm_name: str, kind: Literal["vnc", "spice"] | None = None
    ) -> ConsoleTarget:
        return self._target

    def open_console(
        self, target: ConsoleTarget
    ) -> AbstractAsyncContextManager[anyio.abc.ByteStream]:
        return open_console_stream(self._host, target)


def make_fixed_target_app() -> falcon.asgi.App[Any, Any]:
    """Build the console routes aimed at ``127.0.0.1:VMT_FIXED_PORT`` for every VM name."""
    config = ServerConfig(
        token=os.environ["VMT_CONSOLE_TOKEN"],
        console_ticket_ttl=ServerConfig.console_ticket_ttl_from_env(),
    )
    app: falcon.asgi.App[Any, Any] = App(middleware=[AuthMiddleware(config)])
    install_error_handlers(app)
    add_routes(app, FixedTargetManager(int(os.environ["VMT_FIXED_PORT"])), config)
    return app
