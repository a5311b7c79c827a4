"""Every subpackage is installed: listed in pyproject's ``packages`` with its directory mapped."""

from __future__ import annotations

import importlib
import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _config():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_subpackage_is_listed_in_packages():
    tool = _config()["tool"]["setuptools"]
    listed = set(tool["packages"])
    mapping = tool["package-dir"]
    found = set()
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *rel)))
    assert found, "no packages found under the package-dir mapping"
    assert found <= listed, f"subpackages missing from [tool.setuptools] packages: {found - listed}"
    for name in listed:
        assert name in mapping or name.rsplit(".", 1)[0] in listed
        importlib.import_module(name)


def test_layout_and_public_surface():
    import lift.problems
    import lift.solvers

    # the editable install maps the top-level folders; a built wheel puts them inside lift/
    inside = pathlib.Path(lift.__file__).parent
    assert pathlib.Path(lift.problems.__file__).parent in (ROOT / "problems", inside / "problems")
    assert pathlib.Path(lift.solvers.__file__).parent in (ROOT / "solvers", inside / "solvers")
    assert (ROOT / "lift" / "py.typed").exists()
    assert _config()["project"]["scripts"]["lift"] == "lift.cli:main"
    for name in lift.__all__:
        assert hasattr(lift, name)
    for name in lift.problems.__all__:
        assert hasattr(lift.problems, name)


def test_no_test_modules_outside_tests():
    for folder in ("lift", "problems", "solvers"):
        assert not list((ROOT / folder).rglob("test_*.py"))
