"""The OpenAPI document is generated from the route table and the models: keep them agreeing.

A route in the table missing from the document, an enum that differs from its Python source,
an operation without ``operationId``/summary, or a real response that does not match its
generated schema fails here. ``test_a_generated_client_calls_the_real_server`` generates a
Python client (openapi-python-client) from the served document and uses it.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import falcon.testing
import jsonschema_rs
import pytest

from tests.server.conftest import ServerProcess
from virtumancer import (
    DISK_KINDS,
    ConnectionState,
    ConsoleKind,
    MetricsSettings,
    PowerAction,
    Role,
)
from virtumancer.models.settings import (
    CPU_SMOOTHING_WINDOW_RANGE,
    CPU_VIEWS,
    MEMORY_DISPLAY_UNITS,
    STATS_INTERVAL_RANGE,
)
from virtumancer_server.openapi import openapi_document
from virtumancer_server.routes import API_PREFIX, ROUTES, WEBSOCKET

Conductor = falcon.testing.ASGIConductor
AUTH = {"Authorization": "Bearer test-token-0123456789"}

pytestmark = [pytest.mark.anyio]


def _operations() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            if method != "servers":
                found[(method.upper(), path)] = operation
    return found


def test_every_route_of_the_table_is_documented() -> None:
    operations = _operations()
    for route in ROUTES:
        if route.method == WEBSOCKET:
            # Upgrades are described on the path's GET (the plain GET answers 426).
            assert ("GET", route.path) in operations, route
            assert "x-websocket" in operations[("GET", route.path)]
            continue
        assert (route.method, route.path) in operations, f"{route.method} {route.path}"
    assert len(operations) == sum(1 for route in ROUTES if route.method != WEBSOCKET)


def test_every_operation_has_an_operation_id_and_a_summary() -> None:
    ids = [operation["operationId"] for operation in _operations().values()]
    assert len(ids) == len(set(ids))
    for operation in _operations().values():
        assert operation["operationId"].isidentifier()
        assert operation["summary"]
        assert operation["x-required-role"] in {role.value for role in Role}


@pytest.mark.parametrize("enum_type", [PowerAction, Role, ConnectionState, ConsoleKind])
def test_enums_are_the_python_enums(enum_type: Any) -> None:
    schemas = openapi_document()["components"]["schemas"]
    assert schemas[enum_type.__name__]["enum"] == [member.value for member in enum_type]


def test_the_documented_actions_are_every_power_action() -> None:
    schemas = openapi_document()["components"]["schemas"]
    action = schemas["ActionRequest"]["properties"]["action"]
    assert action["$ref"] == "#/components/schemas/PowerAction"
    assert len(schemas["PowerAction"]["enum"]) == len(PowerAction) == 7
    assert schemas["HostRecord"]["properties"]["state"]["$ref"].endswith("/ConnectionState")


@pytest.mark.parametrize("name", ["MetricsSettings", "MetricsSettingsChanges"])
def test_settings_choices_and_ranges_come_from_the_library(name: str) -> None:
    props = openapi_document()["components"]["schemas"][name]["properties"]
    assert props["memory_display_unit"]["enum"] == list(MEMORY_DISPLAY_UNITS)
    assert props["default_cpu_view"]["enum"] == list(CPU_VIEWS)
    window, interval = props["cpu_smoothing_window"], props["stats_interval_seconds"]
    assert (window["minimum"], window["maximum"]) == CPU_SMOOTHING_WINDOW_RANGE
    assert (interval["minimum"], interval["maximum"]) == STATS_INTERVAL_RANGE
    assert interval["x-unit"] == "s"


def test_units_are_documented() -> None:
    schemas = openapi_document()["components"]["schemas"]
    assert schemas["VmRecord"]["properties"]["memory_bytes"]["x-unit"] == "bytes"
    stats = schemas["VmStats"]["properties"]
    assert stats["memory"]["x-unit"] == stats["max_mem"]["x-unit"] == "KiB"


def test_websocket_messages_and_console_routes_are_described() -> None:
    document = openapi_document()
    ws = document["paths"]["/ws"]
    assert ws["servers"] == [{"url": "/", "description": "outside /api/v1"}]
    messages = ws["get"]["x-websocket"]
    assert messages["clientMessages"]["$ref"].endswith("/WsClientMessage")
    assert messages["serverMessages"]["$ref"].endswith("/WsServerMessage")
    schemas = document["components"]["schemas"]
    client_types = {m["properties"]["type"]["const"] for m in schemas["WsClientMessage"]["oneOf"]}
    server_types = {m["properties"]["type"]["const"] for m in schemas["WsServerMessage"]["oneOf"]}
    assert client_types == {"subscribe-vm-stats", "unsubscribe-vm-stats"}
    assert server_types == {"hosts-changed", "vms-changed", "vm-stats-updated", "error"}
    vm = "/hosts/{host_id}/vms/{vm_name}"
    for path in (f"{vm}/console", f"{vm}/spice"):
        assert "426" in document["paths"][path]["get"]["responses"]
    assert "201" in document["paths"][f"{vm}/console-ticket"]["post"]["responses"]


def test_renamed_fields_are_documented_under_their_json_names() -> None:
    hardware = openapi_document()["components"]["schemas"]["DomainDevices"]["properties"]
    assert "networks" in hardware
    assert "interfaces" not in hardware


def _validator(schema: dict[str, Any]) -> Any:
    document = openapi_document()
    wrapped = {**schema, "components": document["components"]}
    return jsonschema_rs.validator_for(wrapped)


def test_disk_variants_carry_their_kind_as_a_discriminator() -> None:
    schemas = openapi_document()["components"]["schemas"]
    for kind, cls in DISK_KINDS.items():
        variant = schemas[cls.__name__]
        assert variant["properties"]["kind"] == {"type": "string", "const": kind}
        assert "kind" in variant["required"]
    expected = {kind: f"#/components/schemas/{cls.__name__}" for kind, cls in DISK_KINDS.items()}
    attach = schemas["DiskAttachment"]["properties"]["disk"]
    spec_disks = schemas["NewVm"]["properties"]["disks"]["items"]
    for union in (attach, spec_disks):
        assert union["discriminator"] == {"propertyName": "kind", "mapping": expected}
        assert [option["$ref"] for option in union["oneOf"]] == list(expected.values())
    # Each body the server takes matches exactly one variant; a body of one kind with
    # another's tag matches none.
    bodies: dict[str, dict[str, object]] = {
        "new_volume": {"kind": "new_volume", "pool": "p", "size_bytes": 1 << 30},
        "existing_volume": {"kind": "existing_volume", "pool": "p", "volume": "v"},
        "existing_path": {"kind": "existing_path", "path": "/x.img"},
        "overlay": {"kind": "overlay", "pool": "p", "base_path": "/base.qcow2"},
    }
    assert set(bodies) == set(DISK_KINDS)
    check = _validator(attach)
    for body in bodies.values():
        check.validate(body)
    assert not check.is_valid({**bodies["existing_path"], "kind": "new_volume"})
    assert not check.is_valid({"pool": "p", "size_bytes": 1 << 30})


@pytest.mark.libvirt
@pytest.mark.parametrize(
    ("path", "operation"),
    [
        ("/hosts", "list_hosts"),
        ("/hosts/demo/vms", "list_vms"),
        ("/hosts/demo/info", "get_host_info"),
        ("/hosts/demo/vms/web-01/hardware", "get_vm_hardware"),
        ("/settings/metrics", "get_metrics_settings"),
        ("/dashboard/overview", "get_dashboard_overview"),
        ("/tokens", "list_tokens"),
        ("/storage/pools", "list_storage_pools"),
        ("/hosts/demo/discovered-vms", "list_discovered_vms"),
        ("/hosts/demo/vms/web-01/delete-plan", "get_delete_plan"),
    ],
)
async def test_real_responses_match_the_generated_schemas(
    client: Conductor, path: str, operation: str
) -> None:
    (found,) = [op for op in _operations().values() if op["operationId"] == operation]
    schema = found["responses"]["200"]["content"]["application/json"]["schema"]
    result = await client.simulate_get(f"{API_PREFIX}{path}", headers=AUTH)
    assert result.status_code == 200, result.text
    _validator(schema).validate(result.json)


@pytest.mark.libvirt
async def test_a_created_token_matches_its_schema(client: Conductor) -> None:
    (found,) = [op for op in _operations().values() if op["operationId"] == "create_token"]
    schema = found["responses"]["201"]["content"]["application/json"]["schema"]
    result = await client.simulate_post(
        f"{API_PREFIX}/tokens", headers=AUTH, json={"name": "schema", "role": "viewer"}
    )
    assert result.status_code == 201, result.text
    _validator(schema).validate(result.json)


@pytest.mark.libvirt
async def test_the_api_reference_page_loads_without_a_token(client: Conductor) -> None:
    page = await client.simulate_get(f"{API_PREFIX}/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "//cdn" not in page.text
    assert "https://" not in page.text
    bundle = await client.simulate_get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    # The document it shows still needs a token.
    assert (await client.simulate_get(f"{API_PREFIX}/openapi.json")).status_code == 401


def test_the_vendored_swagger_ui_carries_its_license_and_pin() -> None:
    vendor = Path(__file__).parents[2] / "src/virtumancer_server/static/vendor/swagger-ui"
    assert (vendor / "LICENSE").is_file()
    assert (vendor / "VERSION").read_text().startswith("swagger-ui-dist ")


def test_the_settings_model_fields_carry_their_limits() -> None:
    # The one source the document and the request type read.
    fields = {field.name: field for field in MetricsSettings.__attrs_attrs__}
    assert fields["cpu_smoothing_window"].metadata["openapi"]["minimum"] == 1


@pytest.mark.libvirt
def test_a_generated_client_calls_the_real_server(
    server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generator = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    if generator is None:
        pytest.skip("openapi-python-client is not installed (test dependency group)")
    with server.client() as http:
        (tmp_path / "openapi.json").write_text(http.get("/openapi.json").text)
    done = subprocess.run(
        [
            generator,
            "generate",
            "--path",
            "openapi.json",
            "--meta",
            "none",
            "--output-path",
            "vmclient",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    monkeypatch.syspath_prepend(str(tmp_path))
    api = importlib.import_module("vmclient.api")
    modules = {path.stem for path in Path(str(api.__file__)).parent.rglob("*.py")}
    # Readable method names, from the operation ids.
    assert {"list_hosts", "vm_action", "list_vms", "create_token", "get_vm_hardware"} <= modules
    client_module = importlib.import_module("vmclient")
    client = client_module.AuthenticatedClient(
        base_url=f"{server.url}{API_PREFIX}", token=server.headers["Authorization"][7:]
    )
    with client:
        list_hosts = importlib.import_module("vmclient.api.hosts.list_hosts")
        hosts = list_hosts.sync(client=client)
        assert hosts is not None
        assert [host.id for host in hosts] == ["demo"]
        assert str(hosts[0].state.value) == ConnectionState.CONNECTED.value
        vm_action = importlib.import_module("vmclient.api.vms.vm_action")
        models = importlib.import_module("vmclient.models")
        response = vm_action.sync_detailed(
            "demo",
            "web-01",
            client=client,
            body=models.ActionRequest(action=models.PowerAction.SUSPEND),
        )
        assert response.status_code == 204, response.content
        resumed = vm_action.sync_detailed(
            "demo",
            "web-01",
            client=client,
            body=models.ActionRequest(action=models.PowerAction("resume")),
        )
        assert resumed.status_code == 204, resumed.content
