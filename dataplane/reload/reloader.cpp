#include "dataplane/reload/reloader.hpp"

#include <chrono>
#include <cstdio>

#include "config/load.hpp"
#include "dataplane/tables/builder.hpp"

namespace sluice::dp {

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

const char* to_string(TablesOwner o) { return o == TablesOwner::control ? "control" : "file"; }

std::vector<std::string> ConfigReloader::apply(const config::Config& cfg, TableBuilder& b, std::string* summary) {
    std::vector<std::string> errors = restart_only_changes(cfg, fixed_);
    if (!errors.empty()) return errors;
    auto t0 = std::chrono::steady_clock::now();
    const bool control = owner_.load() == TablesOwner::control;
    api::Batch batch =
        diff_config(cfg, b, control ? DiffScope::settings_and_addresses : DiffScope::everything);
    double diff_ms = ms_since(t0);
    api::BatchResult r = b.apply(batch);
    if (!r.applied) {
        for (const auto& e : r.errors) errors.push_back(cfg.source + ": " + e.what + ": " + e.message);
        return errors;
    }
    char buf[320];
    std::snprintf(buf, sizeof buf,
                  "%s%zu route changes, %u FIB writes%s, %zu VIP changes (%u Maglev tables built), diff %.0f ms, "
                  "apply %.0f ms",
                  control ? "settings and addresses only: routes, static neighbors and VIPs are set by the "
                            "control process; "
                          : "",
                  batch.routes.size(), r.fib_ops, r.rebuilt ? " (FIB rebuilt)" : "", batch.vips.size(),
                  r.maglev_rebuilt, diff_ms, ms_since(t0) - diff_ms);
    *summary = buf;
    version_.fetch_add(1);
    std::lock_guard<std::mutex> g(mu_);
    source_ = cfg.source;
    return {};
}

std::string ConfigReloader::load_initial(const config::Config& cfg, TableBuilder& b) {
    std::string summary;
    std::vector<std::string> errors = apply(cfg, b, &summary);
    std::string out;
    for (const auto& e : errors) out += (out.empty() ? "" : "\n") + e;
    if (out.empty()) {
        std::printf("tables: loaded config version %lu from %s (%s)\n", (unsigned long)version_.load(),
                    path_.c_str(), summary.c_str());
        std::fflush(stdout);
    }
    return out;
}

ReloadOutcome ConfigReloader::reload_outcome(TableBuilder& b) {
    auto t0 = std::chrono::steady_clock::now();
    auto res = config::load_config_file(path_);
    double load_ms = ms_since(t0);
    ReloadOutcome out;
    std::string summary;
    if (!res.ok()) {
        for (const auto& e : res.errors()) out.errors.push_back(e.to_string());
    } else {
        out.errors = apply(res.config(), b, &summary);
    }
    out.version = version_.load();
    if (!out.errors.empty()) {
        std::printf("reload: rejected %s: the running config (version %lu) stays\n", path_.c_str(),
                    (unsigned long)out.version);
        for (const auto& e : out.errors) std::printf("  %s\n", e.c_str());
        std::fflush(stdout);
        return out;
    }
    char head[64];
    std::snprintf(head, sizeof head, "read %.0f ms, ", load_ms);
    out.applied = true;
    out.summary = head + summary;
    std::printf("reload: applied config version %lu from %s (%s)\n", (unsigned long)out.version, path_.c_str(),
                out.summary.c_str());
    std::fflush(stdout);
    return out;
}

}  // namespace sluice::dp
