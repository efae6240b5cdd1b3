"""Deploying without Rust: make package's template, samconfig.toml, and the
Serverless Application Repository metadata that `sam publish` reads.

The packaging script runs here on a stand-in bundle (a `bootstrap` script), so
these tests need no arm64 build; `make package` runs the same script on the
real bundle and validates its output the same way.
"""

from __future__ import annotations

import json
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


def package_module():
    sys.path.insert(0, str(PACKAGE.parent))
    try:
        import package
    finally:
        sys.path.pop(0)
    return package


# Types the Serverless Application Repository does not take (not on its list
# of supported resources), which `make package` leaves out of
# dist/sar-template.json.
SAR_LEFT_OUT = {"AWS::Logs::QueryDefinition"}
# Those that make SAR ask for CAPABILITY_RESOURCE_POLICY ("Application
# capabilities" in its developer guide).
RESOURCE_POLICIES = {
    "AWS::Lambda::Permission",
    "AWS::Lambda::LayerVersionPermission",
    "AWS::Events::EventBusPolicy",
    "AWS::IAM::Policy",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
}


def test_every_resource_type_is_one_the_repository_takes_or_left_out():
    """A type added to the template is a decision: one SAR takes (on its list),
    or one the application for SAR leaves out, with nothing naming it."""
    types = {body["Type"] for body in source()["Resources"].values()}
    supported = package_module().SAR_SUPPORTED
    assert types <= supported | SAR_LEFT_OUT, types - supported - SAR_LEFT_OUT
    assert not SAR_LEFT_OUT & supported


def test_the_capabilities_a_deployment_acknowledges_are_documented():
    """The role needs CAPABILITY_IAM; the policies on the bucket, queues,
    topics and function make the repository ask for CAPABILITY_RESOURCE_POLICY
    too: the pages a deployer reads name both."""
    types = {body["Type"] for body in source()["Resources"].values()}
    assert types & RESOURCE_POLICIES
    for page in ("docs/deploy.md", "docs/sar.md"):
        text = (ROOT / page).read_text()
        assert "CAPABILITY_IAM" in text and "CAPABILITY_RESOURCE_POLICY" in text, page


def test_make_publish_refuses_placeholder_urls_in_one_line():
    """Until the metadata names the project's real pages, make publish stops
    before building anything, with one line saying what to set."""
    placeholder = "github.com/OWNER/"
    held = placeholder in (ROOT / "template.yaml").read_text() or placeholder in (ROOT / "docs/sar.md").read_text()
    done = subprocess.run(
        ["make", "--no-print-directory", "publish"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    lines = done.stdout.strip().splitlines()
    assert done.returncode != 0
    if held:
        assert len(lines) == 1 and lines[0].startswith("error: ") and "HomePageUrl" in lines[0], done.stdout
    else:
        # Past the check: the next refusal is the missing bucket.
        assert len(lines) == 1 and lines[0].startswith("usage: make publish BUCKET="), done.stdout


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
    # For the Serverless Application Repository: the same stack, less what it
    # does not take.
    sar = json.loads((out / "sar-template.json").read_text())
    left_out = {n for n, body in packaged["Resources"].items() if body["Type"] in SAR_LEFT_OUT}
    assert left_out and set(sar["Resources"]) == set(packaged["Resources"]) - left_out
    assert {body["Type"] for body in sar["Resources"].values()} <= package_module().SAR_SUPPORTED
    assert {k: v for k, v in sar.items() if k != "Resources"} == {k: v for k, v in packaged.items() if k != "Resources"}
    # The scripts the alarms' runbooks name, runnable where the Makefile is not.
    for name in ("redrive.sh", "smoke.sh"):
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
    package = package_module()
    text = (ROOT / "template.yaml").read_text()
    with pytest.raises(package.PackageError, match="BuildMethod"):
        package.packaged(text.replace(package.BUILD_METHOD, "      BuildMethod: makefile\n"))
    with pytest.raises(package.PackageError, match="CodeUri"):
        package.packaged(text.replace(package.CODE_URI, "      CodeUri: ./\n"))
    broken = package.packaged(text).replace("      Timeout: 180\n", "      Timeout: 900\n")
    with pytest.raises(package.PackageError, match="differs"):
        package.check(text, broken)
