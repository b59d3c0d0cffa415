"""IAM: every function's role may write traces and read sampling rules (FR-017), and the canary's role
is its own (FR-051)."""
from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationPolicy

from contract import xray

from .config import Config, json_list, json_map
from .define import Stack, stack_policy
from .permissions import granting_all, missing_actions
from .stack_index import Node, StackIndex
from .values import matches_any


def _functions(index: StackIndex, cfg: Config) -> list[Node]:
    return index.functions


def _canaries(index: StackIndex, cfg: Config) -> list[Node]:
    return [fn for fn in index.functions if matches_any(cfg["canaryNamePatterns"], fn.logical, fn.physical)]


# -- xray-write-permissions -----------------------------------------------------------------------

def check_xray_permissions(stack: Stack, report: ReportViolation) -> None:
    cfg, index = stack.config, stack.index
    actions = list(cfg["actions"])
    managed = cfg["managedPolicies"]
    suggested = granting_all(managed, actions)
    attach = f"Attach arn:aws:iam::aws:policy/{suggested} or add" if suggested else "Add"
    for fn in stack.subjects:
        roles, _ = index.role_of_function(fn)
        if not roles:
            continue  # a role from outside this stack (or unknown and unrelated): nothing to judge here
        role = roles[0]
        missing, unknown = missing_actions(index.grants.get(role.urn, []), actions=actions, managed=managed)
        if not missing or (unknown and cfg.get("unknownPolicyDocuments") == "pass"):
            continue
        caveat = "" if not unknown else (
            f" ({len(set(unknown))} policy document(s) unknown until deploy were not counted: "
            f"{', '.join(sorted(set(unknown))[:3])}; keep the X-Ray grant in a static document)")
        report(f"Lambda function '{fn.label()}': its role '{role.label()}' is not allowed "
               f"{', '.join(sorted(missing))}{caveat}. {attach} an inline policy allowing {', '.join(actions)} on "
               f"Resource '*' (FR-017; without the GetSampling* actions the SDK falls back to its local rule, "
               f"1 trace/s).", fn.urn)


# -- canary-role-isolated -------------------------------------------------------------------------

def check_canary_role(stack: Stack, report: ReportViolation) -> None:
    index = stack.index
    users: dict[str, list[Node]] = {}
    role_of: dict[str, str] = {}
    for fn in index.functions:  # every function counts as a user of a role, exempted or not
        roles, value = index.role_of_function(fn)
        key = roles[0].urn if roles else (value if isinstance(value, str) else None)
        if key:
            users.setdefault(key, []).append(fn)
            role_of[fn.urn] = key
    for fn in stack.subjects:
        key = role_of.get(fn.urn)
        if key is None:
            continue
        others = [o for o in users[key] if o.urn != fn.urn]
        if others:
            role = index.by_urn.get(key)
            report(f"Canary function '{fn.label()}' shares its role '{role.label() if role else key}' with "
                   f"{', '.join(o.label() for o in others)}. Give the canary its own IAM role so an application "
                   f"permission change cannot blind the monitor (FR-051).", fn.urn)


def policies() -> list[StackValidationPolicy]:
    M = EnforcementLevel.MANDATORY
    return [
        stack_policy(
            name="xray-write-permissions", level=M, subjects=_functions, check=check_xray_permissions,
            config={
                "actions": {"type": "array", "items": {"type": "string"}, "default": json_list(xray.XRAY_ACTIONS),
                            "description": "Actions every function role must be allowed (FR-017)."},
                "managedPolicies": {"type": "object",
                                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                                    "default": json_map(xray.XRAY_MANAGED_POLICIES),
                                    "description": "Managed policy name -> the actions it grants."},
                "unknownPolicyDocuments": {
                    "type": "string", "enum": ["fail", "pass"], "default": "fail",
                    "description": "At preview, a policy document built from unknown values cannot be read: 'fail' "
                                   "does not count it as a grant (keep X-Ray grants in a static document), 'pass' "
                                   "gives the role the benefit of the doubt."},
            },
            describe=lambda d: (f"Every Lambda function's role must be allowed the {len(d['actions'])} X-Ray actions "
                                f"that write traces and read sampling rules.")),
        stack_policy(
            name="canary-role-isolated", level=M, subjects=_canaries, check=check_canary_role,
            config={"canaryNamePatterns": {
                "type": "array", "items": {"type": "string"}, "default": ["*canary*"],
                "description": "Glob patterns on a function's logical or physical name marking a canary."}},
            describe=lambda d: (f"The canary function's IAM role (a function named like "
                                f"{' or '.join(d['canaryNamePatterns'])}) must be used by no other function.")),
    ]
