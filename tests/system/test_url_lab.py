# SPDX-License-Identifier: MIT
"""URL tasks at a real round-trip time: 10,000 URLs served by nginx in a
network namespace (tests/netlab) 50 ms away, fetched by one worker's
parent on its loop and hashed by its children, every digest checked
against hashlib of the bytes served.  One tenth of the URLs are https
(the lab's CA given with --ca-file, the server checked by name).

The worker is driven the way a user would: `celeriac hash --urls LIST`,
whose output must equal the expected `HEX  URL` lines.

Needs root and `ip netns`; skipped with the reason otherwise."""

import hashlib
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "netlab"))
import netlab  # noqa: E402

RTT_MS = 50
N_URLS = 10000
N_FILES = 500  # each file is served under 20 names: less set-up, same fetches


@pytest.fixture
def lab():
    why = netlab.unavailable()
    if why:
        pytest.skip(why)
    lab = netlab.NetLab(rtt_ms=RTT_MS)
    try:
        lab.start()
    except netlab.NetLabUnavailable as e:
        pytest.skip(str(e))
    try:
        yield lab
    finally:
        lab.close(raise_errors=False)


def test_ten_thousand_urls_at_50ms(lab, worker, redis_server, tmp_dir):
    digests = {}
    for i in range(N_FILES):
        # Sizes from 0 to about 40 KiB: empty bodies, one byte, many reads.
        data = os.urandom((i * 83) % 40961)
        digests[i] = lab.add_file("f/%03d.bin" % i, data)
    urls = []
    expected = []
    for k in range(N_URLS):
        i = k % N_FILES
        https = k % 10 == 0
        # Distinct URLs (a query string nginx ignores), as a crawl would.
        url = lab.url("f/%03d.bin?k=%d" % (i, k), https=https)
        urls.append(url)
        expected.append("%s  %s" % (digests[i], url))
    listing = os.path.join(tmp_dir, "urls.txt")
    with open(listing, "w") as f:
        f.write("# 10,000 URLs of the lab\n\n" + "\n".join(urls) + "\n")

    w = worker("--allow-hosts", "198.18.0.0/15", "--ca-file", lab.ca_file,
               "--max-fetches", "100", "--per-host", "100",
               "--prefetch", "256")
    cli = os.path.join(os.environ["CELERIAC_BIN"], "celeriac")
    p = subprocess.run([cli, "--redis", redis_server.url, "hash",
                        "--urls", listing, "--timeout", "600"],
                       capture_output=True, text=True, timeout=700)
    assert p.returncode == 0, (p.returncode, p.stderr[-2000:])
    got = p.stdout.splitlines()
    assert len(got) == N_URLS
    bad = [(g, e) for g, e in zip(got, expected) if g != e]
    assert not bad, "%d of %d lines differ, first: %r" % (
        len(bad), N_URLS, bad[0])
    assert w.alive()
    assert w.children() is not None
