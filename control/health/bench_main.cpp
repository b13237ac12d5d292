// health-bench: runs the health checker against N addresses for a fixed
// time and reports, as one JSON object on stdout, the probes done, the
// failures, the CPU time of the checker's thread and the probe latencies.
// tests/perf/health_bench.py runs it inside a network namespace where
// 198.18.0.0/16 is local and health-responder answers on every address.
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "control/health/checker.hpp"

using namespace sluice;

namespace {

struct ThreadCpu {
    double user_s = 0, sys_s = 0, run_s = 0;  // stat utime/stime (clock ticks), schedstat (ns)
    double wait_s = 0;                        // schedstat: runnable but waiting for a CPU
};

ThreadCpu thread_cpu(long tid) {
    ThreadCpu c;
    const std::string dir = "/proc/self/task/" + std::to_string(tid);
    std::ifstream stat(dir + "/stat");
    std::string line;
    std::getline(stat, line);
    // Fields after the ")" of the command name: state is field 3; utime and
    // stime are fields 14 and 15 (proc(5)).
    const auto close = line.rfind(')');
    if (close != std::string::npos) {
        std::istringstream in(line.substr(close + 2));
        std::string f;
        std::vector<std::string> fields;
        while (in >> f) fields.push_back(f);
        const double hz = double(sysconf(_SC_CLK_TCK));
        if (fields.size() > 12) {
            c.user_s = std::stod(fields[11]) / hz;
            c.sys_s = std::stod(fields[12]) / hz;
        }
    }
    std::ifstream sched(dir + "/schedstat");
    unsigned long long run_ns = 0, wait_ns = 0;
    if (sched >> run_ns >> wait_ns) {
        c.run_s = double(run_ns) / 1e9;
        c.wait_s = double(wait_ns) / 1e9;
    }
    return c;
}

double pct(std::vector<uint32_t>& v, double p) {
    if (v.empty()) return 0;
    const size_t k = std::min(v.size() - 1, size_t(p / 100.0 * double(v.size())));
    std::nth_element(v.begin(), v.begin() + long(k), v.end());
    return v[k];
}

}  // namespace

int main(int argc, char** argv) {
    std::string type = "tcp", base = "198.18.0.1", path = "/health";
    uint32_t targets = 1000, interval_ms = 1000, timeout_ms = 500, duration_s = 20, port = 8080;
    int cpu = -1;
    uint32_t max_in_flight = 16384;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--type") type = v;
        else if (k == "--targets") targets = uint32_t(std::stoul(v));
        else if (k == "--interval-ms") interval_ms = uint32_t(std::stoul(v));
        else if (k == "--timeout-ms") timeout_ms = uint32_t(std::stoul(v));
        else if (k == "--duration-s") duration_s = uint32_t(std::stoul(v));
        else if (k == "--port") port = uint32_t(std::stoul(v));
        else if (k == "--base") base = v;
        else if (k == "--path") path = v;
        else if (k == "--cpu") cpu = std::stoi(v);
        else if (k == "--max-in-flight") max_in_flight = uint32_t(std::stoul(v));
        else {
            std::fprintf(stderr, "health-bench: unknown option %s\n", k.c_str());
            return 2;
        }
    }
    auto first = net::parse_ip(base);
    if (!first || !first->is_v4() || (type != "tcp" && type != "http")) {
        std::fprintf(stderr, "health-bench: --base must be IPv4, --type tcp|http\n");
        return 2;
    }

    std::atomic<long> tid{0};
    std::atomic<bool> measuring{false};
    std::vector<uint32_t> lat;
    lat.reserve(size_t(targets) * (duration_s + 2) * 1000 / std::max<uint32_t>(interval_ms, 1) + 1024);
    std::atomic<uint64_t> changes{0};

    health::Checker::Options opt;
    if (cpu >= 0) opt.cpus = {uint32_t(cpu)};
    opt.max_in_flight = max_in_flight;
    opt.seed = 1;
    opt.on_probe_start = [&](uint64_t) {
        if (!tid.load(std::memory_order_relaxed)) tid.store(long(syscall(SYS_gettid)));
    };
    opt.on_probe_done = [&](uint64_t, const health::ProbeResult& r) {
        if (measuring.load(std::memory_order_relaxed)) lat.push_back(r.latency_us);
    };
    health::Checker checker(opt, [&](uint64_t, bool, const health::ProbeResult&) { ++changes; });

    std::vector<health::Target> ts;
    ts.reserve(targets);
    for (uint32_t i = 0; i < targets; ++i) {
        health::Target t;
        t.id = i + 1;
        t.address = net::IpAddr::from_v4_host(first->v4_host() + i);
        t.port = uint16_t(port);
        t.spec.type = type == "http" ? config::HealthCheckConfig::Type::http : config::HealthCheckConfig::Type::tcp;
        t.spec.interval_ms = interval_ms;
        t.spec.timeout_ms = timeout_ms;
        t.spec.jitter_ms = interval_ms;  // spread evenly over one interval
        t.spec.path = path;
        t.initially_up = false;
        ts.push_back(std::move(t));
    }
    checker.set_targets(std::move(ts));
    checker.start();

    // Warm up: the jitter spreads first probes over one interval; one more
    // interval reaches the steady state.
    std::this_thread::sleep_for(std::chrono::milliseconds(2 * interval_ms + 500));
    while (!tid.load()) std::this_thread::sleep_for(std::chrono::milliseconds(10));

    const auto s0 = checker.stats();
    const ThreadCpu c0 = thread_cpu(tid.load());
    const auto t0 = std::chrono::steady_clock::now();
    measuring.store(true);
    std::this_thread::sleep_for(std::chrono::seconds(duration_s));
    measuring.store(false);
    const auto t1 = std::chrono::steady_clock::now();
    const ThreadCpu c1 = thread_cpu(tid.load());
    const auto s1 = checker.stats();
    const auto snap = checker.snapshot();
    checker.stop();

    const double wall = std::chrono::duration<double>(t1 - t0).count();
    const double cpu_s = c1.run_s > 0 ? c1.run_s - c0.run_s : (c1.user_s + c1.sys_s) - (c0.user_s + c0.sys_s);
    size_t up = 0;
    for (auto& s : snap) up += s.up;
    const uint64_t probes = s1.probes - s0.probes;
    std::printf(
        "{\"type\": \"%s\", \"targets\": %u, \"interval_ms\": %u, \"timeout_ms\": %u, \"window_s\": %.3f, "
        "\"probes\": %llu, \"probes_per_s\": %.1f, \"failures\": %llu, \"timeouts\": %llu, \"socket_errors\": %llu, "
        "\"delayed\": %llu, \"peak_in_flight\": %u, \"up_at_end\": %zu, \"state_changes\": %llu, "
        "\"cpu_s\": %.3f, \"cpu_user_s\": %.2f, \"cpu_sys_s\": %.2f, \"cpu_pct_one_core\": %.2f, "
        "\"cpu_us_per_probe\": %.2f, \"latency_us_p50\": %.0f, \"latency_us_p99\": %.0f, \"cpu\": %d, "
        "\"runq_wait_s\": %.3f}\n",
        type.c_str(), targets, interval_ms, timeout_ms, wall, (unsigned long long)probes, double(probes) / wall,
        (unsigned long long)(s1.failures - s0.failures), (unsigned long long)(s1.timeouts - s0.timeouts),
        (unsigned long long)(s1.socket_errors - s0.socket_errors), (unsigned long long)(s1.delayed - s0.delayed),
        s1.peak_in_flight, up, (unsigned long long)changes.load(), cpu_s, c1.user_s - c0.user_s,
        c1.sys_s - c0.sys_s, 100.0 * cpu_s / wall, probes ? cpu_s * 1e6 / double(probes) : 0.0, pct(lat, 50),
        pct(lat, 99), cpu, c1.wait_s - c0.wait_s);
    return 0;
}
