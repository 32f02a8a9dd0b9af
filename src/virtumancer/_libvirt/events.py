"""libvirt's event loop: libvirtaio on one process-wide asyncio loop in a thread of its own.

Why not register ``libvirtaio`` on the caller's running loop, as its documentation shows?

1. libvirt accepts **one** event implementation per process, forever
   (``virEventRegisterImpl`` ignores later calls). Event loops, however, come and go: pytest's
   anyio plugin makes one per test, the sync facade's blocking portal runs its own, a Jupyter
   kernel has another. Bound to the first loop, every connection opened after that loop closed
   would silently get no events, no keepalive and no close callback.
2. ``libvirtaio``'s handle/timeout functions touch the loop directly (``add_reader``,
   ``ensure_future``) and are not thread-safe, yet libvirt calls them from whatever thread runs
   a libvirt call -- in Virtumancer always a worker thread.

So :func:`ensure_event_loop` starts, once, a daemon thread running its own asyncio loop with a
``libvirtaio.virEventAsyncIOImpl`` on it, registered with libvirt through a thin adapter that
hands every call made from another thread over to that loop (non-blocking, in order, so a
libvirt lock held by the caller can never deadlock against the loop). It must run before the
first connection is opened; :mod:`virtumancer.pool` calls it when a pool is entered. libvirt's
callbacks (domain events, close callbacks) therefore run on that thread; the pool forwards
them to the loop it runs on with ``call_soon_threadsafe``. Any number of pools on any number
of loops, sequentially or at once, share it. If the application registered an event
implementation of its own first, libvirt keeps it (it accepts only one) and our callbacks are
delivered through it. See ``docs/adr/0004-libvirt-event-loop-thread.md``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

import libvirt
import libvirtaio

__all__ = ["ensure_event_loop", "event_loop_thread", "quiet_libvirt_errors"]

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_thread: threading.Thread | None = None


def _quiet_error_handler(_context: object, _error: object) -> None:
    # libvirt prints every error to stderr by default; we raise them as exceptions instead.
    return None


def quiet_libvirt_errors() -> None:
    """Stop libvirt printing each error to stderr (they are raised as exceptions instead).

    :func:`ensure_event_loop` does this too; a pool without events calls it alone.
    """
    libvirt.registerErrorHandler(_quiet_error_handler, None)


class _ThreadSafeAdapter:
    """Forward libvirt's six event-loop functions to a libvirtaio impl on its own loop."""

    def __init__(self, impl: libvirtaio.virEventAsyncIOImpl, loop: asyncio.AbstractEventLoop):
        self._impl = impl
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._ids = itertools.count(1)
        # our id -> libvirtaio's id; only touched on the loop thread
        self._map: dict[int, int] = {}

    def _on_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def add_handle(self, fd: int, event: int, cb: Any, opaque: Any) -> int:
        ident = next(self._ids)

        def add() -> None:
            self._map[ident] = self._impl._add_handle(fd, event, cb, opaque)

        self._on_loop(add)
        return ident

    def update_handle(self, watch: int, event: int) -> None:
        def update() -> None:
            if watch in self._map:
                self._impl._update_handle(self._map[watch], event)

        self._on_loop(update)

    def remove_handle(self, watch: int) -> int:
        def remove() -> None:
            if watch in self._map:
                self._impl._remove_handle(self._map.pop(watch))

        self._on_loop(remove)
        return 0

    def add_timeout(self, timeout: int, cb: Any, opaque: Any) -> int:
        ident = next(self._ids)

        def add() -> None:
            self._map[ident] = self._impl._add_timeout(timeout, cb, opaque)

        self._on_loop(add)
        return ident

    def update_timeout(self, timer: int, timeout: int) -> None:
        def update() -> None:
            if timer in self._map:
                self._impl._update_timeout(self._map[timer], timeout)

        self._on_loop(update)

    def remove_timeout(self, timer: int) -> int:
        def remove() -> None:
            if timer in self._map:
                self._impl._remove_timeout(self._map.pop(timer))

        self._on_loop(remove)
        return 0


def ensure_event_loop() -> None:
    """Start libvirt's event loop thread and register it with libvirt, once per process.

    Idempotent and thread-safe; returns when the implementation is registered.
    """
    global _thread
    with _lock:
        if _thread is not None:
            return
        quiet_libvirt_errors()
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            impl = libvirtaio.virEventAsyncIOImpl(loop=loop)
            adapter = _ThreadSafeAdapter(impl, loop)
            try:
                libvirt.virEventRegisterImpl(
                    adapter.add_handle,
                    adapter.update_handle,
                    adapter.remove_handle,
                    adapter.add_timeout,
                    adapter.update_timeout,
                    adapter.remove_timeout,
                )
            except RuntimeError:
                # The application registered its own implementation first; libvirt keeps it
                # and delivers our callbacks through it. Nothing for this thread to do.
                _log.warning("libvirt already has an event loop; using the application's")
                loop.close()
                ready.set()
                return
            ready.set()
            loop.run_forever()

        _thread = threading.Thread(target=run, name="virtumancer-libvirt-events", daemon=True)
        _thread.start()
        ready.wait()
        _log.debug("libvirt event loop thread started")


def event_loop_thread() -> threading.Thread | None:
    """Return the libvirt event loop thread, or ``None`` before :func:`ensure_event_loop`."""
    return _thread
