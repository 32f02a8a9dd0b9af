#!/usr/bin/python
# Copyright: Virtumancer developers
# SPDX-License-Identifier: Apache-2.0 (see LICENSE at the root of the repository)
"""Ansible module virtumancer.libvirt.snapshot: a VM's snapshot taken, removed or reverted to."""

from __future__ import annotations

DOCUMENTATION = r"""
module: snapshot
short_description: Take, delete or revert to a snapshot of a libvirt virtual machine
version_added: 0.1.0
description:
  - Bring one named snapshot of a VM to a state, through the virtumancer library's
    desired-state call (C(ensure_snapshot)).
  - O(state=present) takes the snapshot if the VM has none of that name; an existing one is
    left as it is (a snapshot is never changed after it is taken, whatever O(memory) or
    O(description) say). Running the same task again reports C(changed=false).
  - With the guest's memory (the default for a running VM) the snapshot is internal (every
    writable disk must be qcow2) and reverting resumes the guest where it was. A disk-only
    snapshot (O(memory=false)) of a running VM is external (libvirt puts an overlay file
    over each disk), and libvirt cannot revert to an external snapshot.
  - O(state=reverted) reverts the VM to the snapshot. It always reports a change, since what
    the guest wrote since cannot be seen, and a revert discards it.
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
    description: Shows the state (and the memory and description of a new snapshot).
options:
  vm:
    description:
      - The name or UUID of the VM.
    type: str
    required: true
  name:
    description:
      - The name of the snapshot.
    type: str
    required: true
  memory:
    description:
      - Keep the guest's memory in a new snapshot (V(true) needs a running VM), or take a
        disk-only snapshot (V(false)). Left out, memory is kept when the VM runs.
    type: bool
  description:
    description:
      - The description of a new snapshot.
    type: str
    default: ''
  state:
    description:
      - V(present) takes the snapshot if missing, V(absent) deletes it (its children are
        kept and re-parented; a missing VM has no snapshots), V(reverted) reverts the VM
        to it (the snapshot must exist).
    type: str
    choices: [present, absent, reverted]
    default: present
"""

EXAMPLES = r"""
- name: Snapshot before an upgrade (with memory, as the VM runs)
  virtumancer.libvirt.snapshot:
    uri: qemu:///system
    vm: web-01
    name: before-upgrade
    description: before the 2.0 upgrade

- name: The upgrade went wrong, back to the snapshot
  virtumancer.libvirt.snapshot:
    vm: web-01
    name: before-upgrade
    state: reverted

- name: The upgrade went fine, delete the snapshot
  virtumancer.libvirt.snapshot:
    vm: web-01
    name: before-upgrade
    state: absent
"""

RETURN = r"""
changes:
  description:
    - What changes, with its value before and after - C(state) (null before for a snapshot
      that did not exist; V(absent) or V(reverted) after), and for a new snapshot
      C(memory) and C(description).
  returned: always
  type: dict
  sample:
    state: {before: null, after: present}
    memory: {before: null, after: true}
snapshot:
  description:
    - The snapshot afterwards, in the REST API's shape. Null when it is absent, or in check
      mode for a snapshot that would be taken.
  returned: always
  type: dict
  sample:
    name: before-upgrade
    description: before the 2.0 upgrade
    state: running
    memory: true
    external: false
    parent: null
    children: []
    current: true
    depth: 0
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.virtumancer.libvirt.plugins.module_utils.common import (
    CONNECTION_ARGS,
    ensured,
    run_with_host,
)


def main() -> None:
    """Run the module."""
    module = AnsibleModule(
        argument_spec={
            **CONNECTION_ARGS,
            "vm": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "memory": {"type": "bool"},
            "description": {"type": "str", "default": ""},
            "state": {
                "type": "str",
                "default": "present",
                "choices": ["present", "absent", "reverted"],
            },
        },
        supports_check_mode=True,
    )

    def converge(host: Any) -> dict[str, Any]:
        params = module.params
        outcome = host.ensure_snapshot(
            params["vm"],
            params["name"],
            params["state"],
            memory=params["memory"],
            description=params["description"],
            check=module.check_mode,
        )
        return ensured(module, f"snapshot {params['vm']}/{params['name']}", outcome, "snapshot")

    run_with_host(module, converge, renames={"snapshot": "name"})


if __name__ == "__main__":
    main()
