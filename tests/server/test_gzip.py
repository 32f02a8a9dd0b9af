"""The VM list is sent gzipped to a client that accepts gzip, and as it is to any other."""

from __future__ import annotations

import gzip

import falcon.testing
import pytest

from tests.server.conftest import AUTH, ServerProcess
from virtumancer_server.cache import accepts_gzip

Conductor = falcon.testing.ASGIConductor


@pytest.mark.parametrize(
    "header",
    [
        "gzip",
        "GZIP",
        "x-gzip",
        "gzip, deflate, br",
        "deflate;q=1.0, gzip;q=0.5",
        "gzip ; q=0.001",
        "gzip;Q=1.000",
        "*",
        "identity, *;q=0.1",
        "br;q=1, gzip;q=0, gzip;q=0.5",  # named twice: the better weight counts
    ],
)
def test_these_accept_gzip(header: str) -> None:
    assert accepts_gzip(header)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "identity",
        "br, deflate",
        "gzip;q=0",
        "gzip;q=0.000",
        "*;q=0",
        "gzip;q=0, *",  # gzip named and refused: the wildcard does not bring it back
        # malformed weights are not read as acceptance (RFC 9110 qvalue grammar)
        "gzip;q=1.5",
        "gzip;q=0.1234",
        "gzip;q=.5",
        "gzip;q=nan",
        "gzip;q=-1",
        "gzip;q=0.\N{SUPERSCRIPT TWO}",
        "gzip;q=",
        "gzipx",
    ],
)
def test_these_do_not(header: str | None) -> None:
    assert not accepts_gzip(header)


@pytest.mark.anyio
@pytest.mark.libvirt
async def test_vm_list_is_gzipped_for_who_accepts_it(client: Conductor) -> None:
    path = "/api/v1/hosts/demo/vms"
    plain = await client.simulate_get(path, headers=AUTH)
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    assert len(plain.content) > 1400, "the demo host's list is big enough to be compressed"

    for _ in range(2):  # compressed once, then served from the cache
        packed = await client.simulate_get(path, headers={**AUTH, "Accept-Encoding": "gzip"})
        assert packed.status_code == 200
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.headers["vary"] == "Accept-Encoding"
        assert packed.headers["content-type"].startswith("application/json")
        assert int(packed.headers["content-length"]) == len(packed.content)
        assert gzip.decompress(packed.content) == plain.content

    refused = await client.simulate_get(path, headers={**AUTH, "Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    assert refused.content == plain.content


@pytest.mark.anyio
@pytest.mark.libvirt
async def test_a_change_drops_the_gzipped_copy_too(client: Conductor) -> None:
    path = "/api/v1/hosts/demo/vms"
    headers = {**AUTH, "Accept-Encoding": "gzip"}
    before = gzip.decompress((await client.simulate_get(path, headers=headers)).content)
    result = await client.simulate_post(
        "/api/v1/hosts/demo/vms/db-01/action", headers=AUTH, json={"action": "destroy"}
    )
    assert result.status_code == 204
    # the action's write publishes vms-changed: the next lookup drops both copies
    after = gzip.decompress((await client.simulate_get(path, headers=headers)).content)
    plain = (await client.simulate_get(path, headers=AUTH)).content
    assert after == plain
    assert after != before


@pytest.mark.libvirt
def test_a_real_client_gets_and_decodes_it(server: ServerProcess) -> None:
    # httpx sends Accept-Encoding: gzip and decodes the body, as browsers do
    with server.client() as http:
        packed = http.get("/hosts/demo/vms")
        plain = http.get("/hosts/demo/vms", headers={"Accept-Encoding": "identity"})
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(plain.content)
    assert packed.json() == plain.json()
