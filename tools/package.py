"""make package: the stack, ready to deploy with the SAM CLI alone (no Rust).

    python tools/package.py BUILD_DIR OUT_DIR

BUILD_DIR is `sam build`'s output (.aws-sam/build), holding the arm64 bundle
InvalidatorFunction/bootstrap. OUT_DIR (dist) receives:

    InvalidatorFunction/  the bundle, copied as sam build made it
    template.yaml         template.yaml with CodeUri pointing at the bundle and
                          no BuildMethod, so `sam deploy` zips and uploads it as
                          it is and builds nothing
    samconfig.toml        the deploy defaults (the SAM CLI reads the one beside
                          the template it deploys)
    LICENSE, docs/sar.md  the files the Serverless Application Repository
                          metadata names (`sam package` uploads them), at the
                          same paths as beside template.yaml
    redrive.sh, smoke.sh  the operator's scripts (tools/), which the alarms'
                          runbooks and the deploy checklist name: a
                          deployment from dist/ has no Makefile
    sar-template.json     the same stack for the Serverless Application
                          Repository (`make publish`): without the resource
                          types it does not take (SAR_SUPPORTED), as JSON

The template is edited as text, so its comments stay, and then parsed to check
that the two edits are the only difference.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUNCTION = "InvalidatorFunction"
# The two lines of template.yaml that ask for a Rust build.
CODE_URI = "      CodeUri: .\n"
BUILD_METHOD = "      BuildMethod: rust-cargolambda\n"
# Paths from the project's folder, kept in OUT_DIR: the packaged template names
# LicenseUrl and ReadmeUrl as template.yaml does.
BESIDE = ("samconfig.toml", "LICENSE", "docs/sar.md")
# The operator's scripts, from tools/ to the top of OUT_DIR (bash and the AWS
# CLI are all they need).
SCRIPTS = ("redrive.sh", "smoke.sh")
HEADER = (
    "# Written by `make package` from template.yaml, with CodeUri pointing at the\n"
    "# built bundle beside it, and no build method, so nothing is compiled: deploy\n"
    "# it with the SAM CLI alone (cd dist && sam deploy --guided). Edit\n"
    "# template.yaml, not this copy.\n"
)


# What the Serverless Application Repository takes: its "List of Supported
# AWS Resources" (developer guide; the types this template could use). It has
# no AWS::Logs::QueryDefinition, so the saved queries stay out of the
# application (docs/operating.md gives their text).
SAR_SUPPORTED = frozenset(
    {
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::Events::Rule",
        "AWS::IAM::Role",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::Lambda::EventSourceMapping",
        "AWS::Lambda::Function",
        "AWS::Lambda::Permission",
        "AWS::Logs::LogGroup",
        "AWS::S3::Bucket",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::Subscription",
        "AWS::SNS::Topic",
        "AWS::SNS::TopicPolicy",
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
        "AWS::Serverless::Function",
    }
)


class PackageError(Exception):
    pass


def packaged(source: str) -> str:
    for line in (CODE_URI, BUILD_METHOD):
        if source.count(line) != 1:
            raise PackageError(f"template.yaml should hold {line.strip()!r} exactly once: update tools/package.py")
    return HEADER + source.replace(CODE_URI, f"      CodeUri: {FUNCTION}\n").replace(BUILD_METHOD, "")


def check(source: str, result: str) -> None:
    """The packaged template differs from the source by the two edits alone."""
    from samtranslator.yaml_helper import yaml_parse

    before, after = yaml_parse(source), yaml_parse(result)
    function = before["Resources"][FUNCTION]
    function["Properties"]["CodeUri"] = FUNCTION
    del function["Metadata"]["BuildMethod"]
    if before != after:
        raise PackageError("the packaged template differs from template.yaml by more than CodeUri and BuildMethod")


def named(node) -> set[str]:
    """The logical IDs a fragment refers to (Ref, Fn::GetAtt, ${...} in Fn::Sub)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= named(item)
    elif isinstance(node, dict):
        for key, arg in node.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".")[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                if isinstance(arg, list):
                    found |= named(arg[1])
            else:
                found |= named(arg)
    return found


def for_sar(packaged_text: str) -> dict:
    """The packaged stack without the resources the Serverless Application
    Repository does not take; refuses when anything refers to one of them."""
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse(packaged_text)
    resources = template["Resources"]
    left_out = {name for name, body in resources.items() if body["Type"] not in SAR_SUPPORTED}
    for name in left_out:
        del resources[name]
    still = named({k: v for k, v in template.items() if k != "Metadata"}) & left_out
    if still:
        raise PackageError(f"the application for the repository would lose {sorted(still)}, which others name")
    return template


def package(build_dir: Path, out_dir: Path) -> None:
    bootstrap = build_dir / FUNCTION / "bootstrap"
    if not (bootstrap.is_file() and os.access(bootstrap, os.X_OK)):
        raise PackageError(f"no executable {bootstrap}: build it first (make build runs sam build)")
    source = (ROOT / "template.yaml").read_text()
    result = packaged(source)
    check(source, result)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Only what this script writes is replaced; anything else there stays.
    shutil.rmtree(out_dir / FUNCTION, ignore_errors=True)
    shutil.copytree(build_dir / FUNCTION, out_dir / FUNCTION)
    (out_dir / "template.yaml").write_text(result)
    (out_dir / "sar-template.json").write_text(json.dumps(for_sar(result), indent=1) + "\n")
    for name in BESIDE:
        (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, out_dir / name)
    for name in SCRIPTS:
        shutil.copy2(ROOT / "tools" / name, out_dir / name)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        package(Path(argv[1]), Path(argv[2]))
    except PackageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{argv[2]}/template.yaml and {argv[2]}/{FUNCTION}/bootstrap are ready: cd {argv[2]} && sam deploy --guided")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
