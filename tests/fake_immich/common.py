"""Pieces shared by the route modules: the error type handlers raise, and
validators that build the real server's validation-error bodies."""

import re

STREAMED = object()  # a handler that wrote its own response returns this

UUID_PATTERN = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12})$"
_UUID = re.compile(UUID_PATTERN)


class ApiError(Exception):
    """status + message as the real server words it.  `errors` are zod
    issues (3.x validation body), `v2` the class-validator messages 2.x
    would list instead."""

    def __init__(self, status, message, errors=None, v2=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.v2 = v2


def is_uuid(value):
    return isinstance(value, str) and bool(_UUID.match(value))


class Validator:
    """Collects issues so one 400 lists all of them, as zod does."""

    def __init__(self):
        self.errors = []
        self.v2 = []

    def _add(self, issue, v2):
        self.errors.append(issue)
        self.v2.append(v2)

    def uuid(self, value, path):
        if not is_uuid(value):
            self._add({"origin": "string", "code": "invalid_format", "format": "uuid",
                       "pattern": "/" + UUID_PATTERN + "/", "path": path, "message": "Invalid UUID"},
                      "%s must be a UUID" % ".".join(str(p) for p in path))
            return False
        return True

    def uuids(self, values, path):
        if not isinstance(values, list):
            self.type(values, "array", path)
            return False
        ok = True
        for i, v in enumerate(values):
            ok = self.uuid(v, path + [i]) and ok
        return ok

    def type(self, value, expected, path, what=None):
        received = "undefined" if value is None else type(value).__name__
        self._add({"expected": expected, "code": "invalid_type", "path": path,
                   "message": "Invalid input: expected %s, received %s" % (what or expected, received)},
                  "%s must be a %s" % (".".join(str(p) for p in path), expected))

    def datetime(self, value, path):
        self._add({"expected": "string", "code": "invalid_type", "path": path,
                   "message": "Invalid input: expected ISO 8601 datetime string, received %s"
                   % ("undefined" if value is None else "string")},
                  "%s must be a valid ISO 8601 date string" % path[0])

    def custom(self, issue, v2):
        self._add(issue, v2)

    def check(self):
        if self.errors:
            raise ApiError(400, "Validation failed", errors=self.errors, v2=self.v2)
