"""``socialcredit synth``: valid identifiers, authorised categories, and a truth file that tells
exactly which rows are bad and why. The files are re-read the way a furnisher's reader would and
every row is checked by an independent validator written here, not by the generator's code."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from socialcredit import ids
from socialcredit.cli import app
from socialcredit.policy.load import load_default
from socialcredit.synth import synthesize
from socialcredit.synth.persons import generate_persons

AS_OF = dt.date(2026, 6, 30)
PERSONS, ORGS, SEED = 2_000, 200, 7

# The binding aliases of the furnisher format (Chinese header -> column).
ALIASES = {
    "记录编号": "record_id",
    "统一社会信用代码": "subject_id",
    "公民身份号码": "subject_id",
    "身份证号码": "subject_id",
    "证件号码": "subject_id",
    "名称": "subject_name",
    "姓名": "subject_name",
    "主体名称": "subject_name",
    "信息类别": "category",
    "类别": "category",
    "决定日期": "decided_on",
    "作出决定日期": "decided_on",
    "文书号": "document_no",
    "决定文书号": "document_no",
    "金额": "amount",
    "操作": "action",
    "备注": "note",
    "依据情形": "ground",
    "延长月数": "extension_months",
    "法定代表人证件号码": "legal_rep_id",
}
ACTIONS = {"file", "amend", "revoke", "fulfil"}
GROUNDS = {
    "ability_refusal",
    "obstruction",
    "sham_litigation",
    "evasion",
    "false_report",
    "consumption_violation",
    "settlement_refusal",
}
AMOUNT = re.compile(r"^\d+(\.\d{1,2})?$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Category:
    furnishers: frozenset[str]
    kinds: frozenset[str]
    polarity: str
    min_age: int | None


def _binding_catalogue() -> dict[str, Category]:
    """The shipped default policy's catalogue: who may furnish what, about whom."""
    policy = load_default().policy
    return {
        c.code: Category(
            frozenset(c.furnishers), frozenset(c.subject_kinds), c.polarity, c.min_subject_age
        )
        for c in policy.categories
    }


CATALOGUE = _binding_catalogue()


@dataclass
class Row:
    file: str
    furnisher: str
    row_no: int
    values: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return self.values.get(key, "")


def read_rows(out: Path, entry: dict[str, Any]) -> list[Row]:
    """A furnisher file as rows of binding column names ("" for empty), as ingestion reads it."""
    path = out / entry["path"]
    if entry["format"] == "parquet":
        records = pq.read_table(path).to_pylist()
    elif entry["format"] == "jsonl":
        lines = path.read_text(encoding=entry["encoding"]).splitlines()
        records = [json.loads(line) for line in lines]
    else:
        text = path.read_bytes().decode(entry["encoding"])
        records = list(csv.DictReader(io.StringIO(text)))
    return [
        Row(
            entry["path"],
            entry["furnisher"],
            i,
            {ALIASES.get(k, k): "" if v is None else str(v) for k, v in record.items()},
        )
        for i, record in enumerate(records, start=1)
    ]


def _date(text: str) -> dt.date | None:
    if not DATE.match(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _age(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def defects(row: Row, as_of: dt.date, filed: dict[tuple[str, str], Row]) -> set[str]:
    """Every binding quarantine reason this row deserves (an independent validator)."""
    found: set[str] = set()
    subject = ids.check(row["subject_id"], today=as_of) if row["subject_id"] else None
    if subject is None:
        found.add("id_missing")
    elif subject.legacy:
        found.add("id_legacy")
    elif not subject.valid:
        found.add("id_invalid")
    if not row["subject_name"]:
        found.add("name_missing")
    category = CATALOGUE.get(row["category"])
    if category is None:
        found.add("category_unknown")
    elif row.furnisher not in category.furnishers:
        found.add("furnisher_not_authorised")
    elif subject is not None and subject.valid and subject.kind not in category.kinds:
        found.add("subject_kind_mismatch")
    decided = _date(row["decided_on"])
    if decided is None:
        found.add("date_invalid")
    elif decided > as_of:
        found.add("date_future")
    if row["amount"] and not AMOUNT.match(row["amount"]):
        found.add("amount_invalid")
    action = row["action"] or "file"
    if action not in ACTIONS:
        found.add("action_invalid")
    if (
        category
        and category.min_age
        and subject is not None
        and subject.valid
        and subject.birth_date
        and decided
        and _age(subject.birth_date, decided) < category.min_age
    ):
        found.add("minor_subject")
    if action in ACTIONS - {"file"}:
        original = filed.get((row.file, row["record_id"]))
        if original is None or original.row_no > row.row_no:
            found.add("record_unknown")
    if row["legal_rep_id"] and not ids.check(row["legal_rep_id"], today=as_of).valid:
        found.add("legal_rep_invalid")
    if row["category"] == "registration.basic" and not row["legal_rep_id"]:
        found.add("legal_rep_invalid")
    if row["ground"] and row["ground"] not in GROUNDS:
        found.add("ground_invalid")
    if row["extension_months"] and (
        not row["extension_months"].isdigit()
        or int(row["extension_months"]) > 36
        or row["ground"] == "ability_refusal"
    ):
        found.add("extension_invalid")
    return found


@dataclass
class Country:
    out: Path
    manifest: dict[str, Any]
    rows: list[Row]
    truth: dict[tuple[str, int], str]
    duplicates: dict[tuple[str, int], int]
    stderr: str

    def good_rows(self) -> Iterator[Row]:
        for row in self.rows:
            if (row.file, row.row_no) not in self.truth | self.duplicates:
                yield row


@pytest.fixture(scope="module")
def country(tmp_path_factory: pytest.TempPathFactory) -> Country:
    """One small country, made through the real CLI."""
    out = tmp_path_factory.mktemp("country")
    result = CliRunner().invoke(
        app,
        [
            "synth",
            "--persons",
            str(PERSONS),
            "--orgs",
            str(ORGS),
            "--out",
            str(out),
            "--seed",
            str(SEED),
            "--as-of",
            AS_OF.isoformat(),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    manifest = json.loads(result.stdout)
    rows = [row for entry in manifest["files"] for row in read_rows(out, entry)]
    with (out / "truth.csv").open(encoding="utf-8") as f:
        truth = {(r["file"], int(r["row_no"])): r["reason_code"] for r in csv.DictReader(f)}
    with (out / "truth_duplicates.csv").open(encoding="utf-8") as f:
        dups = {
            (r["file"], int(r["row_no"])): int(r["duplicate_of_row_no"]) for r in csv.DictReader(f)
        }
    return Country(out, manifest, rows, truth, dups, result.stderr)


def test_cli_summarises_and_prints_the_manifest(country: Country) -> None:
    assert re.search(
        r"synthesised 2,000 persons, 200 orgs and 19,800 rows in 9 files", country.stderr
    )
    assert country.manifest["seed"] == SEED and country.manifest["as_of"] == AS_OF.isoformat()
    # Default budget: 9 rows per subject, bad and duplicate rows included.
    assert country.manifest["rows"] == 9 * (PERSONS + ORGS) == len(country.rows)
    assert {e["furnisher"]: e["rows"] for e in country.manifest["files"]} == Counter(
        row.furnisher for row in country.rows
    )


def test_cli_refuses_a_population_too_small(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth", "--persons", "5", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert not list(tmp_path.iterdir())


def test_person_ids_are_valid_unique_and_match_sex_and_birth(country: Country) -> None:
    persons = pq.read_table(country.out / "persons.parquet").to_pylist()
    assert len(persons) == PERSONS
    assert len({p["id"] for p in persons}) == PERSONS
    for p in persons:
        check = ids.check(p["id"], today=AS_OF)
        assert check.valid, (p["id"], check.error)
        assert check.sex == p["sex"] and check.birth_date == p["birth_date"]
        assert p["name"] and p["pinyin"]
    ages = [_age(p["birth_date"], AS_OF) for p in persons]
    assert min(ages) >= 10 and max(ages) <= 86
    assert 0 < sum(a < 18 for a in ages) < 0.05 * PERSONS  # a few minors for the no-minors rule


def test_a_large_sample_of_person_ids_is_all_valid() -> None:
    persons = generate_persons(30_000, AS_OF, np.random.default_rng(11))
    assert len(np.unique(persons.ids)) == 30_000
    invalid = [i for i in persons.ids.tolist() if not ids.check(i, today=AS_OF).valid]
    assert invalid == []
    odd = np.array([int(i[16]) % 2 == 1 for i in persons.ids.tolist()])
    assert (odd == persons.male).all()


def test_org_codes_are_valid_and_legal_reps_are_adults(country: Country) -> None:
    orgs = pq.read_table(country.out / "orgs.parquet").to_pylist()
    persons = {p["id"]: p for p in pq.read_table(country.out / "persons.parquet").to_pylist()}
    assert len({o["uscc"] for o in orgs}) == ORGS
    for o in orgs:
        check = ids.check(o["uscc"], today=AS_OF)
        assert check.valid and check.kind == "org", (o["uscc"], check.error)
        assert o["uscc"][:2] in {"91", "92", "93", "51", "52", "53", "11", "12"}
        rep = persons[o["legal_rep_id"]]
        assert _age(rep["birth_date"], o["registered_on"]) >= 18
        assert o["registered_on"] < AS_OF
    registrations = [r for r in country.good_rows() if r["category"] == "registration.basic"]
    assert sorted(r["subject_id"] for r in registrations) == sorted(o["uscc"] for o in orgs)


def test_same_name_pairs_are_two_people_and_some_split_on_adverse_records(country: Country) -> None:
    persons = {p["id"]: p for p in pq.read_table(country.out / "persons.parquet").to_pylist()}
    with (country.out / "same_name_pairs.csv").open(encoding="utf-8") as f:
        pairs = list(csv.DictReader(f))
    assert 0.004 * PERSONS <= len(pairs) <= 0.006 * PERSONS  # ~1 % of persons are in a pair
    adverse = {
        r["subject_id"]
        for r in country.good_rows()
        if CATALOGUE[r["category"]].polarity == "negative"
    }
    split = 0
    for pair in pairs:
        assert pair["id_a"] != pair["id_b"]
        assert persons[pair["id_a"]]["name"] == persons[pair["id_b"]]["name"] == pair["name"]
        if pair["one_adverse"] == "true":
            assert pair["id_a"] in adverse and pair["id_b"] not in adverse
            split += 1
    assert split >= 3


def test_rows_use_only_authorised_categories_and_allowed_kinds(country: Country) -> None:
    seen: dict[str, set[str]] = {}
    for row in country.good_rows():
        category = CATALOGUE[row["category"]]
        assert row.furnisher in category.furnishers, (row.file, row.row_no, row["category"])
        assert ids.check(row["subject_id"], today=AS_OF).kind in category.kinds
        seen.setdefault(row.furnisher, set()).add(row["category"])
    assert set(seen) == {e["furnisher"] for e in country.manifest["files"]}


def test_truth_names_every_bad_row_with_its_one_defect(country: Country) -> None:
    filed = {}
    for row in country.rows:
        if (row["action"] or "file") == "file" and (row.file, row["record_id"]) not in filed:
            filed[(row.file, row["record_id"])] = row
    for row in country.rows:
        key = (row.file, row.row_no)
        found = defects(row, AS_OF, filed)
        if key in country.truth:
            assert found == {country.truth[key]}, (key, row.values, found)
        else:
            assert found == set(), (key, row.values, found)
    kinds = Counter(country.truth.values())
    assert kinds == {k: v for k, v in country.manifest["per_bad_kind"].items() if v}
    assert len(kinds) == 12 and sum(kinds.values()) == round(0.01 * len(country.rows))
    # Bad rows are spread over the files, not piled into the biggest one.
    assert len({file for file, _ in country.truth}) == 9


def test_review_candidates_exist_for_rows_without_an_id(country: Country) -> None:
    persons = pq.read_table(country.out / "persons.parquet").to_pylist()
    people_by_name = Counter(p["name"] for p in persons)
    missing = [r for r in country.rows if country.truth.get((r.file, r.row_no)) == "id_missing"]
    assert all(people_by_name[r["subject_name"]] >= 1 for r in missing)
    assert any(people_by_name[r["subject_name"]] >= 2 for r in missing)  # review offers both


def test_duplicates_are_exact_copies_of_earlier_rows(country: Country) -> None:
    by_key = {(r.file, r.row_no): r for r in country.rows}
    assert country.duplicates
    for (file, row_no), original in country.duplicates.items():
        assert original < row_no
        assert by_key[(file, row_no)].values == by_key[(file, original)].values
    # Apart from duplicates, a furnisher's record id is filed once.
    filed = Counter((r.file, r["record_id"]) for r in country.good_rows() if r["action"] == "file")
    assert max(filed.values()) == 1


def test_dates_amounts_follow_ups_and_defaulter_grounds_are_plausible(country: Country) -> None:
    good = list(country.good_rows())
    earliest = AS_OF - dt.timedelta(days=6 * 365)
    for row in good:
        if row["category"] != "registration.basic":
            assert earliest <= dt.date.fromisoformat(row["decided_on"]) <= AS_OF
    actions = Counter(r["action"] for r in good)
    assert actions["fulfil"] and actions["revoke"] and actions["amend"]
    first = {(r.file, r["record_id"]): r for r in good if r["action"] == "file"}
    for row in good:
        if row["action"] != "file":  # a follow-up comes later, in date and in the file
            original = first[(row.file, row["record_id"])]
            assert original.row_no < row.row_no and original["decided_on"] < row["decided_on"]
            assert original["subject_id"] == row["subject_id"]
    listed = [
        r for r in good if r["category"] == "court.dishonest_defaulter" and r["action"] == "file"
    ]
    persons_listed = {
        r["subject_id"]
        for r in listed
        if len(r["subject_id"]) == 18 and ids.check(r["subject_id"], today=AS_OF).kind == "person"
    }
    assert 0.005 * PERSONS < len(persons_listed) < 0.03 * PERSONS  # ~1.5 % of adults
    grounds = Counter(r["ground"] for r in listed)
    assert 0.1 < grounds["ability_refusal"] / len(listed) < 0.5
    assert any(r["extension_months"] for r in good)
    loans = [r for r in good if r["category"] == "finance.loan_repaid"]
    assert len(loans) > 0.8 * len(good) and all(AMOUNT.match(r["amount"]) for r in loans)


def test_files_exercise_the_readers(country: Country) -> None:
    court = (country.out / "court.csv").read_text(encoding="utf-8").splitlines()[0]
    assert court.startswith("记录编号,证件号码,主体名称,信息类别,决定日期")
    assert "法定代表人证件号码" in (country.out / "market.csv").read_text(encoding="utf-8")
    tax = (country.out / "tax.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        tax.decode("utf-8")  # GB18030, not UTF-8
    assert "有限公司" in tax.decode("gb18030")
    assert (country.out / "bank.csv").read_bytes().startswith(b"\xef\xbb\xbfrecord_id,")
    formats = {e["furnisher"]: e["format"] for e in country.manifest["files"]}
    assert formats["hrss"] == "parquet" and formats["civil_affairs"] == "jsonl"


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    def make(name: str, seed: int) -> dict[str, bytes]:
        synthesize(tmp_path / name, persons=400, orgs=40, seed=seed, today=AS_OF)
        return {p.name: p.read_bytes() for p in sorted((tmp_path / name).iterdir())}

    first, again, other = make("a", 5), make("b", 5), make("c", 6)
    manifests = [json.loads(x.pop("manifest.json")) for x in (first, again, other)]
    for m in manifests:
        m.pop("generated_at")
    assert first == again and manifests[0] == manifests[1]
    assert first["court.csv"] != other["court.csv"]
    assert first["persons.parquet"] != other["persons.parquet"]


def test_records_overrides_the_total(tmp_path: Path) -> None:
    manifest = synthesize(
        tmp_path, persons=300, orgs=30, records=1_500, seed=1, today=AS_OF, bad_share=0.02
    )
    assert manifest["rows"] == 1_500
    assert sum(manifest["per_bad_kind"].values()) == 30
