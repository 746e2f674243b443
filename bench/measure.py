#!/usr/bin/env python3
"""Per-request cost of Latchkey's hot paths, in numbers that stay repeatable on a busy machine.

Throughput (bench.py) moves with whatever else the two cores run; these do not, or much less:
  instructions  user-space instructions per request, every thread of the server together, counted by
                valgrind's callgrind over a fixed number of sequential requests (slow: ~50x)
  switches      context switches and on-CPU time per request (the server's threads, from /proc), over a
                fixed number of sequential requests at full speed

    cargo build --release -p latchkey -p latchkey-bench
    bench/measure.py --binary target/release/latchkey --flow-driver target/release/flow_bench \\
        [--ceiling target/release/static_ceiling] [--mode instructions|switches] [--requests N]

The server runs as a user runs it: `serve --dev` with request logging on (to a file). Standard library
only; every process it starts is stopped before it exits.
"""
import argparse
import glob
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the suite's server setup, reused)


def threads_of(pid):
    """(context switches, on-CPU ns) summed over the process's threads."""
    switches = cpu_ns = 0
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            with open(f"{task}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        switches += int(line.split()[1])
            with open(f"{task}/schedstat") as f:
                cpu_ns += int(f.read().split()[0])
        except OSError:
            pass  # a thread that ended between the listing and the read
    return switches, cpu_ns


class Connection:
    """One keep-alive HTTP/1.1 connection, requests one after another."""

    def __init__(self, origin):
        parsed = urllib.parse.urlparse(origin)
        self.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)

    def request(self, method, path, body=None, headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        data = response.read()
        if response.status >= 400:
            raise SystemExit(f"measure: {method} {path} answered {response.status}: {data[:200]!r}")
        return data


def scenarios(server):
    """name -> (method, path, body, headers) of one request."""
    basic = {"Authorization": f"Basic {server.basic()}",
             "Content-Type": "application/x-www-form-urlencoded"}
    grant = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": bench.CLIENT_SCOPE,
                                    "resource": bench.JWT_RESOURCE})
    jwt = server.token(bench.JWT_RESOURCE)
    return {
        "metadata GET": ("GET", "/.well-known/oauth-authorization-server", None, {}),
        "JWKS GET": ("GET", "/jwks", None, {}),
        "client_credentials, JWT": ("POST", "/token", grant, basic),
        "introspection, JWT": ("POST", "/introspect", urllib.parse.urlencode({"token": jwt}), basic),
    }


class Callgrind:
    """callgrind_control on a server started under valgrind with collection off."""

    def __init__(self, pid, out_dir):
        self.pid, self.out_dir = str(pid), out_dir

    def control(self, *args):
        subprocess.run(["callgrind_control", *args, self.pid], check=True, capture_output=True)

    def measure(self, run):
        self.control("-z")
        self.control("-i", "on")
        run()
        self.control("-i", "off")
        before = set(glob.glob(f"{self.out_dir}/callgrind.out*"))
        self.control("-d")
        for _ in range(600):
            dumps = set(glob.glob(f"{self.out_dir}/callgrind.out*")) - before
            if dumps:
                break
            time.sleep(0.1)
        total = 0
        for dump in dumps:
            for _ in range(100):
                with open(dump) as f:
                    text = f.read()
                if "\ntotals:" in text:
                    break
                time.sleep(0.1)
            for line in text.splitlines():
                if line.startswith("totals:"):
                    total += int(line.split()[1])
                    break
        return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--flow-driver")
    parser.add_argument("--ceiling", help="the static_ceiling binary: its instructions per metadata GET")
    parser.add_argument("--mode", choices=["instructions", "switches"], default="instructions")
    parser.add_argument("--requests", type=int, help="requests per scenario (default 200 / 3000)")
    parser.add_argument("--flow-seconds", type=int, default=0,
                        help="seconds of single-worker flows (default 40 under callgrind, 5 otherwise)")
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--config", default="", help="TOML appended to the server's configuration, "
                        "e.g. '[keys]\\nalgorithm = \"EdDSA\"'")
    parser.add_argument("--keep", help="copy callgrind's dumps into this directory (for callgrind_annotate)")
    args = parser.parse_args()
    counting = args.mode == "instructions"
    if counting and not shutil.which("callgrind_control"):
        raise SystemExit("measure: valgrind is missing (apt-get install -y valgrind)")
    n = args.requests or (200 if counting else 3000)
    flow_seconds = args.flow_seconds or (40 if counting else 5)

    workroot = tempfile.mkdtemp(prefix="latchkey-measure-")
    server = bench.Latchkey(args.binary, "sqlite", workroot, None,
                            extra_config="\n" + args.config.replace("\\n", "\n"))
    results = {}
    ceiling = None
    try:
        if counting:
            server.wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                              f"--callgrind-out-file={workroot}/callgrind.out.%p"]
        server.start()
        pid = server.process.pid
        grind = Callgrind(pid, workroot) if counting else None
        plan = scenarios(server)
        conn = Connection(server.origin)
        for name, (method, path, body, headers) in plan.items():
            if args.only and not any(o in name for o in args.only):
                continue
            for _ in range(20 if counting else 200):
                conn.request(method, path, body, headers)

            def run():
                for _ in range(n):
                    conn.request(method, path, body, headers)

            if counting:
                results[name] = grind.measure(run) / n
            else:
                s0, c0 = threads_of(pid)
                run()
                s1, c1 = threads_of(pid)
                results[name] = ((s1 - s0) / n, (c1 - c0) / n / 1000)
        if args.flow_driver and (not args.only or any(o in "authorization code flow" for o in args.only)):
            def flows(seconds):
                out = subprocess.run(
                    [args.flow_driver, "flows", server.origin, server.app_id, bench.FLOW_REDIRECT,
                     bench.FLOW_USER, bench.FLOW_PASSWORD, str(seconds), "1"],
                    capture_output=True, text=True, check=True).stdout
                line = next(l for l in out.splitlines() if l.startswith("WRK_JSON "))
                return json.loads(line[len("WRK_JSON "):])["requests"]

            # Every run of the driver signs its worker in first (an Argon2id check, which dwarfs a
            # flow): two runs of different lengths, and the difference is flows alone.
            def measured(seconds):
                if counting:
                    done = []
                    cost = grind.measure(lambda: done.append(flows(seconds)))
                    return done[0], cost
                s0, c0 = threads_of(pid)
                done = flows(seconds)
                s1, c1 = threads_of(pid)
                return done, (s1 - s0, (c1 - c0) / 1000)

            flows(1)
            short_n, short = measured(flow_seconds)
            long_n, long = measured(2 * flow_seconds)
            if long_n <= short_n:
                raise SystemExit("measure: too few flows to tell apart; raise --flow-seconds")
            per = long_n - short_n
            name = "authorization code flow (per flow)"
            if counting:
                results[name] = (long - short) / per
            else:
                results[name] = ((long[0] - short[0]) / per, (long[1] - short[1]) / per)
        if counting and args.ceiling and (not args.only or any(o in "metadata GET" for o in args.only)):
            body = os.path.join(workroot, "metadata.json")
            with open(body, "wb") as f:
                f.write(Connection(server.origin).request("GET", "/.well-known/oauth-authorization-server"))
            port = bench.free_port()
            out = f"{workroot}/ceiling"
            os.makedirs(out)
            ceiling = subprocess.Popen(
                ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                 f"--callgrind-out-file={out}/callgrind.out.%p", args.ceiling, str(port), body],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            origin = f"http://127.0.0.1:{port}"
            bench.wait_until_up(f"{origin}/.well-known/oauth-authorization-server", ceiling, "ceiling", 300)
            c = Connection(origin)
            for _ in range(20):
                c.request("GET", "/.well-known/oauth-authorization-server")
            results["metadata GET, static ceiling"] = Callgrind(ceiling.pid, out).measure(
                lambda: [c.request("GET", "/.well-known/oauth-authorization-server") for _ in range(n)]) / n
    finally:
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            for dump in glob.glob(f"{workroot}/**/callgrind.out.*.*", recursive=True):
                shutil.copy(dump, args.keep)
        bench.stop(ceiling)
        server.close()
        shutil.rmtree(workroot, ignore_errors=True)

    if counting:
        print(f"instructions per request (callgrind, all threads, {n} sequential requests; flows: "
              f"{flow_seconds} s of one worker)")
        for name, ir in results.items():
            print(f"| {name} | {ir:,.0f} |")
    else:
        print(f"context switches and on-CPU time per request (all threads, {n} sequential requests)")
        for name, (switches, cpu_us) in results.items():
            print(f"| {name} | {switches:.2f} | {cpu_us:.1f} µs |")


if __name__ == "__main__":
    sys.exit(main())
