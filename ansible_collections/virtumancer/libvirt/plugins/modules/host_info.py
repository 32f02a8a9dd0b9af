#!/usr/bin/python
# Copyright: Virtumancer developers
# SPDX-License-Identifier: Apache-2.0 (see LICENSE at the root of the repository)
"""Ansible module virtumancer.libvirt.host_info: read a libvirt host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: host_info
short_description: Read a libvirt host, its storage pools and its networks
version_added: 0.1.0
description:
  - Return what the host is (hypervisor, CPUs, memory, libvirt version) and its storage
    pools and networks, in the REST API's JSON shapes, through the virtumancer library.
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
options: {}
"""

EXAMPLES = r"""
- name: What the host is
  virtumancer.libvirt.host_info:
    uri: qemu:///system
  register: kvm

- name: Say what it has
  ansible.builtin.debug:
    msg: "{{ kvm.host.hostname }}: {{ kvm.host.cpu }} CPUs, {{ kvm.storage_pools | length }} pools"
"""

RETURN = r"""
host:
  description: The host, as the REST API's C(/hosts/{id}/info) object.
  returned: always
  type: dict
  sample:
    hostname: kvm1
    cpu: 16
    memory: 68719476736
    arch: x86_64
    libvirt_version: 9.0.0
    hypervisor_type: QEMU
storage_pools:
  description: The host's storage pools.
  returned: always
  type: list
  elements: dict
networks:
  description: The host's virtual networks.
  returned: always
  type: list
  elements: dict
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.virtumancer.libvirt.plugins.module_utils.common import (
    CONNECTION_ARGS,
    run_with_host,
    to_json,
)


def main() -> None:
    """Run the module."""
    module = AnsibleModule(argument_spec=dict(CONNECTION_ARGS), supports_check_mode=True)

    def read(host: Any) -> dict[str, Any]:
        from virtumancer import host_info_payload

        return {
            "changed": False,
            "host": host_info_payload(host.info()),
            "storage_pools": to_json(list(host.storage_pools())),
            "networks": to_json(list(host.networks())),
        }

    run_with_host(module, read)


if __name__ == "__main__":
    main()
