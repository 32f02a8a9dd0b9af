"""Fixtures of the repository tests: one fresh database per test, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from lxml import etree

from tests.conftest import fresh_database
from virtumancer._xml import parse_domain, parse_network, parse_storage_pool
from virtumancer.db import Database
from virtumancer.models import Domain, DomainState, Network, StoragePool, StorageVolume
from virtumancer.testing import make_test_node_xml


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'virtumancer.db'}")
        db.migrate_sync()
        yield db
        db.engine.dispose()
        return
    with fresh_database(request.getfixturevalue("postgres_url")) as url:
        db = Database(url)
        db.migrate_sync()
        try:
            yield db
        finally:
            db.engine.dispose()


@attrs.frozen
class ParsedNode:
    """What a test-driver node describes, parsed as the pool would return it."""

    domains: tuple[Domain, ...]
    pools: tuple[StoragePool, ...]
    volumes: tuple[StorageVolume, ...]
    networks: tuple[Network, ...]


def parse_test_node(xml: str) -> ParsedNode:
    """Parse a ``make_test_node_xml`` document into models (shut off unless running)."""
    root = etree.fromstring(xml.encode())
    domains = []
    for element in root.findall("domain"):
        runstate = element.find("{http://libvirt.org/schemas/domain/test/1.0}runstate")
        state = DomainState.SHUTOFF if runstate is not None else DomainState.RUNNING
        domain = parse_domain(etree.tostring(element))
        domains.append(attrs.evolve(domain, state=state, persistent=True, autostart=False))
    pools = []
    volumes = []
    for element in root.findall("pool"):
        volume_elements = element.findall("volume")
        for volume_element in volume_elements:
            element.remove(volume_element)
        pool = parse_storage_pool(etree.tostring(element))
        pools.append(attrs.evolve(pool, state="running"))
        for volume_element in volume_elements:
            capacity = int(volume_element.findtext("capacity") or 0)
            allocation = int(volume_element.findtext("allocation") or 0)
            volumes.append(
                StorageVolume(
                    key=volume_element.findtext("key"),
                    name=volume_element.findtext("name") or "",
                    path=volume_element.findtext("target/path"),
                    type="file",
                    format="qcow2",
                    capacity_bytes=capacity,
                    allocation_bytes=allocation,
                    pool_name=pool.name,
                )
            )
    networks = [
        attrs.evolve(parse_network(etree.tostring(element)), active=True)
        for element in root.findall("network")
    ]
    return ParsedNode(tuple(domains), tuple(pools), tuple(volumes), tuple(networks))


@pytest.fixture
def node() -> ParsedNode:
    """A parsed node: 20 domains (10 running), 2 pools of 3 volumes, 2 networks."""
    return parse_test_node(make_test_node_xml(domains=20, prefix="vmt-db-"))
