#!/usr/bin/python
# Copyright: Virtumancer developers
# SPDX-License-Identifier: Apache-2.0 (see LICENSE at the root of the repository)
"""Ansible module virtumancer.libvirt.vm_info: read the VMs of a host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: vm_info
short_description: Read one VM or every VM of a libvirt host
version_added: 0.1.0
description:
  - Return the VMs of a host in the REST API's JSON shape, through the virtumancer library.
  - Changes nothing.
author:
  - Virtumancer developers (@virtumancer)
extends_documentation_fragment:
  - virtumancer.libvirt.connection
attributes:
  check_mode:
    support: full
    description: Reads the same in check mode.
  diff_mode:
    support: none
    description: Reports no changes.
options:
  name:
    description:
      - The name or UUID of one VM. Without it, every VM of the host.
      - A VM that does not exist gives an empty O(ignore:vms) list, not a failure.
    type: str
  xml:
    description:
      - Also return each VM's domain XML (its live definition) in C(xml).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Every VM of the host
  virtumancer.libvirt.vm_info:
    uri: qemu:///system
  register: found

- name: The running ones
  ansible.builtin.debug:
    msg: "{{ found.vms | selectattr('power_state', 'equalto', 'running') | map(attribute='name') }}"

- name: One VM with its XML
  virtumancer.libvirt.vm_info:
    name: web-01
    xml: true
  register: web
"""

RETURN = r"""
vms:
  description:
    - The VMs found, each as the REST API's VM object (C(state) is libvirt's state number)
      plus C(power_state), one of V(running), V(stopped) or V(paused).
  returned: always
  type: list
  elements: dict
  sample:
    - name: web-01
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
    run_with_host,
    vm_json,
)


def main() -> None:
    """Run the module."""
    module = AnsibleModule(
        argument_spec={
            **CONNECTION_ARGS,
            "name": {"type": "str"},
            "xml": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )

    def read(host: Any) -> dict[str, Any]:
        from virtumancer import NotFoundError

        name = module.params["name"]
        if name is None:
            domains = host.domains()
        else:
            try:
                domains = [host.domain(name)]
            except NotFoundError:
                domains = []
        vms = [vm_json(domain) for domain in domains]
        if module.params["xml"]:
            for vm, domain in zip(vms, domains, strict=True):
                vm["xml"] = host.domain_xml(domain.uuid)
        return {"changed": False, "vms": vms}

    run_with_host(module, read)


if __name__ == "__main__":
    main()
