"""The playbook's JSON Schema, built from the registered check and action models, so that an
editor validates a playbook as the engine does (``# yaml-language-server: $schema=...``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from engine.core.registry import ACTION_TYPES, CHECK_TYPES, load_builtin_types
from engine.playbook.models import BackoffSpec, NodeSpec, StepSpec, VerifySpec
from engine.playbook.unattended import AlertRoute, ApprovalsSpec

REF = "#/$defs/{model}"
TEMPLATE = {"type": "string", "pattern": "\\{\\{.*\\}\\}", "description": "a {{ }} template"}


def _templatable(properties: dict[str, Any]) -> dict[str, Any]:
    """Any option may be a {{ }} template, rendered before validation: allow one where the
    type is not a string already."""
    return {
        name: prop if prop.get("type") == "string" else {"anyOf": [prop, TEMPLATE]}
        for name, prop in properties.items()
    }


def playbook_schema() -> dict[str, Any]:
    """A draft 2020-12 JSON Schema for playbook files."""
    load_builtin_types()
    models: list[type[BaseModel]] = [
        *CHECK_TYPES.values(),
        *ACTION_TYPES.values(),
        NodeSpec,
        StepSpec,
        BackoffSpec,
        VerifySpec,
    ]
    refs, top = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    defs: dict[str, Any] = top.get("$defs", {})
    for definition in defs.values():
        if "properties" in definition:
            definition["properties"] = _templatable(definition["properties"])

    def ref(model: type[BaseModel]) -> dict[str, Any]:
        return refs[(model, "validation")]

    def module_keyed(common: dict[str, Any], modules: Mapping[str, type[BaseModel]]) -> dict[str, Any]:
        properties = {**common, **{key: ref(model) for key, model in modules.items()}}
        return {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
            "oneOf": [{"required": [key]} for key in sorted(modules)],
        }

    node_fields = dict(defs["NodeSpec"]["properties"])
    step_fields = dict(defs["StepSpec"]["properties"])
    for field in ("name", "check", "loop_vars"):
        node_fields.pop(field, None)
    node_fields["loop"] = {
        "anyOf": [{"type": "array"}, TEMPLATE],
        "description": "one node per item: a list, or a template naming a variable that holds one; "
        "the node's key, rendered with the item, names each (`memory_{{ item }}`), or `key_item`",
    }
    node_fields["loop_var"] = {
        "type": "string",
        "default": "item",
        "description": "the variable holding the current item (Ansible's loop_control.loop_var)",
    }
    step_fields.pop("action", None)
    step_fields["unless"] = {"$ref": "#/$defs/Guard"}
    node_fields["remediate"] = {
        "type": "array",
        "items": {"$ref": "#/$defs/Step"},
        "description": "steps tried in order",
    }
    defs["Step"] = module_keyed(step_fields, ACTION_TYPES)
    defs["Node"] = module_keyed(node_fields, CHECK_TYPES)
    guard = module_keyed({}, CHECK_TYPES)
    guard["description"] = "a check whose success means the step is not needed"
    defs["Guard"] = guard
    module_defaults: dict[str, Any] = {}
    for key in sorted({*CHECK_TYPES, *ACTION_TYPES}):
        options: dict[str, Any] = {}
        for modules in (CHECK_TYPES, ACTION_TYPES):
            if key in modules:
                name = ref(modules[key])["$ref"].rsplit("/", 1)[1]
                options.update(defs[name].get("properties", {}))
        module_defaults[key] = {"type": "object", "properties": options, "additionalProperties": False}
    for unused in ("NodeSpec", "StepSpec"):
        defs.pop(unused, None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "remediate playbook",
        "type": "object",
        "required": ["name", "checks"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "description": "the playbook's name"},
            "hosts": {"type": "string", "default": "all", "description": "inventory pattern"},
            "vars": {"type": "object", "description": "variables for {{ }} templates"},
            "defaults": {
                "type": "object",
                "properties": module_defaults,
                "additionalProperties": False,
                "description": "option defaults per module key (as Ansible's module_defaults); "
                "a node's or step's own options win",
            },
            "checks": {
                "type": "object",
                "additionalProperties": {"$ref": "#/$defs/Node"},
                "description": "nodes by name",
            },
            "alerts": {
                "type": "array",
                "items": AlertRoute.model_json_schema(),
                "description": "Alertmanager alerts that start a run of their nodes at once "
                "(remediate daemon --listen, POST /hooks/alertmanager)",
            },
            "approvals": {
                **ApprovalsSpec.model_json_schema(),
                "description": "settings of approvals (steps or nodes that say approval: required)",
            },
            "alembic_node": {
                "type": "string",
                "description": "the node whose alembic_current check holds the database's alembic "
                "revision, recorded with each healthy container version",
            },
        },
        "$defs": defs,
    }
