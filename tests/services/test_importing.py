"""``virtumancer.import_vms``: a one-shot import into the database, without a server.

The CLI's ``import`` is this call; these checks read what it reports and what the database
then holds, and that a server opening the same database sees the VMs as managed.
"""

from __future__ import annotations

import pytest

from tests.conftest import NodeFactory
from virtumancer import InvalidInputError, NotFoundError, Virtumancer, import_vms
from virtumancer.services.importing import IMPORT_CHUNK, default_host_id

pytestmark = pytest.mark.anyio


async def test_progress_is_reported_per_step_and_a_server_sees_the_vms(
    database_url: str, test_node_factory: NodeFactory
) -> None:
    uri = f"test://{test_node_factory(domains=IMPORT_CHUNK + 5)}"
    steps: list[tuple[int, int]] = []
    result = await import_vms(
        uri, database_url=database_url, progress=lambda done, total: steps.append((done, total))
    )
    total = IMPORT_CHUNK + 5
    assert steps == [(0, total), (IMPORT_CHUNK, total), (total, total)]
    assert (result.host.id, result.host_added, len(result.imported)) == ("localhost", True, total)
    async with Virtumancer(database_url) as server:
        assert [host.id for host in await server.list_hosts()] == ["localhost"]
        assert len(await server.list_vms("localhost")) == total
        assert await server.list_discovered_vms("localhost") == []
    # Nothing left to do: the host is found by its URI, no step is taken.
    steps.clear()
    again = await import_vms(
        uri, database_url=database_url, progress=lambda done, total: steps.append((done, total))
    )
    assert (again.host_added, again.imported, steps) == (False, [], [(0, 0)])


async def test_an_unknown_name_writes_nothing(
    database_url: str, test_node_factory: NodeFactory
) -> None:
    uri = f"test://{test_node_factory(domains=3)}"
    with pytest.raises(NotFoundError, match="'nobody'"):
        await import_vms(uri, database_url=database_url, names=["guest-0000", "nobody"])
    with pytest.raises(InvalidInputError):
        await import_vms(uri, database_url=database_url, host_id="")
    async with Virtumancer(database_url) as server:
        assert await server.list_hosts() == []


def test_the_default_host_id_is_the_uris_host_name() -> None:
    assert default_host_id("qemu+ssh://admin@kvm1.example.net:2222/system") == "kvm1.example.net"
    assert default_host_id("qemu:///system") == "localhost"
    assert default_host_id("test:///default") == "localhost"
