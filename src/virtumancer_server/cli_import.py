"""``virtumancer import``: put a host's discovered VMs under management, in the database.

Importing is an inventory operation: it writes the VMs into the database a server reads
(honouring what its operators dismissed) and our provenance into their ``<metadata>``. So
this command works on that database -- the one ``serve`` uses, found the same way -- through
the library's :func:`virtumancer.import_vms`, as ``POST /hosts/{id}/vms/import-all`` and
``import-selected`` do; it does not need the server running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, Final

import click

from virtumancer_server.cli_libvirt import _state, resolve_uri
from virtumancer_server.cli_output import (
    Column,
    OutputFormat,
    emit,
    human_bytes,
    output_option,
    progress,
)

if TYPE_CHECKING:
    from virtumancer import ImportResult

__all__ = ["COMMANDS", "import_command"]

_IMPORTED_COLUMNS: Final = (
    Column("HOST", "host_id"),
    Column("NAME", "name"),
    Column("STATE", "state", _state),
    Column("VCPUS", "vcpu_count"),
    Column("MEMORY", "memory_bytes", human_bytes),
    Column("UUID", "uuid"),
)


def _database_url(database: str | None, url_file: str | None, config: str | None) -> str:
    """Return the database URL exactly as ``serve`` finds it (options, environment, file)."""
    from virtumancer_server.cli import _exclusive, serve
    from virtumancer_server.config import ServerConfig
    from virtumancer_server.config_file import load_config_file

    params = {"database": database, "database_url_file": url_file}
    _exclusive(params, *params)  # serve's rule and wording
    try:
        path = ServerConfig.config_file_from_env(config)
        file_values: dict[str, Any] = {}
        if path:
            file_values = load_config_file(path, serve.params)
        return ServerConfig.database_url_from_env(database, url_file=url_file, file=file_values)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


@contextmanager
def _import_progress() -> Iterator[Callable[[int, int], None]]:
    """Yield ``report(done, total)``, drawing one bar once the total is known.

    The bar is :func:`~virtumancer_server.cli_output.progress`'s: on standard error, and
    only when that is a terminal.
    """
    with ExitStack() as stack:
        advance: Callable[[], None] | None = None
        shown = 0

        def report(done: int, total: int) -> None:
            nonlocal advance, shown
            if advance is None:
                advance = stack.enter_context(progress(total, f"importing {total} VMs"))
            while shown < done:
                advance()
                shown += 1

        yield report


@click.command("import")
@click.argument("names", nargs=-1, metavar="[NAME...]")
@click.option(
    "-c",
    "--connect",
    "uri",
    metavar="URI",
    help="libvirt URI of the host (default: $VIRTUMANCER_URI, $LIBVIRT_DEFAULT_URI, then "
    "the config file's `uri`)",
)
@click.option(
    "--host-id",
    metavar="ID",
    help="the host's id in the database (default: the saved host with this URI, else the "
    "URI's host name, or `localhost`, for a host added now)",
)
@click.option(
    "--database",
    metavar="URL",
    help="SQLAlchemy database URL (env VIRTUMANCER_DATABASE_URL; default: the SQLite file "
    "in the user's data directory, as for serve)",
)
@click.option(
    "--database-url-file",
    metavar="PATH",
    help="read the database URL from this file (env VIRTUMANCER_DATABASE_URL_FILE)",
)
@click.option(
    "--config",
    metavar="FILE",
    help="serve's TOML config file, for its database settings (env VIRTUMANCER_SERVE_CONFIG)",
)
@output_option()
def import_command(
    names: Sequence[str],
    uri: str | None,
    host_id: str | None,
    database: str | None,
    database_url_file: str | None,
    config: str | None,
    output: str,
) -> None:
    """Import the host's discovered VMs (or only NAME..., by name or UUID) into the database.

    Without names every discovered VM is imported except those dismissed, as the REST
    API's import-all; named VMs are imported even if dismissed. The host is added to the
    database first if it is not there. VMs already managed are left alone. Prints the VMs
    imported (JSON/YAML: the host as GET /hosts lists it and the VMs as GET
    /hosts/{id}/vms lists them); a bar on standard error shows the progress on a terminal.
    """
    import anyio

    from virtumancer import acting_as, import_vms
    from virtumancer_server.token_cli import CLI_ACTOR

    url = _database_url(database, database_url_file, config)
    target = resolve_uri(uri)

    async def run(report: Callable[[int, int], None]) -> ImportResult:
        with acting_as(CLI_ACTOR):
            return await import_vms(
                target, database_url=url, host_id=host_id, names=names, progress=report
            )

    with _import_progress() as report:
        result = anyio.run(run, report)
    _emit_result(result, OutputFormat(output))


def _emit_result(result: ImportResult, output: OutputFormat) -> None:
    import virtumancer

    converter = virtumancer.make_converter()
    if output is not OutputFormat.TABLE:
        payload = {
            "host": converter.unstructure(result.host),
            "host_added": result.host_added,
            "imported": converter.unstructure(result.imported),
        }
        emit(payload, output, ())
        return
    added = " (added to the database)" if result.host_added else ""
    click.echo(
        f"Imported {len(result.imported)} VM(s) into host {result.host.id!r}{added}.", err=True
    )
    if result.imported:
        emit(converter.unstructure(result.imported), output, _IMPORTED_COLUMNS)


#: The top-level commands of this module, as :mod:`virtumancer_server.cli` adds them.
COMMANDS: Final[tuple[click.Command, ...]] = (import_command,)
