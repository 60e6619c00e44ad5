"""Input and output models of the typed tasks, one pair per kind of work.

Outputs are what the model must return as JSON; `check(input, model_keys)` validates an
output against its input (a label that was offered, a choice among the options...), and
`checks` says so in words for docs/tasks.md. Input fields carry descriptions for the docs;
output fields do not, on purpose: an output's JSON Schema is part of the prompt, and its
size is part of every call's cost. `compared` names the fields that carry an output's
decision (a label, a choice, extracted values): a shadow trial compares those, after
normalisation, to say whether a candidate model agrees with the production one; an
output with none is compared like free text.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from routing.config.values import Text


class In(BaseModel):
    """A typed task's kwargs: strict (no coercion; text without lone surrogates)."""

    model_config = ConfigDict(extra="forbid")
    # Fields that steer the task, never shown to the model
    not_prompted: ClassVar[frozenset[str]] = frozenset()


class Out(BaseModel):
    model_config = ConfigDict(extra="ignore")
    # What `check` requires beyond the schema, in words (docs/tasks.md).
    checks: ClassVar[str] = ""

    compared: ClassVar[tuple[str, ...]] = ()

    def decision(self) -> dict[str, Any]:
        """The compared fields' values (a subclass turns lists of objects into what
        identifies them: ids, paths, model keys)."""
        return {name: getattr(self, name) for name in self.compared}

    @classmethod
    def schema_for(cls, given: In, model_keys: frozenset[str]) -> dict[str, Any]:
        """The JSON Schema the model is shown for `given`: the output model's, narrowed
        where the input fixes the allowed values (labels, options, ids, fields)."""
        return cls.model_json_schema()

    def check(self, given: In, model_keys: frozenset[str]) -> str | None:
        """A reason this output does not answer `given`, or None."""
        return None


class MonitoringIn(In):
    source: Text = Field(min_length=1, description="what is being watched")
    observations: list[Text] = Field(min_length=1, description="one observation per line")


class MonitoringOut(Out):
    compared: ClassVar[tuple[str, ...]] = ("status",)

    status: Literal["ok", "warn", "alert"]
    summary: str = Field(min_length=1)
    alerts: list[str] = Field(default_factory=list)


class CurationItem(BaseModel):
    id: Text = Field(min_length=1, description="unique among the items; the selection names it")
    title: Text = Field(min_length=1, description="the item's headline")
    text: Text = Field(default="", description="its body or summary")


class CurationIn(In):
    topic: Text = Field(min_length=1, description="what the selection is for")
    items: list[CurationItem] = Field(min_length=1, description="the candidates")
    max_selected: StrictInt = Field(default=5, ge=1, le=100,
                                    description="select at most this many")
    hand_on: Text | None = Field(
        default=None, min_length=1, max_length=64,
        description="set by `cron.content_curation`: which delivery of its run handed these "
                    "items on; a second hand-on of the same run (same task id, another "
                    "value) is dropped, so the items are curated once")

    not_prompted: ClassVar[frozenset[str]] = frozenset({"hand_on"})


class Selection(BaseModel):
    id: str
    reason: str = Field(min_length=1)


class CurationOut(Out):
    checks = "each selected id is one of the items' ids; at most `max_selected` selected"
    compared: ClassVar[tuple[str, ...]] = ("selected",)

    def decision(self) -> dict[str, Any]:
        return {"selected": frozenset(s.id for s in self.selected)}

    selected: list[Selection]

    @classmethod
    def schema_for(cls, given: In, model_keys: frozenset[str]) -> dict[str, Any]:
        assert isinstance(given, CurationIn)
        schema = cls.model_json_schema()
        schema["properties"]["selected"]["maxItems"] = given.max_selected
        schema["$defs"]["Selection"]["properties"]["id"]["enum"] = [i.id for i in given.items]
        return schema

    def check(self, given: In, model_keys: frozenset[str]) -> str | None:
        assert isinstance(given, CurationIn)
        ids = {item.id for item in given.items}
        unknown = [s.id for s in self.selected if s.id not in ids]
        if unknown:
            return f"selected ids not among the items: {unknown}"
        if len(self.selected) > given.max_selected:
            return f"selected {len(self.selected)} items, at most {given.max_selected} allowed"
        return None


class ClassificationIn(In):
    text: Text = Field(min_length=1, description="what to classify")
    labels: list[Text] = Field(min_length=2, description="the labels to choose from")


class ClassificationOut(Out):
    checks = "`label` is one of the input's `labels`"
    compared: ClassVar[tuple[str, ...]] = ("label",)

    label: str
    confidence: float = Field(ge=0, le=1)

    @classmethod
    def schema_for(cls, given: In, model_keys: frozenset[str]) -> dict[str, Any]:
        assert isinstance(given, ClassificationIn)
        schema = cls.model_json_schema()
        schema["properties"]["label"]["enum"] = list(given.labels)
        return schema

    def check(self, given: In, model_keys: frozenset[str]) -> str | None:
        assert isinstance(given, ClassificationIn)
        if self.label not in given.labels:
            return f"label '{self.label}' is not one of {given.labels}"
        return None


class ExtractionIn(In):
    text: Text = Field(min_length=1, description="the text to extract from")
    fields: dict[Text, Text] = Field(min_length=1, description="field name -> what it holds")


class ExtractionOut(Out):
    checks = "every requested field is present (null when the text does not hold it)"
    compared: ClassVar[tuple[str, ...]] = ("fields",)

    fields: dict[str, str | None]

    @classmethod
    def schema_for(cls, given: In, model_keys: frozenset[str]) -> dict[str, Any]:
        assert isinstance(given, ExtractionIn)
        schema = cls.model_json_schema()
        fields = schema["properties"]["fields"]
        fields["properties"] = {
            name: {"anyOf": [{"type": "string"}, {"type": "null"}], "description": what}
            for name, what in given.fields.items()
        }
        fields["required"] = list(given.fields)
        return schema

    def check(self, given: In, model_keys: frozenset[str]) -> str | None:
        assert isinstance(given, ExtractionIn)
        missing = sorted(set(given.fields) - set(self.fields))
        return f"fields missing from the output: {missing}" if missing else None


class LookupIn(In):
    question: Text = Field(min_length=1, description="what to answer")
    context: Text = Field(default="", description="the text to answer from")


class LookupOut(Out):
    compared: ClassVar[tuple[str, ...]] = ("found", "answer")

    answer: str
    found: bool


class CodeGenerationIn(In):
    task: Text = Field(min_length=1, description="what the code must do")
    language: Text = Field(default="python", min_length=1, description="programming language")
    context: Text = Field(default="", description="existing code, interfaces, constraints")


class CodeGenerationOut(Out):
    code: str = Field(min_length=1)
    explanation: str = ""


class CodeReviewIn(In):
    diff: Text = Field(min_length=1, description="the change to review, e.g. a unified diff")
    guidelines: Text = Field(default="", description="the team's review rules")


class Finding(BaseModel):
    severity: Literal["info", "minor", "major", "critical"]
    message: str = Field(min_length=1)
    file: str | None = None
    line: int | None = None


class CodeReviewOut(Out):
    compared: ClassVar[tuple[str, ...]] = ("approve",)

    approve: bool
    findings: list[Finding]


class DraftingIn(In):
    brief: Text = Field(min_length=1, description="what to write")
    audience: Text = Field(default="", description="who will read it")
    tone: Text = Field(default="", description="e.g. formal, friendly")
    max_words: StrictInt | None = Field(default=None, ge=1, le=100_000,
                                        description="length limit of the body")


class DraftingOut(Out):
    title: str = Field(min_length=1)
    body: str = Field(min_length=1)


class OrchestrationIn(In):
    goal: Text = Field(min_length=1, description="what the plan must achieve")
    context: Text = Field(default="", description="what is known already")


class PlanStep(BaseModel):
    title: str = Field(min_length=1)
    model_key: str
    instructions: str = Field(min_length=1)


class OrchestrationOut(Out):
    checks = "each step's `model_key` is a model key of the routing config"
    compared: ClassVar[tuple[str, ...]] = ("steps",)

    def decision(self) -> dict[str, Any]:
        return {"steps": [step.model_key for step in self.steps]}

    steps: list[PlanStep] = Field(min_length=1)

    @classmethod
    def schema_for(cls, given: In, model_keys: frozenset[str]) -> dict[str, Any]:
        schema = cls.model_json_schema()
        schema["$defs"]["PlanStep"]["properties"]["model_key"]["enum"] = sorted(model_keys)
        return schema

    def check(self, given: In, model_keys: frozenset[str]) -> str | None:
        unknown = sorted({s.model_key for s in self.steps} - model_keys)
        return f"steps name unknown model keys {unknown}" if unknown else None


class DecisionIn(In):
    question: Text = Field(min_length=1, description="the decision to make")
    options: list[Text] = Field(min_length=2, description="the choices")
    context: Text = Field(default="", description="facts and constraints to weigh")


class DecisionOut(Out):
    checks = "`choice` is one of the input's `options`"
    compared: ClassVar[tuple[str, ...]] = ("choice",)

    choice: str
    rationale: str = Field(min_length=1)
    confidence: float = Field(ge=0, le=1)

    @classmethod
    def schema_for(cls, given: In, model_keys: frozenset[str]) -> dict[str, Any]:
        assert isinstance(given, DecisionIn)
        schema = cls.model_json_schema()
        schema["properties"]["choice"]["enum"] = list(given.options)
        return schema

    def check(self, given: In, model_keys: frozenset[str]) -> str | None:
        assert isinstance(given, DecisionIn)
        if self.choice not in given.options:
            return f"choice '{self.choice}' is not one of the options {given.options}"
        return None


class LargeContextIn(In):
    task: Text = Field(min_length=1, description="what to do across the files")
    files: dict[Text, Text] = Field(min_length=1, description="path -> content")


class FileChange(BaseModel):
    path: str
    description: str = Field(min_length=1)
    patch: str = ""


class LargeContextOut(Out):
    compared: ClassVar[tuple[str, ...]] = ("changes",)

    def decision(self) -> dict[str, Any]:
        return {"changes": frozenset(change.path for change in self.changes)}

    summary: str = Field(min_length=1)
    changes: list[FileChange]
