"""Offline stand-in for what CloudFormation does to template.yaml at deploy time.

SAM's translator turns the template into plain CloudFormation; this module then
picks one set of parameter values, evaluates the Conditions and Rules, drops what
a false condition leaves out, and renders intrinsic functions to plain values so
that tests can compare policies and properties with what they must be.
"""

from __future__ import annotations

import copy
import os
import re
import sys
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

# Pseudo parameters of an imagined stack. The stack ID's last segment is what
# the template builds the bucket name from.
STACK_UUID = "0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d"
PSEUDO = {
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::StackName": "invalidator",
    "AWS::StackId": f"arn:aws:cloudformation:us-east-1:123456789012:stack/invalidator/{STACK_UUID}",
    "AWS::URLSuffix": "amazonaws.com",
}

# The walk over Ref, Fn::GetAtt and ${...} in Fn::Sub: one copy, the one
# tools/package.py refuses a SAR template with.
sys.path.insert(0, str(TEMPLATE.parent / "tools"))
try:
    from package import named as references  # noqa: E402
finally:
    sys.path.pop(0)

NO_VALUE = object()  # what Ref AWS::NoValue renders to; dropped from its parent
RULE_AND_CONDITION_FUNCTIONS = {
    "Fn::Equals",
    "Fn::Not",
    "Fn::And",
    "Fn::Or",
    "Fn::Contains",
    "Fn::EachMemberEquals",
    "Condition",
}


def load_sam() -> dict:
    """template.yaml with an S3 CodeUri: the translator cannot package local code."""
    template = yaml_parse(TEMPLATE.read_text())
    template["Resources"]["InvalidatorFunction"]["Properties"]["CodeUri"] = "s3://example-artifacts/invalidator.zip"
    return template


class _NoManagedPolicies:
    """The template names no managed policy, so nothing needs looking up in IAM."""

    def load(self) -> dict:
        return {}


def translate(sam: dict, params: dict[str, str]) -> dict:
    os.environ.setdefault("AWS_DEFAULT_REGION", PSEUDO["AWS::Region"])
    return transform(copy.deepcopy(sam), params, _NoManagedPolicies())


class Deployment:
    """One translated template with one set of parameter values (strings, as
    CloudFormation receives them)."""

    def __init__(self, cfn: dict, params: dict[str, str]):
        self.cfn = cfn
        self.params = self._with_defaults(params)
        self.conditions: dict[str, bool] = {}
        for name in cfn.get("Conditions", {}):
            self._condition(name)

    def _with_defaults(self, given: dict[str, str]) -> dict[str, Any]:
        values = {}
        for name, spec in self.cfn["Parameters"].items():
            raw = given.get(name, spec.get("Default"))
            assert raw is not None, f"parameter {name} has no default and no value"
            raw = str(raw)
            values[name] = raw.split(",") if spec["Type"] == "CommaDelimitedList" else raw
        unknown = set(given) - set(values)
        assert not unknown, f"not parameters of the template: {unknown}"
        return values

    def _condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = self.value(self.cfn["Conditions"][name])
        return self.conditions[name]

    # -- intrinsic functions -------------------------------------------------
    def value(self, node: Any) -> Any:
        """Render a template fragment: parameters and pseudo parameters become
        their values, a resource reference becomes "<Name>" and an attribute
        "<Name.Attr>", so `"<Bucket.Arn>/*"` reads like the template."""
        if isinstance(node, list):
            return [v for v in (self.value(x) for x in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (fn, arg), = node.items()
            if fn == "Ref":
                return self._ref(arg)
            if fn == "Fn::GetAtt":
                resource, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return f"<{resource}.{attribute}>"
            if fn == "Fn::If":
                condition, when_true, when_false = arg
                return self.value(when_true if self._condition(condition) else when_false)
            if fn == "Fn::Join":
                delimiter, items = arg
                return delimiter.join(_flatten(self.value(items)))
            if fn == "Fn::Split":
                delimiter, text = arg
                return self.value(text).split(delimiter)
            if fn == "Fn::Select":
                index, items = arg
                return self.value(items)[int(self.value(index))]
            if fn == "Fn::FindInMap":
                mapping, key, attribute = (self.value(x) for x in arg)
                return self.cfn["Mappings"][mapping][key][attribute]
            if fn == "Fn::Sub":
                return self._sub(*(arg if isinstance(arg, list) else [arg, {}]))
            if fn in RULE_AND_CONDITION_FUNCTIONS:
                return self._boolean(fn, arg)
            assert not fn.startswith("Fn::"), f"no evaluator for {fn}"
        rendered = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in rendered.items() if v is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.params:
            return self.params[name]
        assert name in self.cfn["Resources"], f"Ref to unknown {name}"
        return f"<{name}>"

    def _sub(self, text: str, variables: dict) -> str:
        bound = {k: self.value(v) for k, v in variables.items()}

        def one(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in bound:
                return bound[name]
            if "." in name:
                return "<" + name + ">"
            resolved = self._ref(name)
            assert isinstance(resolved, str), f"${{{name}}} is not a string"
            return resolved

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def _boolean(self, fn: str, arg: Any) -> bool:
        if fn == "Condition":
            return self._condition(arg)
        if fn == "Fn::Equals":
            left, right = (self.value(x) for x in arg)
            return str(left) == str(right)
        if fn == "Fn::Not":
            return not self.value(arg[0])
        if fn == "Fn::And":
            return all(self.value(x) for x in arg)
        if fn == "Fn::Or":
            return any(self.value(x) for x in arg)
        if fn == "Fn::Contains":
            items, item = arg
            return str(self.value(item)) in [str(x) for x in self.value(items)]
        if fn == "Fn::EachMemberEquals":
            items, item = arg
            return all(str(x) == str(self.value(item)) for x in self.value(items))
        raise AssertionError(fn)

    # -- the deployed stack ----------------------------------------------------
    def failed_rules(self) -> list[str]:
        """AssertDescription of every Rule assertion these parameters break."""
        failed = []
        for rule in self.cfn.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.value(rule["RuleCondition"]):
                continue
            failed += [a["AssertDescription"] for a in rule["Assertions"] if not self.value(a["Assert"])]
        return failed

    def kept(self, section: str) -> dict:
        return {
            name: body
            for name, body in self.cfn.get(section, {}).items()
            if "Condition" not in body or self._condition(body["Condition"])
        }

    def resources(self) -> dict:
        """The resources CloudFormation would create, intrinsics rendered."""
        return {name: self.value(body) for name, body in self.kept("Resources").items()}

    def without_conditions(self) -> dict:
        """The template as CloudFormation sees it for these parameters: resources
        and outputs of false conditions removed, Fn::If replaced by the branch
        taken, everything else (Ref, GetAtt, Sub...) left for a linter to check."""

        def choose(node: Any) -> Any:
            if isinstance(node, list):
                return [v for v in (choose(x) for x in node) if v is not NO_VALUE]
            if not isinstance(node, dict):
                return node
            if set(node) == {"Fn::If"}:
                condition, when_true, when_false = node["Fn::If"]
                return choose(when_true if self._condition(condition) else when_false)
            if node == {"Ref": "AWS::NoValue"}:
                return NO_VALUE
            chosen = {k: choose(v) for k, v in node.items()}
            return {k: v for k, v in chosen.items() if v is not NO_VALUE}

        def unconditional(section: str) -> dict:
            kept = self.kept(section)
            return {name: choose({k: v for k, v in body.items() if k != "Condition"}) for name, body in kept.items()}

        template = {k: v for k, v in self.cfn.items() if k not in ("Conditions", "Resources", "Outputs")}
        template["Resources"] = unconditional("Resources")
        template["Outputs"] = unconditional("Outputs")
        return template


def _flatten(items: list) -> list[str]:
    out = []
    for item in items:
        out += _flatten(item) if isinstance(item, list) else [str(item)]
    return out
