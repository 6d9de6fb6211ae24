"""course.steps.step07_formal_education.distributed on a real local server: timeouts, 503s, lost answers,
idempotency keys under concurrent duplicates, backoff bounds and a lagging replica."""

import threading

import pytest

from course.components import servers
from course.components.waits import wait_until
from course.steps.step07_formal_education import distributed as d


@pytest.fixture
def shop():
    shop = d.serve_shop()
    yield shop
    shop.stop()
    assert shop.server not in servers.running()


@pytest.mark.service
def test_timeouts_503s_and_404s(shop):
    with pytest.raises(TimeoutError, match="no answer within 0.05 s"):
        d.request("GET", f"{shop.url}/slow?delay=1", timeout=0.05)
    shop.failures = 2
    assert [d.request("GET", f"{shop.url}/flaky")[0] for _ in range(3)] == [503, 503, 200]
    assert d.request("GET", f"{shop.url}/nowhere")[0] == 404
    with pytest.raises(ConnectionError):
        d.request("GET", f"http://127.0.0.1:{servers.free_port()}/", timeout=1)


@pytest.mark.service
def test_a_lost_answer_makes_two_orders_without_a_key_and_one_with(shop):
    shop.lose_responses, shop.stall = 1, 0.3
    with pytest.raises(TimeoutError):
        d.request("POST", f"{shop.url}/orders", body={"item": "x"}, timeout=0.05)
    assert d.request("POST", f"{shop.url}/orders", body={"item": "x"})[0] == 201
    wait_until(lambda: len(shop.orders) == 2, 5, what="the stalled order")
    shop.reset()
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(d.request(
        "POST", f"{shop.url}/orders", body={"item": "y"}, headers={"Idempotency-Key": "k"}))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(shop.orders) == 1 and len(set(answers)) == 1 and answers[0][0] == 201


def test_backoff_is_capped_and_jittered():
    assert d.backoff_delays(5, base=0.1, cap=0.3, rand=lambda: 1.0) == pytest.approx([0.1, 0.2, 0.3, 0.3, 0.3])
    assert d.backoff_delays(2, base=0.1, rand=lambda: 0.5) == pytest.approx([0.05, 0.1])
    assert "POST" not in d.IDEMPOTENT_METHODS and "PUT" in d.IDEMPOTENT_METHODS


def test_the_replica_lags_and_read_your_writes_does_not():
    store = d.Replicated(lag=1.0)
    try:
        version = store.write("k", "v1")
        assert store.read("k", node="primary") == "v1"
        assert store.read_your_writes("k", after=version) == ("v1", "primary")
        wait_until(lambda: store.read("k") == "v1", 5, what="the replica to catch up")
        assert store.read_your_writes("k", after=version) == ("v1", "replica")
    finally:
        store.close()
