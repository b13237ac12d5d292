// The checker end to end on loopback: servers in threads on ephemeral
// ports, conditions waited for with generous deadlines (no tight timing).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "control/health/checker.hpp"
#include "servers.hpp"

using namespace sluice;
using namespace std::chrono_literals;
using health::Checker;
using health::ProbeResult;
using health::Target;
using health::TargetStatus;
using health::test::TcpServer;
using health::test::UdpServer;
using Clock = std::chrono::steady_clock;
using Type = config::HealthCheckConfig::Type;

namespace {

template <class P>
bool wait_until(P pred, std::chrono::milliseconds limit = 20s) {
    const auto end = Clock::now() + limit;
    while (Clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

// What the checker told: state changes, probe starts and outcomes, and the
// concurrency they imply (per target and overall).
struct Events {
    struct Change {
        uint64_t id;
        bool up;
        std::string error;
        uint32_t run;  // consecutive like outcomes up to the change
    };
    mutable std::mutex mu;
    std::vector<Change> changes;
    std::map<uint64_t, std::vector<Clock::time_point>> starts;
    std::map<uint64_t, std::vector<ProbeResult>> results;
    std::map<uint64_t, int> open;
    std::map<uint64_t, uint32_t> run;
    std::map<uint64_t, bool> last_ok;
    int open_all = 0, max_open_all = 0, max_open_one = 0;

    Checker::Options options(uint64_t seed = 42) {
        Checker::Options o;
        o.seed = seed;
        o.on_probe_start = [this](uint64_t id) {
            std::lock_guard lk(mu);
            starts[id].push_back(Clock::now());
            max_open_one = std::max(max_open_one, ++open[id]);
            max_open_all = std::max(max_open_all, ++open_all);
        };
        o.on_probe_done = [this](uint64_t id, const ProbeResult& r) {
            std::lock_guard lk(mu);
            --open[id];
            --open_all;
            results[id].push_back(r);
            auto it = last_ok.find(id);
            run[id] = (it != last_ok.end() && it->second == r.ok) ? run[id] + 1 : 1;
            last_ok[id] = r.ok;
        };
        return o;
    }
    Checker::OnChange on_change() {
        return [this](uint64_t id, bool up, const ProbeResult& r) {
            std::lock_guard lk(mu);
            changes.push_back({id, up, r.error, run[id]});
        };
    }
    size_t n_changes() const {
        std::lock_guard lk(mu);
        return changes.size();
    }
    size_t n_starts(uint64_t id) const {
        std::lock_guard lk(mu);
        auto it = starts.find(id);
        return it == starts.end() ? 0 : it->second.size();
    }
};

Target make(uint64_t id, const net::IpAddr& a, uint16_t port, Type type = Type::tcp) {
    Target t;
    t.id = id;
    t.address = a;
    t.port = port;
    t.spec.type = type;
    t.spec.interval_ms = 100;
    t.spec.timeout_ms = 1000;  // generous: a loaded machine must not turn successes into timeouts
    t.spec.rise = 2;
    t.spec.fall = 3;
    return t;
}

std::optional<TargetStatus> status_of(const Checker& c, uint64_t id) {
    for (auto& s : c.snapshot())
        if (s.id == id) return s;
    return std::nullopt;
}

net::IpAddr lo4() { return *net::parse_ip("127.0.0.1"); }

std::string http_answer(int code, const char* reason) {
    return "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

std::string path_of(const std::string& req) {
    const auto a = req.find(' ');
    const auto b = req.find(' ', a + 1);
    return req.substr(a + 1, b - a - 1);
}

}  // namespace

TEST(Checker, TcpGoesDownAfterFallAndUpAfterRise) {
    TcpServer srv;
    ASSERT_TRUE(srv.ok());
    Events ev;
    Checker c(ev.options(), ev.on_change());
    c.set_targets({make(1, srv.address(), srv.port())});
    c.start();
    ASSERT_TRUE(wait_until([&] { auto s = status_of(c, 1); return s && s->checks >= 3; }));
    EXPECT_TRUE(status_of(c, 1)->up);
    EXPECT_TRUE(status_of(c, 1)->last.ok);
    EXPECT_EQ(ev.n_changes(), 0u);  // up from the start: no change, no callback

    srv.close_listener();
    ASSERT_TRUE(wait_until([&] { return ev.n_changes() >= 1; }));
    {
        std::lock_guard lk(ev.mu);
        EXPECT_EQ(ev.changes[0].id, 1u);
        EXPECT_FALSE(ev.changes[0].up);
        EXPECT_EQ(ev.changes[0].run, 3u);  // exactly `fall` failures in a row
        EXPECT_NE(ev.changes[0].error.find("refused"), std::string::npos) << ev.changes[0].error;
    }
    auto s = status_of(c, 1);
    EXPECT_FALSE(s->up);
    EXPECT_EQ(s->transitions, 1u);

    ASSERT_TRUE(srv.reopen());
    ASSERT_TRUE(wait_until([&] { return ev.n_changes() >= 2; }));
    {
        std::lock_guard lk(ev.mu);
        EXPECT_TRUE(ev.changes[1].up);
        EXPECT_EQ(ev.changes[1].run, 2u);  // `rise` successes
    }
    const uint64_t checks = status_of(c, 1)->checks;
    ASSERT_TRUE(wait_until([&] { return status_of(c, 1)->checks >= checks + 5; }));
    EXPECT_EQ(ev.n_changes(), 2u);  // nothing more while it stays up
    EXPECT_EQ(status_of(c, 1)->transitions, 2u);
    EXPECT_GE(srv.accepted(), 5u);
    c.stop();
    const auto st = c.stats();
    EXPECT_GE(st.probes, 10u);
    EXPECT_GE(st.failures, 3u);
    EXPECT_EQ(st.targets, 1u);
    EXPECT_EQ(st.in_flight, 0u);
}

TEST(Checker, TcpOverIpv6) {
    TcpServer srv(true);
    if (!srv.ok()) GTEST_SKIP() << "no IPv6 loopback";
    Events ev;
    Checker c(ev.options(), ev.on_change());
    Target t = make(7, srv.address(), srv.port());
    t.initially_up = false;
    t.spec.rise = 1;
    c.set_targets({t});
    c.start();
    ASSERT_TRUE(wait_until([&] { return ev.n_changes() >= 1; }));
    std::lock_guard lk(ev.mu);
    EXPECT_EQ(ev.changes[0].id, 7u);
    EXPECT_TRUE(ev.changes[0].up);
}

TEST(Checker, HttpStatusesGarbageAndTimeouts) {
    TcpServer srv(false, [](const std::string& req) -> std::optional<std::string> {
        const std::string p = path_of(req);
        if (p == "/ok") return http_answer(200, "OK");
        if (p == "/fail") return http_answer(503, "Service Unavailable");
        return http_answer(404, "Not Found");
    });
    TcpServer garbage(false, [](const std::string&) -> std::optional<std::string> { return "garbage\r\n\r\n"; });
    TcpServer mute(false, [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
    TcpServer hangup(false, [](const std::string&) -> std::optional<std::string> { return std::string(); });
    TcpServer no_eol(false, [](const std::string&) -> std::optional<std::string> { return "HTTP/1.0 200 OK"; });
    ASSERT_TRUE(srv.ok() && garbage.ok() && mute.ok() && hangup.ok() && no_eol.ok());

    auto http = [](uint64_t id, const TcpServer& s, const char* path, uint16_t expect = 200) {
        Target t = make(id, s.address(), s.port(), Type::http);
        t.spec.path = path;
        t.spec.expect_status = expect;
        t.spec.fall = 1;
        return t;
    };
    std::vector<Target> ts = {http(1, srv, "/ok"),         http(2, srv, "/fail"),  http(3, srv, "/missing"),
                              http(4, garbage, "/"),       http(5, mute, "/"),     http(6, srv, "/fail", 503),
                              http(7, hangup, "/"),        http(8, no_eol, "/")};
    ts[4].spec.timeout_ms = 300;
    Events ev;
    Checker c(ev.options(), ev.on_change());
    c.set_targets(ts);
    c.start();
    const std::map<uint64_t, std::string> want = {{1, ""},
                                                  {2, "status 503"},
                                                  {3, "status 404"},
                                                  {4, "bad status line"},
                                                  {5, "timeout"},
                                                  {6, ""},
                                                  {7, "connection closed without a response"},
                                                  {8, ""}};  // a status line ended by the close
    for (auto& [id, error] : want) {
        const bool got = wait_until([&, id = id, error = error] {
            auto s = status_of(c, id);
            return s && s->probed && s->last.ok == error.empty() && s->last.error == error;
        });
        auto s = status_of(c, id);
        EXPECT_TRUE(got) << "target " << id << ": ok " << s->last.ok << " error '" << s->last.error << "'";
    }
    EXPECT_TRUE(status_of(c, 1)->up);
    EXPECT_TRUE(status_of(c, 6)->up);
    for (uint64_t id : {2, 3, 4, 5, 7}) EXPECT_FALSE(status_of(c, id)->up) << id;
    EXPECT_GE(c.stats().timeouts, 1u);
    EXPECT_GE(status_of(c, 1)->last.latency_us, 1u);
}

TEST(Checker, HttpSendsPathAndHostHeader) {
    TcpServer srv(false, [](const std::string&) -> std::optional<std::string> { return http_answer(200, "OK"); });
    ASSERT_TRUE(srv.ok());
    Target a = make(1, srv.address(), srv.port(), Type::http);
    a.spec.path = "/check?deep=1";
    a.spec.host = "app.example.test";
    Target b = make(2, srv.address(), srv.port(), Type::http);
    b.spec.path = "/plain";
    Events ev;
    Checker c(ev.options(), ev.on_change());
    c.set_targets({a, b});
    c.start();
    auto has = [&](const std::string& want) {
        for (auto& r : srv.requests())
            if (r == want) return true;
        return false;
    };
    const std::string ra =
        "GET /check?deep=1 HTTP/1.1\r\nHost: app.example.test\r\nConnection: close\r\nUser-Agent: sluice-health/1\r\n\r\n";
    const std::string rb = "GET /plain HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) +
                           "\r\nConnection: close\r\nUser-Agent: sluice-health/1\r\n\r\n";
    EXPECT_TRUE(wait_until([&] { return has(ra) && has(rb); }));
    for (auto& r : srv.requests()) EXPECT_TRUE(r == ra || r == rb) << r;

    TcpServer srv6(true, [](const std::string&) -> std::optional<std::string> { return http_answer(200, "OK"); });
    if (!srv6.ok()) return;
    c.set_targets({make(3, srv6.address(), srv6.port(), Type::http)});
    const std::string r6 = "GET / HTTP/1.1\r\nHost: [::1]:" + std::to_string(srv6.port()) +
                           "\r\nConnection: close\r\nUser-Agent: sluice-health/1\r\n\r\n";
    EXPECT_TRUE(wait_until([&] {
        auto rs = srv6.requests();
        return std::find(rs.begin(), rs.end(), r6) != rs.end();
    }));
}

TEST(Checker, UdpExpectMismatchRefusedAndSilence) {
    UdpServer echo([](const std::string& d) -> std::optional<std::string> { return "PONG " + d; });
    UdpServer silent([](const std::string&) -> std::optional<std::string> { return std::nullopt; });
    ASSERT_TRUE(echo.ok() && silent.ok());
    const uint16_t closed = health::test::closed_udp_port();
    ASSERT_NE(closed, 0);
    auto udp = [](uint64_t id, uint16_t port, const char* send, const char* expect) {
        Target t = make(id, lo4(), port, Type::udp);
        t.spec.send = send;
        t.spec.expect = expect;
        t.spec.fall = 1;
        t.spec.timeout_ms = 300;
        return t;
    };
    Events ev;
    Checker c(ev.options(), ev.on_change());
    c.set_targets({udp(1, echo.port(), "PING", "PONG PI"), udp(2, echo.port(), "PING", "NOPE"),
                   udp(3, echo.port(), "x", ""), udp(4, closed, "PING", ""), udp(5, silent.port(), "PING", "")});
    c.start();
    auto wait_for = [&](uint64_t id, bool ok, const std::string& needle) {
        const bool got = wait_until([&] {
            auto s = status_of(c, id);
            return s && s->probed && s->last.ok == ok && s->last.error.find(needle) != std::string::npos;
        });
        auto s = status_of(c, id);
        EXPECT_TRUE(got) << "target " << id << ": ok " << s->last.ok << " error '" << s->last.error << "'";
    };
    wait_for(1, true, "");
    wait_for(2, false, "unexpected reply");
    wait_for(3, true, "");
    wait_for(4, false, "refused");
    wait_for(5, false, "timeout");
    // Refused is immediate, not a timeout.
    EXPECT_LT(status_of(c, 4)->last.latency_us, 250'000u);
    EXPECT_GE(echo.received(), 3u);
    EXPECT_GE(silent.received(), 1u);
}

TEST(Checker, FirstProbesSpreadOverTheJitter) {
    TcpServer srv;
    ASSERT_TRUE(srv.ok());
    Events ev;
    Checker c(ev.options(7), ev.on_change());
    std::vector<Target> ts;
    for (uint64_t id = 1; id <= 40; ++id) {
        Target t = make(id, srv.address(), srv.port());
        t.spec.interval_ms = 60'000;  // one probe each in this test
        t.spec.jitter_ms = 400;
        ts.push_back(t);
    }
    c.set_targets(ts);
    const auto t0 = Clock::now();
    c.start();
    ASSERT_TRUE(wait_until([&] {
        std::lock_guard lk(ev.mu);
        return ev.starts.size() == 40;
    }));
    std::lock_guard lk(ev.mu);
    Clock::time_point lo = Clock::time_point::max(), hi = Clock::time_point::min();
    for (auto& [id, v] : ev.starts) {
        ASSERT_EQ(v.size(), 1u);
        lo = std::min(lo, v[0]);
        hi = std::max(hi, v[0]);
        // Within [0, jitter] of the targets' arrival (plus slack for a busy machine).
        EXPECT_LE(v[0] - t0, 400ms + 300ms) << id;
    }
    EXPECT_GE(hi - lo, 100ms);  // spread, not all at once (40 uniform draws over 400 ms)
}

TEST(Checker, NoJitterProbesAtOnce) {
    TcpServer srv;
    ASSERT_TRUE(srv.ok());
    Events ev;
    Checker c(ev.options(), ev.on_change());
    std::vector<Target> ts;
    for (uint64_t id = 1; id <= 10; ++id) ts.push_back(make(id, srv.address(), srv.port()));
    const auto t0 = Clock::now();
    c.set_targets(ts);
    c.start();
    ASSERT_TRUE(wait_until([&] {
        std::lock_guard lk(ev.mu);
        return ev.starts.size() == 10;
    }));
    std::lock_guard lk(ev.mu);
    for (auto& [id, v] : ev.starts) EXPECT_LE(v[0] - t0, 300ms) << id;
}

TEST(Checker, IntervalIsRespected) {
    TcpServer srv;
    ASSERT_TRUE(srv.ok());
    Events ev;
    Checker c(ev.options(), ev.on_change());
    Target t = make(1, srv.address(), srv.port());
    t.spec.interval_ms = 100;
    c.set_targets({t});
    c.start();
    ASSERT_TRUE(wait_until([&] { return ev.n_starts(1) >= 3; }));
    const size_t n0 = ev.n_starts(1);
    const auto w0 = Clock::now();
    std::this_thread::sleep_for(1500ms);
    const size_t n1 = ev.n_starts(1);
    const auto w1 = Clock::now();
    const double window_ms = std::chrono::duration<double, std::milli>(w1 - w0).count();
    const double n = double(n1 - n0);
    EXPECT_LE(n, window_ms / 100.0 + 2) << "too many probes";
    EXPECT_GE(n, window_ms / 100.0 / 3) << "too few probes";
    std::lock_guard lk(ev.mu);
    const auto& v = ev.starts[1];
    for (size_t i = 1; i < v.size(); ++i) EXPECT_GE(v[i] - v[i - 1], 25ms) << i;
}

TEST(Checker, NeverTwoProbesOfOneTargetAtOnce) {
    TcpServer mute(false, [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
    ASSERT_TRUE(mute.ok());
    Events ev;
    Checker c(ev.options(), ev.on_change());
    Target t = make(1, mute.address(), mute.port(), Type::http);
    t.spec.interval_ms = 50;
    t.spec.timeout_ms = 200;  // longer than the interval: the next probe must wait
    c.set_targets({t});
    c.start();
    const auto w0 = Clock::now();
    ASSERT_TRUE(wait_until([&] { return ev.n_starts(1) >= 6; }));
    const auto w1 = Clock::now();
    c.stop();
    std::lock_guard lk(ev.mu);
    EXPECT_EQ(ev.max_open_one, 1);
    for (auto& r : ev.results[1]) EXPECT_EQ(r.error, "timeout");
    // Each probe lasts its 200 ms timeout: 6 starts took at least 5 of them.
    EXPECT_GE(w1 - w0, 5 * 200ms - 50ms);
    EXPECT_LE(mute.accepted(), ev.starts[1].size());
}

TEST(Checker, SetTargetsKeepsUnchangedAndResetsChanged) {
    TcpServer srv;
    TcpServer mute(false, [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
    TcpServer mute2(false, [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
    ASSERT_TRUE(srv.ok() && mute.ok() && mute2.ok());
    Events ev;
    Checker c(ev.options(), ev.on_change());
    auto up_target = [&](uint64_t id) {
        Target t = make(id, srv.address(), srv.port());
        t.initially_up = false;
        t.spec.rise = 1;
        return t;
    };
    Target a = up_target(1), b = up_target(2), cc = up_target(3);
    Target e = make(5, mute2.address(), mute2.port(), Type::http);  // removed later with its probe in flight
    e.spec.timeout_ms = 30'000;
    c.set_targets({a, b, cc, e});
    c.start();
    ASSERT_TRUE(wait_until([&] { return ev.n_changes() == 3 && mute2.open_now() == 1; }));
    const uint64_t a_checks = status_of(c, 1)->checks;

    Target b2 = b;
    b2.spec.rise = 4;
    b2.spec.fall = 7;  // thresholds only: kept, set_thresholds
    b2.initially_up = false;  // ignored for a kept target
    Target c2 = make(3, mute.address(), mute.port(), Type::http);  // changed: starts over
    c2.initially_up = false;
    c2.spec.timeout_ms = 30'000;
    c2.spec.interval_ms = 60'000;
    Target d = up_target(4);  // new
    d.spec.jitter_ms = 0;
    c.set_targets({d, c2, b2, a});
    ASSERT_TRUE(wait_until([&] { return status_of(c, 4).has_value(); }));

    auto snap = c.snapshot();
    ASSERT_EQ(snap.size(), 4u);
    EXPECT_EQ(snap[0].id, 4u);  // in the order given
    EXPECT_EQ(snap[1].id, 3u);
    EXPECT_EQ(snap[2].id, 2u);
    EXPECT_EQ(snap[3].id, 1u);
    auto sa = status_of(c, 1), sb = status_of(c, 2), sc = status_of(c, 3);
    EXPECT_TRUE(sa->up);
    EXPECT_GE(sa->checks, a_checks);
    EXPECT_EQ(sa->transitions, 1u);
    EXPECT_TRUE(sb->up);
    EXPECT_EQ(sb->transitions, 1u);
    EXPECT_GE(sb->checks, 1u);
    // c: reset to initially_up = false with no history; its new probe hangs.
    EXPECT_FALSE(sc->up);
    EXPECT_EQ(sc->checks, 0u);
    EXPECT_EQ(sc->transitions, 0u);
    EXPECT_FALSE(sc->probed);
    EXPECT_EQ(c.stats().targets, 4u);
    // e's probe was closed with it.
    EXPECT_TRUE(wait_until([&] { return mute2.open_now() == 0; }));
    ASSERT_TRUE(wait_until([&] { return status_of(c, 4)->up; }));
    // No callback came from set_targets itself: only d's rise.
    ASSERT_TRUE(wait_until([&] { return mute.open_now() == 1; }));
    EXPECT_EQ(ev.n_changes(), 4u);

    // b's new fall (7): the server goes away; b stays up through 6 failures.
    srv.close_listener();
    ASSERT_TRUE(wait_until([&] {
        std::lock_guard lk(ev.mu);
        return std::count_if(ev.changes.begin(), ev.changes.end(), [](auto& x) { return !x.up; }) >= 3;
    }));
    std::lock_guard lk(ev.mu);
    std::map<uint64_t, uint32_t> run;
    for (auto& x : ev.changes)
        if (!x.up) run[x.id] = x.run;
    EXPECT_EQ(run[1], 3u);
    EXPECT_EQ(run[2], 7u);
    EXPECT_EQ(run[4], 3u);
}

TEST(Checker, MaxInFlightQueuesTheRest) {
    TcpServer mute(false, [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
    ASSERT_TRUE(mute.ok());
    Events ev;
    auto opt = ev.options();
    opt.max_in_flight = 3;
    Checker c(opt, ev.on_change());
    std::vector<Target> ts;
    for (uint64_t id = 1; id <= 20; ++id) {
        Target t = make(id, mute.address(), mute.port(), Type::http);
        t.spec.timeout_ms = 200;
        t.spec.interval_ms = 60'000;
        ts.push_back(t);
    }
    c.set_targets(ts);
    c.start();
    ASSERT_TRUE(wait_until([&] {
        auto snap = c.snapshot();
        return snap.size() == 20 && std::all_of(snap.begin(), snap.end(), [](auto& s) { return s.probed; });
    }));
    auto st = c.stats();
    EXPECT_LE(st.peak_in_flight, 3u);
    EXPECT_EQ(st.peak_in_flight, 3u);
    EXPECT_GE(st.delayed, 17u);
    EXPECT_EQ(st.probes, 20u);
    EXPECT_EQ(st.timeouts, 20u);  // waiting for a slot is not a failure: each failed by its own timeout
    std::lock_guard lk(ev.mu);
    EXPECT_LE(ev.max_open_all, 3);
    for (auto& [id, v] : ev.results) {
        ASSERT_EQ(v.size(), 1u);
        EXPECT_EQ(v[0].error, "timeout");
        EXPECT_GE(v[0].latency_us, 150'000u);  // timed from its own start, not from when it was due
    }
}

TEST(Checker, StopJoinsWithProbesInFlightAndStartResumes) {
    TcpServer mute(false, [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
    ASSERT_TRUE(mute.ok());
    Events ev;
    Checker c(ev.options(), ev.on_change());
    std::vector<Target> ts;
    for (uint64_t id = 1; id <= 30; ++id) {
        Target t = make(id, mute.address(), mute.port(), Type::http);
        t.spec.timeout_ms = 60'000;
        t.spec.interval_ms = 120'000;
        ts.push_back(t);
    }
    c.set_targets(ts);
    c.start();
    ASSERT_TRUE(wait_until([&] { return c.stats().in_flight == 30 && mute.open_now() == 30; }));
    const auto t0 = Clock::now();
    c.stop();
    EXPECT_LT(Clock::now() - t0, 5s);
    EXPECT_EQ(c.stats().in_flight, 0u);
    EXPECT_EQ(c.stats().probes, 0u);  // dropped, not counted as outcomes
    EXPECT_TRUE(wait_until([&] { return mute.open_now() == 0; }));  // sockets closed
    c.stop();  // twice: harmless
    c.start();
    EXPECT_TRUE(wait_until([&] { return c.stats().in_flight == 30; }));
}

TEST(Checker, ThousandTargetsOnOneListenerAllGoUp) {
    TcpServer srv;
    ASSERT_TRUE(srv.ok());
    Events ev;
    Checker c(ev.options(), ev.on_change());
    std::vector<Target> ts;
    for (uint64_t id = 1; id <= 1000; ++id) {
        Target t = make(id, srv.address(), srv.port());
        t.initially_up = false;
        t.spec.rise = 1;
        t.spec.interval_ms = 1000;
        t.spec.timeout_ms = 900;
        t.spec.jitter_ms = 500;
        ts.push_back(t);
    }
    c.set_targets(ts);
    c.start();
    EXPECT_TRUE(wait_until(
        [&] {
            auto snap = c.snapshot();
            return std::count_if(snap.begin(), snap.end(), [](auto& s) { return s.up; }) == 1000;
        },
        60s));
    EXPECT_EQ(ev.n_changes(), 1000u);
    EXPECT_EQ(c.stats().socket_errors, 0u);
}

TEST(Checker, CallbackMayThrowOrStopTheChecker) {
    TcpServer srv;
    ASSERT_TRUE(srv.ok());
    std::atomic<int> calls{0};
    Checker::Options opt;
    opt.seed = 1;
    Checker* self = nullptr;
    Checker c(opt, [&](uint64_t id, bool, const ProbeResult&) {
        ++calls;
        if (id == 1) throw std::runtime_error("callback failed");
        self->stop();  // from the checker's thread: must not deadlock
    });
    self = &c;
    Target a = make(1, srv.address(), srv.port());
    a.initially_up = false;
    a.spec.rise = 1;
    c.set_targets({a});
    c.start();
    ASSERT_TRUE(wait_until([&] { return calls.load() == 1; }));
    // The throw was swallowed: the checker goes on probing.
    const uint64_t p = c.stats().probes;
    ASSERT_TRUE(wait_until([&] { return c.stats().probes >= p + 3; }));
    Target b = make(2, srv.address(), srv.port());
    b.initially_up = false;
    b.spec.rise = 1;
    c.set_targets({a, b});
    ASSERT_TRUE(wait_until([&] { return calls.load() == 2; }));
    // b's callback stopped the loop: probes stop coming.
    std::this_thread::sleep_for(300ms);
    const uint64_t q = c.stats().probes;
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(c.stats().probes, q);
    c.stop();  // joins the finished loop
}
