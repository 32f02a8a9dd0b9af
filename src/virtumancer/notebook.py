"""How models look in a Jupyter notebook and at a Python prompt.

The models stay plain data: their ``__repr__`` and ``_repr_html_`` import this module on
first use and delegate here, so ``import virtumancer`` pays nothing for it and no rendering
code lives in ``models/``.

- :func:`text_line` -- one line per object (``<Domain 'web1' running, 2 vCPUs, 2 GiB ...>``),
  never a dump of every device.
- :func:`render_html` -- an HTML table for a model (its main fields and devices) or for a
  :class:`ModelList` (one row per object); Jupyter calls it through ``_repr_html_``.
- :class:`ModelList` -- a ``list`` that displays as a table; the sync facade's list calls
  return one. ``ModelList(await host.list_domains())`` does the same for the async API.
- :class:`LiveView` -- a table of a host's VMs and their stats that redraws itself from the
  host's events and periodic bulk stats while the kernel is idle (IPython display handle).

Every value is HTML-escaped: domain names and descriptions come from the hypervisor.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

from virtumancer.exceptions import VirtumancerError
from virtumancer.models._display import ModelList
from virtumancer.models.domain import Domain, DomainState

if TYPE_CHECKING:
    import asyncio

    from virtumancer.models.host import HostInfo
    from virtumancer.models.network import Network
    from virtumancer.models.stats import DomainRates, DomainStatsSample
    from virtumancer.models.storage import StoragePool, StorageVolume
    from virtumancer.pool import ConnectionPool

__all__ = [
    "LiveView",
    "ModelList",
    "format_bytes",
    "render_html",
    "render_live_table",
    "text_line",
]


_UNITS: Final = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_STATE_WORDS: Final = {
    DomainState.NOSTATE: "no state",
    DomainState.RUNNING: "running",
    DomainState.BLOCKED: "blocked",
    DomainState.PAUSED: "paused",
    DomainState.SHUTDOWN: "shutting down",
    DomainState.SHUTOFF: "shut off",
    DomainState.CRASHED: "crashed",
    DomainState.PMSUSPENDED: "suspended",
}
# Inline styles only: a notebook's HTML output has no stylesheet of ours.
_TABLE: Final = '<table class="virtumancer" style="border-collapse:collapse;text-align:left">'
_CELL: Final = 'style="padding:2px 8px;text-align:left"'


def format_bytes(value: int | None) -> str:
    """Return a size for people: ``2 GiB``, ``1.5 MiB``, ``512 B`` (``-`` for unknown)."""
    if value is None:
        return "-"
    size = float(value)
    for unit in _UNITS:
        if abs(size) < 1024 or unit == _UNITS[-1]:
            return f"{size:.0f} {unit}" if size == int(size) else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _state(state: DomainState | None) -> str:
    return "unknown" if state is None else _STATE_WORDS.get(state, str(state))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# --- one line of text -------------------------------------------------------------------


def _domain_line(domain: Domain) -> str:
    return (
        f"<Domain {domain.name!r} {_state(domain.state)}, {_plural(domain.vcpus, 'vCPU')}, "
        f"{format_bytes(domain.memory_bytes)}, {domain.uuid}>"
    )


def _host_line(info: HostInfo) -> str:
    node = info.node
    return (
        f"<HostInfo {node.hostname!r} {info.capabilities.arch}, {_plural(node.cpus, 'CPU')}, "
        f"{format_bytes(node.memory_bytes)}, {info.hypervisor_type} "
        f"{info.hypervisor_version}, libvirt {info.libvirt_version}>"
    )


def _pool_line(pool: StoragePool) -> str:
    return (
        f"<StoragePool {pool.name!r} {pool.state}, {pool.type}, "
        f"{format_bytes(pool.available_bytes)} free of {format_bytes(pool.capacity_bytes)}>"
    )


def _volume_line(volume: StorageVolume) -> str:
    return (
        f"<StorageVolume {volume.name!r} {volume.format or volume.type or '-'}, "
        f"{format_bytes(volume.capacity_bytes)}, {volume.path or '-'}>"
    )


def _network_line(network: Network) -> str:
    return (
        f"<Network {network.name!r} {'active' if network.active else 'inactive'}, "
        f"bridge {network.bridge or '-'}, forward {network.forward_mode or 'none'}>"
    )


def _kind(cls: type) -> str | None:
    """The key of a model class in the tables below.

    By name, not by class: the tables then need not import every model they can show, and a
    script that shows domains loads no storage, network or host models.
    """
    return cls.__qualname__ if cls.__module__.startswith("virtumancer.models.") else None


_LINES: Final[dict[str | None, Callable[[Any], str]]] = {
    "Domain": _domain_line,
    "HostInfo": _host_line,
    "StoragePool": _pool_line,
    "StorageVolume": _volume_line,
    "Network": _network_line,
}


def text_line(obj: object) -> str:
    """Return the one-line text of a model (``repr`` for anything else)."""
    line = _LINES.get(_kind(type(obj)))
    return line(obj) if line is not None else repr(obj)


# --- HTML -------------------------------------------------------------------------------

#: The columns of a list's table, per model: (heading, value).
_COLUMNS: Final[dict[str | None, tuple[tuple[str, Callable[[Any], object]], ...]]] = {
    "Domain": (
        ("name", lambda d: d.name),
        ("state", lambda d: _state(d.state)),
        ("vCPUs", lambda d: d.vcpus),
        ("memory", lambda d: format_bytes(d.memory_bytes)),
        ("disks", lambda d: len(d.devices.disks)),
        ("NICs", lambda d: len(d.devices.interfaces)),
        ("description", lambda d: d.description),
        ("uuid", lambda d: d.uuid),
    ),
    "StoragePool": (
        ("name", lambda p: p.name),
        ("state", lambda p: p.state),
        ("type", lambda p: p.type),
        ("capacity", lambda p: format_bytes(p.capacity_bytes)),
        ("free", lambda p: format_bytes(p.available_bytes)),
        ("path", lambda p: p.target_path or "-"),
    ),
    "StorageVolume": (
        ("name", lambda v: v.name),
        ("format", lambda v: v.format or v.type or "-"),
        ("capacity", lambda v: format_bytes(v.capacity_bytes)),
        ("allocated", lambda v: format_bytes(v.allocation_bytes)),
        ("path", lambda v: v.path or "-"),
    ),
    "Network": (
        ("name", lambda n: n.name),
        ("active", lambda n: "yes" if n.active else "no"),
        ("bridge", lambda n: n.bridge or "-"),
        ("forward", lambda n: n.forward_mode or "none"),
        ("autostart", lambda n: "yes" if n.autostart else "no"),
    ),
    "HostInfo": (
        ("hostname", lambda h: h.node.hostname),
        ("arch", lambda h: h.capabilities.arch),
        ("CPUs", lambda h: h.node.cpus),
        ("memory", lambda h: format_bytes(h.node.memory_bytes)),
        ("hypervisor", lambda h: f"{h.hypervisor_type} {h.hypervisor_version}"),
        ("libvirt", lambda h: h.libvirt_version),
    ),
}


def _cell(value: object, tag: str = "td") -> str:
    return f"<{tag} {_CELL}>{html.escape(str(value))}</{tag}>"


def _table(headings: Iterable[str], rows: Iterable[Iterable[object]], caption: str) -> str:
    head = "".join(_cell(heading, "th") for heading in headings)
    body = "".join(f"<tr>{''.join(_cell(value) for value in row)}</tr>" for row in rows)
    return (
        f"{_TABLE}<caption style='text-align:left'>{html.escape(caption)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _fields_table(obj: object, caption: str) -> str:
    columns = _COLUMNS[_kind(type(obj))]
    return _table(("field", "value"), ((name, value(obj)) for name, value in columns), caption)


def _domain_html(domain: Domain) -> str:
    parts = [_fields_table(domain, f"Domain {domain.name}")]
    devices = domain.devices
    if devices.disks:
        parts.append(
            _table(
                ("target", "device", "bus", "format", "source"),
                (
                    (
                        disk.target_dev,
                        disk.device,
                        disk.target_bus or "-",
                        disk.driver_type or "-",
                        disk.source_path or disk.source_volume or disk.source_name or "-",
                    )
                    for disk in devices.disks
                ),
                "disks",
            )
        )
    if devices.interfaces:
        parts.append(
            _table(
                ("type", "MAC", "source", "model"),
                (
                    (
                        nic.type,
                        nic.mac or "-",
                        nic.source_network or nic.source_bridge or nic.source_dev or "-",
                        nic.model or "-",
                    )
                    for nic in devices.interfaces
                ),
                "network interfaces",
            )
        )
    return "".join(parts)


def render_html(obj: object) -> str:
    """Return the HTML of a model, or of a list of models (a table with a row for each)."""
    if isinstance(obj, Domain):
        return _domain_html(obj)
    if _kind(type(obj)) in _COLUMNS:
        return _fields_table(obj, type(obj).__name__)
    if isinstance(obj, list | tuple):
        kinds = {type(item) for item in obj}
        if len(kinds) == 1 and _kind(kind := next(iter(kinds))) in _COLUMNS:
            columns = _COLUMNS[_kind(kind)]
            return _table(
                (name for name, _ in columns),
                ((value(item) for _, value in columns) for item in obj),
                f"{_plural(len(obj), kind.__name__)}",
            )
        if not obj:
            return f"{_TABLE}<caption>no items</caption></table>"
        return "".join(render_html(item) for item in obj)
    return f"<pre>{html.escape(repr(obj))}</pre>"


# --- a live view ------------------------------------------------------------------------


def _rate(value: float) -> str:
    return f"{format_bytes(round(value))}/s"


def render_live_table(
    domains: Iterable[Domain],
    samples: dict[str, DomainStatsSample],
    rates: dict[str, DomainRates],
    caption: str,
) -> str:
    """Return the live view's HTML: one row per VM with its state, memory and rates."""
    rows = []
    for domain in sorted(domains, key=lambda d: d.name):
        sample, rate = samples.get(domain.uuid), rates.get(domain.uuid)
        rows.append(
            (
                domain.name,
                _state(domain.state),
                domain.vcpus,
                format_bytes(sample.memory_bytes if sample else domain.current_memory_bytes),
                f"{rate.cpu_percent:.1f} %" if rate else "-",
                f"{_rate(rate.disk_read_bps)} / {_rate(rate.disk_write_bps)}" if rate else "-",
                f"{_rate(rate.net_rx_bps)} / {_rate(rate.net_tx_bps)}" if rate else "-",
            )
        )
    headings = ("name", "state", "vCPUs", "memory", "CPU", "disk read / write", "net rx / tx")
    return _table(headings, rows, caption)


class LiveView:
    """A live table of one host's VMs and their stats, in a notebook output.

        view = await LiveView.start(pool, "kvm1")   # shows the table, then follows the host
        ...
        await view.stop()

    It redraws when the host sends a libvirt event (a VM started, paused, defined ...) and
    every ``interval`` seconds with fresh stats (one bulk-stats call for all VMs), while the
    kernel is idle: the work is a task on the kernel's event loop, updating one display
    handle. Needs IPython (every notebook has it) and an open
    :class:`~virtumancer.ConnectionPool` (``await pool.open()``).
    """

    def __init__(self, pool: ConnectionPool, host_id: str, *, interval: float = 2.0) -> None:
        self.pool = pool
        self.host_id = host_id
        self.interval = interval
        #: The table as last drawn.
        self.html = ""
        self._handle: Any = None
        self._task: asyncio.Task[None] | None = None
        self._previous: dict[str, DomainStatsSample] = {}
        self._finished = 0
        # asyncio is imported where the live view uses it: SyncHost's tables need none.
        import asyncio

        self._changed = asyncio.Event()

    def __repr__(self) -> str:
        state = "following" if self._task is not None and not self._task.done() else "stopped"
        return f"<LiveView {self.host_id} {state}, {self._finished} updates>"

    def _repr_html_(self) -> str:
        return self.html

    @classmethod
    async def start(cls, pool: ConnectionPool, host_id: str, *, interval: float = 2.0) -> LiveView:
        """Draw the table in the current cell's output and follow the host from now on."""
        import asyncio

        from IPython.display import HTML, display

        view = cls(pool, host_id, interval=interval)
        await view.refresh()
        view._handle = display(HTML(view.html), display_id=True)  # type: ignore[no-untyped-call]
        view._task = asyncio.create_task(view._follow(), name=f"live view {host_id}")
        return view

    async def stop(self) -> None:
        """Stop following; the table keeps its last state."""
        import asyncio

        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def refresh(self) -> None:
        """Read the VMs and their stats now and redraw."""
        host = self.pool.get(self.host_id)
        try:
            domains = await host.list_domains()
            samples = {sample.domain_uuid: sample for sample in await host.bulk_stats()}
        except VirtumancerError as exc:
            self.html = _table(("error",), ((str(exc),),), f"{self.host_id}: unavailable")
        else:
            from virtumancer.rates import compute_rates

            rates = {
                uuid: compute_rates(self._previous[uuid], sample)
                for uuid, sample in samples.items()
                if uuid in self._previous
            }
            self._previous = samples
            self.html = render_live_table(
                domains, samples, rates, f"{self.host_id}: {_plural(len(domains), 'VM')}"
            )
        self._finished += 1
        if self._handle is not None:
            from IPython.display import HTML

            self._handle.update(HTML(self.html))  # type: ignore[no-untyped-call]
        self._changed.set()
        self._changed = type(self._changed)()

    async def wait_until(self, predicate: Callable[[str], bool]) -> str:
        """Wait until the drawn table satisfies ``predicate`` (given its HTML); return it.

        Bound it with ``asyncio.timeout(...)``: a table that never changes waits forever.
        """
        while not predicate(self.html):
            await self._changed.wait()
        return self.html

    async def _follow(self) -> None:
        import anyio

        async with self.pool.subscribe() as events:
            while True:
                # Redraw on this host's next event, or after ``interval`` without one.
                with anyio.move_on_after(self.interval):
                    async for event in events:
                        if event.host_id == self.host_id:
                            break
                await self.refresh()
