"""The one place where ``libvirtError`` becomes a Virtumancer exception, by error code."""

from __future__ import annotations

import libvirt

from virtumancer.exceptions import (
    ConflictError,
    ConnectionLostError,
    HostUnavailableError,
    InvalidInputError,
    NotFoundError,
    OperationTimeoutError,
    VirtumancerError,
)

__all__ = ["translate_error"]

_NOT_FOUND = frozenset(
    {
        libvirt.VIR_ERR_NO_DOMAIN,
        libvirt.VIR_ERR_NO_NETWORK,
        libvirt.VIR_ERR_NO_STORAGE_POOL,
        libvirt.VIR_ERR_NO_STORAGE_VOL,
        libvirt.VIR_ERR_NO_NODE_DEVICE,
        libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT,
        libvirt.VIR_ERR_NO_DOMAIN_METADATA,
        libvirt.VIR_ERR_NO_INTERFACE,
        libvirt.VIR_ERR_NO_SECRET,
        libvirt.VIR_ERR_NO_NWFILTER,
    }
)
_CONFLICT = frozenset(
    {
        libvirt.VIR_ERR_OPERATION_INVALID,
        libvirt.VIR_ERR_DOM_EXIST,
        libvirt.VIR_ERR_NETWORK_EXIST,
        libvirt.VIR_ERR_STORAGE_VOL_EXIST,
        libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
        libvirt.VIR_ERR_NO_SUPPORT,
        libvirt.VIR_ERR_OPERATION_DENIED,
    }
)
_INVALID = frozenset(
    {
        libvirt.VIR_ERR_INVALID_ARG,
        libvirt.VIR_ERR_XML_ERROR,
        libvirt.VIR_ERR_XML_DETAIL,
        libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
        libvirt.VIR_ERR_NO_NAME,
        libvirt.VIR_ERR_INVALID_DOMAIN,
    }
)
_TIMEOUT = frozenset({libvirt.VIR_ERR_OPERATION_TIMEOUT, libvirt.VIR_ERR_AGENT_UNRESPONSIVE})
_CONNECTION_GONE = frozenset({libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_INVALID_CONN})
_UNAVAILABLE = frozenset(
    {
        libvirt.VIR_ERR_RPC,
        libvirt.VIR_ERR_AUTH_FAILED,
        libvirt.VIR_ERR_AUTH_CANCELLED,
        libvirt.VIR_ERR_AUTH_UNAVAILABLE,
        libvirt.VIR_ERR_SYSTEM_ERROR,
    }
)
# Errors raised by the transport itself (socket closed, keepalive timeout) whatever their code.
_TRANSPORT_DOMAINS = frozenset({libvirt.VIR_FROM_RPC, libvirt.VIR_FROM_REMOTE})


def translate_error(
    exc: libvirt.libvirtError,
    *,
    host_id: str | None = None,
    vm_name: str | None = None,
) -> VirtumancerError:
    """Return the Virtumancer exception for a ``libvirtError``; the caller raises it ``from exc``.

    The mapping is by libvirt error code: "no such ..." is :class:`NotFoundError`; an invalid
    operation for the object's state (starting a running domain) is :class:`ConflictError`;
    a bad argument or XML is :class:`InvalidInputError`; a broken connection or transport is
    :class:`ConnectionLostError`, other connection failures :class:`HostUnavailableError`;
    libvirt timeouts are :class:`OperationTimeoutError`. Anything else is a plain
    :class:`VirtumancerError` with code ``libvirt_error``.
    """
    code = exc.get_error_code()
    domain = exc.get_error_domain()
    message = exc.get_error_message() or str(exc)
    context = {"host_id": host_id, "vm_name": vm_name}
    if code in _NOT_FOUND:
        return NotFoundError(message, **context)
    if code in _CONFLICT:
        return ConflictError(message, **context)
    if code in _TIMEOUT:
        return OperationTimeoutError(message, **context)
    if code in _CONNECTION_GONE or domain in _TRANSPORT_DOMAINS:
        return ConnectionLostError(message, **context)
    if code in _UNAVAILABLE:
        return HostUnavailableError(message, **context)
    if code in _INVALID:
        return InvalidInputError(message, **context)
    return VirtumancerError(message, code="libvirt_error", **context)
