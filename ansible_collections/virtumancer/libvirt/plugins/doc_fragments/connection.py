"""The connection options every virtumancer.libvirt module takes."""

from __future__ import annotations


class ModuleDocFragment:
    """Documentation of the ``uri`` option."""

    DOCUMENTATION = r"""
options:
  uri:
    description:
      - The libvirt URI of the host, e.g. C(qemu:///system) or
        C(qemu+ssh://root@kvm1/system).
      - It is checked by virtumancer's URI policy before anything is opened; libvirt's
        C(test:///) and C(test+unix:///) drivers are accepted.
    type: str
    default: qemu:///system
    aliases: [connect]
requirements:
  - python >= 3.11
  - virtumancer (C(pip install virtumancer)) on the managed node
"""
