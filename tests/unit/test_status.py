"""The one status category: every domain and connection state, the colours, the payload."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.test_topology import _host, _inventory, _vm
from virtumancer import make_converter
from virtumancer.models.domain import ACTIVE_DOMAIN_STATES, DomainState, domain_status
from virtumancer.models.events import ConnectionState, host_status
from virtumancer.models.status import StatusCategory
from virtumancer.topology import build_topology, layout_topology

pytestmark = pytest.mark.unit

A, W, S, E = (
    StatusCategory.ACTIVE,
    StatusCategory.WARNING,
    StatusCategory.STOPPED,
    StatusCategory.ERROR,
)


@pytest.mark.parametrize(
    ("state", "category"),
    [
        (DomainState.NOSTATE, S),
        (DomainState.RUNNING, A),
        (DomainState.BLOCKED, A),
        (DomainState.PAUSED, W),
        (DomainState.SHUTDOWN, W),
        (DomainState.SHUTOFF, S),
        (DomainState.CRASHED, E),
        (DomainState.PMSUSPENDED, W),
    ],
)
def test_every_domain_state_has_its_category(state: DomainState, category: StatusCategory) -> None:
    assert state.status is category
    assert domain_status(int(state)) is category


def test_every_domain_state_is_covered_and_unknown_numbers_are_errors() -> None:
    assert {state.status for state in DomainState} == set(StatusCategory)
    assert domain_status(99) is E
    assert domain_status(-1) is E


def test_a_process_runs_exactly_in_the_active_and_warning_categories() -> None:
    assert {
        DomainState.RUNNING,
        DomainState.BLOCKED,
        DomainState.PAUSED,
        DomainState.SHUTDOWN,
        DomainState.PMSUSPENDED,
    } == ACTIVE_DOMAIN_STATES


@pytest.mark.parametrize(
    ("state", "category"),
    [
        (ConnectionState.CONNECTED, A),
        (ConnectionState.CONNECTING, W),
        (ConnectionState.DISCONNECTED, S),
        (ConnectionState.ERROR, E),
    ],
)
def test_every_connection_state_has_its_category(
    state: ConnectionState, category: StatusCategory
) -> None:
    assert state.status is category
    assert host_status(state.value) is category
    assert host_status(state.value.lower()) is category


def test_an_unknown_connection_word_is_an_error() -> None:
    assert host_status("WEIRD") is E


def test_colours_are_the_api_documents_legend() -> None:
    assert {c.value: c.color for c in StatusCategory} == {
        "active": "#10b981",
        "stopped": "#ef4444",
        "warning": "#f59e0b",
        "error": "#dc2626",
    }


def test_the_stylesheet_uses_the_same_colours_under_the_category_names() -> None:
    css = (
        Path(__file__).parents[2] / "src" / "virtumancer_server" / "static" / "app.css"
    ).read_text()
    for category in StatusCategory:
        found = re.search(rf"--{category.value}:\s*(#[0-9a-fA-F]{{6}})", css)
        assert found is not None, category
        assert found.group(1).lower() == category.color


def test_records_are_sent_with_their_status_and_raw_state() -> None:
    converter = make_converter()
    vm = converter.unstructure(_vm("h", "v", 3))
    host = converter.unstructure(_host("h", "CONNECTING"))
    assert (vm["state"], vm["status"]) == (3, "warning")
    assert (host["state"], host["status"]) == ("CONNECTING", "warning")


def test_topology_payload_has_positions_links_status_summary_and_legend() -> None:
    hosts, vms = _inventory()
    layout = layout_topology(build_topology(hosts, vms))
    payload = make_converter().unstructure(layout)
    assert (payload["width"], payload["height"]) == (layout.width, layout.height)
    assert [h["id"] for h in payload["hosts"]] == ["kvm1", "kvm2", "kvm3"]
    statuses = {n["id"]: (n["status"], n["color"]) for n in payload["hosts"] + payload["vms"]}
    assert statuses == {
        "kvm1": ("active", A.color),
        "kvm2": ("stopped", S.color),
        "kvm3": ("error", E.color),
        "kvm1/cache": ("warning", W.color),
        "kvm1/db": ("stopped", S.color),
        "kvm1/web": ("active", A.color),
        "kvm2/old": ("stopped", S.color),
    }
    placed = layout.node("kvm1/web")
    web = next(n for n in payload["vms"] if n["id"] == "kvm1/web")
    assert (web["x"], web["y"], web["host_id"]) == (
        round(placed.x, 1),
        round(placed.y, 1),
        "kvm1",
    )
    assert {"source": "kvm1", "target": "kvm1/web"} in payload["links"]
    assert len(payload["links"]) == 4
    assert payload["summary"] == {
        "hosts": {"total": 3, "active": 1, "warning": 0, "stopped": 1, "error": 1},
        "vms": {"total": 4, "active": 1, "warning": 1, "stopped": 2, "error": 0},
    }
    assert [row["status"] for row in payload["legend"]] == ["active", "warning", "stopped", "error"]
    assert all(row["color"] == StatusCategory(row["status"]).color for row in payload["legend"])
