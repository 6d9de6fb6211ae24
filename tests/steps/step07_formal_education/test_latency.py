"""course.steps.step07_formal_education.latency: the pointer chase visits every entry, the tables measure what
they name, and the sentences follow the numbers (no timing is asserted)."""

import pytest

from course.components import servers
from course.steps.step07_formal_education import latency


@pytest.mark.parametrize("random_order", [True, False])
def test_the_cycle_visits_every_entry_once(random_order):
    table = latency.cycle_array(1 << 12, random_order=random_order)
    seen, i = set(), 0
    for _ in range(len(table)):
        seen.add(i)
        i = table[i]
    assert len(seen) == len(table) and i == 0
    with pytest.raises(ValueError):
        latency.cycle_array(1000)


def test_the_tables_have_their_rows_and_stop_their_server():
    memory = latency.memory_table({"4 KiB": 4 << 10, "1 MiB": 1 << 20}, steps=1000, repeat=1)
    assert [label for label, _ in memory] == ["4 KiB, random order", "1 MiB, random order", "1 MiB, sequential"]
    ops = dict(latency.operation_table(repeat=1))
    assert {"write 4 KiB + fsync", "read 4 KiB, page cache", "TCP round trip on 127.0.0.1",
            "SQLite query by primary key"} <= set(ops)
    assert all(seconds > 0 for seconds in ops.values()) and servers.running() == []


def test_the_sentences_follow_the_numbers():
    slow = latency.describe_memory([("16 KiB, random order", 1.0), ("64 MiB, random order", 3.0),
                                    ("64 MiB, sequential", 1.0)])
    assert "3.0 times as long" in slow and "3.0 times as fast" in slow
    flat = latency.describe_memory([("16 KiB, random order", 1.0), ("64 MiB, random order", 1.05),
                                    ("64 MiB, sequential", 1.0)])
    assert "about as long" in flat and "hid the cache misses" in flat
    text = latency.describe_operations([("read 4 KiB, page cache", 1.0), ("read 4 KiB, pages dropped", 1.2)])
    assert "about as long" in text and "changed the read little" in text
