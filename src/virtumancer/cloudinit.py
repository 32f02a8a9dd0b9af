"""Build a cloud-init NoCloud seed ISO in memory (pure Python, no external tool).

cloud-init's NoCloud data source looks for a filesystem labelled ``cidata`` holding
``user-data`` and ``meta-data``. Both documents are YAML; we write JSON, which is valid YAML,
so nothing a caller puts in a key or hostname can change the document's structure.
"""

from __future__ import annotations

import io
import json
from typing import Final

import pycdlib

from virtumancer.models.spec import CloudInitSpec

__all__ = ["NOCLOUD_LABEL", "build_nocloud_iso", "nocloud_files"]

#: The volume label cloud-init's NoCloud data source looks for.
NOCLOUD_LABEL: Final = "cidata"
_FALLBACK_INSTANCE_ID: Final = "iid-virtumancer"


def nocloud_files(spec: CloudInitSpec) -> dict[str, bytes]:
    """Return the seed's files: ``{"user-data": ..., "meta-data": ...}``.

    Documents given in ``spec`` are kept verbatim; the others are generated (see
    :class:`~virtumancer.models.spec.CloudInitSpec`).
    """
    if spec.user_data is not None:
        user_data = spec.user_data
    else:
        config: dict[str, object] = {}
        if spec.ssh_authorized_keys:
            config["ssh_authorized_keys"] = list(spec.ssh_authorized_keys)
        user_data = "#cloud-config\n" + json.dumps(config) + "\n"
    if spec.meta_data is not None:
        meta_data = spec.meta_data
    else:
        meta: dict[str, str] = {
            "instance-id": spec.instance_id or spec.hostname or _FALLBACK_INSTANCE_ID
        }
        if spec.hostname is not None:
            meta["local-hostname"] = spec.hostname
        meta_data = json.dumps(meta) + "\n"
    return {"user-data": user_data.encode(), "meta-data": meta_data.encode()}


def build_nocloud_iso(spec: CloudInitSpec) -> bytes:
    """Return an ISO 9660 image (with Joliet and Rock Ridge names) holding the seed.

    The long, lower-case names ``user-data``/``meta-data`` live in the Joliet and Rock
    Ridge records; cloud-init (through blkid and mount) reads either.
    """
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=NOCLOUD_LABEL)
    for number, (name, data) in enumerate(sorted(nocloud_files(spec).items())):
        iso.add_fp(
            io.BytesIO(data),
            len(data),
            f"/FILE{number}.;1",
            rr_name=name,
            joliet_path=f"/{name}",
        )
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()
