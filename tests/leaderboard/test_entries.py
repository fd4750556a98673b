"""Per-sample outcome columns: one board-wide item numbering, equal number sequences held once."""

from __future__ import annotations

from array import array

from mosseval.leaderboard.entries import ItemNumbering, Outcomes
from mosseval.leaderboard.ties import paired_values


def test_item_numbering_shares_equal_sequences_and_numbers_new_items():
    ids = ItemNumbering()
    a = Outcomes({"t/1": 1.0, "t/2": 0.0, "t/3": 1.0}, {"t/1": 0.5, "t/3": 0.25}, ids)
    b = Outcomes({"t/1": 0.0, "t/2": 0.0, "t/3": 1.0}, {"t/1": 0.75, "t/3": 1.0}, ids)
    c = Outcomes({"t/3": 1.0, "t/1": 0.0, "t/4": 1.0}, {}, ids)
    assert ids.number == {"t/1": 0, "t/2": 1, "t/3": 2, "t/4": 3} and len(ids) == 4
    assert a.correct.ids is b.correct.ids and a.prr.ids is b.prr.ids  # held once
    assert a.correct.ids == array("i", [0, 1, 2]) and a.prr.ids == array("i", [0, 2])
    assert c.correct.ids == array("i", [2, 0, 3]) and c.correct.ids is not a.correct.ids
    assert list(b.correct.values) == [0.0, 0.0, 1.0] and list(b.prr.values) == [0.75, 1.0]
    # pairing by item number: shared arrays, and different orders
    assert paired_values(a.correct, b.correct, 3, 3) == [(1.0, 0.0), (0.0, 0.0), (1.0, 1.0)]
    assert paired_values(a.correct, c.correct, 3, 3) == [(1.0, 0.0), (1.0, 1.0)]
