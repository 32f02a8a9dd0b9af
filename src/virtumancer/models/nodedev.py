"""Host node devices that matter to a manager: GPUs."""

from __future__ import annotations

import attrs

from virtumancer.models.devices import PciAddress

__all__ = ["GpuDevice"]


@attrs.frozen(kw_only=True)
class GpuDevice:
    """A PCI display controller (class 0x03xxxx) on the host."""

    name: str
    address: PciAddress
    vendor_id: int
    vendor_name: str | None = None
    product_id: int
    product_name: str | None = None
    pci_class: int
    driver: str | None = None
