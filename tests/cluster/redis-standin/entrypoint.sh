#!/bin/sh
# SPDX-License-Identifier: MIT
# As the official image does: redis-server without a configuration file
# listens on every interface with protected mode off (the container's
# network is the boundary), and runs as the redis user.
set -e
if [ "$1" = "redis-server" ]; then
    shift
    exec setpriv --reuid=redis --regid=redis --init-groups \
        redis-server --protected-mode no "$@"
fi
exec "$@"
