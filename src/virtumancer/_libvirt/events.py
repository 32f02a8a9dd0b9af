"""libvirt's event loop: libvirt's own poll loop in a daemon thread of its own.

Why not register ``libvirtaio`` on the caller's running loop, as its documentation shows?

1. libvirt accepts **one** event implementation per process, forever
   (``virEventRegisterImpl`` ignores later calls). Event loops, however, come and go: pytest's
   anyio plugin makes one per test, the sync facade runs none at all, a Jupyter kernel has
   another. Bound to the first loop, every connection opened after that loop closed would
   silently get no events, no keepalive and no close callback.
2. ``libvirtaio``'s handle/timeout functions touch the loop directly (``add_reader``,
   ``ensure_future``) and are not thread-safe, yet libvirt calls them from whatever thread runs
   a libvirt call -- in Virtumancer always a worker thread.

So :func:`ensure_event_loop` registers, once, libvirt's default implementation (C, ``poll``
based, thread-safe: any thread may add or remove a handle, the loop is woken through a pipe)
and starts a daemon thread that runs it. No asyncio is involved, so the blocking facade's
one-shot scripts never import it. It must run before the first connection is opened;
:mod:`virtumancer.pool` and :mod:`virtumancer.sync` call it. libvirt's callbacks (domain
events, close callbacks) therefore run on that thread; the pool forwards them to the loop it
runs on with ``call_soon_threadsafe``. Any number of pools on any number of loops,
sequentially or at once, share it. If the application registered an event implementation of
its own first, libvirt keeps it (it accepts only one) and our callbacks are delivered through
it. See ``docs/adr/0004-libvirt-event-loop-thread.md``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import libvirt

__all__ = ["ensure_event_loop", "event_loop_thread", "quiet_libvirt_errors"]

if TYPE_CHECKING:
    import logging


def _log() -> logging.Logger:
    # Only a failure logs here: a one-shot script that connects imports no logging.
    from virtumancer._logging import get_logger

    return get_logger(__name__)


_lock = threading.Lock()
_thread: threading.Thread | None = None
_registered = False


def _quiet_error_handler(_context: object, _error: object) -> None:
    # libvirt prints every error to stderr by default; we raise them as exceptions instead.
    return None


def _run_forever() -> None:
    while True:
        if libvirt.virEventRunDefaultImpl() < 0:
            _log().error("libvirt's event loop failed; events and keepalive stop")
            return


def quiet_libvirt_errors() -> None:
    """Stop libvirt printing each error to stderr (they are raised as exceptions instead).

    :func:`ensure_event_loop` does this too; a pool without events calls it alone.
    """
    libvirt.registerErrorHandler(_quiet_error_handler, None)


def ensure_event_loop() -> None:
    """Start libvirt's event loop thread and register it with libvirt, once per process.

    Idempotent and thread-safe; returns when the implementation is registered.
    """
    global _thread, _registered
    with _lock:
        if _registered:
            return
        _registered = True
        quiet_libvirt_errors()
        try:
            libvirt.virEventRegisterDefaultImpl()
        except libvirt.libvirtError:
            # The application registered its own implementation first; libvirt keeps it
            # and delivers our callbacks through it. Nothing for a thread of ours to run.
            _log().warning("libvirt already has an event loop; using the application's")
            return
        _thread = threading.Thread(
            target=_run_forever, name="virtumancer-libvirt-events", daemon=True
        )
        _thread.start()


def event_loop_thread() -> threading.Thread | None:
    """Return the libvirt event loop thread, or ``None`` before :func:`ensure_event_loop`."""
    return _thread
