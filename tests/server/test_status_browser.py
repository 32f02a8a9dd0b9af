"""One status category on every screen: counters, VM badges and topology nodes agree.

A host built from the demo node with one guest paused (two running, one paused, three shut
off) is added to ``virtumancer serve``; headless Chromium renders the dashboard, the host page
and the topology diagram, and the test reads the DOM each one produced.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests._browser import dump_dom
from tests.server.conftest import ServerFactory, ServerProcess
from virtumancer.models.status import StatusCategory
from virtumancer_server.demo import DEMO_NODE_PATH

pytestmark = [pytest.mark.browser, pytest.mark.libvirt]

STATIC = Path(__file__).parents[2] / "src" / "virtumancer_server" / "static"
EXPECTED = {
    "web-01": "active",
    "web-02": "active",
    "db-01": "warning",
    "build-runner": "stopped",
    "win-desktop": "stopped",
    "old-backup": "stopped",
}


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside ``data-count`` elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.counts: dict[str, str] = {}
        self._count: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        self._count = attributes.get("data-count")

    def handle_data(self, data: str) -> None:
        if self._count is not None and data.strip():
            self.counts[self._count] = data.strip()
            self._count = None


def _page(server: ServerProcess, tmp_path: Path, route: str) -> _Elements:
    html = dump_dom(
        f"{server.url}/#token={server.token}&next={route}",
        tmp_path / f"profile-{route.strip('/').replace('/', '-') or 'home'}",
    )
    parsed = _Elements()
    parsed.feed(html)
    return parsed


def _paused_demo_node(tmp_path: Path) -> Path:
    text = DEMO_NODE_PATH.read_text()
    start = text.index("<name>db-01</name>")
    end = text.index("</domain>", start)
    node = tmp_path / "paused-node.xml"
    node.write_text(f"{text[:end]}<test:runstate>3</test:runstate>\n  {text[end:]}")
    return node


@pytest.fixture
def paused_server(server_factory: ServerFactory, tmp_path: Path) -> ServerProcess:
    server = server_factory(demo=False)
    with server.client() as client:
        uri = f"test://{_paused_demo_node(tmp_path)}"
        client.post("/hosts", json={"id": "demo", "uri": uri}).raise_for_status()
        client.post("/hosts/demo/vms/import-all").raise_for_status()
        deadline = time.monotonic() + 60
        while len(client.get("/hosts/demo/vms").json()) < len(EXPECTED):
            assert time.monotonic() < deadline, "the demo VMs were never imported"
            time.sleep(0.2)
    return server


def test_counters_badges_and_topology_nodes_show_one_status(
    paused_server: ServerProcess, tmp_path: Path
) -> None:
    want = Counter(EXPECTED.values())
    dashboard = _page(paused_server, tmp_path, "/")
    assert dashboard.counts == {
        "hosts-total": "1",
        "hosts-active": "1",
        "vms-total": "6",
        "vms-active": str(want["active"]),
        "vms-warning": str(want["warning"]),
        "vms-stopped": str(want["stopped"]),
        "vms-error": "0",
    }

    host = _page(paused_server, tmp_path, "/hosts/demo")
    badges: dict[str, str] = {}
    row: str | None = None
    for tag, attributes in host.tags:
        if tag == "tr" and "data-vm-key" in attributes:
            row = attributes["data-vm-key"].split("/", 1)[1]
        elif tag == "span" and "badge" in attributes.get("class", "") and row is not None:
            badges[row] = attributes["data-status"]
            row = None
    assert badges == EXPECTED

    diagram = _page(paused_server, tmp_path, "/topology/diagram")
    nodes: dict[str, tuple[str, str]] = {}
    current: str | None = None
    for tag, attributes in diagram.tags:
        if tag == "g" and "node" in attributes.get("class", "").split():
            current = attributes["data-id"]
            status = attributes["data-status"]
        elif tag == "circle" and current is not None:
            nodes[current] = (status, attributes["fill"])
            current = None
    colour = {category.value: category.color for category in StatusCategory}
    assert nodes == {
        "demo": ("active", colour["active"]),
        **{f"demo/{name}": (status, colour[status]) for name, status in EXPECTED.items()},
    }
    # The topology page shows the same counters as the dashboard.
    assert diagram.counts == dashboard.counts


def test_the_browser_holds_no_layout_and_no_state_table() -> None:
    scripts = {path.name: path.read_text() for path in STATIC.glob("*.js")}
    for name, text in scripts.items():
        # The layout (trigonometry) is computed by virtumancer.topology only.
        assert not re.search(r"Math\.(cos|sin|atan2?|PI)\b", text), name
        # Which states are active comes from the server's ``status``, not a number test.
        assert not re.search(r"\.state\s*===?\s*\d", text), name
    for category in StatusCategory:
        assert category.color not in scripts["app.js"] + scripts["topology.js"]
