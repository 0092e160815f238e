# SPDX-License-Identifier: MIT
"""The task message builder: the same bytes as the C builder
(protocol/build.c), checked against protocol/vectors/messages.json.

Members in this order, each only when given: ``v``, ``task``, ``args``
(with a payload or a url/path source appended as its last members),
``id``, ``queue``, ``reply_to``, the members of ``extra`` in their order,
then the members of ``line`` byte for byte.  JSON is written as jansson
writes it: compact, UTF-8 kept as it is, control characters as ``\\n``,
``\\t`` ... or ``\\u001F`` (upper-case hex), ``/`` not escaped, reals as
C's ``%.17g`` with ``.0`` added when that looks like an integer.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Mapping, Optional

PROTOCOL_VERSION = 1
SOURCES = ("data", "data_b64", "url", "path")
#: Delivery fields, in the order producers write them.
DELIVERY_FIELDS = ("expires", "time_limit", "max_retries", "retry_backoff",
                   "retry_backoff_max", "retry_jitter")

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n",
            "\r": "\\r", "\t": "\\t"}


class BuildError(ValueError):
    """A message that cannot be built; ``what`` is ``"args"``, ``"line"``
    or ``"source"`` (the C builder's BUILD_E_ARGS, _LINE, _SOURCE)."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(message)
        self.what = what


def _string(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append("\\u%04X" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    text = "".join(out)
    text.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError
    return text


def _real(x: float) -> str:
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError("JSON has no NaN or infinity")
    s = "%.17g" % x
    if all(c in "-0123456789" for c in s):
        s += ".0"
    return s


def dump(value: Any) -> str:
    """``value`` as compact JSON, byte for byte as jansson writes it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _real(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(_string(str(k)) + ":" + dump(v)
                              for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dump(v) for v in value) + "]"
    raise TypeError("cannot write %r as JSON" % (value,))


def _args(args: Optional[Mapping[str, Any]], payload_field: Optional[str],
          payload: Optional[bytes], source_field: Optional[str],
          source: Optional[str], accept_status: Optional[str]) -> str:
    if args is not None and not isinstance(args, Mapping):
        raise BuildError("args", "args must be an object")
    if payload_field is None and source_field is None:
        if accept_status is not None:
            raise BuildError("source", "accept_status needs a url source")
        return dump(args) if args is not None else "{}"
    n = (payload_field is not None) + (source_field is not None)
    n += sum(1 for k in SOURCES if args is not None and k in args)
    if accept_status is not None and (
            source_field != "url" or
            (args is not None and "accept_status" in args)):
        raise BuildError("source", "accept_status goes with a url source")
    if n > 1:
        raise BuildError("source", "a message names one source at most")
    head = dump(args)[:-1] + "," if args else "{"
    if source_field is not None:
        text = head + _string(source_field) + ":" + _string(source or "")
        if accept_status is not None:
            text += ',"accept_status":' + _string(accept_status)
        return text + "}"
    b64 = base64.b64encode(payload or b"").decode("ascii")
    return head + _string(payload_field or "") + ':"' + b64 + '"}'


def _line_members(line: str) -> Optional[str]:
    """The text after a line's '{' (None for an empty object)."""
    try:
        ok = isinstance(json.loads(line), dict)
    except ValueError:
        ok = False
    p = line.lstrip(" \t\n\r")
    body = p.rstrip(" \t\n\r")
    if not ok or not body.startswith("{") or len(body) < 2 or \
            not body.endswith("}"):
        raise BuildError("line", "the line is not a JSON object")
    if body[1:-1].strip(" \t\n\r") == "":
        return None
    return p[1:]


def build_message(task: Optional[str] = None,
                  args: Optional[Mapping[str, Any]] = None, *,
                  payload_field: Optional[str] = None,
                  payload: Optional[bytes] = None,
                  source_field: Optional[str] = None,
                  source: Optional[str] = None,
                  accept_status: Optional[str] = None,
                  id: Optional[str] = None,
                  queue: Optional[str] = None,
                  reply_to: Optional[str] = None,
                  extra: Optional[Mapping[str, Any]] = None,
                  line: Optional[str] = None) -> str:
    """The text of a task message (the ``msg`` field of a queue entry)."""
    parts = ['{"v":%d' % PROTOCOL_VERSION]
    if task is not None:
        parts.append(',"task":' + _string(task))
    if (args is not None or payload_field is not None or
            source_field is not None or accept_status is not None):
        parts.append(',"args":' + _args(args, payload_field, payload,
                                         source_field, source, accept_status))
    for name, value in (("id", id), ("queue", queue), ("reply_to", reply_to)):
        if value is not None:
            parts.append("," + _string(name) + ":" + _string(value))
    if extra is not None:
        if not isinstance(extra, Mapping):
            raise BuildError("args", "extra must be an object")
        for k, v in extra.items():
            parts.append("," + _string(k) + ":" + dump(v))
    if line is not None:
        members = _line_members(line)
        if members is not None:
            return "".join(parts) + "," + members
    return "".join(parts) + "}"
