"""The example notebook runs in a real kernel and shows HTML tables and SVG, not just text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

NOTEBOOK = Path(__file__).parents[1] / "examples" / "notebook.ipynb"


def _outputs(cell: Any, mime: str) -> list[str]:
    return [
        output["data"][mime]
        for output in cell.get("outputs", [])
        if output.get("output_type") in {"execute_result", "display_data"}
        and mime in output.get("data", {})
    ]


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """Run the notebook once in a real IPython kernel (this interpreter) and return its cells."""
    import nbclient
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    with pytest.MonkeyPatch.context() as patch:
        # jupyter_client warns about its old directory layout unless told which one to use.
        patch.setenv("JUPYTER_PLATFORM_DIRS", "1")
        nbclient.NotebookClient(
            notebook,
            timeout=120,
            kernel_name="python3",
            resources={"metadata": {"path": tmp_path_factory.mktemp("notebook")}},
        ).execute()
    cells: list[Any] = [cell for cell in notebook.cells if cell.cell_type == "code"]
    return cells


def _cell(cells: list[Any], source: str) -> Any:
    return next(cell for cell in cells if cell.source.strip().startswith(source))


def test_the_notebook_shows_tables_and_the_topology(executed: list[Any]) -> None:
    assert not [o for c in executed for o in c.get("outputs", []) if o["output_type"] == "error"]
    info = _outputs(_cell(executed, "host.info()"), "text/html")
    assert info
    assert "<table" in info[0]
    assert "libvirt" in info[0]
    table = _outputs(_cell(executed, "domains = host.domains()"), "text/html")
    assert table
    assert "<caption style='text-align:left'>1 Domain</caption>" in table[0]
    assert "<td" in table[0]
    assert ">test<" in table[0]
    assert ">running<" in table[0]
    domain = _outputs(_cell(executed, 'host.domain("test")'), "text/html")
    assert domain
    assert "Domain test" in domain[0]
    svg = _outputs(_cell(executed, "host.topology()"), "image/svg+xml")
    assert svg
    assert svg[0].startswith("<svg")
    assert "test" in svg[0]


def test_plain_text_is_one_line_per_object(executed: list[Any]) -> None:
    printed = "".join(
        output.get("text", "") for output in _cell(executed, "print(repr(domains))").outputs
    )
    assert printed.strip().splitlines() == [
        "[<Domain 'test' running, 2 vCPUs, 8 GiB, 6695eb01-f6a4-8304-79aa-97f2502e193f>]"
    ]


def test_the_async_manager_spans_cells(executed: list[Any]) -> None:
    svg = _outputs(_cell(executed, "await vm.topology()"), "image/svg+xml")
    assert svg
    assert svg[0].startswith("<svg")
    assert "demo" in svg[0]
    closed = _outputs(_cell(executed, "await vm.aclose()"), "text/plain")
    assert closed
    assert closed[0].startswith("<Virtumancer closed")


def test_the_live_view_redraws_from_an_event(executed: list[Any]) -> None:
    # First drawn with the domain running (the display handle's output) ...
    shown = _outputs(_cell(executed, "import asyncio"), "text/html")
    assert shown
    assert ">test<" in shown[0]
    assert ">running<" in shown[0]
    # ... then redrawn by the suspend's event (the interval is an hour). nbclient files the
    # handle's later updates under the cell that made it, so it keeps the first drawing; a
    # notebook front end updates it in place. The cell shows the view as last drawn.
    after = _outputs(_cell(executed, 'await live.power("test", "suspend"'), "text/html")
    assert after
    assert ">paused<" in after[0]
