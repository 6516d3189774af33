"""The one exception tree. Every error carries an HTTP status and a stable code.

SocialCreditError                 500 internal
├── ConfigError                   500 config_invalid
├── PolicyError                   422 policy_invalid      (file, table, key)
├── FileError                     400                     (file, reason)
│   ├── InputFileError            400 input_unreadable
│   └── OutputFileError           400 output_unwritable
├── ValidationFailed              422 validation_failed   (details)
├── InvalidIdentifier             422 invalid_identifier  (the value, why)
├── NotFound                      404 not_found
│   └── UnknownSubject            404 unknown_subject
├── Conflict                      409 conflict
└── StoreError                    500 store_error
"""

from __future__ import annotations

from typing import Any, ClassVar


class SocialCreditError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ConfigError(SocialCreditError):
    code = "config_invalid"


class PolicyError(SocialCreditError):
    status = 422
    code = "policy_invalid"

    def __init__(self, message: str, *, file: str = "", location: str = "") -> None:
        where = ":".join(p for p in (file, location) if p)
        super().__init__(
            f"{where}: {message}" if where else message,
            details={"file": file, "location": location},
        )
        self.file = file
        self.location = location


class FileError(SocialCreditError):
    """A file the command was given, and why it could not be used."""

    status = 400

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}", details={"file": file, "reason": reason})
        self.file = file
        self.reason = reason


class InputFileError(FileError):
    code = "input_unreadable"


class OutputFileError(FileError):
    code = "output_unwritable"


class ValidationFailed(SocialCreditError):
    status = 422
    code = "validation_failed"


class InvalidIdentifier(SocialCreditError):
    status = 422
    code = "invalid_identifier"

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(
            f"invalid identifier {value!r}: {reason}", details={"value": value, "reason": reason}
        )
        self.value = value
        self.reason = reason


class NotFound(SocialCreditError):
    status = 404
    code = "not_found"


class UnknownSubject(NotFound):
    code = "unknown_subject"


class Conflict(SocialCreditError):
    status = 409
    code = "conflict"


class StoreError(SocialCreditError):
    code = "store_error"
