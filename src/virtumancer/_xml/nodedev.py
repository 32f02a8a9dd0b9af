"""Node device XML: the GPUs of a host."""

from __future__ import annotations

from virtumancer._xml._parser import attr_int, child_text, expect_root, parse_xml
from virtumancer.models.devices import PciAddress
from virtumancer.models.nodedev import GpuDevice

__all__ = ["PCI_CLASS_DISPLAY", "parse_node_device"]

#: PCI base class of display controllers (VGA, XGA, 3D): ``class >> 16``.
PCI_CLASS_DISPLAY = 0x03


def parse_node_device(xml: bytes | str) -> GpuDevice | None:
    """Parse ``virNodeDevice.XMLDesc()``; return a :class:`GpuDevice`, or ``None`` if the
    device is not a PCI display controller."""
    root = parse_xml(xml)
    expect_root(root, "device")
    for capability in root.iterfind("capability"):
        if capability.get("type") != "pci":
            continue
        pci_class = attr_int(child_text(capability, "class"), 0)
        if pci_class is None or pci_class >> 16 != PCI_CLASS_DISPLAY:
            return None
        bus = attr_int(child_text(capability, "bus"), 0)
        slot = attr_int(child_text(capability, "slot"), 0)
        function = attr_int(child_text(capability, "function"), 0)
        if bus is None or slot is None or function is None:
            return None
        vendor = capability.find("vendor")
        product = capability.find("product")
        driver = root.find("driver")
        return GpuDevice(
            name=child_text(root, "name") or "",
            address=PciAddress(
                domain=attr_int(child_text(capability, "domain"), 0) or 0,
                bus=bus,
                slot=slot,
                function=function,
            ),
            vendor_id=(attr_int(vendor.get("id"), 0) or 0) if vendor is not None else 0,
            vendor_name=(vendor.text or None) if vendor is not None else None,
            product_id=(attr_int(product.get("id"), 0) or 0) if product is not None else 0,
            product_name=(product.text or None) if product is not None else None,
            pci_class=pci_class,
            driver=None if driver is None else child_text(driver, "name"),
        )
    return None
