"""Batcher: requests that reach the event loop together share one session run."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from ec2_app.app import SAMPLE_RECORD, Batcher, IncomeRecord


class FakeScorer:
    """Answers each record with its age; remembers the batches it was given."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.fail = fail

    def predict(self, records):
        self.batches.append([r.age for r in records])
        if self.fail:
            raise RuntimeError("session run failed")
        return [{"age": r.age} for r in records]


def records(*ages):
    return [IncomeRecord(**{**SAMPLE_RECORD, "age": age}) for age in ages]


def test_concurrent_requests_share_one_run_and_keep_their_answers():
    scorer = FakeScorer()
    batcher = Batcher(scorer)

    async def main():
        return await asyncio.gather(*(batcher.predict(r) for r in records(20, 30, 40, 50)))

    assert asyncio.run(main()) == [{"age": 20}, {"age": 30}, {"age": 40}, {"age": 50}]
    assert scorer.batches == [[20, 30, 40, 50]]


def test_a_lone_request_is_scored_alone():
    scorer = FakeScorer()
    batcher = Batcher(scorer)

    async def main():
        first = await batcher.predict(records(20)[0])
        second = await batcher.predict(records(30)[0])
        return first, second

    assert asyncio.run(main()) == ({"age": 20}, {"age": 30})
    assert scorer.batches == [[20], [30]]


def test_a_failed_run_fails_every_request_in_it():
    batcher = Batcher(FakeScorer(fail=True))

    async def main():
        return await asyncio.gather(*(batcher.predict(r) for r in records(20, 30)), return_exceptions=True)

    results = asyncio.run(main())
    assert [type(r) for r in results] == [RuntimeError, RuntimeError]


def test_a_request_whose_client_left_does_not_upset_the_others():
    scorer = FakeScorer()
    batcher = Batcher(scorer)

    async def main():
        tasks = [asyncio.ensure_future(batcher.predict(r)) for r in records(20, 30, 40)]
        await asyncio.sleep(0)  # let all three queue
        tasks[1].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    first, second, third = asyncio.run(main())
    assert (first, third) == ({"age": 20}, {"age": 40})
    assert isinstance(second, asyncio.CancelledError)


@pytest.mark.parametrize("clients", [1, 8])
def test_the_app_scores_concurrent_requests_like_single_ones(client, clients):
    # Through the real app and model: answers do not depend on batching.
    bodies = [{**SAMPLE_RECORD, "age": 20 + 7 * i} for i in range(clients)]
    expected = [client.post("/predict", json=b).json() for b in bodies]
    with ThreadPoolExecutor(clients) as pool:
        got = list(pool.map(lambda b: client.post("/predict", json=b).json(), bodies))
    assert got == expected
