// Shared by the config unit tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/load.hpp"

namespace sluice::config::cfgtest {

inline LoadResult load(std::string_view yaml) { return parse_config(yaml, "test.yaml"); }

// Values from text the test knows to be valid.
inline IpAddr ip(std::string_view s) { return parse_ip(s).value(); }
inline Prefix pfx(std::string_view s) { return parse_prefix(s).value(); }
inline MacAddr mac(std::string_view s) { return parse_mac(s).value(); }

// Two ports; text appended with with_ports() starts on line 8.
inline constexpr std::string_view kTwoPorts =
    "ports:\n"                                            // 1
    "  - name: p0\n"                                      // 2
    "    device: net_tap0\n"                              // 3
    "    addresses: [198.18.1.1/24, 2001:db8:1::1/64]\n"  // 4
    "  - name: p1\n"                                      // 5
    "    device: net_tap1\n"                              // 6
    "    addresses: [198.18.2.1/24, 2001:db8:2::1/64]\n"; // 7
inline constexpr int kFirstFreeLine = 8;

inline std::string with_ports(std::string_view rest) { return std::string(kTwoPorts) + std::string(rest); }

inline ::testing::AssertionResult Loads(const LoadResult& r) {
    if (r.ok()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "expected the config to load, got:\n" << r.error_text();
}

// One of errs (validate()'s, or a failed load's) is on `field` at `line`
// (0 = any line) with `text` in its message.
inline ::testing::AssertionResult HasError(const std::vector<ConfigError>& errs, std::string_view field, int line,
                                           std::string_view text = "") {
    std::string all;
    for (const auto& e : errs) {
        if (e.field == field && (line == 0 || e.line == line) && e.message.find(text) != std::string::npos)
            return ::testing::AssertionSuccess();
        all += (all.empty() ? "" : "\n") + e.to_string();
    }
    return ::testing::AssertionFailure() << "no error on " << field << " at line " << line << " containing \""
                                         << text << "\"; errors were:\n"
                                         << all;
}

// r failed, and one of its errors is on `field` at `line` (0 = any line)
// with `text` in its message.
inline ::testing::AssertionResult HasError(const LoadResult& r, std::string_view field, int line,
                                           std::string_view text = "") {
    if (r.ok()) return ::testing::AssertionFailure() << "expected errors, but the config loaded";
    return HasError(r.errors(), field, line, text);
}

// As HasError, and it is the only error.
inline ::testing::AssertionResult OnlyError(const LoadResult& r, std::string_view field, int line,
                                            std::string_view text = "") {
    auto res = HasError(r, field, line, text);
    if (!res) return res;
    if (r.errors().size() != 1)
        return ::testing::AssertionFailure() << "expected exactly one error, got " << r.errors().size() << ":\n"
                                             << r.error_text();
    return ::testing::AssertionSuccess();
}

}  // namespace sluice::config::cfgtest
