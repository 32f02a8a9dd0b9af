"""The NoCloud seed ISO holds what cloud-init reads, read back with pycdlib (no isoinfo)."""

from __future__ import annotations

import io
import json

import pycdlib
from hypothesis import given

from tests.unit import spec_strategies as ss
from virtumancer import build_nocloud_iso
from virtumancer.cloudinit import nocloud_files
from virtumancer.models import CloudInitSpec


def _read(iso_bytes: bytes) -> tuple[str, dict[str, bytes], dict[str, bytes]]:
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(iso_bytes))
    try:
        label = iso.pvd.volume_identifier.decode().strip()
        by_joliet, by_rock_ridge = {}, {}
        for name in ("user-data", "meta-data"):
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, joliet_path=f"/{name}")
            by_joliet[name] = out.getvalue()
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, rr_path=f"/{name}")
            by_rock_ridge[name] = out.getvalue()
    finally:
        iso.close()
    return label, by_joliet, by_rock_ridge


def _cloud_config(user_data: bytes) -> object:
    header, _, body = user_data.decode().partition("\n")
    assert header == "#cloud-config"
    return json.loads(body)  # JSON is YAML: what cloud-init parses


def test_seed_holds_keys_and_identity() -> None:
    keys = ("ssh-ed25519 AAAAC3Nz alice@laptop", "ssh-rsa AAAAB3Nz bob")
    spec = CloudInitSpec(ssh_authorized_keys=keys, instance_id="iid-42", hostname="web-01")
    label, joliet, rock_ridge = _read(build_nocloud_iso(spec))
    assert label == "cidata"
    assert joliet == rock_ridge
    assert _cloud_config(joliet["user-data"]) == {"ssh_authorized_keys": list(keys)}
    assert json.loads(joliet["meta-data"]) == {"instance-id": "iid-42", "local-hostname": "web-01"}


def test_hostile_values_stay_values() -> None:
    # A key comment that looks like YAML cannot add keys to the document.
    key = 'ssh-ed25519 AAAA x"\nruncmd: [reboot]'.replace("\n", " ")
    spec = CloudInitSpec(ssh_authorized_keys=(key,), hostname="evil: yes")
    _, files, _ = _read(build_nocloud_iso(spec))
    assert _cloud_config(files["user-data"]) == {"ssh_authorized_keys": [key]}
    assert json.loads(files["meta-data"])["local-hostname"] == "evil: yes"


def test_own_documents_are_kept_verbatim() -> None:
    user_data = "#cloud-config\npackages: [nginx]\n"
    meta_data = "instance-id: abc\n"
    _, files, _ = _read(build_nocloud_iso(CloudInitSpec(user_data=user_data, meta_data=meta_data)))
    assert files == {"user-data": user_data.encode(), "meta-data": meta_data.encode()}


def test_an_empty_seed_is_still_a_valid_seed() -> None:
    files = nocloud_files(CloudInitSpec())
    assert _cloud_config(files["user-data"]) == {}
    assert json.loads(files["meta-data"]) == {"instance-id": "iid-virtumancer"}


@given(ss.cloud_init_specs)
def test_any_seed_reads_back_as_built(spec: CloudInitSpec) -> None:
    label, joliet, rock_ridge = _read(build_nocloud_iso(spec))
    assert label == "cidata"
    assert joliet == rock_ridge == nocloud_files(spec)
