# SPDX-License-Identifier: MIT
"""`make install` and `make uninstall` (Makefile, README.md "Install"):
with DESTDIR and PREFIX, the programs (which run from there), the man
pages, the systemd unit (checked by systemd-analyze when it is there) and
the bash completion; uninstall removes every file again."""

import os
import re
import shutil
import subprocess

import pytest

from harness import ROOT

FILES = [
    "bin/celeriac", "bin/celeriac-worker",
    "share/man/man1/celeriac.1", "share/man/man8/celeriac-worker.8",
    "share/man/man7/celeriac-protocol.7",
    "lib/systemd/system/celeriac-worker@.service",
    "share/bash-completion/completions/celeriac",
    "share/bash-completion/completions/celeriac-worker",
    "share/doc/celeriac/worker.conf.example",
    "share/doc/celeriac/PROTOCOL.md",
]


def make(*args):
    p = subprocess.run(["make", "-C", ROOT, "--no-print-directory",
                        "NO_DEPS=1"] + list(args),
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def files_under(d):
    out = []
    for dirpath, _dirs, names in os.walk(d):
        for n in names:
            out.append(os.path.relpath(os.path.join(dirpath, n), d))
    return sorted(out)


def test_destdir_install_and_uninstall(tmp_dir):
    dest = os.path.join(tmp_dir, "dest")
    make("install", "DESTDIR=" + dest)
    prefix = os.path.join(dest, "usr/local")
    assert files_under(dest) == sorted("usr/local/" + f for f in FILES)
    for exe in ("celeriac", "celeriac-worker"):
        p = subprocess.run([os.path.join(prefix, "bin", exe), "--version"],
                           capture_output=True, text=True)
        assert p.returncode == 0 and p.stdout.startswith(exe), p
        assert os.stat(os.path.join(prefix, "bin", exe)).st_mode & 0o777 \
            == 0o755
    unit = open(os.path.join(
        prefix, "lib/systemd/system/celeriac-worker@.service")).read()
    assert "ExecStart=/usr/local/bin/celeriac-worker --config " \
        "/etc/celeriac/%i.conf\n" in unit
    for opt in ("DynamicUser=yes", "ProtectSystem=strict",
                "ProtectHome=yes", "NoNewPrivileges=yes", "PrivateTmp=yes",
                "RestrictAddressFamilies=", "KillMode=mixed"):
        assert opt in unit, opt
    make("uninstall", "DESTDIR=" + dest)
    assert files_under(dest) == []


@pytest.mark.skipif(shutil.which("man") is None, reason="no man")
def test_man_pages_render(tmp_dir):
    for page, words in (("celeriac.1", ["celeriac send", "celeriac hash",
                                        "--redis"]),
                        ("celeriac-worker.8", ["--concurrency", "--config"]),
                        ("celeriac-protocol.7", ["TASK MESSAGE"])):
        p = subprocess.run(["man", "-l", os.path.join(ROOT, "man", page)],
                           capture_output=True, text=True,
                           env=dict(os.environ, MANWIDTH="80",
                                    MAN_KEEP_FORMATTING="0", PAGER="cat"))
        assert p.returncode == 0, p.stderr
        text = re.sub(".\b", "", p.stdout).replace("\u2010", "-")
        for w in words:
            assert w in text, (page, w)


def test_bash_completion(tmp_dir):
    dest = os.path.join(tmp_dir, "dest")
    make("install", "DESTDIR=" + dest)
    prefix = os.path.join(dest, "usr/local")
    script = (
        'source "$1/share/bash-completion/completions/celeriac"\n'
        'PATH="$1/bin:$PATH"\n'
        'COMP_WORDS=(celeriac se); COMP_CWORD=1; _celeriac\n'
        'echo "1:${COMPREPLY[*]}"\n'
        'COMP_WORDS=(celeriac send --wa); COMP_CWORD=2; _celeriac\n'
        'echo "2:${COMPREPLY[*]}"\n'
        'COMP_WORDS=(celeriac-worker --max-ta); COMP_CWORD=1\n'
        '_celeriac_worker; echo "3:${COMPREPLY[*]}"\n')
    p = subprocess.run(["bash", "-c", script, "bash", prefix],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["1:send", "2:--wait",
                                     "3:--max-tasks-per-child"], p.stdout


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="no systemd-analyze")
def test_systemd_unit_verifies(tmp_dir):
    prefix = os.path.join(tmp_dir, "prefix")
    make("install", "PREFIX=" + prefix)
    unit = os.path.join(prefix, "lib/systemd/system/celeriac-worker@.service")
    p = subprocess.run(["systemd-analyze", "verify", unit],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ,
                                MANPATH=os.path.join(prefix, "share/man")))
    assert p.returncode == 0, p.stdout + p.stderr
    make("uninstall", "PREFIX=" + prefix)
    assert files_under(prefix) == []
