"""Plausible document numbers, record ids and amounts, built with numpy string operations.

Court: ``(2024)京0105执1234号`` (year, province, court's county code, case type, serial).
Agencies: ``京市监处罚〔2023〕456号``. Banks: ``个贷字（2023）第0012345号``. HRSS certificates:
year + area code + serial. Record ids: ``COURT-2024-000123``, unique per furnisher.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from socialcredit.synth.areas import area_table
from socialcredit.synth.table import compact

S = np.strings

RECORD_PREFIX: dict[str, str] = {
    "court": "COURT",
    "tax": "TAX",
    "market": "SAMR",
    "bank": "BANK",
    "hrss": "HRSS",
    "emergency": "MEM",
    "ecology": "MEE",
    "procurement": "PROC",
    "civil_affairs": "MCA",
}
# The word in an agency's document number: per furnisher, with overrides per category.
_AGENCY_WORD: dict[str, str] = {
    "tax": "税稽罚",
    "market": "市监处罚",
    "emergency": "应急罚",
    "ecology": "环罚",
    "procurement": "财采处",
    "civil_affairs": "民信",
    "hrss": "人社监",
}
_CATEGORY_WORD: dict[tuple[str, str], str] = {
    ("market", "registration.basic"): "市监登",
    ("market", "registration.deregistered"): "市监注",
    ("market", "admin.licence_granted"): "市监许",
    ("ecology", "admin.licence_granted"): "环许",
    ("emergency", "admin.licence_granted"): "应急许",
    ("market", "market.abnormal_operation"): "市监异",
    ("market", "honor.contract_abiding"): "市监信",
    ("market", "voluntary.self_declared"): "市监公",
    ("market", "commitment.made"): "市监承",
    ("market", "commitment.breached"): "市监承",
    ("tax", "commitment.made"): "税承",
    ("tax", "commitment.breached"): "税承",
    ("tax", "tax.grade_a"): "税信",
    ("tax", "tax.arrears"): "税欠",
}
MAX_SERIAL = 20_000


def _text(values: NDArray[np.int64]) -> NDArray[np.str_]:
    return values.astype(np.str_)


def document_numbers(
    furnisher: str,
    category: str,
    kind: str,
    year: NDArray[np.str_],
    area: NDArray[np.int64],
    rng: np.random.Generator,
) -> NDArray[np.str_]:
    areas = area_table()
    n = len(year)
    serial = _text(rng.integers(1, MAX_SERIAL, n))
    abbr = areas.province_abbr[area]
    if furnisher == "court":
        # The county-level court of the subject's area; fraud is a criminal first-instance case.
        word = "刑初" if category == "court.fraud_conviction" else "执"
        court = S.add(abbr, S.slice(areas.code[area], 2, 6))
        return S.add(S.add(S.add(S.add(S.add("(", year), ")"), court), word), S.add(serial, "号"))
    if furnisher == "bank":
        prefix = "个贷字（" if kind == "person" else "公贷字（"
        return S.add(S.add(S.add(prefix, year), "）第"), S.add(S.zfill(serial, 7), "号"))
    if furnisher == "hrss" and category == "professional.qualification":
        return S.add(S.add(year, areas.code[area]), S.zfill(serial, 6))
    word = _CATEGORY_WORD.get((furnisher, category), _AGENCY_WORD[furnisher])
    return S.add(S.add(S.add(S.add(abbr, word), "〔"), year), S.add(S.add("〕", serial), "号"))


def record_ids(
    furnisher: str, year: NDArray[np.str_], serial: NDArray[np.int64], width: int
) -> NDArray[np.str_]:
    """'COURT-2024-000123': distinct serials give distinct ids, whatever the year."""
    if not len(serial):  # numpy's zfill cannot take an empty array
        return np.zeros(0, dtype="U1")
    digits = S.zfill(_text(serial), width)
    return compact(S.add(S.add(S.add(RECORD_PREFIX[furnisher] + "-", year), "-"), digits))


def yuan(cents: NDArray[np.int64]) -> NDArray[np.str_]:
    """Cents -> '12345.60' (two decimals, no separators)."""
    if not len(cents):
        return np.zeros(0, dtype="U1")
    return compact(S.add(S.add(_text(cents // 100), "."), S.zfill(_text(cents % 100), 2)))


def amounts(median_yuan: float, sigma: float, n: int, rng: np.random.Generator) -> NDArray[np.str_]:
    """Log-normal amounts around a median, at least 1 yuan, as decimal strings."""
    value = median_yuan * np.exp(sigma * rng.standard_normal(n))
    return yuan(np.maximum(100, np.round(value * 100)).astype(np.int64))
