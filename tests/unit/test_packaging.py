"""The package metadata claims what CI proves, and the README works as the package's index page."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: pytest itself depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _matrix_pythons() -> set[str]:
    """The Pythons of scripts/ci_matrix.sh's default legs plus the main leg's (bootstrap: 3.11)."""
    script = (ROOT / "scripts" / "ci_matrix.sh").read_text(encoding="utf-8")
    legs = re.search(r'LEGS="\$\{XENTREE_MATRIX:-([^}]*)\}"', script)
    assert legs, "scripts/ci_matrix.sh no longer sets its default legs as LEGS=${XENTREE_MATRIX:-...}"
    return {leg.split(":")[1] for leg in legs.group(1).split()} | {"3.11"}


def test_python_classifiers_are_the_pythons_ci_runs() -> None:
    classifiers = _pyproject()["project"]["classifiers"]
    claimed = {
        c.rsplit(" :: ", 1)[1]
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert claimed == _matrix_pythons()


def test_requires_python_spans_exactly_the_pythons_ci_runs() -> None:
    requires = _pyproject()["project"]["requires-python"]
    minors = sorted(int(version.split(".")[1]) for version in _matrix_pythons())
    assert requires == f">=3.{minors[0]},<3.{minors[-1] + 1}"
    assert minors == list(range(minors[0], minors[-1] + 1)), "CI skips a Python between the bounds"


def test_every_airflow_minor_of_the_matrix_is_claimed() -> None:
    script = (ROOT / "scripts" / "ci_matrix.sh").read_text(encoding="utf-8")
    legs = re.search(r'LEGS="\$\{XENTREE_MATRIX:-([^}]*)\}"', script)
    assert legs
    airflow_minors = sorted(leg.split(":")[0] for leg in legs.group(1).split())
    assert "apache-airflow>=" + airflow_minors[0] in _pyproject()["project"]["dependencies"]


def test_the_license_is_the_apache_2_text_and_declared() -> None:
    project = _pyproject()["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_readme_links_are_absolute() -> None:
    """Relative links break on the package index page, which shows the README out of the repository."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", readme) + re.findall(r"<(\S+)>", readme)
    relative = [t for t in targets if not re.match(r"(https?:|mailto:|#)", t)]
    assert relative == []


def test_readme_links_into_the_repository_name_files_that_exist() -> None:
    source = _pyproject()["project"]["urls"]["Source"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    paths = re.findall(re.escape(source) + r"/(?:blob|tree)/main/([^)#\s]+)", readme)
    assert paths, "the README links nothing in the repository"
    assert [p for p in paths if not (ROOT / p).exists()] == []


def test_the_sdist_carries_what_a_packager_needs_to_run_the_tests() -> None:
    include = _pyproject()["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    assert {"xentree_provider", "tests", "scripts", "dags_examples", "LICENSE", "README.md"} <= set(include)
