"""The one exception tree of Virtumancer.

Errors are grouped by what the caller can do about them, not by where they come from:

- :class:`NotFoundError` -- the host, VM, pool ... does not exist (HTTP 404).
- :class:`ConflictError` -- the object exists but is in the wrong state for the request,
  e.g. starting a running domain or adding a host id twice (HTTP 409).
- :class:`InvalidInputError` -- the request itself is wrong: a hostile URI, a malformed XML
  document, a setting out of range (HTTP 400).
- :class:`HostUnavailableError` -- the hypervisor cannot be reached or the connection was lost
  (HTTP 503; 500 for add/connect as the API document says).
- :class:`OperationTimeoutError` -- a call did not finish in time (a kind of unavailability).

Every error carries the context a person needs (``host_id``, ``vm_name``), the input it is
about (``field``: a JSON path such as ``domain_uuids[2]``, or ``None``) and a ``code`` that is
stable and machine-readable. Messages never contain credentials.
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "ConnectionLostError",
    "HostUnavailableError",
    "InvalidInputError",
    "NotFoundError",
    "OperationCancelledError",
    "OperationTimeoutError",
    "UriPolicyError",
    "VirtumancerError",
    "XMLParseError",
]


class VirtumancerError(Exception):
    """Root of every error raised by Virtumancer."""

    code: str = "error"

    def __init__(
        self,
        message: str,
        *,
        host_id: str | None = None,
        vm_name: str | None = None,
        code: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.host_id = host_id
        self.vm_name = vm_name
        self.field = field
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        context = [
            f"{key}={value!r}"
            for key, value in (("host", self.host_id), ("vm", self.vm_name))
            if value is not None
        ]
        return f"{self.message} ({', '.join(context)})" if context else self.message


class NotFoundError(VirtumancerError):
    """The object named by the request does not exist."""

    code = "not_found"


class ConflictError(VirtumancerError):
    """The object exists but its state does not allow the request."""

    code = "conflict"


class OperationCancelledError(ConflictError):
    """A long operation (a task) was cancelled; what it had made was removed."""

    code = "cancelled"


class InvalidInputError(VirtumancerError, ValueError):
    """The request is malformed or not allowed; retrying it unchanged will not help."""

    code = "invalid_input"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        host_id: str | None = None,
        vm_name: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, host_id=host_id, vm_name=vm_name, code=code, field=field)


class UriPolicyError(InvalidInputError):
    """A libvirt URI was refused by the URI policy before anything was opened."""

    code = "uri_refused"


class XMLParseError(InvalidInputError):
    """An XML document was malformed, hostile or too large.

    ``line`` and ``column`` say where parsing failed, when lxml knows.
    """

    code = "invalid_xml"

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        host_id: str | None = None,
        vm_name: str | None = None,
    ) -> None:
        where = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(f"{message}{where}", host_id=host_id, vm_name=vm_name)
        self.line = line
        self.column = column


class HostUnavailableError(VirtumancerError):
    """The hypervisor could not be reached, or the connection to it was lost."""

    code = "host_unavailable"


class ConnectionLostError(HostUnavailableError):
    """The connection to the hypervisor broke during a call (socket closed, keepalive timeout).

    The pool treats it as the loss of the whole connection and reconnects, even when libvirt's
    close callback does not fire (it does not when several calls were in flight).
    """


class OperationTimeoutError(HostUnavailableError, TimeoutError):
    """A call to a hypervisor did not finish within its time limit."""

    code = "timeout"
