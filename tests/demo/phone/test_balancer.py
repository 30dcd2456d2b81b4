"""The phone line behind the load balancers its deployment ships, run for real: nginx and HAProxy
started from deploy/phone/nginx.conf and haproxy.cfg (TLS and the ports swapped for the test's,
nothing else), two real workers over one SQLite call state behind each. A caller reaches the
line only through the balancer: webhooks, the media WebSocket (the upgrade), and a worker lost
during the call."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from demo.phone.wire import twilio_signature
from tests.demo.phone.test_bridge import serving
from tests.demo.phone.test_workers import HZ, TOKEN, entries, leg, said, worker

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy" / "phone"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ports(text: str, ports: tuple[int, int]) -> str:
    """The deployment's workers on 8081 and 8082 -> the test's two."""
    return re.sub(r"127\.0\.0\.1:808([12])", lambda m: f"127.0.0.1:{ports[int(m[1]) - 1]}", text)


def nginx_config(port: int, ports: tuple[int, int], tmp: Path) -> list[str]:
    site = (DEPLOY / "nginx.conf").read_text()
    assert "listen 443 ssl;" in site and site.count("127.0.0.1:808") == 2, "deploy/phone/nginx.conf changed shape"  # fmt: skip
    site = _ports(site.replace("listen 443 ssl;", f"listen 127.0.0.1:{port};"), ports)
    site = "\n".join(line for line in site.splitlines() if "ssl_certificate" not in line)
    temp = "\n".join(f"{k}_temp_path {tmp / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))  # fmt: skip
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"{user}daemon off;\npid {tmp / 'nginx.pid'};\nerror_log {tmp / 'error.log'} warn;\n"
        f"events {{}}\nhttp {{\naccess_log off;\n{temp}\n{site}\n}}\n"
    )
    return [shutil.which("nginx") or "nginx", "-e", str(tmp / "error.log"), "-p", str(tmp), "-c", str(conf)]  # fmt: skip


def haproxy_config(port: int, ports: tuple[int, int], tmp: Path) -> list[str]:
    cfg = (DEPLOY / "haproxy.cfg").read_text()
    bind = re.search(r"^\s*bind :443 .*$", cfg, re.M)
    assert bind and cfg.count("127.0.0.1:808") == 2, "deploy/phone/haproxy.cfg changed shape"
    cfg = _ports(cfg.replace(bind[0], f"    bind 127.0.0.1:{port}"), ports)
    conf = tmp / "haproxy.cfg"
    conf.write_text(cfg)
    return [shutil.which("haproxy") or "haproxy", "-db", "-f", str(conf)]


CONFIGS = {"nginx": nginx_config, "haproxy": haproxy_config}


def start_balancer(kind: str, ports: tuple[int, int], tmp: Path) -> tuple[subprocess.Popen, str]:
    if not shutil.which(kind):
        pytest.skip(f"{kind} is not installed (apt-get install {'nginx-light' if kind == 'nginx' else kind})")  # fmt: skip
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = CONFIGS[kind](port, ports, tmp)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{kind} did not start: {proc.stdout.read() if proc.stdout else ''}")  # fmt: skip
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"{kind} did not listen on {port} in 15 s")


def stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def behind(office, tmp_path, name: str, public_url: str):
    """A worker of the line over one SQLite call state, reached at the balancer's address."""
    url = f"sqlite:///{tmp_path / 'line.db'}"
    return worker(office, tmp_path, url, name, public_url=public_url)[0]


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_a_call_through_the_balancer_survives_its_worker(office, tmp_path, kind):
    """Through the balancer: health, /metrics kept inside, a call whose media WebSocket is
    proxied; the worker that holds the call is lost, and the call comes back through the same
    balancer to the other worker, where the second half of a card is still hidden. Every
    webhook the provider sends meanwhile is answered, none with an error."""
    ports = (free_port(), free_port())
    public = {}
    bridges = {}
    out: dict = {}

    async def go():
        runners = {}
        for name, port in zip("ab", ports, strict=True):
            bridges[name] = behind(office, tmp_path, name, public["url"])
            runners[name] = (await serving(bridges[name], port))[0]
        lost = None
        try:
            async with aiohttp.ClientSession() as s:
                base = public["url"]
                async with s.get(base + "/healthz") as r:
                    out["healthz"] = r.status
                async with s.get(base + "/metrics") as r:
                    out["metrics"] = r.status

                async def during(sid):
                    out["held_by"] = [n for n, b in bridges.items() if b.calls]

                first = said((0.3, None), (1.2, HZ["my card number is 4111 1111"]))
                out["first"] = await leg(s, base, "CA7", first, hang_up=False, during=during)
                (lost,) = out["held_by"]
                await runners.pop(lost).cleanup()  # the worker and its stream are gone
                bridges[lost].state.close()
                statuses = []
                for i in range(4):  # the provider's webhooks of other calls: all answered
                    form = {"CallSid": f"CA{20 + i}", "From": "+1"}
                    sig = twilio_signature(base + "/voice", form.items(), TOKEN)
                    async with s.post(base + "/voice", data=form, headers={"X-Twilio-Signature": sig}) as r:  # fmt: skip
                        statuses.append(r.status)
                out["webhooks"] = statuses
                second = said((0.3, None), (1.2, HZ["1111 1111"]))
                out["second"] = await leg(s, base, "CA7", second, hang_up=True)
        finally:
            for runner in runners.values():
                await runner.cleanup()
        return lost

    proc, public["url"] = start_balancer(kind, ports, tmp_path / kind)
    try:
        lost = asyncio.run(go())
    finally:
        log = stop(proc)
    kept = "b" if lost == "a" else "a"
    assert out["healthz"] == 200 and out["metrics"] == 404, log
    assert [m for m in out["first"] if m["event"] == "media"], log  # the greeting, over the proxy
    assert out["webhooks"] == [200] * 4, log
    assert [m for m in out["second"] if m["event"] == "media"], log  # the other worker answered
    heard_lost = [e["text"] for e in entries(tmp_path, lost) if e["role"] == "caller"]
    heard_kept = [e["text"] for e in entries(tmp_path, kept) if e["role"] == "caller"]
    assert heard_lost == ["my card number is [CARD]"] and heard_kept == ["[CARD]"]


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_the_shipped_balancer_files_parse(tmp_path, kind):
    """`nginx -t` and `haproxy -c` accept the deployment's files as the test above runs them."""
    if not shutil.which(kind):
        pytest.skip(f"{kind} is not installed")
    cmd = CONFIGS[kind](free_port(), (free_port(), free_port()), tmp_path)
    check = [*cmd, "-t"] if kind == "nginx" else [cmd[0], "-c", "-f", cmd[-1]]
    done = subprocess.run(check, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"{kind}: {done.stdout}{done.stderr}"
