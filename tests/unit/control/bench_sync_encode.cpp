// Full-sync encode time for N routes (default 1,000,000): serial and on a
// TBB arena of the given cores. Prints one JSON line per run.
//   bench_sync_encode [routes] [cores, e.g. 0,1]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "control/daemon/cores.hpp"
#include "control/daemon/sync_parts.hpp"

using namespace sluice;
using namespace sluice::control;

int main(int argc, char** argv) {
    const size_t n = argc > 1 ? size_t(std::strtoull(argv[1], nullptr, 10)) : 1000000;
    std::vector<uint32_t> cores;
    if (argc > 2) {
        std::string s = argv[2];
        size_t pos = 0;
        while (pos < s.size()) {
            size_t comma = s.find(',', pos);
            if (comma == std::string::npos) comma = s.size();
            cores.push_back(uint32_t(std::stoul(s.substr(pos, comma - pos))));
            pos = comma + 1;
        }
    }
    auto routes = std::make_shared<std::vector<config::Route>>();
    routes->reserve(n);
    const auto gw = *net::parse_ip("198.18.2.2");
    for (size_t i = 0; i < n; ++i) {
        config::Route r;
        r.prefix = net::Prefix{net::IpAddr::from_v4_host(uint32_t((1u << 24) + (i << 8))), 24};
        r.nexthops.push_back(config::NextHop{gw, "p1"});
        routes->push_back(std::move(r));
    }
    SyncSnapshot s;
    s.base_routes = routes;
    SyncLimits lim;
    ControlArena arena(cores);
    RouteCache cache;
    for (int run = 0; run < 3; ++run) {
        for (bool parallel : {false, true}) {
            const auto t0 = std::chrono::steady_clock::now();
            SyncParts p = encode_sync(s, lim, parallel ? &arena : nullptr);
            const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            size_t bytes = 0;
            for (const auto& a : p.args) bytes += a.size();
            std::printf(
                "{\"routes\": %zu, \"mode\": \"%s\", \"threads\": %d, \"ms\": %.1f, \"parts\": %zu, \"bytes\": %zu}\n",
                p.routes, parallel ? "tbb" : "serial", parallel ? arena.concurrency() : 1, ms, p.args.size(), bytes);
        }
        const auto t0 = std::chrono::steady_clock::now();
        SyncParts p = encode_sync(s, lim, &arena, &cache);  // the first fills the cache, the next reuse it
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        std::printf("{\"routes\": %zu, \"mode\": \"cache\", \"ms\": %.1f, \"parts\": %zu}\n", p.routes, ms,
                    p.args.size());
    }
    return 0;
}
