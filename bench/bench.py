#!/usr/bin/env python3
"""Latchkey's benchmark suite: starts a server per backend, drives wrk against each scenario, prints one
table (Markdown, so it can go straight into bench/RESULTS.md).

Only loopback addresses are used; every process started here is stopped before the script exits. The
load generator shares the machine's cores with the server, so figures are for both together.
Standard library only, so it runs wherever python3 and wrk do.
"""
import argparse
import base64
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))

# A wrk `done` hook that prints the figures we need as one JSON line, in microseconds.
WRK_REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {\"requests\":%d,\"duration_us\":%d,\"p50_us\":%d,\"p99_us\":%d,\"socket_errors\":%d,\"non_2xx\":%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    """(current, peak) resident set size of a process, in KiB."""
    current = peak = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    return current, peak


class Latchkey:
    """A `latchkey serve` process on a fresh database of one backend."""

    def __init__(self, binary, backend, workdir, postgres_url):
        self.binary, self.backend, self.workdir = binary, backend, workdir
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "LATCHKEY_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            # Per-request access logs cost a write per request; operators who bench turn them off too.
            "LATCHKEY_LOG_LEVEL": "warn",
        }
        self.pg_admin, self.pg_db = None, None
        if backend == "sqlite":
            self.database = f"sqlite://{workdir}/latchkey.db"
        else:
            self.pg_admin = postgres_url
            self.pg_db = f"latchkey_bench_{secrets.token_hex(4)}"
            psql(postgres_url, f"CREATE DATABASE {self.pg_db}")
            self.database = postgres_url.rsplit("/", 1)[0] + "/" + self.pg_db
        self.process = None
        self.startup_ms = None

    def cli(self, *args):
        out = subprocess.run(
            [self.binary, *args, "--database", self.database],
            env=self.env, capture_output=True, text=True, check=True,
        )
        return out.stdout

    def start(self):
        # The first start creates the signing key and runs migrations; what we time is a normal restart.
        self._spawn()
        self.stop_process()
        started = time.monotonic()
        self._spawn()
        self.startup_ms = (time.monotonic() - started) * 1000

    def _spawn(self):
        self.process = subprocess.Popen(
            [self.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--issuer", self.origin,
             "--database", self.database],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.origin}/health/live", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                if self.process.poll() is not None:
                    raise SystemExit(f"bench: latchkey exited with {self.process.returncode}")
                time.sleep(0.001)
        raise SystemExit("bench: latchkey did not start within 20s")

    def stop_process(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def close(self):
        self.stop_process()
        if self.pg_db:
            psql(self.pg_admin, f"DROP DATABASE IF EXISTS {self.pg_db} WITH (FORCE)")


def psql(url, sql):
    subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


def wrk(url, lua, duration, connections, threads, workdir):
    script = os.path.join(workdir, f"wrk-{secrets.token_hex(4)}.lua")
    with open(script, "w") as f:
        f.write(lua + WRK_REPORT)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "5s",
         "-s", script, url],
        capture_output=True, text=True, check=True,
    ).stdout
    line = next(l for l in out.splitlines() if l.startswith("WRK_JSON "))
    r = json.loads(line[len("WRK_JSON "):])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = r["socket_errors"] + r["non_2xx"]
    return r


def post_lua(body, headers):
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}",
             'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"']
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    return "\n".join(lines) + "\n"


def latchkey_scenarios(server):
    """(name, url, wrk lua) for each scenario, with the clients they need created by the CLI."""
    created = json.loads(server.cli("client", "create", "--name", "bench", "--json"))
    basic = base64.b64encode(f"{created['client_id']}:{created['client_secret']}".encode()).decode()
    meta = f"{server.origin}/.well-known/oauth-authorization-server"
    return [
        ("metadata GET", meta, ""),
        ("JWKS GET", f"{server.origin}/jwks", ""),
        ("client_credentials (client_secret_basic)", f"{server.origin}/token",
         post_lua("grant_type=client_credentials", {"Authorization": f"Basic {basic}"})),
    ]


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB, {platform.system()} {platform.release()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--smoke", action="store_true", help="1 s per scenario, no warm-up")
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "LATCHKEY_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    duration = 1 if args.smoke else args.duration
    warmup = 0 if args.smoke else 2
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    if "postgres" in backends and not shutil.which("psql"):
        raise SystemExit("bench: psql is missing; install postgresql-client or pass --backend sqlite")

    rows = []
    workroot = tempfile.mkdtemp(prefix="latchkey-bench-")
    try:
        for backend in backends:
            workdir = os.path.join(workroot, backend)
            os.makedirs(workdir)
            server = Latchkey(args.binary, backend, workdir, args.postgres_url)
            try:
                server.start()
                idle_rss, _ = rss_kib(server.process.pid)
                for name, url, lua in latchkey_scenarios(server):
                    if warmup:
                        wrk(url, lua, warmup, args.connections, args.threads, workdir)
                    r = wrk(url, lua, duration, args.connections, args.threads, workdir)
                    if r["requests"] == 0 or r["errors"] == r["requests"]:
                        raise SystemExit(f"bench: scenario `{name}` on {backend} served no successful request")
                    rss, peak = rss_kib(server.process.pid)
                    rows.append({"scenario": name, "server": f"latchkey ({backend})", **r,
                                 "rss_kib": rss, "peak_rss_kib": peak, "idle_rss_kib": idle_rss,
                                 "startup_ms": server.startup_ms})
            finally:
                server.close()
    finally:
        shutil.rmtree(workroot, ignore_errors=True)

    print()
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"machine: {machine()}; wrk -t{args.threads} -c{args.connections} -d{duration}s shares these cores with the server")
    seen = set()
    for row in rows:
        if row["server"] not in seen:
            seen.add(row["server"])
            print(f"{row['server']}: start to first response {row['startup_ms']:.0f} ms, idle RSS {row['idle_rss_kib'] / 1024:.1f} MiB")
    print()
    print("| scenario | server | req/s | p50 ms | p99 ms | errors | RSS MiB (peak) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['scenario']} | {r['server']} | {r['rps']:,.0f} | {r['p50_us'] / 1000:.2f} | "
              f"{r['p99_us'] / 1000:.2f} | {r['errors']} | {r['rss_kib'] / 1024:.1f} ({r['peak_rss_kib'] / 1024:.1f}) |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    errors = sum(r["errors"] for r in rows)
    print(f"\nbench: {len(rows)} scenarios run, {errors} failed requests")


if __name__ == "__main__":
    sys.exit(main())
