"""A console password is known to be there, and never leaves libvirt through us."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import NodeFactory
from tests.pool._support import test_pool

pytestmark = pytest.mark.anyio

SECRET = "s3cr3tpw"


@pytest.fixture
def node_with_password(test_node_factory: NodeFactory) -> str:
    path: Path = test_node_factory(domains=2)
    text = path.read_text().replace(
        "<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>",
        f"<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1' passwd='{SECRET}'/>",
        1,
    )
    path.write_text(text)
    return f"test://{path}"


async def test_password_presence_is_seen_but_its_value_is_not_kept(
    node_with_password: str,
) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("h", node_with_password)
        domains = sorted(await host.list_domains(), key=lambda d: d.name)
        assert [d.devices.graphics[0].has_password for d in domains] == [True, False]
        single = await host.get_domain(domains[0].name)
        assert single.devices.graphics[0].has_password
        listing = await host.list_domains_with_xml()
        for shown in (repr(domains), repr(single), repr(listing)):
            assert SECRET not in shown
        # The XML handed out by the public method is libvirt's non-secure form.
        assert SECRET.encode() not in await host.domain_xml(domains[0].name)
