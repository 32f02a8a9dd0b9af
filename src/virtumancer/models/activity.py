"""The activity feed's ``type`` words, apart from the records so pure rules can use them cheaply."""

from __future__ import annotations

__all__ = ["ActivityType"]


class ActivityType:
    """The ``type`` words of the activity feed."""

    HOST_ADDED = "host_added"
    HOST_REMOVED = "host_removed"
    HOST_CONNECTED = "host_connected"
    HOST_DISCONNECTED = "host_disconnected"
    HOST_LOST = "host_lost"
    VM_IMPORTED = "vm_imported"
    VM_STARTED = "vm_started"
    VM_STOPPED = "vm_stopped"
    VM_REBOOTED = "vm_rebooted"
    VM_CRASHED = "vm_crashed"
    VM_SUSPENDED = "vm_suspended"
    VM_RESUMED = "vm_resumed"
    VM_GONE = "vm_gone"
    VM_REMOVED = "vm_removed"
    VM_CREATED = "vm_created"
    VM_DELETED = "vm_deleted"
    VM_CHANGED = "vm_changed"
    VM_SNAPSHOT_CREATED = "vm_snapshot_created"
    VM_SNAPSHOT_REVERTED = "vm_snapshot_reverted"
    VM_SNAPSHOT_DELETED = "vm_snapshot_deleted"
    STORAGE_CHANGED = "storage_changed"
    NETWORK_CHANGED = "network_changed"
    TOKEN_CREATED = "token_created"  # noqa: S105 (an activity type)
    TOKEN_REVOKED = "token_revoked"  # noqa: S105 (an activity type)
