"""A probe pack in the manner of pulumi-policy's integration-test packs (tests/integration/*/policy-pack-python):
instead of asserting inside the pack, each probe reports what it saw as an advisory violation whose message is
JSON, so the test that runs it can say what differs."""
import json

from pulumi import get_project, get_stack
from pulumi_policy import EnforcementLevel, PolicyConfigSchema, PolicyPack, ResourceValidationPolicy, StackValidationPolicy

SCHEMA = PolicyConfigSchema({"foo": {"type": "string", "maxLength": 3, "default": "bar"},
                             "bar": {"type": "integer", "default": 1}})


def _seen(r) -> dict:
    o = r.opts
    prov = r.provider
    return {
        "name": r.name, "type": r.resource_type, "urn": r.urn,
        "provider": None if prov is None else {"type": prov.resource_type, "name": prov.name, "urn": prov.urn,
                                               "props": dict(prov.props)},
        "opts": {"parent": o.parent, "protect": o.protect, "ignore_changes": list(o.ignore_changes),
                 "delete_before_replace": o.delete_before_replace, "aliases": list(o.aliases),
                 "additional_secret_outputs": list(o.additional_secret_outputs),
                 "custom_timeouts": [o.custom_timeouts.create_seconds, o.custom_timeouts.update_seconds,
                                     o.custom_timeouts.delete_seconds]},
    }


def observe_resource(args, report_violation):
    report_violation(json.dumps({**_seen(args), "stack_tags": dict(args.stack_tags)}))


def observe_stack(args, report_violation):
    report_violation(json.dumps({"resources": [_seen(r) for r in args.resources],
                                 "stack_tags": dict(args.stack_tags)}))


def report_with_urn(args, report_violation):
    """pulumi-policy's validate_stack dynamic-no-state-with-value-3: a stack policy names the resource."""
    for r in args.resources:
        if r.name == "flag-b":
            report_violation("names flag-b", r.urn)
    report_violation("names a resource that is not in the stack", "urn:pulumi:elsewhere::other::aws:sns/topic:Topic::x")
    report_violation("names no resource")


def custom_urn_from_resource(args, report_violation):
    if args.name == "flag-a":
        report_violation("reported on flag-b's URN",
                         f"urn:pulumi:{get_stack()}::{get_project()}::aws:sns/topic:Topic::flag-b")


def unknown_values(args, report_violation):
    """pulumi-policy's unknown_values: reading a value unknown in preview."""
    if args.name == "unknown-input":
        report_violation(f"displayName is {args.props['displayName']}")


def unknown_values_stack(args, report_violation):
    for r in args.resources:
        if r.name == "unknown-input":
            report_violation(f"displayName is {r.props['displayName']}")


def configured(args, report_violation):
    pass


def _advisory(cls, name, validate, **kw):
    return cls(name=name, description=f"Probe {name}.", validate=validate, enforcement_level=EnforcementLevel.ADVISORY,
               **kw)


PolicyPack(
    name="engine-probe",
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=[
        _advisory(ResourceValidationPolicy, "observe-resource", observe_resource),
        _advisory(StackValidationPolicy, "observe-stack", observe_stack),
        _advisory(StackValidationPolicy, "report-with-urn", report_with_urn),
        _advisory(ResourceValidationPolicy, "custom-urn-from-resource", custom_urn_from_resource),
        _advisory(ResourceValidationPolicy, "unknown-values", unknown_values),
        _advisory(StackValidationPolicy, "unknown-values-stack", unknown_values_stack),
        _advisory(ResourceValidationPolicy, "configured-resource", configured, config_schema=SCHEMA),
        _advisory(StackValidationPolicy, "configured-stack", configured, config_schema=SCHEMA),
    ],
)
