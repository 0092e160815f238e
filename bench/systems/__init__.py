# SPDX-License-Identifier: MIT
"""The systems the bench runs: celeriac, the raw-Redis ceiling and the
peers.  Each module defines one System subclass (see base.py)."""

from . import bullmq, celeriac, celery, raw, rq

ALL = [celeriac.Celeriac, raw.Raw, celery.Celery, rq.RQ, bullmq.BullMQ]
