# SPDX-License-Identifier: MIT
"""The network test lab: an HTTP and HTTPS server (Debian's nginx) in a
network namespace of its own, reached from the host over a veth pair, with
a real round-trip time.  For /usr/bin/python3; see tests/netlab/README.md.

    from netlab import NetLab
    with NetLab(rtt_ms=50, files={"a.bin": b"..."}) as lab:
        lab.url("a.bin")                  # http://198.18.x.2/a.bin
        lab.url("a.bin", https=True)      # https://198.18.x.2/a.bin
        lab.ca_file                       # the lab's CA, PEM
        lab.ssl_context()                 # an SSLContext trusting it

What it makes, and removes on exit (also when the body raises):
  - a namespace `celeriac-netlab-<k>-<pid>` and a veth pair `cnl<k>h`
    (host side, 198.18.0.0 + 4k + 1 /30) -- `cnl<k>n` (namespace side,
    + 2 /30), k chosen under a file lock among the /30 blocks of
    198.18.0.0/16 that no host interface uses, so concurrent labs never
    share an address.  Only addresses in 198.18.0.0/15 are ever used.
  - nginx, run as a plain process in the namespace with a configuration,
    a self-signed CA, a server certificate (for the namespace address and
    `hostname`) and a docroot, all in a temporary directory;
  - the delay: netem on the host end of the pair where the kernel has
    netem; otherwise the NFQUEUE delayer (nfqdelay, built by `make`) in the
    namespace behind an iptables rule in its raw PREROUTING chain.  Either
    way only packets travelling into the namespace are held, for the whole
    round-trip time (holding outgoing packets throttles TCP through its
    small-queue accounting);
  - the namespace's TCP congestion control is set to reno.
Every process it starts is stopped by its PID; nothing else is touched.
"""

import contextlib
import fcntl
import hashlib
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LAB_NET = ipaddress.ip_network("198.18.0.0/16")  # inside 198.18.0.0/15
NS_PREFIX = "celeriac-netlab-"
LOCK_PATH = os.path.join(tempfile.gettempdir(), "celeriac-netlab.lock")


class NetLabUnavailable(Exception):
    """This machine or user cannot run the lab; str() says why."""


class NetLabError(Exception):
    """Setting the lab up or tearing it down failed; str() says what."""


def _run(*cmd, check=True, timeout=30):
    r = subprocess.run([str(c) for c in cmd], capture_output=True,
                       text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise NetLabError("`%s` failed (exit %d): %s" % (
            " ".join(map(str, cmd)), r.returncode, r.stderr.strip()))
    return r


def unavailable():
    """Why the lab cannot run here for lack of privilege (not root, or
    `ip netns` refused), or None.  Missing programs are not reported here:
    NetLab raises NetLabError naming the package instead."""
    if os.geteuid() != 0:
        return "the network lab needs root for `ip netns` (running as " \
            "uid %d)" % os.geteuid()
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    r = _run("ip", "netns", "list", check=False)
    if r.returncode != 0:
        return "`ip netns` is not permitted here: %s" % r.stderr.strip()
    return None


def find_nfqdelay():
    """The path of the built delayer: $NETLAB_NFQDELAY, else the one `make`
    (build/obj) or `make asan` (build/san) built; None if there is none."""
    cands = [os.environ.get("NETLAB_NFQDELAY")] + [
        os.path.join(ROOT, "build", o, "tests", "netlab", "nfqdelay")
        for o in ("obj", "san")]
    for c in cands:
        if c and os.access(c, os.X_OK):
            return c
    return None


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def _children(pid):
    kids = []
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                kids += [int(x) for x in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return kids


def _stop(proc, sig=signal.SIGTERM, timeout=10):
    """Stops a Popen by its PID: sig, then SIGKILL after timeout seconds.
    Children it leaves behind (nginx workers of a killed master) are
    killed by PID too.  Returns the exit status."""
    if proc.poll() is not None:
        return proc.returncode
    kids = _children(proc.pid)
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kids = _children(proc.pid) or kids
        proc.kill()
        rc = proc.wait()
    for k in kids:
        if pid_alive(k):
            with contextlib.suppress(ProcessLookupError):
                os.kill(k, signal.SIGKILL)
    return rc


class NetLab:
    """A lab; use it as a context manager (or call start() and close()).

    rtt_ms        round-trip time added to every exchange (0: none)
    files         {relative path: bytes} written into the docroot first
    hostname      a DNS name the server certificate also carries
    nginx_workers nginx worker processes
    keepalive_requests  requests nginx serves on one connection
    extra_server  raw nginx directives added to the server block (e.g.
                  "location /loop { return 302 /loop; }")
    delay         "auto" (netem if the kernel has it, else nfqueue),
                  "netem" or "nfqueue"
    serve_dirs    {url prefix: directory} served as they are, without a
                  copy (e.g. {"w6": "build/bench-cache/w6"} serves
                  DIR/00042.bin as /w6/00042.bin): for many or large
                  files.  nginx's workers run as nobody, so every
                  directory on the way must be searchable by others and
                  the files readable by others.
    """

    def __init__(self, rtt_ms=0, files=None, hostname="lab.celeriac.test",
                 nginx_workers=1, keepalive_requests=1000000,
                 extra_server="", delay="auto", serve_dirs=None):
        if delay not in ("auto", "netem", "nfqueue"):
            raise ValueError("delay must be auto, netem or nfqueue")
        self.serve_dirs = {}
        for prefix, d in (serve_dirs or {}).items():
            prefix = prefix.strip("/")
            if not prefix or not all(c.isalnum() or c in "-_."
                                     for c in prefix):
                raise ValueError("serve_dirs prefix %r: use letters, digits,"
                                 " '-', '_' and '.' only" % prefix)
            self.serve_dirs[prefix] = os.path.abspath(d)
        self.rtt_ms = float(rtt_ms)
        self.hostname = hostname
        self.nginx_workers = int(nginx_workers)
        self.keepalive_requests = int(keepalive_requests)
        self.extra_server = extra_server
        self.delay_wanted = delay
        self.delay_method = None  # "netem", "nfqueue" or None (no delay)
        self.http_port = 80
        self.https_port = 443
        self.name = self.host_if = self.ns_if = None
        self.host_ip = self.ns_ip = None
        self.dir = self.docroot = self.ca_file = None
        self.procs = []  # Popen of everything started, stopped in reverse
        self.nginx = self.delayer = None
        self.delay_stats = None  # nfqdelay's counts, once the lab closed
        self._ns_made = False
        self._initial_files = dict(files or {})

    # ---- use --------------------------------------------------------------

    def url(self, path, https=False):
        """The URL of a docroot path, by address."""
        if https:
            return "https://%s/%s" % (self.ns_ip, path.lstrip("/"))
        return "http://%s/%s" % (self.ns_ip, path.lstrip("/"))

    def add_file(self, path, data):
        """Writes data to the docroot at path (relative); returns its
        SHA-512 hex digest."""
        full = os.path.normpath(os.path.join(self.docroot, path))
        if not full.startswith(self.docroot + os.sep):
            raise ValueError("path %r leaves the docroot" % path)
        os.makedirs(os.path.dirname(full), mode=0o755, exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
        os.chmod(full, 0o644)
        return hashlib.sha512(data).hexdigest()

    def ssl_context(self):
        """An SSLContext that trusts the lab's CA only."""
        return ssl.create_default_context(cafile=self.ca_file)

    def prefix(self):
        """The argv prefix that runs a command in the namespace."""
        return ["ip", "netns", "exec", self.name]

    def exec_(self, *cmd, check=True):
        """Runs a command in the namespace to completion."""
        return _run(*(self.prefix() + list(cmd)), check=check)

    def popen(self, argv, **kw):
        """Starts a command in the namespace (e.g. a server for a bad case);
        it is stopped by PID when the lab closes.  `ip netns exec` execs
        the command, so the Popen's pid is the command's."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(self.prefix() + [str(a) for a in argv], **kw)
        self.procs.append(p)
        return p

    def pids(self):
        """PIDs of the processes the lab started and their children."""
        out = []
        for p in self.procs:
            out.append(p.pid)
            out += _children(p.pid)
        return out

    # ---- lifetime ---------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close(raise_errors=exc[0] is None)
        return False

    def start(self):
        """Sets the lab up; raises NetLabUnavailable (no privilege: skip)
        or NetLabError (anything else), having removed what it made.
        Does nothing if the lab is already up."""
        if self.dir is not None:
            return self
        why = unavailable()
        if why:
            raise NetLabUnavailable(why)
        for prog, pkg in (("nginx", "nginx"), ("openssl", "openssl")):
            if shutil.which(prog) is None:
                raise NetLabError("%s is not installed: install the Debian "
                                  "package %s (scripts/deps.sh test)"
                                  % (prog, pkg))
        try:
            self.dir = tempfile.mkdtemp(prefix="celeriac-netlab-")
            os.chmod(self.dir, 0o755)  # nginx workers run as nobody
            self.docroot = os.path.join(self.dir, "www")
            os.mkdir(self.docroot, 0o755)
            for path, data in self._initial_files.items():
                self.add_file(path, data)
            for d in self.serve_dirs.values():
                _check_readable_by_others(d)
            self._make_namespace()
            self.exec_("sysctl", "-q", "-w",
                       "net.ipv4.tcp_congestion_control=reno")
            self._make_certs()
            self._start_delay()
            self._start_nginx()
        except BaseException:
            self.close(raise_errors=False)
            raise
        return self

    def close(self, raise_errors=True):
        """Stops what the lab started (by PID), deletes its namespace, veth
        and temporary directory.  Safe to call twice."""
        errors = []
        for p in reversed(self.procs):
            try:
                rc = _stop(p)
                if p is self.delayer and rc != 0:
                    errors.append("the packet delayer exited %d: %s" % (
                        rc, self._log("nfqdelay.log")))
            except Exception as e:  # keep tearing down
                errors.append("stopping pid %d: %s" % (p.pid, e))
        self.procs = []
        if self.delayer is not None:
            # Its counts, for reports: read before the directory goes.
            self.delay_stats = self._log("nfqdelay.log")
            self.delayer = None
        if self._ns_made:
            r = _run("ip", "netns", "del", self.name, check=False)
            if r.returncode != 0:
                errors.append("ip netns del %s: %s" % (self.name,
                                                       r.stderr.strip()))
            # Deleting the namespace deletes its end of the pair and with
            # it the host end; make sure of it.
            if _run("ip", "link", "show", self.host_if,
                    check=False).returncode == 0:
                _run("ip", "link", "del", self.host_if, check=False)
            self._ns_made = False
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        if errors and raise_errors:
            raise NetLabError("tearing the lab down: " + "; ".join(errors))

    # ---- setup steps ------------------------------------------------------

    def _make_namespace(self):
        with open(LOCK_PATH, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = _run("ip", "-o", "-4", "addr", "show").stdout
            links = _run("ip", "-o", "link", "show").stdout
            nss = _run("ip", "netns", "list").stdout
            blocks = LAB_NET.num_addresses // 4
            start = (os.getpid() * 7 + id(self)) % blocks
            for i in range(blocks):
                k = (start + i) % blocks
                if k == 0:
                    continue
                base = LAB_NET.network_address + 4 * k
                host_if, ns_if = "cnl%dh" % k, "cnl%dn" % k
                name = "%s%d-%d" % (NS_PREFIX, k, os.getpid())
                if " %s/" % (base + 1) in used or \
                        " %s/" % (base + 2) in used or \
                        (" %s:" % host_if) in links or \
                        (" %s@" % host_if) in links or \
                        name in nss:
                    continue
                break
            else:
                raise NetLabError("no free /30 in %s for the lab" % LAB_NET)
            self.name, self.host_if, self.ns_if = name, host_if, ns_if
            self.host_ip, self.ns_ip = str(base + 1), str(base + 2)
            r = _run("ip", "netns", "add", self.name, check=False)
            if r.returncode != 0:
                if "not permitted" in r.stderr or "denied" in r.stderr:
                    raise NetLabUnavailable("`ip netns add` is not "
                                            "permitted here: %s"
                                            % r.stderr.strip())
                raise NetLabError("`ip netns add %s` failed: %s"
                                  % (self.name, r.stderr.strip()))
            self._ns_made = True
            _run("ip", "link", "add", self.host_if, "type", "veth", "peer",
                 "name", self.ns_if)
            _run("ip", "link", "set", self.ns_if, "netns", self.name)
            _run("ip", "addr", "add", self.host_ip + "/30", "dev",
                 self.host_if)
        # IPv4 only: no IPv6 autoconfiguration traffic on the pair.
        for ipv6 in ([], self.prefix()):
            _run(*(ipv6 + ["sysctl", "-q", "-w", "net.ipv6.conf.%s."
                           "disable_ipv6=1" % (self.ns_if if ipv6
                                               else self.host_if)]),
                 check=False)
        _run("ip", "link", "set", self.host_if, "up")
        self.exec_("ip", "addr", "add", self.ns_ip + "/30", "dev", self.ns_if)
        self.exec_("ip", "link", "set", self.ns_if, "up")
        self.exec_("ip", "link", "set", "lo", "up")

    def _make_certs(self):
        d = self.dir
        keys = os.path.join(d, "keys")  # read by nginx's master, as root
        os.mkdir(keys, 0o700)
        ca_key, ca = os.path.join(keys, "ca.key"), os.path.join(d, "ca.pem")
        key = os.path.join(keys, "server.key")
        csr = os.path.join(d, "server.csr")
        crt, ext = os.path.join(d, "server.pem"), os.path.join(d, "san.ext")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        _run("openssl", "req", "-x509", *ec, "-nodes", "-keyout", ca_key,
             "-out", ca, "-days", "2", "-subj", "/CN=celeriac netlab CA")
        _run("openssl", "req", *ec, "-nodes", "-keyout", key, "-out", csr,
             "-subj", "/CN=" + self.hostname)
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:%s,IP:%s\n"
                    "basicConstraints=CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\n" % (self.hostname,
                                                       self.ns_ip))
        _run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey",
             ca_key, "-CAcreateserial", "-CAserial",
             os.path.join(keys, "ca.srl"), "-out", crt, "-days", "2",
             "-extfile", ext)
        self.ca_file, self.cert_file, self.key_file = ca, crt, key

    def _start_delay(self):
        if self.rtt_ms <= 0:
            return
        method = self.delay_wanted
        if method in ("auto", "netem"):
            # The host end's egress carries exactly the packets that
            # travel into the namespace.  Trying it is the detection: the
            # kernel loads sch_netem on demand if it has it.
            r = _run("tc", "qdisc", "add", "dev", self.host_if, "root",
                     "netem", "delay", "%gms" % self.rtt_ms, "limit",
                     "1000000", check=False)
            if r.returncode == 0:
                self.delay_method = "netem"
                return
            if method == "netem":
                raise NetLabError("this kernel has no netem: %s"
                                  % r.stderr.strip())
        self._start_nfqdelay()
        self.delay_method = "nfqueue"

    def _start_nfqdelay(self):
        binary = find_nfqdelay()
        if binary is None:
            raise NetLabError("the packet delayer is not built: run `make` "
                              "(it builds build/obj/tests/netlab/nfqdelay) or "
                              "set NETLAB_NFQDELAY")
        if shutil.which("iptables") is None:
            raise NetLabError("iptables is not installed: install the Debian "
                              "package iptables (scripts/deps.sh test)")
        log = open(os.path.join(self.dir, "nfqdelay.log"), "wb")
        self.delayer = self.popen(
            [binary, "--delay-us", int(self.rtt_ms * 1000), "--queue", 0],
            stdout=subprocess.PIPE, stderr=log)
        log.close()
        line = self.delayer.stdout.readline()
        if b"ready" not in line:
            self.delayer.wait(timeout=10)
            raise NetLabError("the packet delayer did not start: %s" %
                              self._log("nfqdelay.log"))
        # Only once the queue has a reader: a packet sent to a queue with
        # none is dropped.
        self.exec_("iptables", "-w", "-t", "raw", "-A", "PREROUTING", "-i",
                   self.ns_if, "-j", "NFQUEUE", "--queue-num", "0")

    def _nginx_conf(self):
        d = self.dir
        temps = "\n".join("    %s_temp_path %s;" % (t, os.path.join(d, t))
                          for t in ("client_body", "proxy", "fastcgi",
                                    "uwsgi", "scgi"))
        return """\
daemon off;
master_process on;
worker_processes %(workers)d;
user nobody nogroup;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
%(temps)s
    default_type application/octet-stream;
    types { }
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests %(keepalive)d;
    keepalive_timeout 300s;
    ssl_session_cache shared:netlab:1m;
    server {
        listen %(ip)s:%(http)d backlog=4096;
        listen %(ip)s:%(https)d ssl backlog=4096;
        server_name %(host)s;
        ssl_certificate %(crt)s;
        ssl_certificate_key %(key)s;
        root %(root)s;
        location / { }
%(extra)s
    }
}
""" % {"workers": self.nginx_workers, "dir": d, "temps": temps,
       "keepalive": self.keepalive_requests, "ip": self.ns_ip,
       "http": self.http_port, "https": self.https_port,
       "host": self.hostname, "crt": self.cert_file, "key": self.key_file,
       "root": self.docroot,
       "extra": self.extra_server + "".join(
           "        location /%s/ { alias %s/; }\n" % (p, d)
           for p, d in sorted(self.serve_dirs.items()))}

    def _start_nginx(self):
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(self._nginx_conf())
        out = open(os.path.join(self.dir, "nginx.out"), "wb")
        self.nginx = self.popen(
            ["nginx", "-p", self.dir, "-e", os.path.join(self.dir,
                                                         "error.log"),
             "-c", conf], stdout=out, stderr=subprocess.STDOUT)
        out.close()
        # Ready when both ports accept, from the host side.
        deadline = time.monotonic() + 30
        pending = [self.http_port, self.https_port]
        while pending:
            if self.nginx.poll() is not None:
                raise NetLabError("nginx exited (%d): %s %s" % (
                    self.nginx.returncode, self._log("nginx.out"),
                    self._log("error.log")))
            if time.monotonic() > deadline:
                raise NetLabError("nginx did not accept on %s ports %s "
                                  "within 30 s: %s" % (self.ns_ip, pending,
                                                       self._log("error.log")))
            try:
                socket.create_connection((self.ns_ip, pending[0]),
                                         timeout=2).close()
                pending.pop(0)
            except OSError:
                time.sleep(0.05)

    def _log(self, name):
        try:
            with open(os.path.join(self.dir, name), errors="replace") as f:
                return f.read()[-2000:].strip()
        except OSError:
            return "(no %s)" % name


def _check_readable_by_others(directory):
    """nginx's workers run as nobody: a served directory and every directory
    above it must be searchable by others.  Raises NetLabError saying which
    one is not."""
    import stat
    if not os.path.isdir(directory):
        raise NetLabError("serve_dirs: %s is not a directory" % directory)
    d = directory
    while True:
        mode = os.stat(d).st_mode
        need = stat.S_IXOTH | (stat.S_IROTH if d == directory else 0)
        if mode & need != need:
            raise NetLabError("serve_dirs: nginx's workers (user nobody) "
                              "cannot read %s: %s has mode %o; chmod o+rx "
                              "it (or serve a copy from elsewhere)"
                              % (directory, d, stat.S_IMODE(mode)))
        if d == "/":
            return
        d = os.path.dirname(d)


# ---- measuring the lab (curl: a client cheap enough not to be the limit) ----


def curl_fetch(lab, path, n, parallel, https=False):
    """Fetches path n times with curl (path may also be a list of n paths,
    fetched once each), `parallel` transfers at a time on kept-alive
    connections.  Returns (seconds, [(time_total, new connections)] per
    fetch)."""
    if shutil.which("curl") is None:
        raise NetLabError("measuring needs curl (Debian package curl)")
    paths = [path] * n if isinstance(path, str) else list(path)[:n]
    cfg = os.path.join(lab.dir, "curl-%d.cfg" % n)
    with open(cfg, "w") as f:
        for p in paths:
            f.write('url = "%s"\noutput = "/dev/null"\n'
                    % lab.url(p, https))
    argv = ["curl", "-sS", "--fail", "--cacert", lab.ca_file, "-K", cfg,
            "-w", "%{time_total} %{num_connects}\n"]
    if parallel > 1:
        argv[1:1] = ["-Z", "--parallel-max", str(parallel),
                     "--parallel-immediate"]
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    secs = time.monotonic() - t0
    if r.returncode != 0:
        raise NetLabError("curl failed (%d): %s" % (r.returncode,
                                                    r.stderr[-500:]))
    rows = [(float(a), int(b)) for a, b in
            (line.split() for line in r.stdout.splitlines())]
    return secs, rows


def _cli_measure(rtt_ms, size, n, parallel):
    with NetLab(rtt_ms=rtt_ms, files={"f.bin": os.urandom(size)}) as lab:
        print("lab %s at %s: rtt %g ms by %s, %d KiB file" % (
            lab.name, lab.ns_ip, rtt_ms, lab.delay_method, size // 1024))
        _, rows = curl_fetch(lab, "f.bin", 6, 1)
        print("one connection, one fetch after the other: %s ms (the "
              "first opens the connection)" % " ".join(
                  "%.1f" % (t * 1000) for t, _ in rows))
        secs, rows = curl_fetch(lab, "f.bin", n, parallel)
        ts = sorted(t for t, _ in rows)
        rate = n / secs
        print("%d fetches, %d at a time: %.2f s, %.0f/s = %.1f per RTT; "
              "fetch median %.1f ms, 99th %.1f ms, max %.1f ms; %d "
              "connections" % (n, parallel, secs, rate,
                               rate * rtt_ms / 1000, ts[len(ts) // 2] * 1000,
                               ts[len(ts) * 99 // 100] * 1000, ts[-1] * 1000,
                               sum(c for _, c in rows)))
    print(lab.delay_stats or "no delayer")


def _cli_serve(rtt_ms, directory):
    files = {}
    for base, _, names in os.walk(directory):
        for n in names:
            p = os.path.join(base, n)
            with open(p, "rb") as f:
                files[os.path.relpath(p, directory)] = f.read()
    with NetLab(rtt_ms=rtt_ms, files=files) as lab:
        print("serving %d files at %s and %s (CA %s), delay %s; Ctrl-C "
              "ends" % (len(files), lab.url(""), lab.url("", https=True),
                        lab.ca_file, lab.delay_method), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="the celeriac network test lab")
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure", help="measure fetch times through a lab")
    m.add_argument("--rtt-ms", type=float, default=50)
    m.add_argument("--size", type=int, default=65536)
    m.add_argument("--fetches", type=int, default=10000)
    m.add_argument("--parallel", type=int, default=100)
    s = sub.add_parser("serve", help="serve a directory until Ctrl-C")
    s.add_argument("--rtt-ms", type=float, default=50)
    s.add_argument("directory")
    a = ap.parse_args()
    try:
        if a.cmd == "measure":
            _cli_measure(a.rtt_ms, a.size, a.fetches, a.parallel)
        else:
            _cli_serve(a.rtt_ms, a.directory)
    except NetLabUnavailable as e:
        sys.exit("netlab: cannot run here: %s" % e)
