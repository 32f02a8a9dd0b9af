#!/usr/bin/python
# Copyright: Virtumancer developers
# SPDX-License-Identifier: Apache-2.0 (see LICENSE at the root of the repository)
"""Ansible module virtumancer.libvirt.vm: a VM brought to a spec and a state."""

from __future__ import annotations

DOCUMENTATION = r"""
module: vm
short_description: Bring a libvirt virtual machine to a spec and a power state
version_added: 0.1.0
description:
  - Create, converge, start, stop, pause or delete one virtual machine, through the
    virtumancer library's desired-state call (C(ensure_vm)).
  - A missing VM is created from O(spec). An existing VM is brought to the spec's
    C(memory_bytes), C(vcpus) and C(description) (a running VM shows new memory and vCPUs
    from its next start); the other spec fields only shape a new VM.
  - Running the same task again reports C(changed=false).
  - A VM that ignores the ACPI shutdown of O(state=stopped) is forced off after O(timeout).
  - O(state=absent) deletes the domain (its snapshots and NVRAM too) but keeps its volumes.
author:
  - Virtumancer developers (@virtumancer)
extends_documentation_fragment:
  - virtumancer.libvirt.connection
attributes:
  check_mode:
    support: full
    description: Reports what would change (and the diff) without changing anything.
  diff_mode:
    support: full
    description: Shows the spec fields and the state that change, before and after.
options:
  name:
    description:
      - The name of the VM (the libvirt domain name).
    type: str
    required: true
  spec:
    description:
      - What the VM should be, in the JSON shape of virtumancer's C(VmSpec)
        (C(docs/vm-spec.md)), without C(name) (or with the same name).
      - Needs at least C(memory_bytes). Required unless O(state=absent).
      - A bad value fails the task with its path, e.g. C(spec.disks[0].size_bytes).
    type: dict
  state:
    description:
      - V(present) defines the VM (a new one stays shut off) and leaves the power state of an
        existing one alone.
      - V(running), V(stopped) and V(paused) also bring it to that power state.
      - V(absent) deletes it.
    type: str
    choices: [present, running, stopped, paused, absent]
    default: present
  timeout:
    description:
      - Seconds to wait for a power change to take effect.
    type: float
    default: 60.0
"""

EXAMPLES = r"""
- name: A small VM with a new 20 GiB disk, running
  virtumancer.libvirt.vm:
    uri: qemu:///system
    name: web-01
    state: running
    spec:
      memory_bytes: 2147483648
      vcpus: 2
      disks:
        - kind: new_volume
          pool: default
          size_bytes: 21474836480
      nics:
        - network: default
      description: Web server

- name: Stop it (forced off if the guest ignores ACPI for 30 s)
  virtumancer.libvirt.vm:
    name: web-01
    state: stopped
    timeout: 30
    spec:
      memory_bytes: 2147483648
      vcpus: 2

- name: Delete it (its volumes are kept)
  virtumancer.libvirt.vm:
    name: web-01
    state: absent
"""

RETURN = r"""
changes:
  description:
    - Each spec field that differs, and C(state), with its value before and after. C(before)
      is null for a VM that did not exist, C(after) null for one that is removed.
  returned: always
  type: dict
  sample:
    memory_bytes: {before: 1073741824, after: 2147483648}
    state: {before: stopped, after: running}
vm:
  description:
    - The VM afterwards, in the REST API's shape (as M(virtumancer.libvirt.vm_info) returns
      it), plus C(power_state) (V(running), V(stopped) or V(paused)); C(state) is libvirt's
      state number. Null when it is absent, or in check mode for a VM that would be created.
  returned: always
  type: dict
  sample:
    name: web-01
    uuid: 8f1c7f2e-3f5d-4a3e-9f57-0a4c1d6e2b11
    state: 1
    power_state: running
    memory_bytes: 2147483648
    vcpus: 2
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.virtumancer.libvirt.plugins.module_utils.common import (
    CONNECTION_ARGS,
    require_library,
    run_with_host,
    vm_json,
)

#: The smallest spec the library accepts: ``absent`` needs only the name.
_MIB = 1024 * 1024


def _plain(value: Any) -> Any:
    # Diff values are ints and strings today; anything else is shown as its text.
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def _spec(module: AnsibleModule) -> Any:
    from virtumancer import structure_spec

    name = module.params["name"]
    body = dict(module.params["spec"] or {})
    if module.params["state"] == "absent" and not body:
        body = {"memory_bytes": _MIB}
    if body.get("name", name) != name:
        module.fail_json(
            msg=f"spec.name: {body['name']!r} differs from name {name!r}", field="spec.name"
        )
    return structure_spec({**body, "name": name})


def _desired(host: Any, name: str, state: str) -> str:
    """Return the library's desired state; ``present`` keeps an existing VM's power state."""
    if state != "present":
        return state
    from virtumancer import NotFoundError
    from virtumancer.lifecycle import state_word

    try:
        return state_word(host.domain(name).state)
    except NotFoundError:
        return "stopped"


def main() -> None:
    """Run the module."""
    module = AnsibleModule(
        argument_spec={
            **CONNECTION_ARGS,
            "name": {"type": "str", "required": True},
            "spec": {"type": "dict"},
            "state": {
                "type": "str",
                "default": "present",
                "choices": ["present", "running", "stopped", "paused", "absent"],
            },
            "timeout": {"type": "float", "default": 60.0},
        },
        required_if=[
            ("state", "present", ("spec",)),
            ("state", "running", ("spec",)),
            ("state", "stopped", ("spec",)),
            ("state", "paused", ("spec",)),
        ],
        supports_check_mode=True,
    )
    require_library(module)

    def converge(host: Any) -> dict[str, Any]:
        spec = _spec(module)
        state = _desired(host, spec.name, module.params["state"])
        outcome = host.ensure_vm(
            spec, state, check=module.check_mode, timeout=module.params["timeout"]
        )
        changes = {
            field: {"before": _plain(before), "after": _plain(after)}
            for field, (before, after) in outcome.diff.items()
        }
        result: dict[str, Any] = {
            "changed": outcome.changed,
            "changes": changes,
            "vm": None if outcome.domain is None else vm_json(outcome.domain),
        }
        if module._diff:
            result["diff"] = {
                "before_header": f"vm {spec.name}",
                "after_header": f"vm {spec.name}",
                "before": {field: change["before"] for field, change in changes.items()},
                "after": {field: change["after"] for field, change in changes.items()},
            }
        return result

    run_with_host(module, converge, option="spec")


if __name__ == "__main__":
    main()
