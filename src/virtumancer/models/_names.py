"""Name and MAC rules shared by the spec models and the libvirt operations.

Apart from :mod:`virtumancer.models.spec` (which re-exports them, and whose docstring gives
the rules) so that checking a name does not load the spec's attrs classes: a one-shot script
pays only for the models it uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from virtumancer.exceptions import InvalidInputError

if TYPE_CHECKING:
    import random

__all__ = [
    "CONTROL_CHARACTERS",
    "MAX_NAME_LENGTH",
    "QEMU_MAC_PREFIX",
    "check_name",
    "generate_mac",
    "invalid",
]

#: The longest VM, pool or volume name a spec accepts.
MAX_NAME_LENGTH: Final = 64
#: The locally administered OUI QEMU/KVM (and libvirt) use for guest NICs.
QEMU_MAC_PREFIX: Final = "52:54:00"

#: Control characters, refused in names, paths and command lines.
CONTROL_CHARACTERS: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def invalid(field: str, message: str) -> InvalidInputError:
    """Return the error for a bad ``field`` (its message prefixed by the field)."""
    return InvalidInputError(f"{field}: {message}", field=field)


def check_name(value: str, field: str = "name") -> str:
    """Return ``value`` if it is an acceptable VM, pool or volume name, else raise.

    See :mod:`virtumancer.models.spec` for the rules; ``field`` names the value in the error.
    """
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    if not value:
        raise invalid(field, "must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise invalid(field, f"is longer than {MAX_NAME_LENGTH} characters")
    if "/" in value:
        raise invalid(field, "must not contain '/'")
    if CONTROL_CHARACTERS.search(value):
        raise invalid(field, "must not contain control characters")
    if value[0] in "-.":
        raise invalid(field, f"must not start with {value[0]!r}")
    if value != value.strip():
        raise invalid(field, "must not start or end with whitespace")
    return value


def generate_mac(rng: random.Random, *, taken: Iterable[str] = ()) -> str:
    """Return a new MAC under QEMU's OUI 52:54:00 with random low bytes.

    ``rng`` makes it deterministic in tests; ``taken`` are MACs to avoid.
    """
    avoid = {mac.lower() for mac in taken}
    while True:
        low = rng.getrandbits(24)
        mac = f"{QEMU_MAC_PREFIX}:{low >> 16:02x}:{(low >> 8) & 0xFF:02x}:{low & 0xFF:02x}"
        if mac not in avoid:
            return mac
