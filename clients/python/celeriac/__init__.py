# SPDX-License-Identifier: MIT
"""celeriac: a Python producer for the celeriac task queue (Redis
streams; protocol/PROTOCOL.md)."""

from .client import (FINAL, AsyncResult, Client, TaskFailed, Timeout)
from .message import BuildError, build_message

__all__ = ["AsyncResult", "BuildError", "Client", "FINAL", "TaskFailed",
           "Timeout", "build_message"]
__version__ = "0.1.0"
