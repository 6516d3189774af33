"""The real county-level area codes (GB/T 2260), parsed once from python-stdnum's ``cn/loc.dat``.

Only codes with a county entry are used, without the placeholders (``xxxx00`` prefecture rows,
市辖区, 县) and without Taiwan, Hong Kong and Macau (no mainland resident IDs). Codes that were
retired are kept with a lower weight: IDs keep the code of first registration for life.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

import numpy as np
from numpy.typing import NDArray

_PROVINCE = re.compile(r'^(\d{2}) province="([^"]+)"')
_COUNTY = re.compile(r'^ +(\d{4}) county="([^"]+)"')
_PERIOD = re.compile(r"^\[(\d{4})?-(\d{4})?\]")
_PLACEHOLDERS = frozenset({"市辖区", "县"})
_EXCLUDED_PROVINCES = frozenset({"71", "81", "82"})
# Weight of a retired code relative to one in use.
RETIRED_WEIGHT = 0.15

PROVINCE_ABBR: dict[str, str] = {
    "11": "京",
    "12": "津",
    "13": "冀",
    "14": "晋",
    "15": "蒙",
    "21": "辽",
    "22": "吉",
    "23": "黑",
    "31": "沪",
    "32": "苏",
    "33": "浙",
    "34": "皖",
    "35": "闽",
    "36": "赣",
    "37": "鲁",
    "41": "豫",
    "42": "鄂",
    "43": "湘",
    "44": "粤",
    "45": "桂",
    "46": "琼",
    "50": "渝",
    "51": "川",
    "52": "贵",
    "53": "云",
    "54": "藏",
    "61": "陕",
    "62": "甘",
    "63": "青",
    "64": "宁",
    "65": "新",
}
_PROVINCE_SHORT: dict[str, str] = {
    "15": "内蒙古",
    "45": "广西",
    "54": "西藏",
    "64": "宁夏",
    "65": "新疆",
}


@dataclass(frozen=True, slots=True)
class AreaTable:
    """Parallel arrays, one entry per usable county-level code."""

    code: NDArray[np.str_]  # "110105"
    name: NDArray[np.str_]  # "朝阳区"
    city: NDArray[np.str_]  # short city or province name for organisation names: "北京", "深圳"
    province_abbr: NDArray[np.str_]  # "京", for document numbers
    current: NDArray[np.bool_]  # still in use (no end year in the table)

    @property
    def weights(self) -> NDArray[np.float64]:
        w = np.where(self.current, 1.0, RETIRED_WEIGHT)
        return np.asarray(w / w.sum(), dtype=np.float64)

    def __len__(self) -> int:
        return len(self.code)


def _strip_period(names: str) -> tuple[str, bool]:
    """'[-2010]崇文区' -> ('崇文区', False); '[-1991]东郊区,[1992-]东丽区' -> ('东丽区', True)."""
    name = names.split(",")[-1]  # successive names of one code: the latest is last
    match = _PERIOD.match(name)
    if match is None:
        return name, True
    return name[match.end() :], match.group(2) is None


def _short_province(prov: str, full: str) -> str:
    if prov in _PROVINCE_SHORT:
        return _PROVINCE_SHORT[prov]
    return full.removesuffix("省").removesuffix("市")


@functools.cache
def area_table() -> AreaTable:
    text = (resources.files("stdnum") / "cn" / "loc.dat").read_text(encoding="utf-8")
    provinces: dict[str, str] = {}
    counties: dict[str, tuple[str, bool]] = {}
    prov = ""
    for line in text.splitlines():
        if m := _PROVINCE.match(line):
            prov = m.group(1)
            provinces[prov] = m.group(2)
        elif (m := _COUNTY.match(line)) and prov:
            counties[prov + m.group(1)] = _strip_period(m.group(2))
    rows: list[tuple[str, str, str, str, bool]] = []
    for code, (name, current) in counties.items():
        prov = code[:2]
        if code.endswith("00") or name in _PLACEHOLDERS or prov in _EXCLUDED_PROVINCES:
            continue
        prefecture = counties.get(code[:4] + "00", ("", False))[0]
        city = prefecture.removesuffix("市") if prefecture.endswith("市") else ""
        if len(city) < 2:  # placeholders such as 市辖区 or a bare 市: name the province
            city = _short_province(prov, provinces[prov])
        rows.append((code, name, city, PROVINCE_ABBR[prov], current))
    rows.sort()
    columns = list(zip(*rows, strict=True))
    return AreaTable(
        np.array(columns[0]),
        np.array(columns[1]),
        np.array(columns[2]),
        np.array(columns[3]),
        np.array(columns[4], dtype=bool),
    )
