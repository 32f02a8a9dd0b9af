"""``virtumancer import`` as a user runs it: discovered VMs into the database ``serve`` reads.

Each check runs the real console script in a new process against a test-driver node (in
process, ``test:///PATH``) and a SQLite file of its own, then reads that database through the
library, as a server would.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
import yaml

import virtumancer
from tests.cli._support import CLI, Run
from tests.conftest import NodeFactory
from virtumancer.db import hosts as db_hosts
from virtumancer.db import queries as db_queries
from virtumancer.db import sync_writes as db_sync
from virtumancer.db.database import Database

T = TypeVar("T")

#: Nothing listens on port 1: a refused connection, at once.
UNREACHABLE = "qemu+tcp://127.0.0.1:1/system"


def _read(url: str, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(session, *args)`` on the database at ``url`` (as a server reads it)."""

    async def main() -> T:
        database = Database(url)
        try:
            await database.migrate()
            return await database.run(fn, *args)
        finally:
            await database.aclose()

    return anyio.run(main)


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(virtumancer.make_converter().unstructure(value)))


@pytest.fixture
def database(tmp_path: Path) -> str:
    """A SQLite database URL of the test's own."""
    return f"sqlite:///{tmp_path / 'virtumancer.db'}"


@pytest.fixture
def node(test_node_factory: NodeFactory) -> str:
    """An in-process test node with 30 domains (more than one import step)."""
    return f"test://{test_node_factory(domains=30, prefix='imp-')}"


def test_import_all_writes_every_vm_once_in_the_apis_shapes(
    run: Run, node: str, database: str
) -> None:
    first = run("import", "-c", node, "--database", database, "-o", "json")
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""  # not a terminal: no progress bar
    payload = json.loads(first.stdout)
    assert set(payload) == {"host", "host_added", "imported"}
    assert payload["host_added"] is True
    # The shapes GET /hosts and GET /hosts/{id}/vms answer with: the converter's.
    (host,) = _read(database, db_hosts.list_hosts)
    assert host.id == "localhost"
    assert host.uri == node
    expected_host = _plain(host)
    assert {k: v for k, v in payload["host"].items() if k not in ("state", "status")} == {
        k: v for k, v in expected_host.items() if k not in ("state", "status")
    }
    vms = _read(database, db_queries.list_vms, "localhost")
    assert payload["imported"] == _plain(vms)
    assert [vm["name"] for vm in payload["imported"]] == [f"imp-{i:04d}" for i in range(30)]
    assert _read(database, db_queries.list_discovered, "localhost") == []

    again = run("import", "-c", node, "--database", database, "-o", "yaml")
    assert again.returncode == 0, again.stderr
    second = yaml.safe_load(again.stdout)
    assert (second["host_added"], second["imported"]) == (False, [])
    assert second["host"]["id"] == "localhost"
    assert len(_read(database, db_hosts.list_hosts)) == 1


def test_import_named_vms_and_leave_dismissed_ones_to_import_all(
    run: Run, node: str, database: str
) -> None:
    # By name and by UUID; the table is for people, the count goes to standard error.
    with virtumancer.connect(node) as host:
        uuid_of_two = host.domain("imp-0002").uuid
    named = run("import", "imp-0001", uuid_of_two.upper(), "-c", node, "--database", database,
                "--host-id", "lab")  # fmt: skip
    assert named.returncode == 0, named.stderr
    assert "Imported 2 VM(s) into host 'lab' (added to the database)" in named.stderr
    rows = {line.split()[1] for line in named.stdout.splitlines()[1:] if line.strip()}
    assert rows == {"imp-0001", "imp-0002"}
    assert {vm.name for vm in _read(database, db_queries.list_vms, "lab")} == {
        "imp-0001",
        "imp-0002",
    }

    # An operator dismissed one: import all leaves it, naming it imports it.
    discovered = _read(database, db_queries.list_discovered, "lab")
    dismissed = next(vm for vm in discovered if vm.name == "imp-0003")
    _read(database, db_sync.dismiss_discovered, "lab", [dismissed.domain_uuid])
    every = run("import", "-c", node, "--database", database, "-o", "json")
    assert every.returncode == 0, every.stderr
    imported = {vm["name"] for vm in json.loads(every.stdout)["imported"]}
    assert len(imported) == 27
    assert "imp-0003" not in imported
    assert json.loads(every.stdout)["host"]["id"] == "lab"  # found by its URI
    by_name = run("import", "imp-0003", "-c", node, "--database", database, "-o", "json")
    assert [vm["name"] for vm in json.loads(by_name.stdout)["imported"]] == ["imp-0003"]
    assert len(_read(database, db_queries.list_vms, "lab")) == 30


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("imp-0001", "nobody"), 3, "no VM 'nobody' on the host"),
        (("-c", "bogus:///x"), 2, "URI refused"),
        (("-c", UNREACHABLE), 5, "127.0.0.1:1"),
        (("--host-id", " "), 2, "host id"),
        (("--database-url-file", "/nonexistent/url"), 2, "not allowed with argument --database"),
        (("-o", "xml"), 2, "'xml' is not one of"),
    ],
)
def test_bad_input_changes_nothing(
    run: Run, node: str, database: str, args: tuple[str, ...], code: int, message: str
) -> None:
    uri_given = "-c" in args
    result = run(
        "import", *args, *(() if uri_given else ("-c", node)), "--database", database
    )  # fmt: skip
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    if Path(database.removeprefix("sqlite:///")).exists():
        assert _read(database, db_hosts.list_hosts) == []


def test_a_host_id_saved_with_another_uri_is_a_conflict(
    run: Run, node: str, database: str, test_node_factory: NodeFactory
) -> None:
    assert run("import", "imp-0000", "-c", node, "--database", database).returncode == 0
    other = f"test://{test_node_factory(domains=2, prefix='other-')}"
    # The default id (localhost) is taken by the first node; so is an explicit one.
    for extra in ((), ("--host-id", "localhost")):
        clash = run("import", "-c", other, "--database", database, *extra)
        assert clash.returncode == 4, clash.stderr
        assert "another URI" in clash.stderr
        assert clash.stdout == ""
    assert [host.uri for host in _read(database, db_hosts.list_hosts)] == [node]
    assert len(_read(database, db_queries.list_vms, "localhost")) == 1


def test_the_database_comes_from_the_options_and_environment_as_for_serve(
    run: Run, node: str, database: str, tmp_path: Path
) -> None:
    result = run("import", "imp-0004", "-c", node, env={"VIRTUMANCER_DATABASE_URL": database})
    assert result.returncode == 0, result.stderr
    assert [vm.name for vm in _read(database, db_queries.list_vms, "localhost")] == ["imp-0004"]
    url_file = tmp_path / "database-url"
    url_file.write_text(database + "\n")
    from_file = run("import", "imp-0005", "-c", node, "--database-url-file", str(url_file))
    assert from_file.returncode == 0, from_file.stderr
    assert len(_read(database, db_queries.list_vms, "localhost")) == 2
    config = tmp_path / "serve.toml"
    config.write_text(f'database = "{database}"\nport = 8899\n')  # serve's own file
    from_config = run("import", "imp-0006", "-c", node, "--config", str(config))
    assert from_config.returncode == 0, from_config.stderr
    assert len(_read(database, db_queries.list_vms, "localhost")) == 3
    missing = run("import", "-c", node, "--database-url-file", str(tmp_path / "nothing"))
    assert missing.returncode == 2
    assert "database URL file" in missing.stderr
    assert missing.stdout == ""


def test_a_terminal_gets_a_progress_bar_a_pipe_does_not(
    node: str, database: str, tmp_path: Path
) -> None:
    # Standard error is a terminal, standard output a pipe: the bar goes to the terminal only.
    leader, follower = pty.openpty()
    env = {**os.environ, "VIRTUMANCER_CONFIG": str(tmp_path / "none.toml"), "TERM": "xterm"}
    try:
        result = subprocess.run(
            [*CLI, "import", "-c", node, "--database", database, "-o", "json"],
            stdout=subprocess.PIPE,
            stderr=follower,
            stdin=subprocess.DEVNULL,
            env=env,
            timeout=120,
            check=False,
        )
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: everything was read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert result.returncode == 0, drawn
    assert b"importing 30 VMs" in drawn
    assert len(json.loads(result.stdout)["imported"]) == 30
    assert b"\x1b" not in result.stdout
