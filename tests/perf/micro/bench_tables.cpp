// Table layer timings on a large table: a full load from the config file to
// the published tables, then batches of 1, 1 000 and 100 000 route changes
// applied incrementally, and optionally a reload of a second config file
// (the same table with some routes changed) through the real reload path
// (read, validate, diff, apply). Reports each step's time to publication
// (when workers see it), time to done (the spare FIB copies caught up) and
// the peak resident memory during the step (VmHWM, reset before each step).
//
//   build/tests/perf/bench_tables --config big.yaml [--reload-config big2.yaml]
//       [--changes 1,1000,100000] [--seed N]
// Tables come from tests/perf/route_table.py (net_null benchmark configs
// only: nothing is sent). Prints one JSON object.
#include <rte_eal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "config/load.hpp"
#include "dataplane/reload/config_diff.hpp"
#include "dataplane/reload/reloader.hpp"
#include "tests/unit/dataplane/tables_env.hpp"

namespace {

using namespace sluice;
using Clock = std::chrono::steady_clock;

double ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

// Peak RSS since the last reset, in MiB (Linux: /proc/self/status VmHWM;
// writing 5 to clear_refs resets it).
void reset_peak() {
    std::ofstream f("/proc/self/clear_refs");
    f << "5";
}
double proc_mib(const char* field) {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(field, 0) == 0) return std::stod(line.substr(std::strlen(field))) / 1024.0;
    return 0;
}

std::vector<std::string> split(const std::string& s, char c) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string x;
    while (std::getline(ss, x, c))
        if (!x.empty()) out.push_back(x);
    return out;
}

struct Step {
    std::string name;
    double read_ms = 0, diff_ms = 0, visible_ms = 0, done_ms = 0, peak_mib = 0;
    uint32_t changes = 0, fib_ops = 0;
    bool rebuilt = false;

    // After apply: the batch's own times come on top of reading and diffing;
    // `done` adds the spare FIB copies' catch-up (the builder's thread does
    // that when idle, after the reply).
    void finish(const api::BatchResult& r, size_t n_changes, dp::TableBuilder& b) {
        visible_ms = read_ms + diff_ms + double(r.visible_ns) / 1e6;
        auto t = Clock::now();
        b.catch_up();
        done_ms = visible_ms + ms(t, Clock::now());
        changes = uint32_t(n_changes);
        fib_ops = r.fib_ops;
        rebuilt = r.rebuilt;
        peak_mib = proc_mib("VmHWM:");
    }
};

std::string json(const std::vector<Step>& steps, const std::string& cfg, size_t routes) {
    std::string o = "{\"config\": \"" + cfg + "\", \"routes\": " + std::to_string(routes) + ", \"steps\": [";
    for (size_t i = 0; i < steps.size(); ++i) {
        const Step& s = steps[i];
        char buf[512];
        std::snprintf(buf, sizeof buf,
                      "%s{\"name\": \"%s\", \"changes\": %u, \"read_ms\": %.3f, \"diff_ms\": %.3f, "
                      "\"visible_ms\": %.3f, \"done_ms\": %.3f, \"fib_ops\": %u, \"rebuilt\": %s, "
                      "\"peak_rss_mib\": %.0f}",
                      i ? ", " : "", s.name.c_str(), s.changes, s.read_ms, s.diff_ms, s.visible_ms, s.done_ms,
                      s.fib_ops, s.rebuilt ? "true" : "false", s.peak_mib);
        o += buf;
    }
    return o + "]}";
}

}  // namespace

int main(int argc, char** argv) {
    std::string cfg_path, reload_path, changes_arg = "1,1000,100000";
    uint64_t seed = 1;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--config") cfg_path = next();
        else if (a == "--reload-config") reload_path = next();
        else if (a == "--changes") changes_arg = next();
        else if (a == "--seed") seed = std::stoull(next());
        else {
            std::fprintf(stderr, "usage: bench_tables --config FILE [--reload-config FILE] [--changes 1,1000] [--seed N]\n");
            return 2;
        }
    }
    if (cfg_path.empty()) {
        std::fprintf(stderr, "bench_tables: --config FILE is required\n");
        return 2;
    }
    std::vector<std::string> eal_args = {"bench_tables", "-l", "0", "--no-huge", "-m", "12288", "--no-pci",
                                         "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"};
    std::vector<char*> eal;
    for (auto& s : eal_args) eal.push_back(s.data());
    if (rte_eal_init(int(eal.size()), eal.data()) < 0) {
        std::fprintf(stderr, "bench_tables: rte_eal_init failed\n");
        return 1;
    }
    std::vector<Step> steps;
    size_t n_routes = 0;
    {
        // Full load: file -> published tables.
        Step full{"full load"};
        reset_peak();
        auto t0 = Clock::now();
        auto loaded = config::load_config_file(cfg_path);
        auto t1 = Clock::now();
        if (!loaded.ok()) {
            std::fprintf(stderr, "%s\n", loaded.error_text().c_str());
            return 1;
        }
        const config::Config& cfg = loaded.config();
        n_routes = cfg.routes.size();
        std::vector<net::PortSpec> specs(cfg.ports.begin(), cfg.ports.end());
        test::TablesEnv env(specs, cfg.neighbor.capacity);
        auto t2 = Clock::now();
        api::Batch batch = dp::diff_config(cfg, *env.builder);
        auto t3 = Clock::now();
        auto r = env.builder->apply(batch);
        if (!r.applied) {
            std::fprintf(stderr, "load failed: %s\n", r.errors.empty() ? "?" : r.errors[0].message.c_str());
            return 1;
        }
        full.read_ms = ms(t0, t1);
        full.diff_ms = ms(t2, t3);
        full.finish(r, batch.routes.size(), *env.builder);
        steps.push_back(full);

        // A reload of another file through the real path, and back (before
        // the batches, so its diff is the files' difference alone).
        if (!reload_path.empty()) {
            for (const std::string& path : {reload_path, cfg_path}) {
                dp::ConfigReloader rl(path, dp::FixedAtStart::of(cfg));
                Step s{"reload " + path};
                reset_peak();
                auto a = Clock::now();
                auto nl = config::load_config_file(path);
                auto b2 = Clock::now();
                if (!nl.ok()) {
                    std::fprintf(stderr, "%s\n", nl.error_text().c_str());
                    return 1;
                }
                api::Batch d = dp::diff_config(nl.config(), *env.builder);
                auto c = Clock::now();
                auto res = env.builder->apply(d);
                if (!res.applied) {
                    std::fprintf(stderr, "reload failed: %s\n", res.errors.empty() ? "?" : res.errors[0].message.c_str());
                    return 1;
                }
                s.read_ms = ms(a, b2);
                s.diff_ms = ms(b2, c);
                s.finish(res, d.routes.size(), *env.builder);
                steps.push_back(s);
            }
        }
        // Incremental batches: k routes moved to another next hop of their
        // family (the config's other gateways, in turn).
        std::map<bool, std::vector<std::vector<api::Nexthop>>> sets;
        for (const auto& rt : cfg.routes) {
            std::vector<api::Nexthop> hops;
            for (const auto& h : rt.nexthops) hops.push_back({h.via, h.port});
            auto& v = sets[rt.prefix.addr.is_v6()];
            if (std::find(v.begin(), v.end(), hops) == v.end() && v.size() < 8) v.push_back(hops);
        }
        std::mt19937_64 rng(seed);
        for (const auto& k_text : split(changes_arg, ',')) {
            uint32_t k = uint32_t(std::stoul(k_text));
            Step s{"change " + k_text};
            api::Batch b;
            for (bool v6 : {false, true})
                for (const auto& h : sets[v6]) b.nexthop_sets.push_back(h);
            size_t n4 = sets[false].size();
            std::vector<uint32_t> pick(k);
            for (auto& p : pick) p = uint32_t(rng() % cfg.routes.size());
            std::sort(pick.begin(), pick.end());
            pick.erase(std::unique(pick.begin(), pick.end()), pick.end());
            for (uint32_t i : pick) {
                const auto& rt = cfg.routes[i];
                bool v6 = rt.prefix.addr.is_v6();
                size_t n = sets[v6].size();
                if (n < 2) continue;
                uint32_t idx = uint32_t((v6 ? n4 : 0) + (rng() % n));
                b.routes.push_back({api::RouteUpdate::Op::set, rt.prefix, idx});
            }
            reset_peak();
            auto res = env.builder->apply(b);
            if (!res.applied) {
                std::fprintf(stderr, "change failed: %s\n", res.errors.empty() ? "?" : res.errors[0].message.c_str());
                return 1;
            }
            s.finish(res, b.routes.size(), *env.builder);
            steps.push_back(s);
        }

    }
    std::printf("%s\n", json(steps, cfg_path, n_routes).c_str());
    rte_eal_cleanup();
    return 0;
}
