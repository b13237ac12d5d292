// Semantic checks of the control side's sections: `control:` (socket paths,
// the metrics endpoint, CPUs, message size) and each VIP's `health:`
// (ranges, the fields of the probe type, a port to probe). Errors name
// model paths ("vips[2].health.timeout_ms", "control.cores[3]") with the
// section's SourceMark; parse_config() refines them to the line of the
// value. docs/config.md ("control", "vips[].health") lists every message.
#include <map>
#include <string>
#include <vector>

#include "config/control.hpp"
#include "config/load.hpp"
#include "config/quote.hpp"
#include "config/rules.hpp"

namespace sluice::config {

namespace {

using Type = HealthCheckConfig::Type;

const char* type_name(Type t) {
    switch (t) {
        case Type::tcp: return "tcp";
        case Type::http: return "http";
        case Type::udp: return "udp";
    }
    return "?";
}

// As config::quote(), but cut once the quoted text passes 64 bytes (an
// escape counts at its written length).
std::string quoted(const std::string& s) {
    std::string r = "\"";
    for (char c : s) {
        append_escaped(r, c);
        if (r.size() > 64) {
            r += "...";
            break;
        }
    }
    return r + "\"";
}

// Text that goes into an HTTP request line or header: a space, CR or LF
// would change the request's meaning (header injection), so none.
bool http_token_text(const std::string& s) {
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) return false;
    }
    return true;
}

class ControlValidator : rules::SectionValidator {
public:
    ControlValidator(const Config& c, std::vector<ConfigError>& errs) : SectionValidator(c, errs) {}

    void run() {
        control();
        for (size_t i = 0; i < cfg_.vips.size(); ++i)
            if (cfg_.vips[i].health) health(i);
    }

private:
    void socket_path(const std::string& p, const std::string& field, const char* example, const SourceMark& m) {
        if (p.empty() || p[0] != '/') {
            err(m, field, std::string("expected an absolute path like ") + example + ", got " + quoted(p));
        } else if (p.size() > rules::kMaxSocketPath) {
            err(m, field,
                "a Unix socket path has at most " + std::to_string(rules::kMaxSocketPath) + " bytes, got " +
                    std::to_string(p.size()) + " (" + quoted(p) + ")");
        } else if (p.back() == '/') {
            err(m, field, "expected the path of a socket file, got a directory " + quoted(p));
        }
    }

    void control() {
        const ControlConfig& c = cfg_.control;
        const SourceMark& m = c.mark;
        socket_path(c.socket, "control.socket", "/run/sluice/dataplane.sock", m);
        socket_path(c.cli_socket, "control.cli_socket", "/run/sluice/control.sock", m);
        if (!c.socket.empty() && c.socket == c.cli_socket)
            err(m, "control.cli_socket",
                "cli_socket must differ from socket (both are " + quoted(c.socket) +
                    "): the data plane and the control process each listen on their own socket");
        if (!c.group.empty() && !http_token_text(c.group))
            err(m, "control.group", "expected a group name without spaces or control characters, got " + quoted(c.group));

        if (!c.metrics.empty()) {
            auto hp = parse_host_port(c.metrics);
            if (!hp) {
                err(m, "control.metrics",
                    "expected \"IP:port\" like 127.0.0.1:9642 or [::1]:9642 (port 1..65535), or \"\" to turn the "
                    "endpoint off, got " +
                        quoted(c.metrics));
            } else if (!is_loopback(hp->address)) {
                err(m, "control.metrics",
                    "metrics address " + to_string(hp->address) +
                        " is not a loopback address (127.0.0.0/8 or ::1); the endpoint has no authentication, so it "
                        "only listens on loopback (put a proxy in front to export it)");
            }
        }

        std::map<uint32_t, size_t> first;
        for (size_t i = 0; i < c.cores.size(); ++i) {
            const std::string f = "control.cores[" + std::to_string(i) + "]";
            if (!range(rules::kCpu, c.cores[i], f, m)) continue;
            if (auto [it, fresh] = first.emplace(c.cores[i], i); !fresh)
                err(m, f,
                    "duplicate CPU " + std::to_string(c.cores[i]) + " (first at cores[" + std::to_string(it->second) +
                        "])");
        }
        range(rules::kMaxMessage, c.max_message, "control.max_message", m);
    }

    void health(size_t i) {
        const VipConfig& v = cfg_.vips[i];
        const HealthCheckConfig& h = *v.health;
        const std::string H = "vips[" + std::to_string(i) + "].health";
        const SourceMark& m = h.mark.line > 0 ? h.mark : v.mark;

        bool interval_ok = range(rules::kIntervalMs, h.interval_ms, H + ".interval_ms", m);
        if (range(rules::kHealthTimeoutMs, h.timeout_ms, H + ".timeout_ms", m) && interval_ok &&
            h.timeout_ms >= h.interval_ms)
            err(m, H + ".timeout_ms",
                "timeout_ms (" + std::to_string(h.timeout_ms) + ") must be less than interval_ms (" +
                    std::to_string(h.interval_ms) + "): a probe ends before the next one of the same backend starts");
        range(rules::kRiseFall, h.rise, H + ".rise", m);
        range(rules::kRiseFall, h.fall, H + ".fall", m);
        range(rules::kJitterMs, h.jitter_ms, H + ".jitter_ms", m);

        // The fields of another probe type. The parser reports a key that
        // was written; a Config built in code is checked by value.
        const char* t = type_name(h.type);
        auto only = [&](bool set, const char* key, const char* for_type) {
            if (set)
                err(m, H + "." + key,
                    std::string("only for type ") + for_type + "; this check's type is " + t + ": remove it");
        };
        if (h.type != Type::http) {
            only(h.path != "/", "path", "http");
            only(!h.host.empty(), "host", "http");
            only(h.expect_status != 200, "expect_status", "http");
        } else {
            if (h.path.empty() || h.path[0] != '/' || !http_token_text(h.path))
                err(m, H + ".path",
                    "expected an HTTP path starting with \"/\" and without spaces or control characters, like "
                    "/healthz, got " +
                        quoted(h.path));
            if (!http_token_text(h.host))
                err(m, H + ".host", "expected a host name without spaces or control characters, got " + quoted(h.host));
            range(rules::kExpectStatus, h.expect_status, H + ".expect_status", m);
        }
        if (h.type != Type::udp) {
            only(!h.send.empty(), "send", "udp");
            only(!h.expect.empty(), "expect", "udp");
        } else if (h.send.empty()) {
            err(m, H + ".send",
                "type udp needs send: the payload of the probe (a UDP service answers a request, not an empty "
                "datagram)");
        }

        // The port probed: health.port, else the backend's, else the VIP's.
        if (h.port == 0 && v.key.port == 0) {
            for (size_t j = 0; j < v.backends.size(); ++j) {
                if (v.backends[j].port != 0) continue;
                err(m, H + ".port",
                    "required when the VIP serves every port: the VIP's port is 0 and backends[" + std::to_string(j) +
                        "] (" + to_string(v.backends[j].address) +
                        ") has no port of its own, so there is no port to probe");
                break;
            }
        }
    }
};

}  // namespace

namespace rules {

void validate_control(const Config& cfg, std::vector<ConfigError>& errs) { ControlValidator(cfg, errs).run(); }

}  // namespace rules

}  // namespace sluice::config
