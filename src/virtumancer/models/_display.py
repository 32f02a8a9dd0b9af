"""The display hooks the models share; the rendering lives in :mod:`virtumancer.notebook`."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["Displayed", "ModelList"]

T = TypeVar("T")


class Displayed:
    """Give a model a one-line ``repr`` and a notebook HTML table.

    A model class inherits it and says ``repr=False`` to attrs (which would otherwise write
    a ``__repr__`` listing every field over this one). The renderer is imported on first
    display, so the models stay plain data and importing them stays cheap.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        from virtumancer.notebook import text_line

        return text_line(self)

    def _repr_html_(self) -> str:
        from virtumancer.notebook import render_html

        return render_html(self)


class ModelList(list[T]):
    """A list of models that shows as a table in a notebook and one line per item as text.

    Lives here, not in :mod:`virtumancer.notebook`, so that the sync facade's listings
    (an Ansible task's ``host.domains()``) load the renderer only when something is shown.
    """

    def __repr__(self) -> str:
        if not self:
            return "[]"
        from virtumancer.notebook import text_line

        return "[" + ",\n ".join(text_line(item) for item in self) + "]"

    def _repr_html_(self) -> str:
        from virtumancer.notebook import render_html

        return render_html(self)
