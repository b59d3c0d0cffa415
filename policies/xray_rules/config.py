"""Config schemas of the policies, and reading a policy's effective config.

The engine applies schema defaults before ``Configure`` (the SDK does not), so a pack driven by
hand or an in-process test may hand a policy no config at all; ``effective_config`` fills the same
defaults from the same schema, so the rules behave identically either way.

Defaults travel as JSON (the engine reconciles them with the user's JSON config), so the contract's
tuples become lists here (``json_list``, ``json_map``).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema

from .suppressions import SUPPRESSIONS, SUPPRESSIONS_KEY
from .values import matches_any, plain

#: A policy's effective config: its schema defaults overlaid with what the engine configured.
Config = dict[str, Any]

#: Every policy can exempt resources by glob patterns on the logical or the physical name (the whole policy; one
#: finding is suppressed with a reason and an expiry instead, ``suppressions``).
EXEMPT_KEY = "exemptNames"
EXEMPT = {
    "type": "array", "items": {"type": "string"}, "default": [],
    "description": "Glob patterns (fnmatch) on the resource's logical or physical name that this policy skips.",
}


def json_list(values: Iterable[Any]) -> list[Any]:
    """A schema default from a contract tuple."""
    return list(values)


def json_map(mapping: Mapping[str, Iterable[Any]]) -> dict[str, list[Any]]:
    """A schema default from a contract map of tuples."""
    return {key: list(values) for key, values in mapping.items()}


def schema(properties: Mapping[str, Any]) -> PolicyConfigSchema:
    """A policy's schema: its own properties plus the shared ``exemptNames`` and ``suppressions``."""
    return PolicyConfigSchema(properties={EXEMPT_KEY: EXEMPT, SUPPRESSIONS_KEY: SUPPRESSIONS, **properties})


def defaults(config_schema: PolicyConfigSchema) -> Config:
    return {k: v["default"] for k, v in (config_schema.properties or {}).items() if "default" in v}


def effective_config(args: Any, config_schema: PolicyConfigSchema) -> Config:
    """Schema defaults overlaid with what the engine configured (numbers arrive as floats)."""
    cfg = defaults(config_schema)
    try:
        given = args.get_config()
    except Exception:  # noqa: BLE001 - an args object without config behaves as "no config"
        given = None
    if given:
        cfg.update(plain(given))
    return cfg


def exempt(cfg: Config, *names: Any) -> bool:
    """Whether a resource known by these names (logical, physical) is exempted by ``exemptNames``."""
    return matches_any(cfg.get(EXEMPT_KEY) or [], *names)
