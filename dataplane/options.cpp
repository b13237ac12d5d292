#include "dataplane/options.hpp"

#include <cstdlib>
#include <string_view>

namespace sluice::dp {

const char* usage() {
    return "usage: sluice-dp [EAL options] -- --config FILE [--stats-interval SECONDS] [--control-socket PATH]\n"
           "       sluice-dp --check-config FILE\n"
           "  --config FILE          YAML config (docs/config.md); SIGHUP re-reads it\n"
           "  --stats-interval SEC   print a counters table every SEC seconds\n"
           "  --control-socket PATH  the control channel's socket (instead of the config's control.socket)\n"
           "  --check-config FILE    validate FILE, print every problem, exit 0 (valid) or 1\n";
}

std::string parse_options(int argc, char** argv, Options* o) {
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value = [&](std::string* dst) -> bool {
            if (i + 1 >= argc) return false;
            *dst = argv[++i];
            return true;
        };
        if (a == "--config") {
            if (!value(&o->config_path)) return "--config needs a file path";
        } else if (a == "--control-socket") {
            if (!value(&o->control_socket) || o->control_socket.empty()) return "--control-socket needs a socket path";
        } else if (a == "--check-config") {
            if (!value(&o->check_config)) return "--check-config needs a file path";
        } else if (a == "--stats-interval") {
            std::string v;
            if (!value(&v)) return "--stats-interval needs a number of seconds";
            char* end = nullptr;
            unsigned long n = std::strtoul(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || n > 3600) return "--stats-interval expects 0..3600 seconds, got " + v;
            o->stats_interval = unsigned(n);
        } else if (a == "-h" || a == "--help") {
            o->help = true;
        } else {
            return "unknown option " + std::string(a);
        }
    }
    if (o->config_path.empty() && o->check_config.empty() && !o->help) return "--config FILE is required";
    return {};
}

}  // namespace sluice::dp
