#!/usr/bin/python
# Copyright: Virtumancer developers
# SPDX-License-Identifier: Apache-2.0 (see LICENSE at the root of the repository)
"""Ansible module virtumancer.libvirt.volume: a storage volume present (at a size) or absent."""

from __future__ import annotations

DOCUMENTATION = r"""
module: volume
short_description: Create, grow or delete a volume of a libvirt storage pool
version_added: 0.1.0
description:
  - Bring one volume of a storage pool to a state, through the virtumancer library's
    desired-state call (C(ensure_volume)).
  - A missing volume is created (sparse) with O(capacity) and O(format). An existing volume
    smaller than O(capacity) is grown to it; one larger fails the task (shrinking would cut
    data off), and so does a different O(format) (a volume is not converted).
  - Running the same task again reports C(changed=false).
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
    description: Shows the state, capacity and format that change, before and after.
options:
  pool:
    description:
      - The name of the storage pool (it must exist and run).
    type: str
    required: true
  name:
    description:
      - The name of the volume in the pool (its file name for a directory pool).
    type: str
    required: true
  capacity:
    description:
      - The size of the volume, in bytes or with a unit (V(512M), V(20G); units are
        powers of 1024). At least 1 MiB.
      - Required to create a volume. Left out, an existing volume keeps its size.
    type: str
  format:
    description:
      - The image format. A new volume is V(qcow2) unless given; an existing volume of
        another format fails the task.
    type: str
    choices: [qcow2, raw]
  state:
    description:
      - V(present) creates or grows the volume, V(absent) deletes it (refused while a VM
        uses it).
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: A 20 GiB qcow2 volume
  virtumancer.libvirt.volume:
    uri: qemu:///system
    pool: default
    name: data-01.qcow2
    capacity: 20G

- name: Grow it to 40 GiB (the guest still has to grow its file system)
  virtumancer.libvirt.volume:
    pool: default
    name: data-01.qcow2
    capacity: 40G

- name: Delete it
  virtumancer.libvirt.volume:
    pool: default
    name: data-01.qcow2
    state: absent
"""

RETURN = r"""
changes:
  description:
    - Each field that differs (C(state), C(capacity_bytes), C(format)) with its value before
      and after. C(before) is null for a volume that did not exist.
  returned: always
  type: dict
  sample:
    capacity_bytes: {before: 21474836480, after: 42949672960}
volume:
  description:
    - The volume afterwards, in the REST API's shape. Null when it is absent, or in check
      mode for a volume that would be created.
  returned: always
  type: dict
  sample:
    name: data-01.qcow2
    pool_name: default
    path: /var/lib/libvirt/images/data-01.qcow2
    format: qcow2
    capacity_bytes: 42949672960
    allocation_bytes: 200704
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.formatters import human_to_bytes
from ansible_collections.virtumancer.libvirt.plugins.module_utils.common import (
    CONNECTION_ARGS,
    ensured,
    run_with_host,
)


def _capacity(module: AnsibleModule) -> int | None:
    text = module.params["capacity"]
    if text is None:
        return None
    try:
        return int(human_to_bytes(text.replace(" ", "")))
    except ValueError:
        module.fail_json(
            msg=f"capacity: {text!r} is not a size (bytes, or a number with a unit like 20G)",
            field="capacity",
        )
        raise  # fail_json exits; this is for the type checker


def main() -> None:
    """Run the module."""
    module = AnsibleModule(
        argument_spec={
            **CONNECTION_ARGS,
            "pool": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "capacity": {"type": "str"},
            "format": {"type": "str", "choices": ["qcow2", "raw"]},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        },
        supports_check_mode=True,
    )
    capacity = _capacity(module)

    def converge(host: Any) -> dict[str, Any]:
        params = module.params
        outcome = host.ensure_volume(
            params["pool"],
            params["name"],
            params["state"],
            capacity_bytes=capacity,
            format=params["format"],
            check=module.check_mode,
        )
        return ensured(module, f"volume {params['pool']}/{params['name']}", outcome, "volume")

    run_with_host(module, converge, renames={"capacity_bytes": "capacity"})


if __name__ == "__main__":
    main()
