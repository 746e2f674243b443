#!/usr/bin/env python3
"""Latchkey's benchmark suite: Latchkey on SQLite and on PostgreSQL, node-oidc-provider configured the
same way, and a static-response ceiling, driven by wrk with the same connections and duration, one
scenario at a time across all servers. Prints one Markdown table (so it can go into bench/RESULTS.md).

Only loopback addresses are used; every process started here is stopped before the script exits. The
load generator shares the machine's cores with the server under test, so figures are for both together.
Standard library only.
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
import urllib.parse
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

CLIENT_SCOPE = "api:read"
JWT_RESOURCE = "https://api.example/"
OPAQUE_RESOURCE = "https://opaque.example/"
FLOW_USER, FLOW_PASSWORD = "bench-user", "bench passphrase"
# Never contacted: the flow driver reads the code from the redirect instead of following it.
FLOW_REDIRECT = "http://127.0.0.1:9/callback"


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


def post(url, form, basic=None):
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("content-type", "application/x-www-form-urlencoded")
    if basic:
        request.add_header("authorization", f"Basic {basic}")
    with urllib.request.urlopen(request, timeout=120) as r:
        body = r.read()
        return json.loads(body) if body else {}


def wait_until_up(url, process, what, patience=30):
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=max(1, patience / 30)) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            if process.poll() is not None:
                raise SystemExit(f"bench: {what} exited with {process.returncode}")
            time.sleep(0.001)
    raise SystemExit(f"bench: {what} did not start within {patience}s")


def stop(process):
    if process and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Server:
    """What every server under test offers the scenarios."""

    name = ""
    process = None
    startup_ms = None
    idle_rss_kib = None

    def urls(self):
        raise NotImplementedError

    def basic(self):
        return base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()

    def token(self, resource):
        return post(self.urls()["token"], {"grant_type": "client_credentials", "scope": CLIENT_SCOPE,
                                          "resource": resource}, self.basic())["access_token"]

    def close(self):
        stop(self.process)


class Latchkey(Server):
    """`latchkey serve` on a fresh database of one backend."""

    CONFIG = f"""
[scopes."{CLIENT_SCOPE}"]
description = "Read the API"
[resources."{JWT_RESOURCE}"]
scopes = ["{CLIENT_SCOPE}"]
[resources."{OPAQUE_RESOURCE}"]
scopes = ["{CLIENT_SCOPE}"]
format = "opaque"
# Rate limits stay on (their cost is part of what is measured) with budgets no scenario reaches:
# every request still pays its check and its headers, none is refused.
[openid]
enabled = true
[rate_limits.discovery]
limit = 4000000000
window = "1h"
[rate_limits.token]
limit = 4000000000
window = "1h"
[rate_limits.introspection_revocation]
limit = 4000000000
window = "1h"
[rate_limits.authorization]
limit = 4000000000
window = "1h"
# The login scenario signs one user in from 16 workers at once. Against parallel guessing, every
# attempt counts as a failure until its password is checked and at most 2 run at once per account;
# one account under that load would measure lockouts and 429s, not password hashing.
[login]
max_in_flight = 64
address_max_in_flight = 64
delay_after = 1000000
lock_after = 1000000
address_delay_after = 1000000
address_lock_after = 1000000
"""

    # Prefix of the serve command (measure.py runs the server under valgrind).
    wrapper = []

    def __init__(self, binary, backend, workdir, postgres_url, metrics=False, extra_config=""):
        self.name = f"latchkey ({backend}, metrics on)" if metrics else f"latchkey ({backend})"
        self.binary, self.backend, self.workdir = binary, backend, workdir
        self.metrics = metrics
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        config = os.path.join(workdir, "latchkey.toml")
        with open(config, "w") as f:
            f.write(self.CONFIG + extra_config)
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "LATCHKEY_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "LATCHKEY_CONFIG": config,
        }
        if metrics:
            # Its own listener, as an operator configures it; nothing scrapes it during the run, so
            # what is measured is the counting on the request path.
            self.env["LATCHKEY_METRICS_LISTEN"] = f"127.0.0.1:{free_port()}"
        self.pg_admin = self.pg_db = None
        if backend == "sqlite":
            self.database = f"sqlite://{workdir}/latchkey.db"
        else:
            self.pg_admin = postgres_url
            self.pg_db = f"latchkey_bench_{secrets.token_hex(4)}"
            psql(postgres_url, f"CREATE DATABASE {self.pg_db}")
            self.database = postgres_url.rsplit("/", 1)[0] + "/" + self.pg_db

    def urls(self):
        o = self.origin
        return {"metadata": f"{o}/.well-known/oauth-authorization-server", "jwks": f"{o}/jwks",
                "token": f"{o}/token", "introspect": f"{o}/introspect", "revoke": f"{o}/revoke"}

    def cli(self, *args):
        return subprocess.run([self.binary, *args, "--database", self.database], env=self.env,
                              capture_output=True, text=True, check=True).stdout

    def start(self):
        # The first start creates the signing key and runs migrations; what we time is a normal restart.
        self._spawn()
        stop(self.process)
        started = time.monotonic()
        self._spawn()
        self.startup_ms = (time.monotonic() - started) * 1000
        self.idle_rss_kib = rss_kib(self.process.pid)[0]
        created = json.loads(self.cli("client", "create", "--name", "bench", "--scope", CLIENT_SCOPE, "--json"))
        self.client_id, self.client_secret = created["client_id"], created["client_secret"]
        # A person and a public app for the authorization code scenarios.
        app = json.loads(self.cli("client", "create", "--name", "bench app", "--auth-method", "none",
                                  "--scope", CLIENT_SCOPE, "--redirect-uri", FLOW_REDIRECT, "--json"))
        self.app_id = app["client_id"]
        # The same kind of app for OpenID sign-ins: ID tokens are RS256, the OpenID default.
        oidc_app = json.loads(self.cli("client", "create", "--name", "bench oidc app", "--auth-method", "none",
                                       "--scope", "openid profile email", "--redirect-uri", FLOW_REDIRECT,
                                       "--json"))
        self.oidc_app_id = oidc_app["client_id"]
        subprocess.run([self.binary, "user", "add", FLOW_USER, "--password-stdin", "--database", self.database],
                       env=self.env, input=FLOW_PASSWORD + "\n", text=True, check=True, capture_output=True)

    def _spawn(self):
        # As a user runs it: `serve --dev`, info-level logs with one access-log line per request, here
        # into a file rather than a terminal.
        log = open(os.path.join(self.workdir, "latchkey.log"), "ab")
        self.process = subprocess.Popen(
            [*self.wrapper, self.binary, "serve", "--dev", "--listen", f"127.0.0.1:{self.port}",
             "--issuer", self.origin, "--database", self.database],
            env=self.env, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=log)
        log.close()
        wait_until_up(f"{self.origin}/health/live", self.process, self.name, 300 if self.wrapper else 30)

    def close(self):
        stop(self.process)
        if self.pg_db:
            psql(self.pg_admin, f"DROP DATABASE IF EXISTS {self.pg_db} WITH (FORCE)")


class OidcProvider(Server):
    """panva's node-oidc-provider from npm, configured as bench/peer/server.mjs says."""

    name = "node-oidc-provider"

    def __init__(self):
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.client_id, self.client_secret = "bench", secrets.token_urlsafe(32)
        # server.mjs's public app, for the refresh scenario.
        self.app_id = "bench-app"

    def urls(self):
        o = self.origin
        return {"metadata": f"{o}/.well-known/openid-configuration", "jwks": f"{o}/jwks",
                "token": f"{o}/token", "introspect": f"{o}/token/introspection",
                "revoke": f"{o}/token/revocation"}

    def start(self):
        peer = os.path.join(HERE, "peer")
        if not os.path.isdir(os.path.join(peer, "node_modules", "oidc-provider")):
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=peer, check=True)
        started = time.monotonic()
        self.process = subprocess.Popen(
            ["node", "server.mjs", str(self.port), self.client_id, self.client_secret], cwd=peer,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_up(self.urls()["metadata"], self.process, self.name)
        self.startup_ms = (time.monotonic() - started) * 1000
        self.idle_rss_kib = rss_kib(self.process.pid)[0]


class Ceiling(Server):
    """The smallest axum server answering every GET with Latchkey's metadata bytes."""

    name = "static ceiling (axum)"

    def __init__(self, binary, body_file):
        self.binary, self.body_file = binary, body_file
        self.port = free_port()

    def urls(self):
        url = f"http://127.0.0.1:{self.port}/.well-known/oauth-authorization-server"
        return {"metadata": url, "jwks": url}

    def start(self):
        started = time.monotonic()
        self.process = subprocess.Popen([self.binary, str(self.port), self.body_file],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_up(self.urls()["metadata"], self.process, self.name)
        self.startup_ms = (time.monotonic() - started) * 1000
        self.idle_rss_kib = rss_kib(self.process.pid)[0]


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


def flow(driver, server, mode, duration, workers):
    app = server.oidc_app_id if mode == "openid" else server.app_id
    out = subprocess.run(
        [driver, mode, server.origin, app, FLOW_REDIRECT, FLOW_USER, FLOW_PASSWORD,
         str(duration), str(workers)],
        capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("WRK_JSON "))
    r = json.loads(line[len("WRK_JSON "):])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = r["socket_errors"] + r["non_2xx"]
    return r


WRITE_SCENARIO = "client_credentials, opaque"
# The durability setting of Latchkey's SQLite store, which the write ceiling uses too.
SQLITE_SYNCHRONOUS = "normal"


def write_ceiling_name(batch):
    return f"write ceiling (sqlite, {batch} rows a commit)"


def write_ceiling(binary, latchkey, workroot, duration, batch):
    """Rows per second one writer stores into a fresh Latchkey database, `batch` per commit."""
    database = os.path.join(workroot, f"write-ceiling-{secrets.token_hex(4)}.db")
    subprocess.run([latchkey, "migrate", "--database", f"sqlite://{database}"], check=True,
                   capture_output=True)
    process = subprocess.Popen([binary, database, str(duration), str(batch), SQLITE_SYNCHRONOUS],
                               stdout=subprocess.PIPE, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"bench: the write ceiling failed ({process.returncode})")
    line = next(l for l in out.splitlines() if l.startswith("WRK_JSON "))
    r = json.loads(line[len("WRK_JSON "):])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = 0
    # Its own peak; the latencies are of a whole batch.
    r["rss_kib"] = r["peak_rss_kib"] = usage.ru_maxrss
    return r


def post_lua(form, basic):
    body = urllib.parse.urlencode(form)
    return "\n".join([
        'wrk.method = "POST"',
        f"wrk.body = {json.dumps(body)}",
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"',
        f'wrk.headers["Authorization"] = {json.dumps("Basic " + basic)}',
    ]) + "\n"


def scenarios(server):
    """(name, url, wrk lua) for each scenario this server offers; None where it has no equivalent."""
    u = server.urls()
    out = {"metadata GET": (u["metadata"], ""), "JWKS GET": (u["jwks"], "")}
    if isinstance(server, Ceiling):
        return out
    basic = server.basic()
    grant = {"grant_type": "client_credentials", "scope": CLIENT_SCOPE}
    out["client_credentials, JWT (client_secret_basic)"] = (
        u["token"], post_lua({**grant, "resource": JWT_RESOURCE}, basic))
    if isinstance(server, Latchkey) and server.metrics:
        # Only what the "≥ 97 % with metrics on" comparison needs.
        return out
    out["client_credentials, opaque"] = (u["token"], post_lua({**grant, "resource": OPAQUE_RESOURCE}, basic))
    # node-oidc-provider refuses to introspect structured (JWT) access tokens.
    if not isinstance(server, OidcProvider):
        out["introspection, JWT"] = (u["introspect"], post_lua({"token": server.token(JWT_RESOURCE)}, basic))
    out["introspection, opaque"] = (u["introspect"], post_lua({"token": server.token(OPAQUE_RESOURCE)}, basic))
    if isinstance(server, Latchkey):
        # node-oidc-provider's login and consent are left to the integrator (its dev pages are not a
        # product), so the flow scenarios have no peer figure.
        out["authorization code flow, signed in (flows/s)"] = ("flow", "flows")
        out["authorization code flow with openid, signed in (flows/s)"] = ("flow", "openid")
        out["password login, Argon2id (logins/s)"] = ("flow", "logins")
        out["refresh_token with rotation"] = ("flow", "refresh")
    if isinstance(server, OidcProvider):
        # Its public app's refresh tokens rotate on every use, as Latchkey's do.
        out["refresh_token with rotation"] = ("flow", "peer-refresh")
    # Revoking one token over and over would measure "already revoked"; an unknown token makes both
    # servers authenticate the client, look the token up and answer 200.
    out["revocation (unknown token)"] = (u["revoke"], post_lua({"token": secrets.token_urlsafe(32)}, basic))
    return out


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
    parser.add_argument("--ceiling", help="the static_ceiling binary (package latchkey-bench)")
    parser.add_argument("--flow-driver", help="the flow_bench binary (package latchkey-bench; authorization code scenarios)")
    parser.add_argument("--write-ceiling",
                        help="the write_ceiling binary (package latchkey-bench): the opaque token scenario's "
                             "physical limit on SQLite")
    parser.add_argument("--write-batch", type=int, default=64,
                        help="rows per transaction of the write ceiling")
    parser.add_argument("--flow-workers", type=int, default=16)
    parser.add_argument("--smoke", action="store_true", help="1 s per scenario, no warm-up")
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--no-peer", action="store_true", help="skip node-oidc-provider")
    parser.add_argument("--config", default="",
                        help="TOML appended to every Latchkey server's configuration, e.g. "
                             "'[keys]\\nalgorithm = \"EdDSA\"' (\\n for a line break)")
    parser.add_argument("--no-metrics-variant", action="store_true",
                        help="skip the SQLite server with metrics on (metadata, JWKS, client_credentials)")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "LATCHKEY_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--only", action="append", default=[],
                        help="run only scenarios whose name contains this (repeatable)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    duration = 1 if args.smoke else args.duration
    warmup = 0 if args.smoke else 2
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    if "postgres" in backends and not shutil.which("psql"):
        raise SystemExit("bench: psql is missing; install postgresql-client or pass --backend sqlite")
    peer = not args.no_peer
    if peer and not shutil.which("node"):
        raise SystemExit("bench: node is missing; install Node.js or pass --no-peer")

    extra_config = "\n" + args.config.replace("\\n", "\n")
    workroot = tempfile.mkdtemp(prefix="latchkey-bench-")
    servers = []
    rows = []
    try:
        for backend in backends:
            workdir = os.path.join(workroot, backend)
            os.makedirs(workdir)
            servers.append(Latchkey(args.binary, backend, workdir, args.postgres_url,
                                    extra_config=extra_config))
        if "sqlite" in backends and not args.no_metrics_variant:
            workdir = os.path.join(workroot, "sqlite-metrics")
            os.makedirs(workdir)
            servers.append(Latchkey(args.binary, "sqlite", workdir, args.postgres_url, metrics=True,
                                    extra_config=extra_config))
        if peer:
            servers.append(OidcProvider())
        for server in servers:
            server.start()
        if args.ceiling:
            body = os.path.join(workroot, "metadata.json")
            with urllib.request.urlopen(servers[0].urls()["metadata"]) as r, open(body, "wb") as f:
                f.write(r.read())
            ceiling = Ceiling(args.ceiling, body)
            ceiling.start()
            servers.append(ceiling)
        plans = {s.name: scenarios(s) for s in servers}
        order = list(dict.fromkeys(name for plan in plans.values() for name in plan))
        if args.only:
            order = [name for name in order if any(o in name for o in args.only)]
        # Scenario by scenario, server after server: each sees the same machine state.
        for scenario in order:
            for server in servers:
                if scenario not in plans[server.name]:
                    continue
                url, lua = plans[server.name][scenario]
                if url == "flow":
                    if not args.flow_driver:
                        continue
                    r = flow(args.flow_driver, server, lua, duration, args.flow_workers)
                else:
                    if warmup:
                        wrk(url, lua, warmup, args.connections, args.threads, workroot)
                    r = wrk(url, lua, duration, args.connections, args.threads, workroot)
                if r["requests"] == 0 or r["errors"] == r["requests"]:
                    raise SystemExit(f"bench: `{scenario}` on {server.name} served no successful request")
                rss, peak = rss_kib(server.process.pid)
                rows.append({"scenario": scenario, "server": server.name, **r, "rss_kib": rss,
                             "peak_rss_kib": peak})
            if scenario == WRITE_SCENARIO and args.write_ceiling and "sqlite" in backends:
                rows.append({"scenario": scenario, "server": write_ceiling_name(args.write_batch),
                             **write_ceiling(args.write_ceiling, args.binary, workroot, duration,
                                             args.write_batch)})
    finally:
        for server in servers:
            server.close()
        shutil.rmtree(workroot, ignore_errors=True)

    print()
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"machine: {machine()}; wrk -t{args.threads} -c{args.connections} -d{duration}s "
          f"(after a {warmup}s warm-up) shares these cores with the server")
    for server in servers:
        print(f"{server.name}: start to first response {server.startup_ms:.0f} ms, "
              f"idle RSS {server.idle_rss_kib / 1024:.1f} MiB")
    print()
    peer_rps = {r["scenario"]: r["rps"] for r in rows if r["server"] == OidcProvider.name}
    ceiling_rps = {r["scenario"]: r["rps"] for r in rows
                   if r["server"] in (Ceiling.name, write_ceiling_name(args.write_batch))}
    print("| scenario | server | req/s | vs peer | vs ceiling | p50 ms | p99 ms | errors | RSS MiB (peak) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        versus = lambda table: (f"{r['rps'] / table[r['scenario']]:.1f}x"
                                if r["scenario"] in table and r["server"].startswith("latchkey") else "")
        print(f"| {r['scenario']} | {r['server']} | {r['rps']:,.0f} | {versus(peer_rps)} | "
              f"{versus(ceiling_rps)} | {r['p50_us'] / 1000:.2f} | {r['p99_us'] / 1000:.2f} | {r['errors']} | "
              f"{r['rss_kib'] / 1024:.1f} ({r['peak_rss_kib'] / 1024:.1f}) |")
    metrics_off = {r["scenario"]: r["rps"] for r in rows if r["server"] == "latchkey (sqlite)"}
    for r in rows:
        if r["server"].endswith("metrics on)") and metrics_off.get(r["scenario"]):
            print(f"\nwith metrics on, {r['scenario']} keeps {r['rps'] / metrics_off[r['scenario']]:.0%} "
                  f"of its throughput (SQLite)", end="")
    print()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    errors = sum(r["errors"] for r in rows)
    print(f"\nbench: {len(rows)} runs, {errors} failed requests")


if __name__ == "__main__":
    sys.exit(main())
