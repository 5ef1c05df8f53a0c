"""Templates that ``migration-harness init`` writes into a downstream project.

The templates are package data (``*.tmpl`` beside this module); ``@@{key}`` marks a
value to fill. ``string.Template`` with that delimiter does the filling because the
templates are full of ``{repo}`` and ``${{ }}``, which ``str.format`` and the default
``$`` delimiter would take for their own.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from importlib import resources

from migration_harness import __version__
from migration_harness.origin import git_requirement, index_requirement, workflow_ref

SPEC_FILE = "migration-harness.toml"
WORKFLOW_FILE = ".github/workflows/migrations.yml"
NOX_FILE = "noxfile_migrations.py"

# Output path -> template file in this package, in the order init writes them.
TEMPLATES = {
    SPEC_FILE: "migration-harness.toml.tmpl",
    WORKFLOW_FILE: "migrations.yml.tmpl",
    NOX_FILE: "noxfile_migrations.py.tmpl",
}


class _AtTemplate(string.Template):
    # Placeholders are written `@@{name}`: neither TOML nor YAML nor Python uses `@@`.
    delimiter = "@@"


@dataclass(frozen=True)
class ScaffoldValues:
    """What the templates are filled with."""

    name: str
    workflow: str
    harness: str
    version: str = __version__

    def as_mapping(self) -> dict[str, str]:
        prefix = re.sub(r"[^A-Z0-9]+", "_", self.name.upper()).strip("_") or "TOOL"
        return {
            "name": self.name,
            "workflow": self.workflow,
            "workflow_repo": self.workflow.split("@", 1)[0],
            # A JSON string is a YAML double-quoted scalar and a Python string literal.
            "harness": json.dumps(self.harness),
            "version": self.version,
            "env_prefix": prefix,
            # The tool's Python package name, as an example entry point would spell it.
            "module": prefix.lower(),
        }


def default_workflow_ref(commit: str | None, version: str = __version__) -> str:
    """A caller's `uses:` value: the reusable workflow at this harness's commit, else at its
    release tag."""
    return workflow_ref(commit if commit is not None else f"v{version}")


def default_harness(commit: str | None, version: str = __version__) -> str:
    """The pip requirement of the same harness: its repository at ``commit``, else the
    release on the package index."""
    return git_requirement(commit) if commit is not None else index_requirement(version)


def template_text(template: str) -> str:
    """The raw text of one template shipped in this package."""
    return resources.files(__package__).joinpath(template).read_text(encoding="utf-8")


def render(values: ScaffoldValues) -> dict[str, str]:
    """Every scaffold file, output path (POSIX, relative) -> filled text."""
    mapping = values.as_mapping()
    return {
        out: _AtTemplate(template_text(tmpl)).substitute(mapping) for out, tmpl in TEMPLATES.items()
    }
