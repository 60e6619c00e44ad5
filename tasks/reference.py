"""The task reference, docs/tasks.md, generated from the pydantic models and the schedule:

    python -m tasks.reference > docs/tasks.md

`llm.run` (`tasks.run_spec`: its input and result), each typed task (`tasks.kinds`,
`tasks.schemas`: kwargs, output, what is checked), the Beat crons (`beat_schedule`,
`tasks.crons`) and the curation inbox's item format. tests/test_task_reference.py fails
when the file is stale.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from tasks.kinds import KINDS
from tasks.run_spec import RunInput, RunResult, TypedResult
from tasks.schemas import CurationItem
from tasks.typed import TypedSpec

COMMAND = "python -m tasks.reference > docs/tasks.md"
_SIMPLE = {"string": "str", "integer": "int", "number": "float", "boolean": "bool",
           "null": "None", "object": "dict", "array": "list"}


# -- JSON Schema -> table cells ------------------------------------------------------------

def _type(schema: dict[str, Any]) -> str:
    """A Python-style type for one JSON Schema node (`list[str]`, `"ok" | "warn"`, ...)."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    if "anyOf" in schema:
        return " | ".join(_type(s) for s in schema["anyOf"])
    kind = schema.get("type")
    if kind == "array":
        return f"list[{_type(schema.get('items', {}))}]"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"dict[str, {_type(schema['additionalProperties'])}]"
    return _SIMPLE.get(str(kind), "any")


def _at_least(n: int, one: str, many: str) -> str:
    return f"at least {n} {one if n == 1 else many}"


def _constraints(schema: dict[str, Any]) -> str:
    out: list[str] = []
    for node in [schema, *schema.get("anyOf", [])]:
        if "minLength" in node:
            n = node["minLength"]
            out.append("not empty" if n == 1 else _at_least(n, "character", "characters"))
        if "minItems" in node:
            out.append(_at_least(node["minItems"], "item", "items"))
        if "maxItems" in node:
            out.append(f"at most {node['maxItems']} items")
        if "minProperties" in node:
            out.append(_at_least(node["minProperties"], "entry", "entries"))
        if "minimum" in node:
            out.append(f"≥ {node['minimum']}")
        if "maximum" in node:
            out.append(f"≤ {node['maximum']}")
    return ", ".join(out)


def _required(required: bool, default: Any, *, defaults: bool = True) -> str:
    if required:
        return "yes"
    return f"no (default `{default!r}`)" if defaults else "when it happened"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fields(model: type[BaseModel], *, defaults: bool = True
            ) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Table rows for `model`'s fields, and the nested models it refers to."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema["properties"].items():
        field = model.model_fields[name]
        needed = _required(name in required, field.get_default(call_default_factory=True),
                           defaults=defaults)
        rows.append(f"| `{name}` | `{_cell(_type(prop))}` | {needed} | "
                    f"{_cell(_constraints(prop))} | {_cell(field.description or '')} |")
    return rows, schema.get("$defs", {})


def _table(model: type[BaseModel], first: str = "field", *, defaults: bool = True
           ) -> Iterator[str]:
    rows, nested = _fields(model, defaults=defaults)
    needed = "required" if defaults else "present"
    yield f"| {first} | type | {needed} | constraints | description |"
    yield "|---|---|---|---|---|"
    yield from rows
    for name, sub in nested.items():
        about = " ".join(str(sub.get("description", "")).split())
        yield ""
        yield f"`{name}`: {about}".rstrip()
        yield ""
        yield from _nested(sub)


def _nested(schema: dict[str, Any]) -> Iterator[str]:
    required = set(schema.get("required", []))
    yield "| field | type | required | constraints | description |"
    yield "|---|---|---|---|---|"
    for name, prop in schema["properties"].items():
        needed = "yes" if name in required else (
            f"no (default `{prop['default']!r}`)" if "default" in prop else "no")
        yield (f"| `{name}` | `{_cell(_type(prop))}` | {needed} | "
               f"{_cell(_constraints(prop))} | {_cell(prop.get('description', ''))} |")


def _doc(model: type[Any]) -> str:
    return " ".join(inspect.cleandoc(model.__doc__ or "").split())


# -- sections --------------------------------------------------------------------------------

def _header() -> Iterator[str]:
    yield "# Task reference"
    yield ""
    yield (f"Generated from the pydantic models by `{COMMAND}`; "
           "`tests/test_task_reference.py` fails when it is stale. Do not edit it by hand.")
    yield ""
    yield ("Every task takes keyword arguments only (`send_task(name, kwargs={...})`, "
           "`task.delay(**kwargs)`); positional arguments and an unknown kwarg are refused. "
           "Types are strict: an `int` is a JSON integer (not `true`, not `\"100\"`), a "
           "`str` is text without lone surrogates (e.g. `\"\\ud800\"`). Bad input fails "
           "the task at once, before any budget is reserved or provider called, with "
           "`TaskInputError` naming the field, e.g. `llm.run: invalid input: prompt: ...`; a "
           "producer that does not import this project gets the same message from "
           "`AsyncResult.get()`.")


def _run() -> Iterator[str]:
    yield "## `llm.run`"
    yield ""
    yield _doc(RunInput)
    yield ""
    yield from _table(RunInput, "kwarg")
    yield ""
    yield ("Refused: neither or both of `prompt` and `messages`; an empty `prompt`; a "
           "`system` message after a user or assistant message; a `system` message "
           "together with the `system` kwarg; only `system` messages.")
    yield ""
    yield "### Result"
    yield ""
    yield _doc(RunResult)
    yield ""
    yield from _table(RunResult, defaults=False)


def _typed(spec: TypedSpec) -> Iterator[str]:
    yield f"### `{spec.name}`"
    yield ""
    yield f"Model key `{spec.model_key}`. The model is asked: \"{spec.instruction}\""
    yield ""
    yield "Input (kwargs):"
    yield ""
    yield from _table(spec.input_model, "kwarg")
    yield ""
    yield "Output (`output` of the result):"
    yield ""
    yield from _table(spec.output_model)
    if spec.output_model.checks:
        yield ""
        yield f"Checked against the input: {spec.output_model.checks}."


def _typed_all() -> Iterator[str]:
    yield "## Typed tasks"
    yield ""
    yield (f"{_doc(TypedResult)} The model must reply with one JSON object of the output "
           "model: by the provider's native structured output on a model whose `supports` "
           "lists `structured_output` (Anthropic: a forced tool whose input schema is the "
           "output's; OpenAI-compatible: `response_format` with a strict JSON schema), "
           "else by the prompt convention (its JSON Schema ends the system prompt); the "
           "result's `structured_output` says which. Either way a reply that does not "
           "parse, does not fit, or fails the check below escalates to the model key's "
           "`escalate_to`, and fails the task with `OutputInvalidError` when no escalation "
           "is left.")
    for spec in KINDS:
        yield ""
        yield from _typed(spec)


def _schedule(value: Any) -> str:
    if isinstance(value, int | float):
        if value < 60:
            return f"every {int(value)} seconds"
        minutes = int(value) // 60
        return f"every {minutes // 60} hours" if minutes % 60 == 0 else f"every {minutes} minutes"
    fields = ("_orig_minute", "_orig_hour", "_orig_day_of_month", "_orig_month_of_year",
              "_orig_day_of_week")
    return "cron `" + " ".join(str(getattr(value, f, "*")) for f in fields) + "` (UTC)"


def _crons() -> Iterator[str]:
    from beat_schedule import SCHEDULE
    from workers.app import app

    yield "## Beat crons"
    yield ""
    yield ("`beat_schedule.py`; run them with `celery -A workers.app beat` (celery-redbeat: "
           "replicas are safe, the one holding the lock in Redis sends each cron once). A "
           "cron with a model key hands its LLM work to that typed task.")
    yield ""
    yield "| task | schedule | kwargs | hands on to | what it does |"
    yield "|---|---|---|---|---|"
    for entry in SCHEDULE.values():
        task = app.tasks[entry["task"]]
        params = [p for p in inspect.signature(task.run).parameters.values()]
        kwargs = ", ".join(f"`{p.name}={p.default!r}`" for p in params
                           if p.default is not inspect.Parameter.empty)
        key = getattr(task, "model_key", None)
        doc = (inspect.getdoc(task.run) or "").split("\n\n")[0]
        yield (f"| `{entry['task']}` | {_schedule(entry['schedule'])} | {kwargs or '-'} | "
               f"{f'`tasks.{key}`' if key else '-'} | {_cell(' '.join(doc.split()))} |")


def _inbox() -> Iterator[str]:
    from tasks.crons import CURATION_BATCH, CURATION_INBOX
    from tasks.inbox import INBOX_EXAMPLE_KEY

    yield "## The curation inbox"
    yield ""
    yield (f"Agents hand items to `cron.content_curation` by pushing JSON objects to the "
           f"Redis list `{{<LLM_ROUTER_NAMESPACE>}}:{CURATION_INBOX}` (the namespace in "
           f"braces, its Redis Cluster hash tag: `{{llmr}}:{CURATION_INBOX}` by default). "
           f"Each run claims up to {CURATION_BATCH} items from the head "
           "atomically and sends them as `items` to `tasks.content_curation`; an empty "
           "inbox makes no call. An item that is not a valid object (below) goes to "
           "`{<LLM_ROUTER_NAMESPACE>}:curation:dead` as `{\"item\", \"reason\", \"at\"}`; "
           "the others are curated. Items are removed only once handed on: a run that dies "
           "after claiming leaves them to be claimed again; a run delivered again after "
           "handing on claims nothing more. Items are handed on at least once: a run that "
           "dies between handing on and recording it hands the same items on again under "
           "the same task id, which a batched `content_curation` (the shipped config) "
           "takes once.")
    yield ""
    yield "```bash"
    item = {"id": "post-17", "title": "Prompt caching in practice", "text": "Measured savings."}
    yield f"redis-cli RPUSH '{INBOX_EXAMPLE_KEY}' '{json.dumps(item)}'"
    yield "```"
    yield ""
    yield "Item (`CurationItem`):"
    yield ""
    yield from _table(CurationItem)


def reference() -> str:
    sections = [_header(), _run(), _typed_all(), _crons(), _inbox()]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
