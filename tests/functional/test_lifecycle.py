"""Process contract: live stats table, clean exit with final counters."""

from __future__ import annotations

import re
import signal

import lab


def test_stats_interval_and_clean_shutdown(router3):
    r = router3("s", hosts=2, stats_interval=1)
    a, b = r.hosts["a"], r.hosts["b"]
    assert lab.ping(a, b.v4, count=5, interval=0.2)["loss"] == 0, r.describe()
    # --stats-interval 1: a counters table (with the port names) at least twice in 5 s.
    start = r.dp.line_count()

    def tables():
        lines = r.output().splitlines()[start:]
        return sum(1 for ln in lines if re.search(r"(?i)counters", ln))

    lab.wait_until(lambda: tables() >= 2, timeout=6, what="two periodic counters tables",
                   describe=lambda: "\n".join(r.dp.lines_since(start)[-40:]) or "no output")
    recent = "\n".join(r.output().splitlines()[start:])
    assert re.search(r"(?m)^\s*a\s+\d+", recent) and re.search(r"(?m)^\s*b\s+\d+", recent), recent

    rc = r.dp.stop(sig=signal.SIGTERM, timeout=20)
    out = r.output()
    assert rc == 0, f"sluice-dp exited with {rc} on SIGTERM" + r.describe()
    tail = out[out.rfind("sluice-dp: ready"):]
    assert re.search(r"(?i)final counters|counters", tail), tail
    # The leak check always prints its line at exit; a missing line is a failure too.
    m = re.search(r"mbufs leaked: (\d+)", tail)
    assert m, "no 'mbufs leaked:' line at shutdown" + r.describe()
    assert m.group(1) == "0", f"mbuf leak at shutdown: {m.group(0)}" + r.describe()
