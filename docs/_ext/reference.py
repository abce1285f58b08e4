"""The site's generated references, so they cannot drift from the code:

- ``.. stylesnake-cli::``: every verb of the ``stylesnake`` command, from
  :func:`pipeline.cli.build_parser` at build time (a flag added, renamed or dropped in the code is
  added, renamed or dropped here too);
- ``.. stylesnake-modules::``: every module of the package, by autodoc;
- the docstrings' references written through a re-export or unqualified, resolved to the one
  object they name (:func:`unqualified`).
"""

from __future__ import annotations

import importlib
import pkgutil

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


class CliReference(SphinxDirective):
    """One section per verb: its one-line help, then its ``--help`` text as argparse prints it."""

    def run(self) -> list[nodes.Node]:
        from pipeline.cli import build_parser, verbs

        parser = build_parser()
        sections: list[nodes.Node] = [nodes.literal_block(text=parser.format_help(), language="text")]
        for name, verb in verbs(parser).items():
            section = nodes.section(ids=[f"verb-{name}"], names=[f"stylesnake {name}"])
            section += nodes.title(text=f"stylesnake {name}")
            if verb.description:
                section += nodes.paragraph(text=verb.description)
            section += nodes.literal_block(text=verb.format_help(), language="text")
            self.state.document.note_implicit_target(section)
            sections.append(section)
        return sections


#: Each module's members, undocumented ones too; a package's re-exports once, where defined.
OPTIONS = ("   :members:", "   :undoc-members:", "   :ignore-module-all:")


class ModuleReference(SphinxDirective):
    """Every module of the package, with its documented members, found by walking the package (a
    module added to ``pipeline/`` appears here without an edit)."""

    def run(self) -> list[nodes.Node]:
        import pipeline

        names = sorted(
            info.name
            for info in pkgutil.walk_packages(pipeline.__path__, "pipeline.")
            if not info.name.endswith("__main__")
        )
        lines = []
        for name in names:
            lines += [name, "-" * len(name), "", f".. automodule:: {name}", *OPTIONS, ""]
        container = nodes.section()
        container.document = self.state.document
        self.state.nested_parse(StringList(lines, source="pipeline"), 0, container, match_titles=True)
        return container.children


def _canonical(target: str) -> str | None:
    """Where the object a dotted name reaches is defined (``pipeline.masks.propose_mask`` →
    ``pipeline.masks.propose.propose_mask``): the lazy packages re-export their names."""
    module_name, _, attribute = target.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError):
        return None
    module, name = getattr(found, "__module__", None), getattr(found, "__qualname__", None)
    return f"{module}.{name}" if module and name else None


def unqualified(app: Sphinx, env: object, node: nodes.Element, contnode: nodes.Node) -> nodes.Node | None:
    """Resolve a Python reference the docstrings write through a re-export (``pipeline.transfer``)
    or unqualified (``:class:`InputError``` in a module that imports it) to the one documented
    object it names; a name that reaches none, or more than one, stays a broken reference and
    fails the build."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    domain = app.env.get_domain("py")
    documented = {name for name, _d, kind, _doc, _a, _p in domain.get_objects() if kind != "module"}
    found = {_canonical(target)} & documented or {
        name for name in documented if name == target or name.endswith("." + target)
    }
    if len(found) != 1:
        return None
    return domain.resolve_xref(app.env, node["refdoc"], app.builder, node["reftype"], found.pop(), node, contnode)


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("missing-reference", unqualified)
    app.add_directive("stylesnake-cli", CliReference)
    app.add_directive("stylesnake-modules", ModuleReference)
    return {"parallel_read_safe": True, "version": "1"}
