"""Each reader on a small hand-made file, through ``socialcredit ingest``; broken files of each
format are refused with one line naming the file, and keep nothing."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ingest_support import (
    FIXTURES,
    ingest,
    ingest_fails,
    init,
    query,
    read_fixture,
    rejected,
    typed,
    write_csv,
    write_parquet,
    write_xlsx,
)


def test_utf8_csv_with_english_headers(run, db_url: str) -> None:  # type: ignore[no-untyped-def]
    init(db_url)
    summary = ingest(run, db_url, FIXTURES / "court_good.csv", furnisher="court")
    assert (summary["read"], summary["accepted"], summary["quarantined"]) == (5, 5, 0)
    assert summary["files"][0]["encoding"] == "utf-8"
    amounts = dict(query(db_url, "select record_id, amount_fen from events where action = 'file'"))
    assert amounts["C-2024-001"] == 598808563 and amounts["C-2024-003"] is None
    # Two persons named 王喜民 with different IDs are two subjects.
    same_name = query(
        db_url,
        "select subject_id, birth_date, sex from subjects "
        "where name = '王喜民' order by subject_id",
    )
    assert [r[0] for r in same_name] == ["220183196205180215", "220524196903020333"]
    assert str(same_name[0][1]) == "1962-05-18" and same_name[0][2] == "M"


def test_bom_gb18030_and_tab_separated_text(run, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    init(db_url)
    court_header, court_rows = read_fixture("court_good.csv")
    market_header, market_rows = read_fixture("market_zh.csv")  # Chinese headers
    bom = write_csv(tmp_path / "court_bom.csv", court_header, court_rows, "utf-8-sig")
    gb = write_csv(tmp_path / "market_gb.csv", market_header, market_rows, "gb18030")
    summary = ingest(run, db_url, bom, furnisher="court")
    assert summary["files"][0]["encoding"] == "utf-8" and summary["accepted"] == 5
    summary = ingest(run, db_url, gb, furnisher="market")
    assert summary["files"][0]["encoding"] == "gb18030"
    assert (summary["read"], summary["accepted"]) == (3, 3)
    notes = query(
        db_url,
        "select note, legal_rep_id, action from events where furnisher = 'market'"
        " order by record_id",
    )
    assert notes[0] == (None, "440305197506060556", "file")  # 新增 is the file action
    assert notes[1][0] == "未按时公示年度报告"
    names = query(db_url, "select name from subjects where subject_id = '913101150000000045'")
    assert names == [("上海某某贸易有限公司",)]
    # The same rows tab-separated in a .txt file are the same events: all duplicates.
    tsv = write_csv(tmp_path / "market.txt", market_header, market_rows, delimiter="\t")
    again = ingest(run, db_url, tsv, furnisher="market")
    assert (again["duplicates"], again["accepted"]) == (3, 0)
    # Excel's "Unicode Text": UTF-16 with a byte-order mark, tab-separated, CRLF; either order.
    text = "\r\n".join("\t".join(row) for row in [market_header, *market_rows]) + "\r\n"
    little = tmp_path / "market_utf16.txt"
    little.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    big = tmp_path / "market_utf16be.txt"
    big.write_bytes(codecs.BOM_UTF16_BE + text.encode("utf-16-be"))
    for path in (little, big):
        again = ingest(run, db_url, path, furnisher="market")
        assert again["files"][0]["encoding"] == "utf-16"
        assert (again["read"], again["duplicates"], again["accepted"]) == (3, 3, 0)


def test_headers_of_the_court_list_and_combined_headers(run, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    init(db_url)
    header, rows = read_fixture("court_good.csv")
    # As the defaulter list is exported: combined headers, its name and document columns.
    names = {
        "subject_id": "身份证号码/组织机构代码",
        "subject_name": "被执行人姓名／名称",  # a full-width slash
        "document_no": "文书号",
        "record_id": "记录编号",
        "decided_on": "决定日期",
    }
    # A template's legacy organisation-code column beside the ID column is ignored, not an ID.
    listed = write_csv(
        tmp_path / "list.csv",
        [*(names.get(h, h) for h in header), "组织机构代码"],
        [[*r, "MA01AB2C3"] for r in rows],
    )
    summary = ingest(run, db_url, listed, furnisher="court")
    assert (summary["read"], summary["accepted"]) == (5, 5)
    [warning] = summary["warnings"]
    assert warning.endswith("ignored 1 column(s) that are not furnisher columns: 组织机构代码")
    stored = query(db_url, "select subject_id, subject_name from events order by record_id")
    assert stored[0] == ("220183196205180215", "王喜民")
    # A combined header whose parts mean different columns means neither.
    mixed = [names.get(h, h) if h != "subject_name" else "姓名/文书号" for h in header]
    message = ingest_fails(
        run, db_url, write_csv(tmp_path / "m.csv", mixed, rows), furnisher="court"
    )
    assert "missingrequiredcolumn(s):subject_name;unrecognisedcolumn(s):姓名/文书号" in message


def test_json_lines_with_aliases_bad_lines_and_extra_keys(run, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    init(db_url)
    summary = ingest(run, db_url, FIXTURES / "civil_affairs.jsonl", furnisher="civil_affairs")
    assert (summary["read"], summary["accepted"], summary["quarantined"]) == (5, 2, 3)
    assert summary["reasons"] == {"row_unreadable": 2, "id_invalid": 1}
    assert any("source_system" in w for w in summary["warnings"])
    rows = {int(r["row"]): r for r in rejected(run, db_url, tmp_path / "q.csv")}
    assert {n: r["reason_code"] for n, r in rows.items()} == {
        4: "row_unreadable",
        5: "row_unreadable",
        6: "id_invalid",
    }  # line numbers
    assert rows[4]["value"] == "not a JSON object at all"
    filed = query(db_url, "select record_id, subject_name from events order by record_id")
    assert filed == [("CA-1", "颜丽"), ("CA-2", "陈静")]


def test_parquet_and_xlsx_read_the_same_events(run, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    init(db_url)
    header, rows = read_fixture("court_good.csv")
    records = [typed(header, r) for r in rows]
    bad = typed(header, rows[1]) | {"record_id": "C-2024-009", "subject_id": "220524196903020334"}
    parquet = write_parquet(tmp_path / "court.parquet", header, [*records, bad])
    summary = ingest(run, db_url, parquet, furnisher="court")
    assert (summary["read"], summary["accepted"], summary["reasons"]) == (6, 5, {"id_invalid": 1})
    # The workbook has real dates and numbers in its cells, a blank row, and two bad rows: the
    # last one's ID is a number cell, which Excel keeps to 15 significant digits.
    as_number = bad | {"record_id": "C-2024-010", "subject_id": 2.20524196903020e17}
    book = write_xlsx(
        tmp_path / "court.xlsx", header, [*records[:2], {}, *records[2:], bad, as_number]
    )
    summary = ingest(run, db_url, book, furnisher="court")
    assert (summary["duplicates"], summary["accepted"], summary["quarantined"]) == (5, 0, 2)
    quarantined = rejected(run, db_url, tmp_path / "q.csv")
    by_file = {r["file"]: r for r in quarantined if r["row"] != "8"}
    assert by_file[str(parquet)]["row"] == "6"
    assert by_file[str(book)]["row"] == "7"  # sheet row 8, under the header in row 1
    [number] = [r for r in quarantined if r["row"] == "8"]
    assert number["value"] == "2.2052419690302e+17"
    assert "scientific notation" in number["reason"] and "as text" in number["reason"]
    assert query(db_url, "select count(*) from events") == [(5,)]


def test_xlsx_formula_without_saved_result_is_unreadable(run, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A workbook written by a program holds formulas with no saved result: openpyxl reads
    them as empty, which would send the row to review as "empty identifier"."""
    import zipfile

    init(db_url)
    header, rows = read_fixture("court_good.csv")
    records = [typed(header, r) for r in rows]
    # Sheet row 2: its ID is a formula with no result. Row 3: a formula with no result in a
    # column the run ignores, and a note whose formula saved an empty text (as Excel saves
    # =IF(..,"",..)). Row 4: an ID formula whose result was saved. Row 5: an array formula.
    records[0] |= {"subject_id": '=TEXT(220183196205180215,"0")'}
    records[2] |= {"subject_id": "=A1"}
    records[3] |= {"subject_id": '=TEXT(1,"0")'}
    book = write_xlsx(tmp_path / "made.xlsx", [*header, "checked"], records[:4])
    sheet = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(book) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    xml = parts[sheet].decode()
    xml = xml.replace("<f>A1</f><v />", "<f>A1</f><v>220524196903020333</v>")
    xml = xml.replace('<c r="B5"><f>', '<c r="B5"><f t="array" ref="B5">')
    end = xml.index("</row>", xml.index('<row r="3"'))
    formulas = '<c r="I3" t="str"><f>IF(1=1,"","x")</f><v></v></c><c r="L3"><f>1+1</f><v /></c>'
    parts[sheet] = (xml[:end] + formulas + xml[end:]).encode()
    with zipfile.ZipFile(book, "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)

    summary = ingest(run, db_url, book, furnisher="court")
    assert (summary["read"], summary["accepted"], summary["quarantined"]) == (4, 2, 2)
    assert summary["reasons"] == {"row_unreadable": 2} and summary["review"] == 0
    first, array = rejected(run, db_url, tmp_path / "q.csv")
    assert (first["row"], array["row"]) == ("1", "4")
    assert "cell B2 (subject_id) holds =TEXT(220183196205180215" in first["reason"]
    assert "no saved result" in first["reason"] and "record_id=C-2024-001" in first["value"]
    assert "cell B5 (subject_id) holds =TEXT(1" in array["reason"]
    stored = query(db_url, "select record_id, subject_id, note from events order by record_id")
    assert stored == [
        ("C-2024-002", "220524196903020333", None),
        ("C-2024-003", "220524196903020333", None),
    ]


def _edited_xlsx(path: Path, edit: Callable[[str], str]) -> Path:
    """The workbook with its first sheet's XML changed, as other programs write it."""
    import zipfile

    sheet = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    parts[sheet] = edit(parts[sheet].decode()).encode()
    with zipfile.ZipFile(path, "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return path


def test_xlsx_stale_size_and_decimal_row_numbers(run, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Every row and column is read whatever size the sheet declares, and row numbers written
    "3.0" are read as openpyxl reads them, also by the formula scan."""
    init(db_url)
    header, rows = read_fixture("court_good.csv")
    book = write_xlsx(tmp_path / "stale.xlsx", header, [typed(header, r) for r in rows])

    def edit(xml: str) -> str:
        xml = xml.replace('<dimension ref="A1:K6" />', '<dimension ref="A1:C3" />')
        xml = re.sub(r'<row r="([0-9]+)"', r'<row r="\1.0"', xml)
        # Sheet row 5 (C-2024-004) gets a note formula with no saved result.
        return xml.replace('<c r="J5"', '<c r="I5"><f>"x"</f></c><c r="J5"')

    summary = ingest(run, db_url, _edited_xlsx(book, edit), furnisher="court")
    assert (summary["read"], summary["accepted"], summary["quarantined"]) == (5, 4, 1)
    [row] = rejected(run, db_url, tmp_path / "q.csv")
    assert (row["row"], row["reason_code"]) == ("4", "row_unreadable")
    assert "cell I5 (note) holds" in row["reason"]
    amounts = dict(query(db_url, "select record_id, amount_fen from events where action = 'file'"))
    assert amounts["C-2024-001"] == 598808563  # column G, beyond the declared C


def _nested_parquet(tmp_path: Path) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    header, rows = read_fixture("court_good.csv")
    columns = {h: pa.array([r[i] for r in rows[:2]]) for i, h in enumerate(header)}
    columns["document_no"] = pa.array([["a", "b"], ["c"]], pa.list_(pa.string()))
    pq.write_table(pa.table(columns), tmp_path / "nested-source.parquet")
    return (tmp_path / "nested-source.parquet").read_bytes()


def _damaged_xlsx(tmp_path: Path, edit: Callable[[str], str]) -> bytes:
    header, rows = read_fixture("court_good.csv")
    book = write_xlsx(tmp_path / "damaged-source.xlsx", header, [typed(header, r) for r in rows])
    return _edited_xlsx(book, edit).read_bytes()


def _broken_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, words the error must contain)."""
    header, rows = read_fixture("court_good.csv")
    good = ",".join(rows[1]) + "\n"
    # Past the 64 KiB the encoding is judged on, a row in GB18030 inside a UTF-8 file.
    mid_file = (",".join(header) + "\n" + good * 700).encode()
    mid_file += (",".join(rows[2]) + "\n").encode("gb18030") + good.encode() * 500
    spliced = (",".join(header) + "\n" + good * 5).encode() + good.encode("gb18030")
    truncated = write_parquet(tmp_path / "t.parquet", header, [typed(header, r) for r in rows])
    files = {
        "binary .csv": ("x.csv", b"PK\x03\x04\x00\x00binary", "NULbytes"),
        "missing column": ("y.csv", b"record_id,subject_id,name\nA,B,C\n", "subject_name"),
        "encoding mid-file": ("z.csv", mid_file, "unreadable"),
        "encodings spliced": ("s.csv", spliced, "mixedencodings"),
        "truncated parquet": ("t.parquet", truncated.read_bytes()[:300], "Parquet"),
        "not a workbook": ("w.xlsx", b"just text, not a zip", "XLSX"),
        "a damaged sheet": (
            "d.xlsx",
            _damaged_xlsx(
                tmp_path, lambda x: x.replace("</sheetData>", '<row r="9"><c></sheetData>')
            ),
            "thefirstsheetisdamaged",
        ),
        "no row number, and a formula": (
            "r.xlsx",
            _damaged_xlsx(
                tmp_path,
                lambda x: x.replace('<row r="3"', '<row r="1e400"').replace(
                    '<c r="J5"', '<c r="I5"><f>"x"</f></c><c r="J5"'
                ),
            ),
            "thefirstsheetisdamaged:1e400",
        ),
        "a shared text that is not there": (
            "t.xlsx",
            _damaged_xlsx(
                tmp_path,
                lambda x: x.replace('<c r="I6"', '<c r="L6" t="s"><v>999</v></c><c r="I6"'),
            ),
            "thefirstsheetisdamaged",
        ),
        "no furnisher keys": ("k.jsonl", b'{"foo": 1}\n{"bar": 2}\n', "missing"),
        "unsupported type": ("v.xls", b"whatever", ".xls"),
        "empty": ("e.csv", b"", "empty"),
        "UTF-16 without its mark": ("u.csv", good.encode("utf-16-le"), "NULbytes"),
        "a list in a parquet column": (
            "n.parquet",
            _nested_parquet(tmp_path),
            "document_noholdslist",
        ),
    }
    out = {}
    for name, (file, data, words) in files.items():
        (tmp_path / file).write_bytes(data)
        out[name] = (tmp_path / file, words)
    out["missing file"] = (tmp_path / "nowhere.csv", "nosuchfile")
    return out


def test_broken_files_are_refused_naming_the_file_and_keep_nothing(  # type: ignore[no-untyped-def]
    run, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init(db_url)
    monkeypatch.setenv("SOCIALCREDIT_INGEST_CHUNK_ROWS", "100")  # the mid-file error is chunks in
    for name, (path, words) in _broken_files(tmp_path).items():
        message = ingest_fails(run, db_url, FIXTURES / "court_good.csv", path, furnisher="court")
        assert "".join(str(path).split()) in message, name
        assert words in message, (name, message)
    assert query(db_url, "select count(*) from events") == [(0,)]
    assert query(db_url, "select count(*) from quarantine") == [(0,)]
    runs = query(db_url, "select status, read, accepted from ingest_batches")
    assert runs and all(r == ("failed", 0, 0) for r in runs)
    # After the furnisher fixes the run, it goes in whole.
    assert ingest(run, db_url, FIXTURES / "court_good.csv", furnisher="court")["accepted"] == 5


def test_json_values_must_be_single_values(run, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A binding field given as a JSON object or array is not guessed at (it was stored as its
    JSON text); numbers and booleans are read as the text they show; other keys may hold
    anything."""
    init(db_url)
    base = {
        "subject_id": "220524196903020333",
        "subject_name": "王喜民",
        "category": "court.enforcement_case",
        "decided_on": "2024-04-12",
    }
    rows = [
        {**base, "record_id": "J-1", "document_no": ["d1", "d1a"]},
        {**base, "record_id": "J-2", "document_no": "d2", "amount": {"yuan": 1}},
        {**base, "record_id": 3, "document_no": "d3", "amount": 1200.5},
        {**base, "record_id": "J-4", "document_no": "d4", "source": {"system": "x"}},
    ]
    path = tmp_path / "nested.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    summary = ingest(run, db_url, path, furnisher="court")
    assert (summary["read"], summary["accepted"], summary["reasons"]) == (
        4,
        2,
        {"row_unreadable": 2},
    )
    reasons = [r["reason"] for r in rejected(run, db_url, tmp_path / "q.csv")]
    assert "document_no is an array, not one value" in reasons[0]
    assert "amount is an object, not one value" in reasons[1]
    stored = query(db_url, "select record_id, amount_fen from events order by record_id")
    assert stored == [("3", 120050), ("J-4", None)]


def test_a_lone_surrogate_is_its_json_lines_fault(run, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A ``\\ud800`` escape alone (half a surrogate pair) is no character: its line is
    unreadable, the rest of the file loads, and an unreadable line is kept whole."""
    init(db_url)
    base = {
        "subject_id": "220183196205180215",
        "subject_name": "王喜民",
        "category": "court.enforcement_case",
        "decided_on": "2024-04-12",
    }
    lines = [
        json.dumps({**base, "record_id": "S-1", "document_no": "d1"}),
        json.dumps({**base, "record_id": "S-2", "document_no": "d2", "note": "\ud800 lone"}),
        json.dumps({**base, "record_id": "S-3", "document_no": "d3", "note": "😀 pair"}),
        '{"record_id": "S-4", "note": "' + "x" * 300 + '"',  # broken, and long
        json.dumps({**base, "record_id": "S-5"})[:-1] + ', "record_id": "S-6"}',  # a key twice
    ]
    path = tmp_path / "surrogate.jsonl"
    utf16 = '{"record_id": {}, "subject_name": "é"}'.encode("utf-16-le")  # JSON, not UTF-8
    path.write_bytes(("\n".join(lines) + "\n").encode() + utf16 + b"\n")
    summary = ingest(run, db_url, path, furnisher="court")
    assert (summary["read"], summary["accepted"], summary["reasons"]) == (
        6,
        2,
        {"row_unreadable": 4},
    )
    reasons = {r["row"]: r["reason"] for r in rejected(run, db_url, tmp_path / "q.csv")}
    assert "\\ud800, half of a surrogate pair alone" in reasons["2"]
    assert "the key 'record_id' is given twice" in reasons["5"]
    assert "not UTF-8 text" in reasons["6"]
    kept = query(db_url, "select value from quarantine where row_no = 4")
    assert kept == [(lines[3],)]


def test_a_stray_nul_in_text_is_the_rows_fault(run, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """One NUL in a text file quarantines its row (field_invalid); a file full of them is not
    text (test_broken_files_are_refused_naming_the_file_and_keep_nothing)."""
    init(db_url)
    header, rows = read_fixture("court_good.csv")
    rows[1][header.index("note")] = "torn\x00note"
    path = write_csv(tmp_path / "stray.csv", header, rows)
    summary = ingest(run, db_url, path, furnisher="court")
    assert (summary["read"], summary["accepted"], summary["reasons"]) == (
        5,
        4,
        {"field_invalid": 1},
    )
    (report,) = rejected(run, db_url, tmp_path / "q.csv")
    assert (report["row"], report["field"], report["value"]) == ("2", "note", "torn\\u0000note")
