"""The batch adapters through the real anthropic and openai SDKs, against the test LLM
server's batch APIs: submit, in progress, results (succeeded, errored, expired), a batch
that fails as a whole; and the requests as the providers receive them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from tests.support.llm_server import TEST_KEYS, LLMServer
from tests.support.llm_wire import tokens
from tests.support.properties import bounded
from workers.contract import Message
from workers.providers.anthropic import AnthropicProvider
from workers.providers.anthropic_batch import AnthropicBatches
from workers.providers.base import CompletionRequest
from workers.providers.batch import BatchAPI, BatchItem, ItemResult
from workers.providers.errors import PermanentError, TransientError
from workers.providers.openai_batch import OpenAIBatches
from workers.providers.openai_compat import OpenAICompatProvider

MODELS = {"anthropic": "claude-haiku-4-5", "openai": "gpt-4o"}


@pytest.fixture(params=["anthropic", "openai"])
def api(request: pytest.FixtureRequest, llm_server: LLMServer) -> Iterator[BatchAPI]:
    name = request.param
    key = SecretStr(TEST_KEYS[f"{name.upper()}_API_KEY"])
    if name == "anthropic":
        provider = AnthropicProvider(api_key=key, base_url=llm_server.base_urls[name],
                                     timeout=10)
        yield AnthropicBatches(provider, timeout=10)
    else:
        compat = OpenAICompatProvider(name, api_key=key, base_url=llm_server.base_urls[name],
                                      timeout=10)
        yield OpenAIBatches(compat, timeout=10)


def items(name: str, n: int, *, system: str | None = None) -> list[BatchItem]:
    return [BatchItem(f"task-{i}", CompletionRequest(
        model=MODELS[name], messages=(Message("user", f"question {i}"),), max_tokens=64,
        system=system)) for i in range(n)]


def submit(api: BatchAPI, batch: list[BatchItem]) -> str:
    prepared = api.prepare(batch, label="b-test")
    return api.create(batch, prepared, label="b-test")


def by_id(results: list[ItemResult]) -> dict[str, ItemResult]:
    return {r.custom_id: r for r in results}


def test_a_batch_runs_in_progress_then_ends_with_every_answer(
    api: BatchAPI, llm_server: LLMServer
) -> None:
    # Given a batch of three requests while the provider holds batches
    llm_server.batches.hold()
    batch = items(api.name, 3, system="Be brief.")
    batch_id = submit(api, batch)
    # Then it is in progress, and nothing is answered yet
    assert not api.status(batch_id).ended
    # When the provider is done
    llm_server.batches.release()
    status = api.status(batch_id)
    assert status.ended
    results = by_id(list(api.results(status, batch)))
    # Then every request has its completion, with the usage the server computed
    assert set(results) == {"task-0", "task-1", "task-2"}
    for i in range(3):
        completion = results[f"task-{i}"].completion
        assert completion is not None
        assert completion.text == f"test reply from {MODELS[api.name]}"
        prompt = tokens("Be brief.") + tokens(f"question {i}") + 4
        usage = completion.usage  # (OpenAI caches the repeated system prompt by itself)
        assert usage.input_tokens + usage.cache_read_tokens == prompt
        assert completion.usage.output_tokens == tokens(completion.text)
    # and the server saw each request as the provider would: model, system, limit
    seen = [r for r in llm_server.requests if r.path.endswith("batches")]
    assert [r.model for r in seen] == [MODELS[api.name]] * 3
    assert {r.system for r in seen} == {"Be brief."}
    assert {r.max_tokens for r in seen} == {64}
    if api.name == "openai":
        assert "max_completion_tokens" in seen[0].body  # what OpenAI's own API takes
    # and no direct call was made
    assert not [r for r in llm_server.requests if not r.path.endswith("batches")]


def test_errored_items_are_classified_like_direct_errors(
    api: BatchAPI, llm_server: LLMServer
) -> None:
    # Given a batch whose first item hits a 500 and whose second a 400
    llm_server.server_error(times=1)
    llm_server.bad_request(times=1, message="prompt is malformed")
    batch = items(api.name, 3)
    status = api.status(submit(api, batch))
    results = [by_id(list(api.results(status, batch)))[f"task-{i}"] for i in range(3)]
    # Then the 500 is transient (worth another try), the 400 permanent, the third fine
    assert isinstance(results[0].error, TransientError)
    assert isinstance(results[1].error, PermanentError)
    assert "prompt is malformed" in str(results[1].error)
    assert results[2].completion is not None
    # and no key leaks into an error
    for r in results[:2]:
        assert TEST_KEYS[f"{api.name.upper()}_API_KEY"] not in str(r.error)


def test_an_expired_batch_answers_what_it_did_and_expires_the_rest(
    api: BatchAPI, llm_server: LLMServer
) -> None:
    llm_server.batches.expire_next(after=1)
    batch = items(api.name, 3)
    status = api.status(submit(api, batch))
    assert status.ended and status.unfinished == "expired"
    results = by_id(list(api.results(status, batch)))
    assert results["task-0"].completion is not None
    # the others are expired: listed as such, or (OpenAI) in the error file
    for cid in ("task-1", "task-2"):
        assert results[cid].unprocessed == "expired"
    assert len([r for r in llm_server.requests if r.path.endswith("batches")]) == 1


def test_an_openai_batch_that_fails_validation_has_no_results(llm_server: LLMServer) -> None:
    compat = OpenAICompatProvider("openai", api_key=SecretStr(TEST_KEYS["OPENAI_API_KEY"]),
                                  base_url=llm_server.base_urls["openai"], timeout=10)
    api = OpenAIBatches(compat, timeout=10)
    llm_server.batches.fail_next("line 1: unknown model")
    batch = items("openai", 2)
    status = api.status(submit(api, batch))
    assert status.ended and status.unfinished == "failed"
    assert "unknown model" in status.reason
    assert list(api.results(status, batch)) == []


def test_the_openai_batch_file_is_jsonl_of_chat_completion_requests(
    llm_server: LLMServer
) -> None:
    compat = OpenAICompatProvider("openai", api_key=SecretStr(TEST_KEYS["OPENAI_API_KEY"]),
                                  base_url=llm_server.base_urls["openai"], timeout=10)
    api = OpenAIBatches(compat, timeout=10)
    batch = items("openai", 2, system="sys")
    file_id = api.prepare(batch, label="b-x")
    assert file_id is not None
    raw = compat.client.files.content(file_id).content
    lines = [json.loads(line) for line in raw.splitlines()]
    assert [line["custom_id"] for line in lines] == ["task-0", "task-1"]
    assert {(line["method"], line["url"]) for line in lines} == {
        ("POST", "/v1/chat/completions")}
    assert lines[0]["body"]["messages"][0] == {"role": "system", "content": "sys"}
    batch_id = api.create(batch, file_id, label="b-x")
    assert compat.client.batches.retrieve(batch_id).metadata == {"llm_router_batch": "b-x"}


def test_listing_pages_newest_first_and_find_knows_a_submission_by_its_label_or_requests(
    api: BatchAPI, llm_server: LLMServer
) -> None:
    import time

    # Given four batches at the provider, listed two a page: three of other requests
    # (as many of them, other custom ids), and the submission looked for
    llm_server.batches.page_limit = 2
    ours = items(api.name, 3)
    others = [BatchItem(f"other-{i}", item.request) for i, item in enumerate(ours)]
    made = [api.create(others, api.prepare(others, label="b-other"), label="b-other"),
            api.create(ours, api.prepare(ours, label="b-ours"), label="b-ours"),
            api.create(others, api.prepare(others, label="b-other"), label="b-other"),
            api.create(others, api.prepare(others, label="b-other"), label="b-other")]
    # Then the listing has every one, newest first, across pages
    listed = list(api.listing(since=0))
    assert [b.id for b in listed] == made[::-1]
    assert all(b.requests == 3 and b.ended for b in listed)
    assert llm_server.batches.count("GET", r"batches$") == 2
    # and nothing created before `since`
    assert list(api.listing(since=time.time() + 3600)) == []
    # find picks the submission out (OpenAI: by its metadata label; Anthropic: by the
    # custom ids of an ended batch)
    assert api.find(ours, "b-ours", since=0) == [made[1]]
    # and cancel stops it
    api.cancel(made[1])
    assert made[1] not in llm_server.batches.live()


@bounded(max_examples=25)
@given(sizes=st.lists(st.integers(1, 3), max_size=7), page=st.integers(1, 4),
       wanted=st.integers(0, 6))
def test_listing_and_find_hold_across_any_paging(
    api: BatchAPI, llm_server: LLMServer, sizes: list[int], page: int, wanted: int
) -> None:
    # Given batches of any sizes, listed `page` at a time, one of them the submission
    llm_server.batches.reset()
    llm_server.batches.page_limit = page
    made, ours = [], None
    for n, size in enumerate(sizes):
        batch = [BatchItem(f"b{n}-{i}", item.request) for i, item in
                 enumerate(items(api.name, size))]
        label = "b-wanted" if n == wanted else f"b-{n}"
        made.append(api.create(batch, api.prepare(batch, label=label), label=label))
        if n == wanted:
            ours = batch
    # Then the listing has each batch once, newest first, whatever the paging
    assert [b.id for b in api.listing(since=0)] == made[::-1]
    # and find picks out the submission, only it
    if ours is not None:
        assert api.find(ours, "b-wanted", since=0) == [made[wanted]]
