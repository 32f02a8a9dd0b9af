#!/usr/bin/python
# Copyright: Virtumancer developers
# SPDX-License-Identifier: Apache-2.0 (see LICENSE at the root of the repository)
"""Ansible module virtumancer.libvirt.network: a NAT network with a DHCP range."""

from __future__ import annotations

DOCUMENTATION = r"""
module: network
short_description: Define, start, stop or remove a libvirt NAT network with a DHCP range
version_added: 0.1.0
description:
  - Bring one virtual network to a definition and a state, through the virtumancer
    library's desired-state call (C(ensure_network)).
  - A missing network is defined as a NAT network from O(address), O(prefix), the DHCP range
    and O(bridge). For an existing network, when O(address) is given, the address, prefix,
    DHCP range, bridge (when given) and O(autostart) are compared with its definition, and a
    difference replaces the definition; a running network uses it from its next start.
    Without O(address), an existing network's definition is left alone.
  - Running the same task again reports C(changed=false).
  - Starting a network needs C(dnsmasq) on the host for its DHCP server.
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
    description: Shows the fields and the state that change, before and after.
options:
  name:
    description:
      - The name of the network.
    type: str
    required: true
  address:
    description:
      - The host's IPv4 address on the network, e.g. V(192.168.50.1).
      - Required to define a missing network (unless O(state=absent)).
    type: str
  prefix:
    description:
      - The network's prefix length (8 to 30).
    type: int
    default: 24
  dhcp_start:
    description:
      - The first address the DHCP server hands out; goes with O(dhcp_end). Both left out,
        the network has no DHCP server.
    type: str
  dhcp_end:
    description:
      - The last address the DHCP server hands out.
    type: str
  bridge:
    description:
      - The name of the host's bridge, e.g. V(virbr50). Left out, libvirt names it.
    type: str
  autostart:
    description:
      - Whether libvirt starts the network when the host boots.
    type: bool
    default: false
  state:
    description:
      - V(present) defines the network (a new one stays stopped) and leaves a running one
        running; V(started) and V(stopped) also start or stop it; V(absent) stops and
        removes it.
    type: str
    choices: [present, started, stopped, absent]
    default: started
"""

EXAMPLES = r"""
- name: A NAT network 192.168.50.0/24 handing out .100 to .199, running
  virtumancer.libvirt.network:
    uri: qemu:///system
    name: lab
    bridge: virbr50
    address: 192.168.50.1
    prefix: 24
    dhcp_start: 192.168.50.100
    dhcp_end: 192.168.50.199
    autostart: true

- name: Stop it (its definition is kept)
  virtumancer.libvirt.network:
    name: lab
    state: stopped

- name: Remove it
  virtumancer.libvirt.network:
    name: lab
    state: absent
"""

RETURN = r"""
changes:
  description:
    - Each field that differs, and C(state) (V(started) or V(stopped); V(absent) after a
      removal), with its value before and after. C(before) is null for a network that did
      not exist.
  returned: always
  type: dict
  sample:
    state: {before: null, after: started}
    address: {before: null, after: 192.168.50.1}
network:
  description:
    - The network afterwards, in the REST API's shape. Null when it is absent, or in check
      mode for a network that would be defined.
  returned: always
  type: dict
  sample:
    name: lab
    uuid: 0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0
    bridge: virbr50
    forward_mode: nat
    active: true
    autostart: true
    persistent: true
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
            "name": {"type": "str", "required": True},
            "address": {"type": "str"},
            "prefix": {"type": "int", "default": 24},
            "dhcp_start": {"type": "str"},
            "dhcp_end": {"type": "str"},
            "bridge": {"type": "str"},
            "autostart": {"type": "bool", "default": False},
            "state": {
                "type": "str",
                "default": "started",
                "choices": ["present", "started", "stopped", "absent"],
            },
        },
        required_together=[("dhcp_start", "dhcp_end")],
        supports_check_mode=True,
    )

    def converge(host: Any) -> dict[str, Any]:
        from virtumancer import NatNetworkSpec

        params = module.params
        spec = None
        if params["address"] is not None and params["state"] != "absent":
            spec = NatNetworkSpec(
                name=params["name"],
                address=params["address"],
                prefix=params["prefix"],
                dhcp_start=params["dhcp_start"],
                dhcp_end=params["dhcp_end"],
                bridge=params["bridge"],
                autostart=params["autostart"],
            )
        outcome = host.ensure_network(
            params["name"], params["state"], spec=spec, check=module.check_mode
        )
        return ensured(module, f"network {params['name']}", outcome, "network")

    run_with_host(module, converge)


if __name__ == "__main__":
    main()
