"""The one route table: every route of the service, one row per method.

A row says where the route is (``path``), who serves it (``resource``: ``"api"`` is the
generic endpoint of :mod:`virtumancer_server.resources.endpoint`, other names are the
WebSocket and page resources), which library method it calls (``call``), what it reads
(``request``, a type of :mod:`virtumancer_server.requests`; ``query``) and returns
(``response``, ``status``), the least role it needs (``role``), and what the OpenAPI document
says about it. ``create_app`` registers routes from this table, :mod:`.permissions` reads roles
from it and :mod:`.openapi` generates the document from it, so a new route costs one row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from virtumancer import (
    ActivityEvent,
    ApiToken,
    ClusterRecord,
    CreatedToken,
    DashboardOverview,
    DashboardStats,
    DeletePlan,
    DiscoveredVm,
    DiskAttachmentRecord,
    DomainDevices,
    HostPortRecord,
    HostRecord,
    HostVideoDeviceRecord,
    MetricsSettings,
    Network,
    NetworkRecord,
    PortAttachmentRecord,
    PortRecord,
    Readiness,
    Role,
    Snapshot,
    StoragePool,
    StoragePoolRecord,
    StorageVolume,
    StorageVolumeRecord,
    Task,
    TopologyLayout,
    VideoAttachmentRecord,
    VideoModelRecord,
    VmRecord,
)
from virtumancer_server.requests import (
    ActionRequest,
    CloneRequest,
    DiskAttachment,
    DomainUuids,
    MetricsSettingsChanges,
    NewHost,
    NewNetwork,
    NewSnapshot,
    NewStoragePool,
    NewToken,
    NewVm,
    NewVmXml,
    NewVolume,
    NicAttachment,
    VmChanges,
    VolumeCopy,
    VolumeSize,
)

__all__ = [
    "API_PREFIX",
    "METRICS_MEDIA_TYPE",
    "OUTSIDE_PREFIX",
    "ROUTES",
    "WEBSOCKET",
    "Route",
    "routes_by_path",
]

API_PREFIX: Final = "/api/v1"
#: The method name of a WebSocket upgrade in the table (its role column is the upgrade's).
WEBSOCKET: Final = "WEBSOCKET"

_V, _O, _A = Role.VIEWER, Role.OPERATOR, Role.ADMIN
#: Paths served outside ``/api/v1`` besides the WebSockets: where tools expect them.
OUTSIDE_PREFIX: Final = frozenset({"/metrics"})
#: The Prometheus exposition format (prometheus_client's CONTENT_TYPE_LATEST).
METRICS_MEDIA_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


@attrs.frozen(kw_only=True)
class Route:
    """One method of one route (see the module docstring for the columns)."""

    method: str
    path: str
    operation_id: str
    summary: str
    role: Role
    tag: str
    call: str | None = None
    request: type | None = None
    query: tuple[str, ...] = ()
    response: Any = None
    status: int = 200
    resource: str = "api"
    #: Statuses this route can answer besides 400/401/403/404/413/415 (derived from the rest).
    errors: tuple[int, ...] = ()
    #: Served without a token (the page/health); the role column then only documents intent.
    public: bool = False
    #: The status of :class:`~virtumancer.HostUnavailableError` here: the API document answers
    #: an unreachable host with 500 when it is being added or connected.
    unavailable_status: int = 503
    #: Response media type when not JSON.
    media_type: str = "application/json"

    @property
    def template(self) -> str:
        """The full URI template (``/api/v1/...``, or ``/ws``)."""
        outside = self.path.startswith("/ws") or self.path in OUTSIDE_PREFIX
        return self.path if outside else f"{API_PREFIX}{self.path}"


def _get(path: str, op: str, summary: str, response: Any, tag: str, **kw: Any) -> Route:
    return Route(
        method="GET",
        path=path,
        operation_id=op,
        summary=summary,
        role=kw.pop("role", _V),
        tag=tag,
        call=kw.pop("call", op),
        response=response,
        **kw,
    )


def _do(method: str, path: str, op: str, summary: str, role: Role, tag: str, **kw: Any) -> Route:
    return Route(
        method=method,
        path=path,
        operation_id=op,
        summary=summary,
        role=role,
        tag=tag,
        call=kw.pop("call", op),
        **kw,
    )


_H: Final = "/hosts/{host_id}"
_VM: Final = "/hosts/{host_id}/vms/{vm_name}"
_LIMIT: Final = ("limit",)

#: Every route. Reading is for viewers; power, imports and consoles for operators; hosts,
#: settings and tokens for admins.
ROUTES: Final[tuple[Route, ...]] = (
    # hosts
    _get("/hosts", "list_hosts", "List configured hosts", list[HostRecord], "hosts"),
    _do(
        "POST",
        "/hosts",
        "add_host",
        "Add a host, connect to it and store it",
        _A,
        "hosts",
        request=NewHost,
        response=HostRecord,
        errors=(409, 500),
        unavailable_status=500,
    ),
    _do("DELETE", _H, "remove_host", "Disconnect and remove a host", _A, "hosts", status=204),
    _do(
        "POST",
        f"{_H}/connect",
        "connect_host",
        "Connect a host (clears a user disconnect)",
        _A,
        "hosts",
        response=HostRecord,
        errors=(500,),
        unavailable_status=500,
    ),
    _do(
        "POST",
        f"{_H}/disconnect",
        "disconnect_host",
        "Disconnect a host and disable auto-reconnect",
        _A,
        "hosts",
        response=HostRecord,
    ),
    _get(
        f"{_H}/info",
        "get_host_info",
        "Live host information",
        "HostInfo",
        "hosts",
        call="host_info",
        errors=(503,),
    ),
    # VMs
    _get(f"{_H}/vms", "list_vms", "Managed VMs of a host", list[VmRecord], "vms"),
    _get(
        f"{_VM}/hardware",
        "get_vm_hardware",
        "A VM's hardware (fresh sync first)",
        DomainDevices,
        "vms",
        call="vm_hardware",
        errors=(503,),
    ),
    _do(
        "POST",
        f"{_VM}/action",
        "vm_action",
        "Apply a power action to a VM",
        _O,
        "vms",
        request=ActionRequest,
        status=204,
        errors=(409, 503),
    ),
    # VM lifecycle (operators: VMs; storage and network definitions would be admins')
    _do(
        "POST",
        f"{_H}/vms",
        "create_vm",
        "Create a VM from a spec (volumes, cloud-init seed, definition; start if asked)",
        _O,
        "vms",
        request=NewVm,
        query=("start",),
        response=VmRecord,
        status=201,
        errors=(409, 503),
    ),
    _do(
        "POST",
        f"{_H}/vms-from-xml",
        "define_vm_xml",
        "Define a VM from raw domain XML (checked by the parser before libvirt sees it)",
        _O,
        "vms",
        request=NewVmXml,
        response=VmRecord,
        status=201,
        errors=(409, 503),
    ),
    _do(
        "PATCH",
        _VM,
        "update_vm",
        "Change a VM's memory, vCPUs, description, autostart or CD-ROM media",
        _O,
        "vms",
        request=VmChanges,
        response=VmRecord,
        errors=(409, 503),
    ),
    _do(
        "DELETE",
        _VM,
        "delete_vm",
        "Delete a VM (force: a running one; delete_storage: its volumes too)",
        _O,
        "vms",
        query=("delete_storage", "force"),
        status=204,
        errors=(409, 503),
    ),
    _get(
        f"{_VM}/delete-plan",
        "get_delete_plan",
        "What deleting this VM would remove (volumes with delete_storage, NVRAM, snapshots)",
        DeletePlan,
        "vms",
        call="delete_plan",
        errors=(503,),
    ),
    _do(
        "POST",
        f"{_VM}/disks",
        "attach_disk",
        "Attach a disk (new volume, existing volume or path, overlay), live and/or defined",
        _O,
        "vms",
        request=DiskAttachment,
        response=VmRecord,
        errors=(409, 503),
    ),
    _do(
        "DELETE",
        f"{_VM}/disks/{{target}}",
        "detach_disk",
        "Detach a disk by guest device (vdb); its volume is kept",
        _O,
        "vms",
        query=("scope",),
        response=VmRecord,
        errors=(409, 503),
    ),
    _do(
        "POST",
        f"{_VM}/interfaces",
        "attach_interface",
        "Attach a NIC on a network or a bridge (a MAC is generated if none), live and/or defined",
        _O,
        "vms",
        request=NicAttachment,
        response=VmRecord,
        errors=(409, 503),
    ),
    _do(
        "DELETE",
        f"{_VM}/interfaces/{{mac}}",
        "detach_interface",
        "Detach the NIC with this MAC",
        _O,
        "vms",
        query=("scope",),
        response=VmRecord,
        errors=(409, 503),
    ),
    _do(
        "POST",
        f"{_VM}/clone",
        "clone_vm",
        "Clone a shut-off VM (overlays, or full copies) as a task; its result is the clone",
        _O,
        "vms",
        request=CloneRequest,
        response=Task,
        status=202,
        errors=(409, 503),
    ),
    # tasks
    _get("/tasks/{task_id}", "get_task", "A task: state, progress, result or error", Task, "tasks"),
    _do(
        "DELETE",
        "/tasks/{task_id}",
        "cancel_task",
        "Cancel a running task (what it made is removed)",
        _O,
        "tasks",
        response=Task,
        status=202,
        errors=(409,),
    ),
    # snapshots
    _get(
        f"{_VM}/snapshots",
        "list_snapshots",
        "A VM's snapshots as a tree, depth first (parent, children, depth)",
        list[Snapshot],
        "snapshots",
    ),
    _do(
        "POST",
        f"{_VM}/snapshots",
        "create_snapshot",
        "Take a snapshot (with the guest's memory when it runs, unless memory is false)",
        _O,
        "snapshots",
        request=NewSnapshot,
        response=Snapshot,
        status=201,
        errors=(409, 503),
    ),
    _do(
        "POST",
        f"{_VM}/snapshots/{{snapshot}}/revert",
        "revert_snapshot",
        "Revert a VM to a snapshot (disks, definition, memory if it holds any)",
        _O,
        "snapshots",
        response=VmRecord,
        errors=(409, 503),
    ),
    _do(
        "DELETE",
        f"{_VM}/snapshots/{{snapshot}}",
        "delete_snapshot",
        "Delete a snapshot (children: its descendants too); the names deleted",
        _O,
        "snapshots",
        query=("children",),
        response=list[str],
        errors=(409, 503),
    ),
    # discovered VMs
    _get(
        f"{_H}/discovered-vms",
        "list_discovered_vms",
        "Domains on the host not managed yet",
        list[DiscoveredVm],
        "discovered",
    ),
    _do(
        "DELETE",
        f"{_H}/discovered-vms",
        "dismiss_discovered_vms",
        "Dismiss discovered VMs",
        _O,
        "discovered",
        request=DomainUuids,
        status=202,
    ),
    _do(
        "POST",
        f"{_VM}/import",
        "import_vm",
        "Import one discovered VM",
        _O,
        "discovered",
        status=202,
        errors=(503,),
    ),
    _do(
        "POST",
        f"{_H}/vms/import-all",
        "import_all_vms",
        "Import every discovered VM",
        _O,
        "discovered",
        status=202,
        errors=(503,),
    ),
    _do(
        "POST",
        f"{_H}/vms/import-selected",
        "import_selected_vms",
        "Import discovered VMs by domain UUID",
        _O,
        "discovered",
        request=DomainUuids,
        status=202,
        errors=(503,),
    ),
    # consoles (WebSocket relays; a plain GET answers 426)
    _do(
        "POST",
        f"{_VM}/console-ticket",
        "create_console_ticket",
        "A single-use ticket for one console upgrade of this VM",
        _O,
        "consoles",
        call="console_target",
        resource="console_ticket",
        response="ConsoleTicket",
        status=201,
        errors=(409, 503),
    ),
    _do(
        "GET",
        f"{_VM}/console",
        "open_console",
        "WebSocket relay to the VM's first graphics console (VNC preferred)",
        _V,
        "consoles",
        call="console_target",
        resource="console",
        status=426,
    ),
    _do(
        WEBSOCKET,
        f"{_VM}/console",
        "open_console_ws",
        "Console upgrade",
        _O,
        "consoles",
        call="open_console",
        resource="console",
    ),
    _do(
        "GET",
        f"{_VM}/spice",
        "open_spice_console",
        "WebSocket relay to the VM's SPICE server",
        _V,
        "consoles",
        call="console_target",
        resource="spice",
        status=426,
    ),
    _do(
        WEBSOCKET,
        f"{_VM}/spice",
        "open_spice_console_ws",
        "SPICE upgrade",
        _O,
        "consoles",
        call="open_console",
        resource="spice",
    ),
    # storage, network, video inventory
    _get(
        "/storage/pools",
        "list_storage_pools",
        "All storage pools",
        list[StoragePoolRecord],
        "storage",
    ),
    _get(
        "/storage/volumes",
        "list_storage_volumes",
        "All storage volumes",
        list[StorageVolumeRecord],
        "storage",
    ),
    _get(
        "/storage/disk-attachments",
        "list_disk_attachments",
        "All disk attachments",
        list[DiskAttachmentRecord],
        "storage",
    ),
    _get(
        f"{_H}/storage/pools",
        "list_host_storage_pools",
        "A host's storage pools",
        list[StoragePoolRecord],
        "storage",
        call="list_storage_pools",
    ),
    _do(
        "POST",
        f"{_H}/storage/pools",
        "create_storage_pool",
        "Define and start a directory storage pool (its directory made if missing)",
        _A,
        "storage",
        request=NewStoragePool,
        response=StoragePool,
        status=201,
        errors=(409, 503),
    ),
    _do(
        "DELETE",
        f"{_H}/storage/pools/{{pool_name}}",
        "delete_storage_pool",
        "Delete a storage pool (delete_volumes: with its volumes); the volumes deleted",
        _A,
        "storage",
        query=("delete_volumes",),
        response=list[str],
        errors=(409, 503),
    ),
    _do(
        "POST",
        f"{_H}/storage/pools/{{pool_name}}/volumes",
        "create_volume",
        "Create a (sparse) volume in a pool",
        _O,
        "storage",
        request=NewVolume,
        response=StorageVolume,
        status=201,
        errors=(409, 503),
    ),
    _do(
        "POST",
        f"{_H}/storage/pools/{{pool_name}}/volumes/{{volume_name}}/copy",
        "copy_volume",
        "Copy a volume (the host copies) as a task; its result is the new volume",
        _O,
        "storage",
        request=VolumeCopy,
        response=Task,
        status=202,
        errors=(409, 503),
    ),
    _do(
        "PATCH",
        f"{_H}/storage/pools/{{pool_name}}/volumes/{{volume_name}}",
        "resize_volume",
        "Grow a volume (shrinking is refused: 409)",
        _O,
        "storage",
        request=VolumeSize,
        response=StorageVolume,
        errors=(409, 503),
    ),
    _do(
        "DELETE",
        f"{_H}/storage/pools/{{pool_name}}/volumes/{{volume_name}}",
        "delete_volume",
        "Delete a volume (409 while a VM uses it)",
        _O,
        "storage",
        status=204,
        errors=(409, 503),
    ),
    _get(
        f"{_H}/storage/volumes",
        "list_host_storage_volumes",
        "A host's storage volumes",
        list[StorageVolumeRecord],
        "storage",
        call="list_storage_volumes",
    ),
    _get("/networks", "list_networks", "All networks", list[NetworkRecord], "network"),
    _get("/ports", "list_ports", "All ports", list[PortRecord], "network"),
    _get(
        "/port-attachments",
        "list_port_attachments",
        "All port attachments",
        list[PortAttachmentRecord],
        "network",
    ),
    _get(
        f"{_H}/networks",
        "list_host_networks",
        "A host's networks",
        list[NetworkRecord],
        "network",
        call="list_networks",
    ),
    _do(
        "POST",
        f"{_H}/networks",
        "define_network",
        "Define a NAT network with a DHCP range (not started)",
        _A,
        "network",
        request=NewNetwork,
        response=Network,
        status=201,
        errors=(409, 503),
    ),
    _do(
        "POST",
        f"{_H}/networks/{{network_name}}/start",
        "start_network",
        "Start a network (DHCP needs dnsmasq on the host)",
        _A,
        "network",
        response=Network,
        errors=(409, 503),
    ),
    _do(
        "POST",
        f"{_H}/networks/{{network_name}}/stop",
        "stop_network",
        "Stop a network",
        _A,
        "network",
        response=Network,
        errors=(409, 503),
    ),
    _do(
        "DELETE",
        f"{_H}/networks/{{network_name}}",
        "delete_network",
        "Stop and undefine a network",
        _A,
        "network",
        status=204,
        errors=(409, 503),
    ),
    _get(f"{_H}/ports", "list_host_ports", "A host's ports", list[HostPortRecord], "network"),
    _get(
        f"{_VM}/port-attachments",
        "list_vm_port_attachments",
        "A VM's port attachments",
        list[PortAttachmentRecord],
        "network",
        call="list_port_attachments",
    ),
    _get("/video/models", "list_video_models", "Video models", list[VideoModelRecord], "video"),
    _get(
        f"{_H}/video/devices",
        "list_host_video_devices",
        "A host's physical video devices",
        list[HostVideoDeviceRecord],
        "video",
    ),
    _get(
        f"{_VM}/video-attachments",
        "list_vm_video_attachments",
        "A VM's video devices",
        list[VideoAttachmentRecord],
        "video",
        call="list_video_attachments",
    ),
    # dashboard and settings
    _get(
        "/dashboard/stats",
        "get_dashboard_stats",
        "Dashboard counters",
        DashboardStats,
        "dashboard",
        call="dashboard_stats",
    ),
    _get(
        "/dashboard/activity",
        "list_recent_activity",
        "Recent activity, newest first",
        list[ActivityEvent],
        "dashboard",
        call="recent_activity",
        query=_LIMIT,
    ),
    _get(
        "/dashboard/overview",
        "get_dashboard_overview",
        "Dashboard counters and recent activity",
        DashboardOverview,
        "dashboard",
        call="dashboard_overview",
        query=_LIMIT,
    ),
    _get(
        "/topology",
        "get_topology",
        "The network topology, laid out: hosts, VMs, links, positions and status",
        TopologyLayout,
        "dashboard",
        call="topology",
    ),
    _get(
        "/settings/metrics",
        "get_metrics_settings",
        "Persisted metrics settings",
        MetricsSettings,
        "settings",
    ),
    _do(
        "PUT",
        "/settings/metrics",
        "update_metrics_settings",
        "Merge and persist metrics settings; returns the result",
        _A,
        "settings",
        request=MetricsSettingsChanges,
        response=MetricsSettings,
    ),
    _get(
        "/settings/metrics/runtime",
        "get_runtime_metrics_settings",
        "Metrics settings in effect",
        MetricsSettings,
        "settings",
        call="runtime_metrics_settings",
    ),
    # service
    _get(
        "/cluster",
        "get_cluster",
        "The replicas of the fleet and the hosts each owns",
        ClusterRecord,
        "service",
        call="cluster",
    ),
    _get("/health", "get_health", "Health check", "Health", "service", call=None, public=True),
    _get(
        "/health/ready",
        "get_readiness",
        "Readiness: the database answers and (fleet) this replica owns its share of hosts",
        Readiness,
        "service",
        call="readiness",
        public=True,
        errors=(503,),
    ),
    _do(
        "POST",
        "/session",
        "create_session",
        "Set the session cookie WebSockets accept",
        _V,
        "service",
        call=None,
        status=204,
    ),
    _do(
        "DELETE",
        "/session",
        "delete_session",
        "Clear the session cookie",
        _V,
        "service",
        call=None,
        status=204,
    ),
    _get(
        "/metrics",
        "get_metrics",
        "Prometheus metrics: hosts, VMs (one bulk stats call per host), the service itself",
        "Metrics",
        "service",
        call="metrics_snapshot",
        media_type=METRICS_MEDIA_TYPE,
    ),
    _get(
        "/openapi.json", "get_openapi_document", "This document", "Document", "service", call=None
    ),
    _get(
        "/docs",
        "get_api_reference",
        "Interactive API reference (Swagger UI)",
        "Page",
        "service",
        call=None,
        public=True,
        media_type="text/html",
    ),
    # API tokens
    _get(
        "/tokens",
        "list_tokens",
        "List API tokens (never a secret)",
        list[ApiToken],
        "tokens",
        role=_A,
    ),
    _do(
        "POST",
        "/tokens",
        "create_token",
        "Create an API token; the 201 body holds its secret, shown only this once",
        _A,
        "tokens",
        request=NewToken,
        response=CreatedToken,
        status=201,
        errors=(409,),
    ),
    _do(
        "DELETE",
        "/tokens/{token_id}",
        "revoke_token",
        "Revoke an API token",
        _A,
        "tokens",
        status=204,
    ),
    # change notifications and live stats
    _do(
        "GET",
        "/ws",
        "open_event_stream",
        "WebSocket: change notifications and live VM statistics",
        _V,
        "websocket",
        call="subscribe_notifications",
        resource="ws",
        status=426,
    ),
    _do(
        WEBSOCKET,
        "/ws",
        "open_event_stream_ws",
        "Event stream upgrade",
        _V,
        "websocket",
        call="subscribe_notifications",
        resource="ws",
    ),
)


def routes_by_path() -> Mapping[str, tuple[Route, ...]]:
    """Return the table grouped by full URI template, in table order."""
    grouped: dict[str, list[Route]] = {}
    for route in ROUTES:
        grouped.setdefault(route.template, []).append(route)
    return {template: tuple(rows) for template, rows in grouped.items()}
