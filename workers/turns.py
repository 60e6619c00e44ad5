"""Agent turns in a neutral form: content blocks, tools, tool choice, and their normalisation.

What a caller sends (`llm.run`'s `messages`, `tools`, `tool_choice`) comes in either common
shape, OpenAI's or Anthropic's, and is normalised once here into frozen values that every
adapter translates back to its own wire format:
- `Message(role, content, blocks)`: `role` is `user` or `assistant`; `content` is the text
  of the message (its text blocks joined), `blocks` its content blocks when it holds more
  than one text (empty for a plain text message);
- blocks: `Text`, `Image` (base64 with a media type, or a URL), `ToolCall` (an assistant's:
  id, tool name, arguments as parsed JSON) and `ToolResult` (in a user message: the id of
  the call it answers, its text, whether it is an error);
- `Tool(name, description, parameters)` (parameters: a JSON Schema object) and
  `ToolChoice(mode, name)` (`auto`, `any`, `none`, or `tool` with a name).

OpenAI's `role: "tool"` messages become `ToolResult` blocks of one user message (as
Anthropic requires), an assistant's `tool_calls` become `ToolCall` blocks, `image_url`
parts (data URLs or links) become `Image` blocks. Tool-call ids are kept as given, so they
stay stable across a conversation whatever provider answers each turn (`wire_id` makes an
id acceptable to Anthropic the same way on the call and on its result).

The JSON form (`to_dict` / `messages_to_json`, `tools_to_json`, `tool_choice_to_json`) is
the Anthropic shape, which the normaliser reads back: one form to store and replay.
Every refusal is a `TurnError` naming the field's path (`messages.2.content.0.tool_use_id`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant"]
ChoiceMode = Literal["auto", "any", "none", "tool"]

# Media types every provider the router calls accepts for images.
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
# The strictest per-image limit among the providers a turn may land on (Anthropic: 5 MB
# decoded; OpenAI 20 MB): a fallback to any of them must accept the image.
MAX_IMAGE_BYTES = 5 * 1024 * 1024
# What one image costs in input tokens at most (Anthropic resizes to ~1.15 megapixels,
# about 1,600 tokens; OpenAI's high detail tops out near there): the estimate's bound.
IMAGE_TOKENS = 1_600
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_WIRE_ID = re.compile(r"[^a-zA-Z0-9_-]")
_DATA_URL = re.compile(r"^data:(?P<type>[\w/+.-]+);base64,(?P<data>.*)$", re.DOTALL)


class TurnError(ValueError):
    """Refused input: `path` names the field (`messages.1.content.0.source.media_type`)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.problem = message
        super().__init__(f"{path}: {message}" if path else message)


# -- the neutral values ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Image:
    media_type: str | None  # None for a URL whose type the provider reads
    data: str | None = None  # base64
    url: str | None = None

    @property
    def data_url(self) -> str:
        return self.url if self.url is not None else f"data:{self.media_type};base64,{self.data}"


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The result's form: `{"id", "name", "arguments"}`."""
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True, slots=True)
class ToolResult:
    tool_call_id: str
    content: str
    is_error: bool = False


Block = Text | Image | ToolCall | ToolResult


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str  # the text of the message (its text blocks joined)
    blocks: tuple[Block, ...] = ()  # empty: a plain text message

    @property
    def parts(self) -> tuple[Block, ...]:
        """The content blocks (a plain text message: one `Text`)."""
        return self.blocks or ((Text(self.content),) if self.content else ())

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return tuple(b for b in self.blocks if isinstance(b, ToolCall))


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    # len(json.dumps(parameters)), measured once when the tool is normalised (the size
    # estimate's; -1: not measured, `extra_tokens` measures it)
    schema_chars: int = field(default=-1, compare=False, repr=False)

    @property
    def chars(self) -> int:
        """Characters of the definition in the size estimate (its schema's JSON, its name
        and description)."""
        schema = self.schema_chars if self.schema_chars >= 0 else len(json.dumps(self.parameters))
        return schema + len(self.name) + len(self.description)


@dataclass(frozen=True, slots=True)
class ToolChoice:
    mode: ChoiceMode = "auto"
    name: str | None = None  # mode `tool`: the tool to call


@dataclass(frozen=True, slots=True)
class Turn:
    """A normalised request: its messages, tools and tool choice (None: the provider's
    default, `auto` when there are tools)."""

    messages: tuple[Message, ...]
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"messages": messages_to_json(self.messages)}
        if self.tools:
            out["tools"] = tools_to_json(self.tools)
        if self.tool_choice is not None:
            out["tool_choice"] = tool_choice_to_json(self.tool_choice)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Turn:
        return normalise(data.get("messages") or [], data.get("tools"), data.get("tool_choice"))

    @property
    def has_images(self) -> bool:
        return any(isinstance(b, Image) for m in self.messages for b in m.blocks)


# -- the JSON form (Anthropic's shape) ---------------------------------------------------------

def block_to_json(block: Block) -> dict[str, Any]:
    if isinstance(block, Text):
        return {"type": "text", "text": block.text}
    if isinstance(block, Image):
        if block.url is not None:
            return {"type": "image", "source": {"type": "url", "url": block.url}}
        return {"type": "image", "source": {"type": "base64", "media_type": block.media_type,
                                            "data": block.data}}
    if isinstance(block, ToolCall):
        return {"type": "tool_use", "id": block.id, "name": block.name,
                "input": block.arguments}
    out: dict[str, Any] = {"type": "tool_result", "tool_use_id": block.tool_call_id,
                           "content": block.content}
    if block.is_error:
        out["is_error"] = True
    return out


def messages_to_json(messages: Iterable[Message]) -> list[dict[str, Any]]:
    return [{"role": m.role, "content": [block_to_json(b) for b in m.blocks]} if m.blocks
            else {"role": m.role, "content": m.content} for m in messages]


def tools_to_json(tools: Iterable[Tool]) -> list[dict[str, Any]]:
    return [{"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in tools]


def tool_choice_to_json(choice: ToolChoice) -> dict[str, Any]:
    if choice.mode == "tool":
        return {"type": "tool", "name": choice.name}
    return {"type": choice.mode}


def wire_id(call_id: str) -> str:
    """`call_id` as Anthropic accepts ids (`[a-zA-Z0-9_-]+`): unchanged when it fits, else
    its other characters replaced, the same on a call and on its result."""
    return _WIRE_ID.sub("_", call_id) or "_"


# -- normalisation -----------------------------------------------------------------------------

def normalise(raw_messages: Sequence[Any], raw_tools: Any = None,
              raw_choice: Any = None, *, first_index: int = 0) -> Turn:
    """The neutral `Turn` of messages (user/assistant/tool, system ones already taken out:
    `first_index` is the index of the first one in the caller's list), tools and tool
    choice in the OpenAI or the Anthropic shape; `TurnError` naming the path of the first
    thing refused."""
    tools = normalise_tools(raw_tools)
    choice = normalise_tool_choice(raw_choice, tools)
    messages: list[Message] = []
    calls: dict[str, str] = {}  # tool call id -> tool name, in the order given
    pending: list[Block] = []  # tool results of OpenAI `tool` messages, not yet placed
    first_call = ""  # the path of the first message making a tool call
    names = {t.name for t in tools}
    for i, raw in enumerate(raw_messages, start=first_index):
        path = f"messages.{i}"
        if not isinstance(raw, Mapping):
            raise TurnError(path, "a message is an object with `role` and `content`")
        role = raw.get("role")
        if role == "tool":
            pending.append(_openai_tool_result(raw, path, calls))
            continue
        if role not in ("user", "assistant"):
            raise TurnError(f"{path}.role", "must be `user`, `assistant` or `tool` (system "
                                            "messages only before them all)")
        blocks = _blocks(raw, path, role, calls, names)
        if role == "assistant" and pending:
            messages.append(_message("user", tuple(pending)))
            pending = []
        if role == "user" and pending:
            blocks = (*pending, *blocks)
            pending = []
        if not blocks:
            raise TurnError(f"{path}.content", "must not be empty")
        messages.append(_message(role, blocks))
        if role == "assistant":
            for block in blocks:
                if isinstance(block, ToolCall):
                    calls[block.id] = block.name
                    first_call = first_call or path
    if pending:
        messages.append(_message("user", tuple(pending)))
    if not messages:
        raise TurnError("messages", "no user message: add one")
    if choice is not None and choice.mode == "none" and first_call:
        raise TurnError(
            "tool_choice", f"is `none`, but {first_call} is a tool call: give `auto` (the "
            "model may then answer in text) or leave the tool calls out")
    return Turn(tuple(messages), tools, choice)


def _message(role: Role, blocks: tuple[Block, ...]) -> Message:
    text = "".join(b.text for b in blocks if isinstance(b, Text))
    if len(blocks) == 1 and isinstance(blocks[0], Text):
        return Message(role, text)
    return Message(role, text, blocks)


def _blocks(raw: Mapping[str, Any], path: str, role: str, calls: Mapping[str, str],
            names: set[str]) -> tuple[Block, ...]:
    content = raw.get("content")
    out: list[Block] = []
    if isinstance(content, str):
        if content:
            out.append(Text(content))
    elif isinstance(content, list):
        for j, part in enumerate(content):
            out.append(_block(part, f"{path}.content.{j}", role, calls, names))
    elif content is not None:
        raise TurnError(f"{path}.content", "must be a string or a list of content blocks")
    if "tool_calls" in raw and raw["tool_calls"] is not None:
        if role != "assistant":
            raise TurnError(f"{path}.tool_calls", "only an assistant message makes tool calls")
        if not isinstance(raw["tool_calls"], list):
            raise TurnError(f"{path}.tool_calls", "must be a list of tool calls")
        for j, call in enumerate(raw["tool_calls"]):
            out.append(_openai_tool_call(call, f"{path}.tool_calls.{j}", names))
    unknown = set(raw) - {"role", "content", "tool_calls", "name"}
    if unknown:
        raise TurnError(f"{path}.{sorted(unknown)[0]}",
                        "unknown field (known: role, content, tool_calls, tool_call_id)")
    return tuple(out)


def _block(part: Any, path: str, role: str, calls: Mapping[str, str],
           names: set[str]) -> Block:
    if not isinstance(part, Mapping):
        raise TurnError(path, "a content block is an object with a `type`")
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise TurnError(f"{path}.text", "must be a string")
        return Text(text)
    if kind in ("image", "image_url"):
        if role != "user":
            raise TurnError(path, "images go in user messages")
        return _image(part, path)
    if kind in ("tool_use", "tool_call"):
        if role != "assistant":
            raise TurnError(path, "a tool call is made by an assistant message")
        args = part.get("input", part.get("arguments", {}))
        return _tool_call(part.get("id"), part.get("name"), args, path, names,
                          args_field="input" if "input" in part else "arguments")
    if kind == "tool_result":
        if role != "user":
            raise TurnError(path, "a tool result goes in a user message (or a `tool` message)")
        id_field = "tool_use_id" if "tool_use_id" in part else "tool_call_id"
        return _tool_result(part.get(id_field), part.get("content"),
                            bool(part.get("is_error", False)), path, id_field, calls)
    raise TurnError(f"{path}.type", "must be `text`, `image` (or `image_url`), `tool_use` or "
                                    "`tool_result`")


def _image(part: Mapping[str, Any], path: str) -> Image:
    if part.get("type") == "image_url":  # OpenAI: {"image_url": {"url": "data:...|https:..."}}
        spec = part.get("image_url")
        url = spec.get("url") if isinstance(spec, Mapping) else spec
        if not isinstance(url, str):
            raise TurnError(f"{path}.image_url.url", "must be a data URL or an https URL")
        found = _DATA_URL.match(url)
        if found is None:
            return _image_url(url, f"{path}.image_url.url")
        return _base64_image(found["type"], found["data"], f"{path}.image_url.url")
    source = part.get("source")
    if not isinstance(source, Mapping):
        raise TurnError(f"{path}.source", "must be {\"type\": \"base64\", \"media_type\", "
                                          "\"data\"} or {\"type\": \"url\", \"url\"}")
    if source.get("type") == "url":
        url = source.get("url")
        if not isinstance(url, str):
            raise TurnError(f"{path}.source.url", "must be an https URL")
        return _image_url(url, f"{path}.source.url")
    if source.get("type") != "base64":
        raise TurnError(f"{path}.source.type", "must be `base64` or `url`")
    media, data = source.get("media_type"), source.get("data")
    if not isinstance(media, str):
        raise TurnError(f"{path}.source.media_type",
                        f"must be one of {', '.join(IMAGE_TYPES)}")
    if not isinstance(data, str):
        raise TurnError(f"{path}.source.data", "must be the image in base64")
    return _base64_image(media, data, f"{path}.source")


def _image_url(url: str, path: str) -> Image:
    if not url.startswith(("https://", "http://")):
        raise TurnError(path, "must be an http(s) URL or a base64 data URL")
    return Image(None, url=url)


def _base64_image(media: str, data: str, path: str) -> Image:
    if media not in IMAGE_TYPES:
        raise TurnError(f"{path}.media_type" if path.endswith("source") else path,
                        f"unsupported image type {media!r}: give one of "
                        f"{', '.join(IMAGE_TYPES)}")
    size = len(data) * 3 // 4 - data[-2:].count("=")
    if size > MAX_IMAGE_BYTES:
        raise TurnError(f"{path}.data" if path.endswith("source") else path,
                        f"the image is {size:,} bytes, over the {MAX_IMAGE_BYTES:,}-byte limit "
                        "of the strictest provider (Anthropic): resize or compress it")
    try:
        base64.b64decode(data[:4096 - 4096 % 4] or "", validate=True)
    except (binascii.Error, ValueError):
        raise TurnError(f"{path}.data" if path.endswith("source") else path,
                        "is not valid base64") from None
    return Image(media, data=data)


def _tool_call(call_id: Any, name: Any, arguments: Any, path: str, names: set[str], *,
               args_field: str) -> ToolCall:
    if not isinstance(call_id, str) or not call_id:
        raise TurnError(f"{path}.id", "a tool call needs its id (a non-empty string)")
    if not isinstance(name, str) or not name:
        raise TurnError(f"{path}.name", "a tool call needs the tool's name")
    if not names:
        raise TurnError(path, "a tool call in a request without `tools`: give the tool "
                              "definitions the conversation used")
    if name not in names:
        raise TurnError(f"{path}.name", f"calls {name!r}, which is not among `tools` "
                                        f"({', '.join(sorted(names))})")
    if isinstance(arguments, str):  # OpenAI: a JSON string
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            raise TurnError(f"{path}.{args_field}", "is not valid JSON") from None
    if not isinstance(arguments, dict):
        raise TurnError(f"{path}.{args_field}", "must be a JSON object")
    return ToolCall(call_id, name, arguments)


def _openai_tool_call(call: Any, path: str, names: set[str]) -> ToolCall:
    if not isinstance(call, Mapping):
        raise TurnError(path, "a tool call is {\"id\", \"type\": \"function\", \"function\": "
                              "{\"name\", \"arguments\"}}")
    fn = call.get("function")
    if not isinstance(fn, Mapping):
        raise TurnError(f"{path}.function", "must be {\"name\", \"arguments\"}")
    return _tool_call(call.get("id"), fn.get("name"), fn.get("arguments", "{}"),
                      path, names, args_field="function.arguments")


def _openai_tool_result(raw: Mapping[str, Any], path: str,
                        calls: Mapping[str, str]) -> ToolResult:
    unknown = set(raw) - {"role", "content", "tool_call_id", "name"}
    if unknown:
        raise TurnError(f"{path}.{sorted(unknown)[0]}",
                        "unknown field of a tool message (known: content, tool_call_id)")
    return _tool_result(raw.get("tool_call_id"), raw.get("content"), False, path,
                        "tool_call_id", calls)


def _tool_result(call_id: Any, content: Any, is_error: bool, path: str, id_field: str,
                 calls: Mapping[str, str]) -> ToolResult:
    if not isinstance(call_id, str) or not call_id:
        raise TurnError(f"{path}.{id_field}", "a tool result needs the id of its tool call")
    if call_id not in calls:
        raise TurnError(f"{path}.{id_field}",
                        f"{call_id!r} matches no earlier tool call"
                        + (f" (earlier calls: {', '.join(calls)})" if calls else
                           " (no assistant message before it made one)"))
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if not isinstance(part, Mapping) or part.get("type") != "text" \
                    or not isinstance(part.get("text"), str):
                raise TurnError(f"{path}.content.{j}", "a tool result's blocks are text blocks")
            texts.append(part["text"])
        content = "".join(texts)
    elif content is None:
        content = ""
    elif not isinstance(content, str):
        raise TurnError(f"{path}.content", "must be a string or a list of text blocks")
    return ToolResult(call_id, content, is_error)


# Normalised tool lists by their JSON text: an agent sends the same tools turn after turn.
# Each entry is normalised from its own copy of the definitions (read back from that
# text), so that a caller changing its list afterwards changes nothing here (the values
# are shared: nothing changes a `Tool`'s parameters); a hit must equal the list given (a
# tuple and a list have the same JSON). Lists over `_MEMO_CHARS` characters are not kept.
_MEMO: dict[str, tuple[list[Any], tuple[Tool, ...]]] = {}
_MEMO_ENTRIES = 256
_MEMO_CHARS = 65_536


def normalise_tools(raw: Any) -> tuple[Tool, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TurnError("tools", "must be a list of tool definitions")
    try:
        key = json.dumps(raw)
    except (TypeError, ValueError, RecursionError):  # not JSON: `_tool` says where
        return _normalise_tools(raw)
    hit = _MEMO.get(key)
    if hit is not None and hit[0] == raw:
        return hit[1]
    if len(key) > _MEMO_CHARS:
        return _normalise_tools(raw)
    own = json.loads(key)
    if own != raw:  # not plain JSON (a tuple, a NaN): normalised as given, not kept
        return _normalise_tools(raw)
    tools = _normalise_tools(own)  # equal to the caller's: refused the same, by its field
    if len(_MEMO) >= _MEMO_ENTRIES:
        _MEMO.clear()
    _MEMO[key] = (own, tools)
    return tools


def _normalise_tools(raw: list[Any]) -> tuple[Tool, ...]:
    tools: list[Tool] = []
    for i, spec in enumerate(raw):
        tools.append(_tool(spec, f"tools.{i}"))
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        if tool.name in seen:
            raise TurnError(f"tools.{i}.name", f"{tool.name!r} is defined twice")
        seen.add(tool.name)
    return tuple(tools)


def _tool(spec: Any, path: str) -> Tool:
    if not isinstance(spec, Mapping):
        raise TurnError(path, "a tool is {\"name\", \"description\", \"input_schema\"} "
                              "(Anthropic) or {\"type\": \"function\", \"function\": {\"name\", "
                              "\"description\", \"parameters\"}} (OpenAI)")
    if spec.get("type") == "function" or "function" in spec:
        fn = spec.get("function")
        if not isinstance(fn, Mapping):
            raise TurnError(f"{path}.function", "must be {\"name\", \"description\", "
                                                "\"parameters\"}")
        path, spec, schema_field = f"{path}.function", fn, "parameters"
    else:
        schema_field = "input_schema"
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise TurnError(f"{path}.name", "a tool needs a name")
    if not TOOL_NAME.match(name):
        raise TurnError(f"{path}.name", "letters, digits, `_` and `-` only, 1 to 64 of them")
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise TurnError(f"{path}.description", "must be a string")
    schema = spec.get(schema_field, spec.get("parameters", spec.get("input_schema")))
    if schema is None:
        schema = {"type": "object", "properties": {}}
    size = _check_schema(schema, f"{path}.{schema_field}")
    return Tool(name, description, dict(schema), size)


def _check_schema(schema: Any, path: str) -> int:
    """A tool's arguments: a JSON Schema of an object (what both APIs require); the length
    of its JSON."""
    if not isinstance(schema, Mapping):
        raise TurnError(path, "must be a JSON Schema object")
    if schema.get("type") != "object":
        raise TurnError(f"{path}.type", "must be \"object\": a tool takes an object of "
                                        "arguments")
    props = schema.get("properties", {})
    if not isinstance(props, Mapping) or not all(isinstance(v, Mapping) for v in props.values()):
        raise TurnError(f"{path}.properties", "must map each argument to its JSON Schema")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise TurnError(f"{path}.required", "must be a list of argument names")
    missing = [r for r in required if props and r not in props]
    if missing:
        raise TurnError(f"{path}.required", f"names {missing[0]!r}, which is not among "
                                            "`properties`")
    try:
        return len(json.dumps(schema))
    except (TypeError, ValueError):
        raise TurnError(path, "must be JSON") from None


def normalise_tool_choice(raw: Any, tools: tuple[Tool, ...]) -> ToolChoice | None:
    if raw is None:
        return None
    if not tools:
        raise TurnError("tool_choice", "given without `tools`")
    names = [t.name for t in tools]
    choice: ToolChoice
    if isinstance(raw, str):
        mode = {"auto": "auto", "any": "any", "required": "any", "none": "none"}.get(raw)
        choice = ToolChoice(mode) if mode else ToolChoice("tool", raw)  # type: ignore[arg-type]
    elif isinstance(raw, Mapping):
        kind = raw.get("type")
        if kind == "function":  # OpenAI: {"type": "function", "function": {"name"}}
            fn = raw.get("function")
            choice = ToolChoice("tool", fn.get("name") if isinstance(fn, Mapping) else None)
        elif kind == "tool":
            choice = ToolChoice("tool", raw.get("name"))
        elif kind in ("auto", "any", "none"):
            choice = ToolChoice(kind)
        else:
            raise TurnError("tool_choice.type", "must be `auto`, `any`, `none` or `tool`")
    else:
        raise TurnError("tool_choice", "must be `auto`, `any` (or `required`), `none`, or a "
                                       "tool's name")
    if choice.mode == "tool" and choice.name not in names:
        raise TurnError("tool_choice", f"names {choice.name!r}, which is not among `tools` "
                                       f"({', '.join(names)}); or give `auto`, `any`, `none`")
    return choice


# -- size ------------------------------------------------------------------------------------

def extra_tokens(messages: Iterable[Message], tools: Iterable[Tool]) -> int:
    """Input tokens beyond the messages' text: tool definitions (their JSON), images (at
    most `IMAGE_TOKENS` each), tool calls' arguments and tool results."""
    chars = sum(t.chars + 16 for t in tools)
    images = 0
    for m in messages:
        for b in m.blocks:
            if isinstance(b, Image):
                images += 1
            elif isinstance(b, ToolCall):
                chars += len(b.name) + len(json.dumps(b.arguments)) + 16
            elif isinstance(b, ToolResult):
                chars += len(b.content) + 16
    return -(-chars // 4) + images * IMAGE_TOKENS


def raw_extra_tokens(messages: Any, tools: Any) -> int:
    """The same for raw kwargs (the send-time estimate: never raises): the JSON of tool
    definitions and of non-text blocks, `IMAGE_TOKENS` per image."""
    chars, images = 0, 0
    if isinstance(tools, list):
        chars += sum(len(_dumps(t)) for t in tools)
    for m in messages if isinstance(messages, list) else ():
        if not isinstance(m, Mapping):
            continue
        if m.get("tool_calls"):
            chars += len(_dumps(m["tool_calls"]))
        content = m.get("content")
        if m.get("role") == "tool" and isinstance(content, str):
            chars += len(content)
        for part in content if isinstance(content, list) else ():
            if not isinstance(part, Mapping):
                continue
            kind = part.get("type")
            if kind in ("image", "image_url"):
                images += 1
            elif kind != "text":
                chars += len(_dumps(part))
    return -(-chars // 4) + images * IMAGE_TOKENS


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return ""


__all__ = [
    "IMAGE_TOKENS", "IMAGE_TYPES", "MAX_IMAGE_BYTES", "Block", "Image", "Message", "Text",
    "Tool", "ToolCall", "ToolChoice", "ToolResult", "Turn", "TurnError", "block_to_json",
    "extra_tokens", "messages_to_json", "normalise", "normalise_tool_choice",
    "normalise_tools", "raw_extra_tokens", "tool_choice_to_json", "tools_to_json", "wire_id",
]
