"""One typed task per default model key: its name, input, output and instruction."""

from __future__ import annotations

from tasks import schemas as s
from tasks.typed import TypedSpec

KINDS: tuple[TypedSpec, ...] = (
    TypedSpec("monitoring", s.MonitoringIn, s.MonitoringOut,
              "You watch a system. Read the observations and report its status: 'ok' when "
              "nothing needs attention, 'warn' when something trends badly, 'alert' when a "
              "human must act now. Summarize in one sentence; list each alert."),
    TypedSpec("content_curation", s.CurationIn, s.CurationOut,
              "Select the items most worth reading on the topic, at most max_selected, "
              "each with a one-line reason. Use only the ids given."),
    TypedSpec("classification", s.ClassificationIn,
              s.ClassificationOut,
              "Classify the text with exactly one of the labels, and your confidence."),
    TypedSpec("data_extraction", s.ExtractionIn, s.ExtractionOut,
              "Extract each requested field from the text; null when it is absent."),
    TypedSpec("lookup", s.LookupIn, s.LookupOut,
              "Answer the question from the context; found=false if it is not there."),
    TypedSpec("code_generation", s.CodeGenerationIn,
              s.CodeGenerationOut,
              "Write the code the task asks for, in the language given, with a short "
              "explanation."),
    TypedSpec("code_review", s.CodeReviewIn, s.CodeReviewOut,
              "Review the diff. Report each finding with a severity; approve only if no "
              "finding is major or critical."),
    TypedSpec("drafting", s.DraftingIn, s.DraftingOut,
              "Draft the piece the brief asks for, for the audience and in the tone given."),
    TypedSpec("orchestration", s.OrchestrationIn, s.OrchestrationOut,
              "Plan the goal as ordered steps. Give each step the model key of the kind of "
              "work it is (monitoring, classification, code_generation, ...)."),
    TypedSpec("strategic_decision", s.DecisionIn, s.DecisionOut,
              "Choose one of the options. Weigh the trade-offs; give your rationale and "
              "confidence."),
    TypedSpec("large_context_coding", s.LargeContextIn,
              s.LargeContextOut,
              "Carry out the task across the files given. Summarize, and list each change "
              "per file."),
)
