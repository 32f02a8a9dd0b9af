"""The VM list is sent gzipped to a client that accepts gzip, and as it is to any other."""

from __future__ import annotations

import gzip

import anyio
import falcon.testing
import pytest

from tests.server.conftest import AUTH, ServerProcess
from virtumancer_server import cache as cache_module
from virtumancer_server.cache import ResponseCache, accepts_gzip

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
        "*;q=0.5, *;q=0",
        "\tgzip ;\tq=1",  # HTTP's optional whitespace is spaces and tabs
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
        "\N{NO-BREAK SPACE}gzip",  # not HTTP whitespace: not the gzip token
        "gzip\x1c",
        'gzip;q="1"',
    ],
)
def test_these_do_not(header: str | None) -> None:
    assert not accepts_gzip(header)


@pytest.mark.anyio
@pytest.mark.libvirt
async def test_vm_list_is_gzipped_for_who_accepts_it(
    client: Conductor, monkeypatch: pytest.MonkeyPatch
) -> None:
    compressed: list[int] = []
    compress = cache_module._compress

    def counting(body: bytes) -> bytes:
        compressed.append(len(body))
        return compress(body)

    monkeypatch.setattr(cache_module, "_compress", counting)
    path = "/api/v1/hosts/demo/vms"
    plain = await client.simulate_get(path, headers=AUTH)
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    assert len(plain.content) > 1400, "the demo host's list is big enough to be compressed"

    for _ in range(3):  # compressed once, then served from the cache
        packed = await client.simulate_get(path, headers={**AUTH, "Accept-Encoding": "gzip"})
        assert packed.status_code == 200
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.headers["vary"] == "Accept-Encoding"
        assert packed.headers["content-type"].startswith("application/json")
        assert int(packed.headers["content-length"]) == len(packed.content)
        assert gzip.decompress(packed.content) == plain.content
    assert compressed == [len(plain.content)]

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


class _Quiet:
    """A subscription with nothing pending: notifications that have not arrived yet."""

    def get_nowait(self) -> object | None:
        return None


@pytest.mark.anyio
async def test_a_gzipped_copy_serves_only_the_body_it_was_made_from() -> None:
    # Two misses in one generation (the change's notification is still on its way from
    # another replica): the slower one stores its body last. The gzipped copy made from
    # the other body in between must not be served for it.
    cache = ResponseCache()
    cache.attach(_Quiet())
    key = ("vms", "h0")
    state = {"body": b"A" * 5000}
    slow_may_finish = anyio.Event()

    async def slow() -> bytes:
        body = state["body"]
        await slow_may_finish.wait()
        return body

    async def fast() -> bytes:
        return state["body"]

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(cache.get_or_compute, key, slow)
        await anyio.sleep(0.01)
        state["body"] = b"B" * 5000
        await cache.get_or_compute(key, fast)
        packed, coding = await cache.get_or_compute_encoded(key, fast, accept_gzip=True)
        assert (gzip.decompress(packed)[:1], coding) == (b"B", "gzip")
        slow_may_finish.set()

    plain, _ = await cache.get_or_compute_encoded(key, fast, accept_gzip=False)
    packed, coding = await cache.get_or_compute_encoded(key, fast, accept_gzip=True)
    assert coding == "gzip"
    assert gzip.decompress(packed) == plain
