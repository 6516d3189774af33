"""The identity book's numpy path for plain resident IDs gives exactly ``ids.check``'s outcome,
for valid IDs and for every near miss (the near misses go to ``ids.check`` itself)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from socialcredit import ids
from socialcredit.ingest.identity import FIELDS, IdentityBook, _facts

TODAY = dt.date(2026, 11, 26)
AREAS = ["110105", "110103", "440305", "999999", "000000"]  # 110103: abolished; then unknown


def _valid(area: str, born: dt.date, seq: int) -> str:
    body = area + born.strftime("%Y%m%d") + f"{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def _variants(value: str) -> list[str]:
    """The value and near misses: wrong check, a lower-case x, separators, full width, a
    legacy 15-digit number, an impossible or future date, lengths 17 and 19."""
    wrong = value[:17] + ("0" if value[17] != "0" else "1")
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in value)
    return [
        value,
        wrong,
        value.lower(),
        f" {value[:6]} {value[6:]}",
        full_width,
        value[:6] + value[8:17],
        value[:10] + "1399" + value[14:],
        value[:6] + "20991231" + value[14:],
        value[:17],
        value + "0",
        "91440300000000003P",
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(AREAS),
            st.dates(min_value=dt.date(1870, 1, 1), max_value=dt.date(2030, 12, 31)),
            st.integers(min_value=0, max_value=999),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_the_numpy_path_agrees_with_ids_check(people: list[tuple[str, dt.date, int]]) -> None:
    values = sorted({v for p in people for v in _variants(_valid(*p))})
    found = IdentityBook(TODAY).check(pa.array(values, pa.string()))
    for i, value in enumerate(values):
        expected = _facts(ids.check(value, today=TODAY))
        got = tuple(getattr(found, f)[i] for f in FIELDS)
        birth = expected[5]
        assert got[5] == (np.datetime64(birth, "D") if birth else np.datetime64("NaT")) or (
            birth is None and np.isnat(got[5])
        ), value
        assert got[:5] + got[6:] == expected[:5] + expected[6:], value
        assert found.given[i], value


def test_a_book_that_starts_afresh_gives_the_same_outcomes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Chunks that overflow the book (known values, new values, empty ones) are checked as if the
    book were unlimited; an absent column is all ``given=False``."""
    monkeypatch.setattr("socialcredit.ingest.identity.MAX_REMEMBERED", 4)
    people = [_valid("110105", dt.date(1980, 1, 1) + dt.timedelta(days=d), d) for d in range(6)]
    chunks = [[*people[:3], ""], [*people[1:5], "bad", ""], [*people[4:], people[0], "bad"]]
    book = IdentityBook(TODAY)
    for chunk in chunks:
        found = book.check(pa.array(chunk, pa.string()))
        for i, value in enumerate(chunk):
            assert found.given[i] == bool(value)
            if value:
                expected = ids.check(value, today=TODAY)
                assert (found.valid[i], found.normalised[i]) == (
                    expected.valid,
                    expected.normalised,
                )
                assert found.error[i] == expected.error
    absent = book.check(pa.array(["", ""], pa.string()))
    assert not absent.given.any() and not absent.valid.any()
