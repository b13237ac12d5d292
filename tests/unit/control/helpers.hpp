// Shared by the control process's unit tests: a config in YAML (two ports,
// two routes, a static neighbor, a health-checked VIP `web` and a VIP `dns`
// without health) and small helpers.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "config/load.hpp"
#include "control/api/message.hpp"

namespace sluice::control::test {

inline net::IpAddr ip(const char* s) { return *net::parse_ip(s); }
inline net::Prefix pfx(const char* s) { return *net::parse_prefix(s); }

inline std::string test_yaml(const std::string& dp_socket, const std::string& cli_socket,
                             const std::string& web_backends =
                                 "      - address: 198.18.2.10\n"
                                 "      - address: 198.18.2.11\n"
                                 "        weight: 2\n"
                                 "      - address: 198.18.2.12\n"
                                 "        state: drain\n",
                             const std::string& extra_routes = "") {
    return "ports:\n"
           "  - name: p0\n"
           "    device: net_tap0\n"
           "    addresses: [198.18.1.1/24, 2001:db8:1::1/64]\n"
           "  - name: p1\n"
           "    device: net_tap1\n"
           "    addresses: [198.18.2.1/24, 2001:db8:2::1/64]\n"
           "routes:\n"
           "  - prefix: 198.19.0.0/16\n"
           "    via: 198.18.2.2\n"
           "  - prefix: 2001:db8:100::/48\n"
           "    via: 2001:db8:2::2\n" +
           extra_routes +
           "neighbors:\n"
           "  - { address: 198.18.2.2, mac: \"02:00:00:00:02:02\", port: p1 }\n"
           "control:\n"
           "  socket: " +
           dp_socket +
           "\n"
           "  cli_socket: " +
           cli_socket +
           "\n"
           "  metrics: \"\"\n"
           "vips:\n"
           "  - name: web\n"
           "    address: 198.18.100.1\n"
           "    port: 80\n"
           "    health:\n"
           "      type: tcp\n"
           "      interval_ms: 50\n"
           "      timeout_ms: 40\n"
           "      rise: 2\n"
           "      fall: 2\n"
           "    backends:\n" +
           web_backends +
           "  - name: dns\n"
           "    address: 198.18.100.2\n"
           "    protocol: udp\n"
           "    port: 53\n"
           "    backends:\n"
           "      - address: 198.18.2.20\n";
}

inline config::Config parse_or_die(const std::string& yaml) {
    auto r = config::parse_config(yaml, "test.yaml");
    if (!r.ok()) {
        ADD_FAILURE() << "test config does not load:\n" << r.error_text();
        return config::Config{};
    }
    return r.config();
}

inline void write_file(const std::string& path, const std::string& text) {
    std::ofstream o(path, std::ios::trunc);
    o << text;
}

// Polls `cond` every 10 ms for up to `ms`.
inline bool eventually(const std::function<bool()>& cond, int ms = 5000) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < end) {
        if (cond()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return cond();
}

// The backend of a VIP (as JSON) with this address; null when absent.
inline channel::Json backend_of(const channel::Json& vip, const std::string& address) {
    if (!vip.is_object() || !vip.contains("backends")) return nullptr;
    for (const auto& b : vip["backends"])
        if (b.value("address", "") == address) return b;
    return nullptr;
}

}  // namespace sluice::control::test
