"""JSON schemas of KEDA's ScaledObject and TriggerAuthentication (custom resources, which
the Kubernetes schemas do not cover), written from KEDA's documented fields (the
ScaledObject specification and its scaling modifiers, and the Redis Lists and RabbitMQ
Queue scaler pages): unknown fields are refused, as a typo would be ignored by the cluster;
the Redis and RabbitMQ triggers must carry the parameters those scalers require.
"""

from __future__ import annotations

from typing import Any

NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 253}
TEXT = {"type": "string", "minLength": 1}
POSITIVE_NUMBER = {"type": "string", "pattern": r"^[0-9]*\.?[0-9]+$"}
INTEGER = {"type": "string", "pattern": r"^[0-9]+$"}
METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": NAME,
        "namespace": NAME,
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}


def _when(trigger_type: str, then: dict[str, Any]) -> dict[str, Any]:
    return {"if": {"properties": {"type": {"const": trigger_type}}}, "then": then}


REDIS_LIST = _when("redis", {
    "properties": {"metadata": {
        "required": ["listName", "listLength"],
        "properties": {
            "listName": TEXT,
            "listLength": POSITIVE_NUMBER,
            "activationListLength": POSITIVE_NUMBER,
            "address": {"type": "string", "pattern": r"^[^:/\s]+:[0-9]+$"},  # host:port
            "databaseIndex": INTEGER,
            "enableTLS": {"enum": ["true", "false"]},
        },
    }},
    # the address: in the metadata, from the target's environment, or a TriggerAuthentication
    "anyOf": [{"required": ["authenticationRef"]},
              {"properties": {"metadata": {"anyOf": [
                  {"required": ["address"]}, {"required": ["addressFromEnv"]},
                  {"required": ["host", "port"]},
                  {"required": ["hostFromEnv", "portFromEnv"]}]}}}],
})

RABBITMQ_QUEUE = _when("rabbitmq", {
    "properties": {"metadata": {
        "required": ["queueName", "mode", "value"],
        "properties": {
            "queueName": TEXT,
            "mode": {"enum": ["QueueLength", "MessageRate"]},
            "value": POSITIVE_NUMBER,
            "protocol": {"enum": ["amqp", "http", "auto"]},
        },
    }},
    # the host: in the metadata, from the target's environment, or a TriggerAuthentication
    "anyOf": [{"required": ["authenticationRef"]},
              {"properties": {"metadata": {"anyOf": [{"required": ["host"]},
                                                     {"required": ["hostFromEnv"]}]}}}],
})

TRIGGER = {
    "type": "object",
    "required": ["type", "metadata"],
    "properties": {
        "type": TEXT,
        "name": NAME,
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "authenticationRef": {
            "type": "object", "required": ["name"], "additionalProperties": False,
            "properties": {"name": NAME, "kind": {
                "enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]}},
        },
        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
        "useCachedMetrics": {"type": "boolean"},
    },
    "additionalProperties": False,
    "allOf": [REDIS_LIST, RABBITMQ_QUEUE],
}

COUNT = {"type": "integer", "minimum": 0}


def _resource(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The schema of a KEDA object of `kind` whose `spec` is `spec`."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "keda.sh/v1alpha1"},
            "kind": {"const": kind},
            "metadata": METADATA,
            "spec": spec,
        },
        "additionalProperties": False,
    }


SCALED_OBJECT = _resource("ScaledObject", {
    "type": "object",
    "required": ["scaleTargetRef", "triggers"],
    "properties": {
        "scaleTargetRef": {
            "type": "object", "required": ["name"], "additionalProperties": False,
            "properties": {"apiVersion": TEXT, "kind": TEXT, "name": NAME,
                           "envSourceContainerName": TEXT},
        },
        "pollingInterval": {"type": "integer", "minimum": 1},
        "cooldownPeriod": COUNT,
        "initialCooldownPeriod": COUNT,
        "idleReplicaCount": COUNT,
        "minReplicaCount": COUNT,
        "maxReplicaCount": {"type": "integer", "minimum": 1},
        "fallback": {
            "type": "object", "required": ["failureThreshold", "replicas"],
            "additionalProperties": False,
            "properties": {
                "failureThreshold": {"type": "integer", "minimum": 1},
                "replicas": COUNT,
                "behavior": {"enum": ["static", "currentReplicas",
                                      "currentReplicasIfHigher",
                                      "currentReplicasIfLower"]},
            },
        },
        "advanced": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "restoreToOriginalReplicaCount": {"type": "boolean"},
                "horizontalPodAutoscalerConfig": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"name": NAME, "behavior": {"type": "object"}},
                },
                # one metric composed of the triggers' (named in `formula`), scaled to `target`
                "scalingModifiers": {
                    "type": "object", "additionalProperties": False,
                    "required": ["formula", "target"],
                    "properties": {
                        "formula": TEXT,
                        "target": POSITIVE_NUMBER,
                        "activationTarget": POSITIVE_NUMBER,
                        "metricType": {"enum": ["AverageValue", "Value"]},
                    },
                },
            },
        },
        "triggers": {"type": "array", "minItems": 1, "items": TRIGGER},
    },
    "additionalProperties": False,
})

# one value a TriggerAuthentication takes from a Secret or ConfigMap key
TARGET_REF = {
    "type": "object", "required": ["parameter", "name", "key"],
    "additionalProperties": False,
    "properties": {"parameter": TEXT, "name": NAME, "key": TEXT},
}
TRIGGER_AUTHENTICATION = _resource("TriggerAuthentication", {
    "type": "object",
    "minProperties": 1,
    "properties": {
        "secretTargetRef": {"type": "array", "minItems": 1, "items": TARGET_REF},
        "configMapTargetRef": {"type": "array", "items": TARGET_REF},
        "env": {"type": "array", "items": {
            "type": "object", "required": ["parameter", "name"],
            "additionalProperties": False,
            "properties": {"parameter": TEXT, "name": TEXT, "containerName": TEXT},
        }},
        "podIdentity": {"type": "object"},
        "hashiCorpVault": {"type": "object"},
        "azureKeyVault": {"type": "object"},
        "awsSecretManager": {"type": "object"},
        "gcpSecretManager": {"type": "object"},
        "boundServiceAccountToken": {"type": "array"},
    },
    "additionalProperties": False,
})

SCHEMAS = {"ScaledObject": SCALED_OBJECT, "TriggerAuthentication": TRIGGER_AUTHENTICATION}
