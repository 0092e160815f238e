# SPDX-License-Identifier: MIT
"""The RQ peer's task: SHA-512 of its payload, `iterations` times."""

import hashlib


def hash_task(data, iterations=1):
    d = data.encode()
    sha512 = hashlib.sha512
    for _ in range(iterations - 1):
        d = sha512(d).digest()
    return sha512(d).hexdigest()
