"""A one-shot script (a CLI call, an Ansible task) imports only what it uses.

Each check runs in a new interpreter, as such a script does, and asserts which modules were
loaded: deterministic, unlike a timing (the figures are in ``benchmarks/bench_coldstart.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

#: The database, migration, web and ssh stacks: none is needed to list a host's domains.
HEAVY = ("sqlalchemy", "alembic", "falcon", "asyncssh", "uvicorn", "cattrs")
SERVICE_MODULES = ("virtumancer.db", "virtumancer.manager", "virtumancer.services")


def _loaded_after(script: str) -> set[str]:
    probe = textwrap.dedent(script) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return set(loaded)


def _present(loaded: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == n or m.startswith(f"{n}.") for n in names))


def test_import_virtumancer_loads_no_dependency() -> None:
    loaded = _loaded_after("import virtumancer\nvirtumancer.__version__")
    assert _present(loaded, (*HEAVY, *SERVICE_MODULES, "libvirt", "lxml", "anyio", "attrs")) == []


def test_listing_domains_through_connect_loads_no_database_or_service_stack() -> None:
    loaded = _loaded_after(
        """
        import virtumancer
        with virtumancer.connect("test:///default") as host:
            assert [d.name for d in host.domains()] == ["test"]
        """
    )
    assert _present(loaded, (*HEAVY, *SERVICE_MODULES)) == []
    # A plain listing runs straight on the connection: no event loop stack at all.
    assert _present(loaded, ("virtumancer.pool", "asyncio", "anyio", "libvirtaio")) == []
    # Nor the models of what it did not touch (lifecycle, events, storage), nor stdlib
    # modules that only other calls need (tempfile pulls in shutil and the compressors;
    # logging is loaded by the first module that logs; random and queue serve clones and
    # new NICs).
    unused = (
        "virtumancer.models.lifecycle",
        "virtumancer.models.events",
        "virtumancer.models.storage",
        "virtumancer.models.network",
        "virtumancer.rules",
        "tempfile",
        "logging",
        "random",
        "queue",
        "string",
    )
    assert _present(loaded, unused) == []
    # It did load what it used: the parsers.
    assert {"virtumancer._xml", "libvirt"} <= loaded


def test_a_model_import_loads_only_its_own_models() -> None:
    loaded = _loaded_after("from virtumancer.models import Domain")
    assert _present(loaded, (*HEAVY, *SERVICE_MODULES, "virtumancer.models.records")) == []


def test_an_ansible_vm_info_task_loads_no_renderer() -> None:
    # What virtumancer.libvirt.vm_info does: list, then the REST shape of each VM.
    loaded = _loaded_after(
        """
        import virtumancer
        from virtumancer.lifecycle import state_word
        with virtumancer.connect("test:///default") as host:
            domains = host.domains()
        converter = virtumancer.make_converter()
        assert [converter.unstructure(d)["name"] for d in domains] == ["test"]
        """
    )
    # The notebook renderer and SVG escaping (xml.sax.saxutils pulls in urllib, email).
    assert _present(loaded, ("virtumancer.notebook", "xml.sax", "urllib.request", "email")) == []


def test_an_ensure_that_waits_for_nothing_starts_no_event_loop_stack() -> None:
    # What an Ansible vm task that changes nothing does, then a change with no power wait.
    loaded = _loaded_after(
        """
        import virtumancer
        from virtumancer.models.spec import VmSpec
        with virtumancer.connect("test:///default") as host:
            spec = VmSpec(name="test", memory_bytes=8589934592, vcpus=2)
            assert not host.ensure_vm(spec, "running").changed
            bigger = VmSpec(name="test", memory_bytes=8589934592, vcpus=3)
            assert host.ensure_vm(bigger, "running").diff == {"vcpus": (2, 3)}
            assert not host.ensure_network("default", "started").changed
            assert not host.ensure_volume("default-pool", "nothing", "absent").changed
        """
    )
    assert _present(loaded, ("virtumancer.pool", "asyncio", "anyio", "libvirtaio")) == []


def test_an_ensure_that_waits_for_a_power_state_still_reaches_it() -> None:
    loaded = _loaded_after(
        """
        import virtumancer
        from virtumancer.models.spec import VmSpec
        with virtumancer.connect("test:///default") as host:
            spec = VmSpec(name="test", memory_bytes=8589934592, vcpus=2)
            outcome = host.ensure_vm(spec, "paused")
            assert outcome.diff == {"state": ("running", "paused")}, outcome.diff
            assert outcome.domain.state is virtumancer.DomainState.PAUSED
        """
    )
    assert "virtumancer.pool" in loaded  # the wait was driven by libvirt's events
