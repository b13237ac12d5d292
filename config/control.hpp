// The `control:` section's value syntaxes (docs/config.md, "control") and
// the limits of `control:` and `vips[].health`, shared by the parser, the
// validator and the processes that use the values (the control process
// parses `metrics` and `cores` with the same functions, so what validated is
// what runs).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"
#include "config/rules.hpp"

namespace sluice::config {

struct HostPort {
    IpAddr address;
    uint16_t port = 0;
};

// "127.0.0.1:9642" or "[::1]:9642"; port 1..65535, no leading zeros.
std::optional<HostPort> parse_host_port(std::string_view text);

// 127.0.0.0/8 or ::1.
bool is_loopback(const IpAddr& a);

// "0-1,3" -> {0, 1, 3} (order kept, duplicates kept: validation reports
// them). False and *why when the text is not such a list.
bool parse_cpu_list(std::string_view text, std::vector<uint32_t>* out, std::string* why);

namespace rules {

inline constexpr uint32_t kMaxCpu = 1023;  // CPU_SETSIZE - 1
inline constexpr Range kCpu{0, kMaxCpu, false, "a CPU number 0..1023"};
inline constexpr Range kMaxMessage{4096, 256u << 20, false, "a whole number of bytes 4096..268435456 (4 KiB..256 MiB)"};
inline constexpr size_t kMaxSocketPath = 107;  // sizeof(sockaddr_un::sun_path) - 1

inline constexpr Range kHealthPort{0, 65535, false, "a whole number 0..65535 (0: the backend's or the VIP's port)"};
inline constexpr Range kIntervalMs{10, kU32, false, "a whole number of milliseconds >= 10"};
inline constexpr Range kHealthTimeoutMs{1, kU32, false, "a whole number of milliseconds >= 1"};
inline constexpr Range kRiseFall{1, 100, false, "a whole number 1..100"};
inline constexpr Range kJitterMs{0, 60000, false, "a whole number of milliseconds 0..60000"};
inline constexpr Range kExpectStatus{100, 599, false, "an HTTP status code 100..599"};

// The `control:` section and every VIP's `health:` (validate_control.cpp),
// appended to errs; run by validate() after the load balancer's checks.
void validate_control(const Config& cfg, std::vector<ConfigError>& errs);

}  // namespace rules

}  // namespace sluice::config
