/* SPDX-License-Identifier: MIT */
/* Lua scripts run in Redis; see scripts.h and PROTOCOL.md. */
#include "scripts.h"

const char scripts_finish[] =
    "local stream, group, me = KEYS[1], ARGV[1], ARGV[2]\n"
    "local ttl = tonumber(ARGV[3])\n"
    "local out = {}\n"
    "for i = 4, #ARGV, 4 do\n"
    "  local eid = ARGV[i]\n"
    "  local p = redis.call('XPENDING', stream, group, eid, eid, 1)\n"
    "  if p[1] and p[1][2] == me then\n"
    "    redis.call('SET', ARGV[i+1], ARGV[i+3], 'EX', ttl)\n"
    "    if ARGV[i+2] ~= '' then\n"
    "      redis.call('XADD', ARGV[i+2], '*', 'result', ARGV[i+3])\n"
    "      redis.call('EXPIRE', ARGV[i+2], ttl)\n"
    "    end\n"
    "    redis.call('XACK', stream, group, eid)\n"
    "    redis.call('XDEL', stream, eid)\n"
    "    out[#out+1] = 1\n"
    "  else\n"
    "    out[#out+1] = 0\n"
    "  end\n"
    "end\n"
    "return out\n";
