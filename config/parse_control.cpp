// The control side's sections of the YAML: `control:` (how the data plane,
// the control process and the CLI meet) and each VIP's `health:` (read by
// the control process; docs/config.md, "control" and "vips[].health").
// Typing only, plus the rule that needs to know which keys were written (a
// probe field of another type); ranges and the rules across fields are in
// validate_control.cpp, so a Config built in code is checked the same way.
#include <string>
#include <vector>

#include "config/control.hpp"
#include "config/parser.hpp"

namespace sluice::config {

namespace {

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A decimal number without sign or leading zero, at most `max`.
bool plain_number(std::string_view s, uint64_t max, uint64_t* out) {
    if (!all_digits(s) || (s.size() > 1 && s[0] == '0') || s.size() > 10) return false;
    uint64_t v = 0;
    for (char c : s) v = v * 10 + uint64_t(c - '0');
    if (v > max) return false;
    *out = v;
    return true;
}

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view text) {
    std::string_view host, port;
    if (!text.empty() && text[0] == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        auto a = parse_ip(host);
        if (!a || !a->is_v6()) return std::nullopt;  // [198.18.0.1]:80 is not a form anyone writes
    } else {
        size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        // An IPv6 address needs brackets: "::1:80" is ambiguous.
        if (host.find(':') != std::string_view::npos) return std::nullopt;
    }
    auto a = parse_ip(host);
    uint64_t p = 0;
    if (!a || !plain_number(port, 65535, &p) || p == 0) return std::nullopt;
    return HostPort{*a, uint16_t(p)};
}

bool is_loopback(const IpAddr& a) {
    if (a.is_v4()) return a.bytes[0] == 127;
    for (size_t i = 0; i < 15; ++i)
        if (a.bytes[i] != 0) return false;
    return a.bytes[15] == 1;
}

bool parse_cpu_list(std::string_view text, std::vector<uint32_t>* out, std::string* why) {
    std::vector<uint32_t> cpus;
    if (text.empty()) {
        *why = "empty";
        return false;
    }
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t comma = text.find(',', pos);
        if (comma == std::string_view::npos) comma = text.size();
        std::string_view item = text.substr(pos, comma - pos);
        pos = comma + 1;
        if (item.empty()) {
            *why = "an empty item between commas";
            return false;
        }
        size_t dash = item.find('-');
        uint64_t lo = 0, hi = 0;
        // Numbers above kMaxCpu parse here (up to kMaxCpu + 1 wide ranges
        // are refused below) so that validation names the bad CPU.
        if (dash == std::string_view::npos) {
            if (!plain_number(item, UINT32_MAX, &lo)) {
                *why = std::string("\"") + std::string(item) + "\" is not a CPU number";
                return false;
            }
            hi = lo;
        } else {
            std::string_view a = item.substr(0, dash), b = item.substr(dash + 1);
            if (!plain_number(a, UINT32_MAX, &lo) || !plain_number(b, UINT32_MAX, &hi)) {
                *why = std::string("\"") + std::string(item) + "\" is not a range like 0-3";
                return false;
            }
            if (lo > hi) {
                *why = std::string("range \"") + std::string(item) + "\" runs backwards";
                return false;
            }
            if (hi > rules::kMaxCpu) {
                *why = std::string("range \"") + std::string(item) + "\" goes above CPU " +
                       std::to_string(rules::kMaxCpu);
                return false;
            }
        }
        for (uint64_t c = lo; c <= hi; ++c) cpus.push_back(uint32_t(c));
        if (comma == text.size()) break;
    }
    *out = std::move(cpus);
    return true;
}

namespace detail {

void Parser::control(const YAML::Node& n, const std::string& path) {
    ControlConfig& c = cfg_.control;
    c.mark = mark_of(n);
    auto path_field = [this](std::string& out) {
        return [this, dst = &out](const YAML::Node& v, const std::string& p) {
            text(v, p, "an absolute path like /run/sluice/dataplane.sock", dst);
        };
    };
    fields(n, path,
           {
               {"socket", path_field(c.socket)},
               {"cli_socket", path_field(c.cli_socket)},
               {"group", [&](const YAML::Node& v, const std::string& p) { text(v, p, "a group name", &c.group); }},
               {"metrics",
                [&](const YAML::Node& v, const std::string& p) {
                    text(v, p, "\"IP:port\" like 127.0.0.1:9642, or \"\" to turn the endpoint off", &c.metrics);
                }},
               {"cores", [&](const YAML::Node& v, const std::string& p) { cores(v, p, c.cores); }},
               {"max_message",
                [&](const YAML::Node& v, const std::string& p) { number(v, p, rules::kMaxMessage, c.max_message); }},
           },
           "a map with socket, cli_socket, group, metrics, cores, max_message");
}

// A list of CPU numbers, or one string in the kernel's cpulist syntax. The
// string form records every CPU's model path at the string, so that
// validate()'s "control.cores[3]" comes back as written.
void Parser::cores(const YAML::Node& v, const std::string& path, std::vector<uint32_t>& out) {
    static const std::string expect = "a list of CPU numbers like [0, 1, 3] or a CPU list like \"0-1,3\"";
    if (v.IsSequence()) {
        list(v, path, "", [&](const YAML::Node& item, const std::string& ip, size_t) {
            uint32_t cpu = 0;
            size_t before = errs_.size();
            number(item, ip, rules::kCpu, cpu);
            if (errs_.size() == before) out.push_back(cpu);
        });
        return;
    }
    std::string s;
    if (!text(v, path, expect, &s)) return;
    std::string why;
    std::vector<uint32_t> cpus;
    if (!parse_cpu_list(s, &cpus, &why)) {
        error(v, path, "expected " + expect + ", got " + quote(s) + " (" + why + ")");
        return;
    }
    for (size_t i = 0; i < cpus.size(); ++i) record(item_path(path, i), path, value_mark_);
    out = std::move(cpus);
}

void Parser::health(const YAML::Node& n, const std::string& path, VipConfig& vip) {
    HealthCheckConfig h;
    h.mark = mark_of(n);
    // Where each probe-specific key was written, for "only for type ...".
    std::map<std::string, SourceMark> written;
    auto u32 = [this](const rules::Range& r, uint32_t& out) {
        return [this, r, dst = &out](const YAML::Node& v, const std::string& p) { number(v, p, r, *dst); };
    };
    auto probe_text = [&](const char* key, std::string& out, const char* expect) {
        return [this, key, dst = &out, expect, &written](const YAML::Node& v, const std::string& p) {
            written[key] = value_mark_;
            text(v, p, expect, dst);
        };
    };
    bool type_ok = false;
    auto seen = fields(
        n, path,
        {
            {"type",
             [&](const YAML::Node& v, const std::string& p) {
                 type_ok = choice(v, p,
                                  {{"tcp", HealthCheckConfig::Type::tcp},
                                   {"http", HealthCheckConfig::Type::http},
                                   {"udp", HealthCheckConfig::Type::udp}},
                                  h.type);
             }},
            {"port", [&](const YAML::Node& v, const std::string& p) { number(v, p, rules::kHealthPort, h.port); }},
            {"interval_ms", u32(rules::kIntervalMs, h.interval_ms)},
            {"timeout_ms", u32(rules::kHealthTimeoutMs, h.timeout_ms)},
            {"rise", u32(rules::kRiseFall, h.rise)},
            {"fall", u32(rules::kRiseFall, h.fall)},
            {"jitter_ms", u32(rules::kJitterMs, h.jitter_ms)},
            {"path", probe_text("path", h.path, "an HTTP path like /healthz")},
            {"host", probe_text("host", h.host, "an HTTP host name like www.example.com")},
            {"expect_status",
             [&](const YAML::Node& v, const std::string& p) {
                 written["expect_status"] = value_mark_;
                 number(v, p, rules::kExpectStatus, h.expect_status);
             }},
            {"send", probe_text("send", h.send, "the probe's payload (text)")},
            {"expect", probe_text("expect", h.expect, "the start of the expected reply (text)")},
        },
        "a health check (a map with type, and port, interval_ms, timeout_ms, rise, fall, ...)", false);
    if (!n.IsMap()) return;
    if (!seen.count("type")) missing(n, path, "type", "tcp, http or udp");
    if (type_ok) {
        const char* type_name = h.type == HealthCheckConfig::Type::tcp    ? "tcp"
                                : h.type == HealthCheckConfig::Type::http ? "http"
                                                                          : "udp";
        auto only_for = [&](const char* key, HealthCheckConfig::Type t, const char* t_name) {
            auto it = written.find(key);
            if (it == written.end() || h.type == t) return;
            error(it->second, join(path, key),
                  std::string("only for type ") + t_name + "; this check's type is " + type_name + ": remove it");
        };
        only_for("path", HealthCheckConfig::Type::http, "http");
        only_for("host", HealthCheckConfig::Type::http, "http");
        only_for("expect_status", HealthCheckConfig::Type::http, "http");
        only_for("send", HealthCheckConfig::Type::udp, "udp");
        only_for("expect", HealthCheckConfig::Type::udp, "udp");
    }
    vip.health = std::move(h);
}

}  // namespace detail

}  // namespace sluice::config
