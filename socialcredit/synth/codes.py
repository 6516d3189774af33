"""Check characters of GB 11643, GB 11714 and GB 32100, vectorised over character matrices.

Identifiers are handled as ``(n, k)`` uint8 matrices of ASCII codes and turned into strings once,
by viewing each row as ``S{k}``: no Python loop per identifier.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

RIC_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
RIC_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = np.array(
    [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28], dtype=np.int64
)
ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)

_ASCII_ALPHABET = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
# ASCII code -> value: position in the USCC alphabet (-1 when not allowed) ...
_USCC_VALUE = np.full(256, -1, dtype=np.int64)
_USCC_VALUE[_ASCII_ALPHABET] = np.arange(len(USCC_ALPHABET))
# ... and GB 11714 value (0-9, A=10 ... Z=35).
_ORG_VALUE = np.full(256, -1, dtype=np.int64)
_ORG_VALUE[np.frombuffer(b"0123456789", dtype=np.uint8)] = np.arange(10)
_ORG_VALUE[np.arange(ord("A"), ord("Z") + 1)] = np.arange(10, 36)

Chars = NDArray[np.uint8]


def to_strings(chars: Chars) -> NDArray[np.str_]:
    """(n, k) ASCII matrix -> n strings of length k."""
    k = chars.shape[1]
    return np.ascontiguousarray(chars).view(f"S{k}").ravel().astype(f"U{k}")


def to_chars(values: NDArray[np.str_], k: int) -> Chars:
    """n ASCII strings (padded or cut to k) -> (n, k) matrix."""
    return np.ascontiguousarray(values.astype(f"S{k}")).view(np.uint8).reshape(-1, k)


def digits_to_chars(numbers: NDArray[np.int64], width: int) -> Chars:
    """Non-negative integers -> zero-padded decimal digits as an (n, width) ASCII matrix."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((numbers[:, None] // powers) % 10 + ord("0")).astype(np.uint8)


def ric_check(first17: Chars) -> Chars:
    """ISO 7064 MOD 11-2 check character of resident IDs (first 17 digits as ASCII)."""
    digits = first17.astype(np.int64) - ord("0")
    return np.asarray(RIC_CHECK[(digits @ RIC_WEIGHTS) % 11], dtype=np.uint8)


def org_check(body8: Chars) -> Chars:
    """GB 11714 check character: 11 - sum mod 11, 10 -> 'X', 11 -> '0'."""
    r = 11 - (_ORG_VALUE[body8] @ ORG_WEIGHTS) % 11
    return np.asarray(
        np.where(r == 10, ord("X"), np.where(r == 11, ord("0"), r + ord("0"))), dtype=np.uint8
    )


def uscc_check(first17: Chars) -> Chars:
    """GB 32100 check character: alphabet[(31 - sum mod 31) mod 31]."""
    total = _USCC_VALUE[first17] @ USCC_WEIGHTS
    return np.asarray(_ASCII_ALPHABET[(31 - total % 31) % 31], dtype=np.uint8)


def ric_check_matches(chars: Chars) -> NDArray[np.bool_]:
    """18-char rows whose first 17 are digits and whose 18th is their MOD 11-2 check."""
    body = chars[:, :17]
    digits = np.asarray(((body >= ord("0")) & (body <= ord("9"))).all(axis=1), dtype=bool)
    safe = np.asarray(np.where(digits[:, None], body, ord("0")), dtype=np.uint8)
    return np.asarray(digits & (ric_check(safe) == chars[:, 17]), dtype=bool)


def uscc_check_matches(chars: Chars) -> NDArray[np.bool_]:
    """18-char rows entirely in the USCC alphabet whose 18th is their mod-31 check."""
    allowed = np.asarray((_USCC_VALUE[chars] >= 0).all(axis=1), dtype=bool)
    safe = np.asarray(np.where(allowed[:, None], chars, ord("0")), dtype=np.uint8)
    return np.asarray(allowed & (uscc_check(safe[:, :17]) == chars[:, 17]), dtype=bool)
