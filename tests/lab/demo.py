#!/usr/bin/env python3
"""Live lab demo: sluice-dp routes between three kernel hosts in network
namespaces (software NICs: net_tap), with pings (IPv4 and IPv6), a
traceroute and HTTP transfers through it, while its counters (read over
DPDK telemetry) are shown once a second. Everything is removed at the end,
also on Ctrl-C or SIGTERM.

Usage: tests/lab/demo.py [--duration SECONDS] [--binary PATH]
(tests/lab/demo.sh installs dependencies and builds first.)

    hA 198.18.1.2 ──tap── port a ┐
    2001:db8:1::2               │  sluice-dp      ┌ port c ──tap── hC 198.18.3.2
                                 ├── (DPDK) ──────┤               2001:db8:3::2
    hB 198.18.2.2 ──tap── port b ┘                                198.19.0.1 (lo)
    2001:db8:2::2
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functional"))

import lab  # noqa: E402

SERVICE4 = "198.19.0.1"
ROUTES = [{"prefix": "198.19.0.0/24", "via": "198.18.3.2"}]
NEIGHBORS = [{"address": "198.18.2.99", "mac": "02:5e:00:00:99:99", "port": "b"}]


class Stop(Exception):
    pass


def _on_term(signum, frame):
    raise Stop()


def fmt_n(v: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= div:
            return f"{v / div:.1f}{unit}"
    return f"{v:.0f}"


class View:
    def __init__(self, the_lab: lab.Lab, tty: bool):
        self.lab = the_lab
        self.tty = tty
        self.prev: dict | None = None
        self.prev_t = 0.0

    def render(self, elapsed: float, duration: float, events: list[str]) -> str:
        ports = self.lab.ports()
        drops = self.lab.drops()
        workers = self.lab.tele("/sluice/workers")
        neigh = self.lab.tele("/sluice/neighbors")
        cfg = self.lab.tele("/sluice/config")
        icmp = self.lab.tele("/sluice/icmp")
        now = time.monotonic()
        dt = now - self.prev_t if self.prev else 0
        out = [f"sluice-dp live lab  t={elapsed:4.0f}s/{duration:.0f}s  "
               f"config v{cfg.get('version')} ({cfg.get('source')})", ""]
        out.append(f"{'port':<6}{'rx pkts':>12}{'tx pkts':>12}{'rx pps':>10}{'tx pps':>10}"
                   f"{'missed':>9}{'driver':>12}")
        for name, p in sorted(ports.items()):
            rxr = txr = 0.0
            if self.prev and dt > 0 and name in self.prev["ports"]:
                rxr = (p["rx_packets"] - self.prev["ports"][name]["rx_packets"]) / dt
                txr = (p["tx_packets"] - self.prev["ports"][name]["tx_packets"]) / dt
            out.append(f"{name:<6}{p.get('rx_packets', 0):>12}{p.get('tx_packets', 0):>12}"
                       f"{fmt_n(rxr):>10}{fmt_n(txr):>10}{p.get('rx_missed', 0):>9}"
                       f"{str(p.get('driver', '')):>12}")
        out.append("")
        out.append(f"{'core':<9}{'rx':>10}{'forwarded':>11}{'punted':>9}{'dropped':>9}"
                   f"{'idle polls':>12}{'sleeps':>10}")
        agent = None
        for name, w in sorted(workers.items()):
            if name == "agent" and isinstance(w, dict):
                agent = w
            elif isinstance(w, dict):
                out.append(f"{name:<9}{w.get('rx', 0):>10}{w.get('forwarded', 0):>11}"
                           f"{w.get('punted', 0):>9}{w.get('dropped', 0):>9}"
                           f"{fmt_n(w.get('idle_polls', 0)):>12}{fmt_n(w.get('sleeps', 0)):>10}")
        if agent:
            # The agent's own identity: punted_in = handled + dropped + pending.
            out.append(f"agent: punted in {agent.get('punted_in', 0)}, handled {agent.get('handled', 0)}, "
                       f"dropped {agent.get('dropped', 0)}, pending {agent.get('pending', 0)}; "
                       f"originated {agent.get('originated', 0)}")
        out.append("")
        nz = {k: v for k, v in drops.items() if v}
        out.append("drops by reason:" + ("" if nz else " (none)"))
        for k, v in sorted(nz.items(), key=lambda kv: -kv[1]):
            out.append(f"  {k:<28}{v:>10}")
        sent = {k: v for k, v in icmp.items() if v} if isinstance(icmp, dict) else {}
        out.append("icmp sent: " + (", ".join(f"{k}={v}" for k, v in sorted(sent.items()))
                                    or "(none)"))
        out.append("")
        # /sluice/neighbors is page 0 (of "pages") of the table plus counts
        # for all of it: integer keys are the summary, dict values the entries.
        if isinstance(neigh, dict):
            counts = ", ".join(f"{k}={v}" for k, v in sorted(neigh.items())
                               if k[:3] in ("v4_", "v6_") and isinstance(v, int) and v)
            out.append(f"neighbors: {neigh.get('total', '?')} of {neigh.get('capacity', '?')}"
                       + (f" ({counts})" if counts else "")
                       + (f", page 1 of {neigh['pages']} shown" if neigh.get("pages", 1) > 1 else ""))
        out.append(f"{'neighbor':<22}{'mac':<19}{'port':<6}{'state':<12}")
        entries = neigh.values() if isinstance(neigh, dict) else neigh
        for e in sorted((e for e in entries if isinstance(e, dict) and "address" in e),
                        key=lambda e: (e.get("port", ""), e.get("address", ""))):
            state = e.get("state", "")
            if e.get("static") and "static" not in str(state):
                state = f"{state} static".strip()
            out.append(f"{e.get('address', ''):<22}{e.get('mac', ''):<19}"
                       f"{e.get('port', ''):<6}{state:<12}")
        if events:
            out.append("")
            out.append("traffic:")
            out += [f"  {ev}" for ev in events[-6:]]
        self.prev = {"ports": ports}
        self.prev_t = now
        return "\n".join(out)

    def show(self, text: str):
        if self.tty:
            sys.stdout.write("\033[H\033[2J" + text + "\n")
        else:
            sys.stdout.write("\n" + "-" * 78 + "\n" + text + "\n")
        sys.stdout.flush()


def curl_loop(a: lab.Host, urls: list[str], want: str, workdir: Path, stop: threading.Event,
              events: list[str], results: list[bool]):
    i = 0
    while not stop.is_set() and i < 1000:
        url = urls[i % len(urls)]
        out = workdir / f"got{i % 2}.bin"
        if out.exists():
            out.unlink()
        t0 = time.monotonic()
        cp = lab.curl(a, url, out, timeout=30)
        dt = time.monotonic() - t0
        ok = cp.returncode == 0 and out.exists() and lab.sha256_file(out) == want
        results.append(ok)
        size = out.stat().st_size if out.exists() else 0
        events.append(f"curl {url}: {'OK sha256 match' if ok else 'FAILED ' + cp.stderr.strip()}"
                      f", {size / 1e6:.1f} MB in {dt:.2f}s")
        i += 1
        stop.wait(2.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=30, help="seconds to run (default 30)")
    ap.add_argument("--binary", type=Path, default=lab.binary_path())
    args = ap.parse_args()
    duration = max(5.0, min(args.duration, 3600.0))

    if os.geteuid() != 0:
        print("demo: needs root (network namespaces, tap devices)", file=sys.stderr)
        return 1
    if not args.binary.exists():
        print(f"demo: {args.binary} not found; run tests/lab/build.sh", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGHUP, _on_term)
    lab.cleanup_stale()

    the_lab = lab.Lab(tag="demo", hosts=3, routes=ROUTES, neighbors=NEIGHBORS,
                      binary=args.binary, stats_interval=1, keep_workdir=True)
    stop = threading.Event()
    events: list[str] = []
    curl_ok: list[bool] = []
    pings: list[tuple[str, lab.Proc]] = []
    cleanup_dirs: list[Path] = []
    rc = 0
    try:
        print(f"demo: starting {args.binary} on net_tap ports "
              f"(log: {the_lab.log_path})", flush=True)
        the_lab.start()
        a, b, c = the_lab.hosts["a"], the_lab.hosts["b"], the_lab.hosts["c"]
        c.run(["ip", "addr", "add", f"{SERVICE4}/32", "dev", "lo"])
        print(f"demo: data plane ready; hosts {a.name} {b.name} {c.name}", flush=True)

        tr = a.run(["traceroute", "-n", "-q", "1", "-w", "2", "-m", "4", SERVICE4],
                   check=False, timeout=40)
        print("demo: traceroute from hA to 198.19.0.1 (routed via hC):\n"
              + tr.stdout.rstrip(), flush=True)
        tr6 = a.run(["traceroute", "-6", "-n", "-q", "1", "-w", "2", "-m", "4", b.v6],
                    check=False, timeout=40)
        print(tr6.stdout.rstrip(), flush=True)
        un = lab.ping(a, "198.19.255.1", count=2, interval=0.3)
        for ln in un["out"].splitlines():
            if "Unreachable" in ln or "unreachable" in ln:
                print(f"demo: no route -> {ln.strip()}", flush=True)
                break

        n = int(duration / 0.2)
        for host, dst in ((a, b.v4), (a, c.v6), (b, SERVICE4), (c, a.v6)):
            fam = "-6" if ":" in dst else "-4"
            p = host.ns.popen(["ping", fam, "-n", "-c", str(n), "-i", "0.2", "-W", "2", dst])
            pings.append((f"{host.name} -> {dst}", p))

        www = Path(tempfile.mkdtemp(prefix=f"{lab.RUN_PREFIX}-www-"))
        cleanup_dirs.append(www)
        want = lab.make_blob(www / "blob.bin", 4 * 1024 * 1024, seed=5)
        lab.start_http_server(b, b.v4, 8080, www)
        lab.start_http_server(b, b.v6, 8081, www)
        t = threading.Thread(target=curl_loop, daemon=True, args=(
            a, [f"http://{b.v4}:8080/blob.bin", f"http://[{b.v6}]:8081/blob.bin"], want, www,
            stop, events, curl_ok))
        t.start()

        view = View(the_lab, sys.stdout.isatty())
        t0 = time.monotonic()
        for _ in range(int(duration) + 5):
            elapsed = time.monotonic() - t0
            if elapsed >= duration:
                break
            if not the_lab.dp.alive():
                print("demo: the data plane exited!" + the_lab.describe(), flush=True)
                rc = 1
                break
            try:
                view.show(view.render(elapsed, duration, events))
            except (OSError, ValueError, lab.LabError) as e:
                print(f"demo: telemetry error: {e}", flush=True)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t0 - elapsed)))
        stop.set()
        t.join(timeout=40)

        print("\ndemo: results", flush=True)
        for name, p in pings:
            p.send_signal(signal.SIGINT)  # ping prints its summary on SIGINT
            p.stop(sig=signal.SIGINT, timeout=5)
            summary = [ln for ln in p.output().splitlines() if "packets transmitted" in ln]
            text = summary[0] if summary else "(no summary)"
            print(f"  ping {name}: {text}")
            if not summary or " 0 received" in text:
                rc = 1
        good = sum(curl_ok)
        print(f"  curl transfers: {good}/{len(curl_ok)} complete with matching sha256")
        if not curl_ok or good != len(curl_ok):
            rc = 1
    except (KeyboardInterrupt, Stop):
        print("\ndemo: interrupted, cleaning up", flush=True)
        rc = 130
    except lab.LabError as e:
        print(f"demo: {e}{the_lab.describe()}", flush=True)
        rc = 1
    finally:
        stop.set()
        the_lab.close()
        for d in cleanup_dirs:
            shutil.rmtree(d, ignore_errors=True)
        if the_lab.dp:
            lines = the_lab.dp.output().splitlines()
            stops = [i for i, ln in enumerate(lines) if "sluice-dp: stopping" in ln]
            tail = lines[stops[-1]:] if stops else lines[-25:]
            print("\ndemo: data plane's last output (final counters):")
            print("\n".join(f"  {ln}" for ln in tail))
        print(f"demo: cleaned up namespaces and taps; log kept at {the_lab.log_path}")
    print("demo: OK" if rc == 0 else f"demo: FAILED (exit {rc})", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
