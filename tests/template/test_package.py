"""Deploying without Rust: make package's template, samconfig.toml, and the
Serverless Application Repository metadata that `sam publish` reads.

The packaging script runs here on a stand-in bundle (a `bootstrap` script), so
these tests need no arm64 build; `make package` runs the same script on the
real bundle and validates its output the same way.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tools" / "package.py"


def source() -> dict:
    return yaml_parse((ROOT / "template.yaml").read_text())


def intrinsic_functions(node) -> list:
    """Every Ref / Fn:: / Condition in a fragment."""
    if isinstance(node, list):
        return [f for x in node for f in intrinsic_functions(x)]
    if isinstance(node, dict):
        here = [k for k in node if k == "Ref" or k.startswith("Fn::") or k == "Condition"]
        return here + [f for v in node.values() for f in intrinsic_functions(v)]
    return []


def test_serverless_repo_metadata():
    """What `sam publish` needs, within the repository's own limits, with no
    intrinsic function (it reads the values as they are)."""
    app = source()["Metadata"]["AWS::ServerlessRepo::Application"]
    assert intrinsic_functions(app) == []
    required = {"Name", "Description", "Author", "SemanticVersion", "SpdxLicenseId", "LicenseUrl", "ReadmeUrl"}
    assert required <= set(app)
    assert set(app) <= required | {"Labels", "HomePageUrl", "SourceCodeUrl"}
    assert re.fullmatch(r"[a-zA-Z0-9-]{1,140}", app["Name"])
    assert 1 <= len(app["Description"]) <= 256
    assert re.fullmatch(r"[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?", app["Author"]) and len(app["Author"]) <= 127
    assert 1 <= len(app["Labels"]) <= 10
    assert all(re.fullmatch(r"[a-zA-Z0-9+\-_:/@]{1,127}", label) for label in app["Labels"])
    for url in ("HomePageUrl", "SourceCodeUrl"):
        assert app[url].startswith("https://"), url
    # The files sit under the template's folder (sam package uploads them).
    for name in ("LicenseUrl", "ReadmeUrl"):
        assert (ROOT / app[name]).is_file(), app[name]


def test_version_and_license_match_the_crate():
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]
    app = source()["Metadata"]["AWS::ServerlessRepo::Application"]
    assert app["SemanticVersion"] == cargo["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", app["SemanticVersion"])
    assert app["SpdxLicenseId"] == "MIT"
    assert (ROOT / app["LicenseUrl"]).read_text().startswith("MIT License\n")
    # Cargo.toml may leave it out; when it says, it says the same.
    assert cargo.get("license", app["SpdxLicenseId"]) == app["SpdxLicenseId"]


def test_samconfig_defaults():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    assert config["default"]["global"]["parameters"]["stack_name"] == "cloudfront-invalidator"
    deploy = config["default"]["deploy"]["parameters"]
    assert deploy["resolve_s3"] is True
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True
    # The region is the user's choice; parameters are asked by --guided.
    for section in config["default"].values():
        assert "region" not in section["parameters"]
        assert "parameter_overrides" not in section["parameters"]


def stand_in_build(tmp_path: Path) -> Path:
    build = tmp_path / "build"
    (build / "InvalidatorFunction").mkdir(parents=True)
    bootstrap = build / "InvalidatorFunction" / "bootstrap"
    bootstrap.write_text("#!/bin/sh\n# stands in for the arm64 build\n")
    bootstrap.chmod(0o755)
    return build


def run_package(build: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PACKAGE), str(build), str(out)], capture_output=True, text=True, timeout=60
    )


def test_packaged_template_deploys_the_bundle_without_a_build(tmp_path):
    out = tmp_path / "dist"
    run = run_package(stand_in_build(tmp_path), out)
    assert run.returncode == 0, run.stderr
    packaged = yaml_parse((out / "template.yaml").read_text())
    function = packaged["Resources"]["InvalidatorFunction"]
    # CodeUri names a folder beside the template, holding the bootstrap.
    bundle = out / function["Properties"]["CodeUri"]
    assert bundle.parent == out and os.access(bundle / "bootstrap", os.X_OK)
    assert "BuildMethod" not in function.get("Metadata", {})
    assert "BuildMethod:" not in (out / "template.yaml").read_text()
    # Nothing else changed.
    expected = source()
    expected["Resources"]["InvalidatorFunction"]["Properties"]["CodeUri"] = "InvalidatorFunction"
    del expected["Resources"]["InvalidatorFunction"]["Metadata"]["BuildMethod"]
    assert packaged == expected
    # What the SAM CLI and the repository metadata find beside it, at the paths
    # the metadata names.
    app = packaged["Metadata"]["AWS::ServerlessRepo::Application"]
    assert {app["LicenseUrl"], app["ReadmeUrl"]} == {"LICENSE", "docs/sar.md"}
    for name in ("samconfig.toml", app["LicenseUrl"], app["ReadmeUrl"]):
        assert (out / name).read_bytes() == (ROOT / name).read_bytes(), name
    # The scripts the alarms' runbooks name, runnable where the Makefile is not.
    for name in ("redrive.sh",):
        assert (out / name).read_bytes() == (ROOT / "tools" / name).read_bytes(), name
        assert os.access(out / name, os.X_OK), name

    sam = shutil.which("sam")
    if sam is None:
        pytest.fail("sam is not on PATH: `make tools` installs it into .venv/aws")
    validate = subprocess.run(
        [sam, "validate", "--lint", "--template", str(out / "template.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr


def test_package_refuses_a_missing_bundle(tmp_path):
    (tmp_path / "build").mkdir()
    run = run_package(tmp_path / "build", tmp_path / "dist")
    assert run.returncode == 1
    assert "make build" in run.stderr
    assert not (tmp_path / "dist").exists()


def test_package_refuses_a_template_it_cannot_edit(tmp_path, monkeypatch):
    """When the two lines it edits change in template.yaml, it says so instead
    of writing a template that would still ask for a Rust build."""
    sys.path.insert(0, str(PACKAGE.parent))
    try:
        import package
    finally:
        sys.path.pop(0)
    text = (ROOT / "template.yaml").read_text()
    with pytest.raises(package.PackageError, match="BuildMethod"):
        package.packaged(text.replace(package.BUILD_METHOD, "      BuildMethod: makefile\n"))
    with pytest.raises(package.PackageError, match="CodeUri"):
        package.packaged(text.replace(package.CODE_URI, "      CodeUri: ./\n"))
    broken = package.packaged(text).replace("      Timeout: 180\n", "      Timeout: 900\n")
    with pytest.raises(package.PackageError, match="differs"):
        package.check(text, broken)
