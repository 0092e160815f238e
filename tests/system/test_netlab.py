# SPDX-License-Identifier: MIT
"""The network test lab (tests/netlab): nginx in a network namespace behind
a veth pair, with a round-trip time added on the way into the namespace.

Files are fetched from the host side over http and https (urllib, trusting
the lab's CA only) and their SHA-512 checked against hashlib's of the bytes
served; a fetch and a TCP connect take at least the configured round-trip
time (a lower bound only: load can make them slower, never faster); the
namespace runs reno; and after the lab closes -- normally or because the
body raised -- its namespace, veth pair, processes and directory are gone.

Needs root and `ip netns`; skipped with the reason otherwise."""

import hashlib
import http.client
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "netlab"))
import netlab  # noqa: E402

RTT_MS = 50
FILES = {
    "empty": b"",
    "one": b"x",
    "64k.bin": os.urandom(65536),
    "big.bin": os.urandom(3 * 2**20 + 7),
    "dir/sub/a file.txt": b"spaces and a subdirectory\n" * 100,
}


@pytest.fixture
def lab_allowed():
    why = netlab.unavailable()
    if why:
        pytest.skip(why)


def _up(lab):
    """Starts the lab, or skips the test if this process may not make
    namespaces (also detected only when trying)."""
    try:
        return lab.start()
    except netlab.NetLabUnavailable as e:
        pytest.skip(str(e))


def _sh(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def _snapshot(lab):
    """What the lab made, to check it is gone afterwards."""
    return {"name": lab.name, "host_if": lab.host_if,
            "host_ip": lab.host_ip, "dir": lab.dir, "pids": lab.pids()}


def _assert_gone(made):
    assert made["name"] not in _sh("ip", "netns", "list").stdout.split(), \
        "namespace %s left behind" % made["name"]
    assert _sh("ip", "link", "show", made["host_if"]).returncode != 0, \
        "veth %s left behind" % made["host_if"]
    assert " %s/" % made["host_ip"] not in \
        _sh("ip", "-o", "-4", "addr", "show").stdout, \
        "address %s left behind" % made["host_ip"]
    alive = [p for p in made["pids"] if netlab.pid_alive(p)]
    assert not alive, "processes of the lab still running: %s" % alive
    assert not os.path.exists(made["dir"]), "%s left behind" % made["dir"]


def _fetch(url, context=None):
    with urllib.request.urlopen(url, timeout=60, context=context) as resp:
        assert resp.status == 200, (url, resp.status)
        return resp.read()


def test_lab_serves_http_and_https_with_the_rtt(lab_allowed):
    with _up(netlab.NetLab(rtt_ms=RTT_MS, files=FILES)) as lab:
        made = _snapshot(lab)
        assert lab.delay_method in ("netem", "nfqueue")
        assert made["pids"], "the lab started no process"
        assert netlab.ipaddress.ip_address(lab.ns_ip) in \
            netlab.ipaddress.ip_network("198.18.0.0/15")
        assert lab.exec_("sysctl", "-n", "net.ipv4.tcp_congestion_control"
                         ).stdout.strip() == "reno"

        # Every file over both schemes, digests of the bytes served.
        ctx = lab.ssl_context()
        for path, data in FILES.items():
            with open(os.path.join(lab.docroot, path), "rb") as f:
                served = hashlib.sha512(f.read()).hexdigest()
            assert served == hashlib.sha512(data).hexdigest()
            quoted = urllib.request.quote(path)
            for url, c in ((lab.url(quoted), None),
                           (lab.url(quoted, https=True), ctx)):
                got = hashlib.sha512(_fetch(url, c)).hexdigest()
                assert got == served, "%s: digest %s, served %s" % (
                    url, got[:16], served[:16])
        # A file added while the lab runs is served too.
        late = os.urandom(1000)
        digest = lab.add_file("late.bin", late)
        assert hashlib.sha512(_fetch(lab.url("late.bin"))).hexdigest() == \
            digest

        # The certificate really is checked: without the lab's CA the
        # handshake fails.
        with pytest.raises(urllib.error.URLError) as e:
            _fetch(lab.url("one", https=True), ssl.create_default_context())
        assert isinstance(e.value.reason, ssl.SSLCertVerificationError), \
            e.value

        # The round-trip time is applied: a TCP connect waits for the SYN
        # to be let in, a request on an open connection for the request.
        # Lower bounds only.
        t0 = time.monotonic()
        socket.create_connection((lab.ns_ip, lab.http_port),
                                 timeout=60).close()
        connect = time.monotonic() - t0
        assert connect >= RTT_MS / 1000, \
            "a TCP connect took %.1f ms, less than the %d ms RTT" % (
                connect * 1000, RTT_MS)
        conn = http.client.HTTPConnection(lab.ns_ip, lab.http_port,
                                          timeout=60)
        try:
            for _ in range(3):
                t0 = time.monotonic()
                conn.request("GET", "/64k.bin")
                resp = conn.getresponse()
                body = resp.read()
                took = time.monotonic() - t0
                assert resp.status == 200 and body == FILES["64k.bin"]
                assert took >= RTT_MS / 1000, \
                    "a kept-alive fetch took %.1f ms, less than the %d ms " \
                    "RTT" % (took * 1000, RTT_MS)
        finally:
            conn.close()
    print("lab %s: %s, delay by %s; %s" % (made["name"], lab.ns_ip,
                                           lab.delay_method, lab.delay_stats))
    _assert_gone(made)


def test_lab_is_removed_when_the_body_fails(lab_allowed):
    made = None
    with pytest.raises(RuntimeError, match="the test body failed"):
        with _up(netlab.NetLab(rtt_ms=RTT_MS, files={"a": b"a"})) as lab:
            made = _snapshot(lab)
            assert _fetch(lab.url("a")) == b"a"
            raise RuntimeError("the test body failed")
    assert made is not None
    _assert_gone(made)


def test_two_labs_at_once_do_not_collide(lab_allowed):
    with _up(netlab.NetLab(files={"who": b"first"})) as a, \
            _up(netlab.NetLab(files={"who": b"second"})) as b:
        made = [_snapshot(a), _snapshot(b)]
        assert a.name != b.name and a.host_if != b.host_if
        assert a.ns_ip != b.ns_ip
        assert _fetch(a.url("who")) == b"first"
        assert _fetch(b.url("who")) == b"second"
    for m in made:
        _assert_gone(m)
