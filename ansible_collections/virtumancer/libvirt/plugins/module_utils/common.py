"""What every virtumancer.libvirt module shares: the connection option, errors, JSON shapes.

The modules are thin: each opens one blocking connection (``virtumancer.connect``), makes
one library call and reports it. Library errors become ``fail_json`` with the error's
``code`` and, for bad input, the option path of the offending value (``spec.disks[0].pool``).
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import virtumancer
    from virtumancer.exceptions import VirtumancerError
except ImportError:
    VIRTUMANCER_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    VIRTUMANCER_IMPORT_ERROR = None

#: The argument spec of the connection option (documented in the ``connection`` fragment).
CONNECTION_ARGS: dict[str, dict[str, Any]] = {
    "uri": {"type": "str", "default": "qemu:///system", "aliases": ["connect"]},
}


def require_library(module: AnsibleModule) -> None:
    """Fail the task with Ansible's usual message when virtumancer is not importable."""
    if VIRTUMANCER_IMPORT_ERROR is not None:
        module.fail_json(
            msg=missing_required_lib("virtumancer"), exception=VIRTUMANCER_IMPORT_ERROR
        )


def fail_from(
    module: AnsibleModule,
    exc: Exception,
    option: str | None = None,
    renames: dict[str, str] | None = None,
) -> None:
    """Fail the task from a library error.

    ``option`` is the module option the error's ``field`` is relative to (``spec``): the
    message then names the option path, as a user wrote it in the playbook. ``renames``
    maps a library field to the module option that carries it (``capacity_bytes`` to
    ``capacity``).
    """
    details: dict[str, Any] = {"code": getattr(exc, "code", "error")}
    message = str(exc)
    field = getattr(exc, "field", None)
    if field and renames and field in renames:
        text = getattr(exc, "message", message)
        if text.startswith(f"{field}: "):
            text = text[len(field) + 2 :]
        message = f"{renames[field]}: {text}"
        field = renames[field]
    if field and option:
        path = f"{option}.{field}" if not field.startswith("[") else f"{option}{field}"
        text = getattr(exc, "message", message)
        if text.startswith(f"{field}: "):
            text = text[len(field) + 2 :]
        message = f"{path}: {text}"
        details["field"] = path
    elif field:
        details["field"] = field
    for key in ("host_id", "vm_name"):
        value = getattr(exc, key, None)
        if value is not None:
            details[key] = value
    module.fail_json(msg=message, **details)


def run_with_host(
    module: AnsibleModule,
    body: Callable[[Any], dict[str, Any]],
    *,
    option: str | None = None,
    renames: dict[str, str] | None = None,
) -> None:
    """Connect to ``module.params['uri']``, run ``body(host)`` and exit with its result.

    A library error fails the task (see :func:`fail_from`); ``option`` names the option
    that errors with a ``field`` are about, ``renames`` the options of library fields.
    """
    require_library(module)
    try:
        with virtumancer.connect(module.params["uri"]) as host:
            result = body(host)
    except VirtumancerError as exc:
        fail_from(module, exc, option if getattr(exc, "field", None) != "uri" else None, renames)
        return
    module.exit_json(**result)


def to_json(value: Any) -> Any:
    """Return the REST API's JSON shape of a library model (or list of them), as plain JSON."""
    # Through the JSON text: the converter leaves IntEnums, which Ansible's result
    # serialisation need not accept.
    return json.loads(json.dumps(virtumancer.make_converter().unstructure(value)))


def vm_json(domain: Any) -> dict[str, Any]:
    """Return a VM's REST API object plus ``power_state`` (``running``/``stopped``/``paused``)."""
    from virtumancer.lifecycle import state_word

    data: dict[str, Any] = to_json(domain)
    data["power_state"] = state_word(domain.state)
    return data


def plain(value: Any) -> Any:
    """Return a diff value as Ansible shows it: JSON scalars as they are, others as text."""
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def diff_result(
    module: AnsibleModule, header: str, diff: dict[str, tuple[Any, Any]]
) -> dict[str, Any]:
    """Return ``changes`` (and, under ``--diff``, Ansible's ``diff``) of a library diff."""
    changes = {
        field: {"before": plain(before), "after": plain(after)}
        for field, (before, after) in diff.items()
    }
    result: dict[str, Any] = {"changes": changes}
    if module._diff:
        result["diff"] = {
            "before_header": header,
            "after_header": header,
            "before": {field: change["before"] for field, change in changes.items()},
            "after": {field: change["after"] for field, change in changes.items()},
        }
    return result


def ensured(module: AnsibleModule, header: str, outcome: Any, key: str) -> dict[str, Any]:
    """Return a module result of an ``ensure_*`` outcome: ``changed``, its diff, and ``key``.

    ``key`` names both the outcome's attribute (the object after, or ``None`` once absent)
    and the result's field.
    """
    after = getattr(outcome, key)
    return {
        "changed": outcome.changed,
        **diff_result(module, header, outcome.diff),
        key: None if after is None else to_json(after),
    }
