"""The display hooks the models share; the rendering lives in :mod:`virtumancer.notebook`."""

from __future__ import annotations


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
