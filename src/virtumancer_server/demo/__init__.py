"""The demo host: libvirt's test driver with a node file shipped in this package.

``virtumancer serve --demo`` adds it once (host id ``demo``) and imports its VMs, so a new user
sees a populated API at once. The node holds running and shut-off VMs, two storage pools with
volumes and two networks; nothing on the machine is touched (the test driver lives in memory).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    # Only an annotation: importing the facade would pull the database stack into every
    # CLI call (the config module imports this one).
    from virtumancer import Virtumancer

__all__ = ["DEMO_HOST_ID", "DEMO_NODE_PATH", "demo_uri", "ensure_demo_host"]

DEMO_HOST_ID: Final = "demo"
DEMO_NODE_PATH: Final = Path(__file__).resolve().parent / "node.xml"


def demo_uri() -> str:
    """Return the ``test:///...`` URI of the shipped demo node."""
    return f"test://{DEMO_NODE_PATH.as_posix()}"


async def ensure_demo_host(manager: Virtumancer) -> bool:
    """Add the demo host and import its VMs unless a host ``demo`` exists; return if added."""
    if any(host.id == DEMO_HOST_ID for host in await manager.list_hosts()):
        return False
    await manager.add_host(DEMO_HOST_ID, demo_uri())
    await manager.import_all_vms(DEMO_HOST_ID)
    return True
