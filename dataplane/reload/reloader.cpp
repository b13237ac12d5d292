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

std::vector<std::string> ConfigReloader::apply(const config::Config& cfg, TableBuilder& b, std::string* summary) {
    std::vector<std::string> errors = restart_only_changes(cfg, fixed_);
    if (!errors.empty()) return errors;
    auto t0 = std::chrono::steady_clock::now();
    api::Batch batch = diff_config(cfg, b);
    double diff_ms = ms_since(t0);
    api::BatchResult r = b.apply(batch);
    if (!r.applied) {
        for (const auto& e : r.errors) errors.push_back(cfg.source + ": " + e.what + ": " + e.message);
        return errors;
    }
    char buf[224];
    std::snprintf(buf, sizeof buf,
                  "%zu route changes, %u FIB writes%s, %zu VIP changes (%u Maglev tables built), diff %.0f ms, "
                  "apply %.0f ms",
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

bool ConfigReloader::reload(TableBuilder& b) {
    auto t0 = std::chrono::steady_clock::now();
    auto res = config::load_config_file(path_);
    double load_ms = ms_since(t0);
    std::vector<std::string> errors;
    std::string summary;
    if (!res.ok()) {
        for (const auto& e : res.errors()) errors.push_back(e.to_string());
    } else {
        errors = apply(res.config(), b, &summary);
    }
    if (!errors.empty()) {
        std::printf("reload: rejected %s: the running config (version %lu) stays\n", path_.c_str(),
                    (unsigned long)version_.load());
        for (const auto& e : errors) std::printf("  %s\n", e.c_str());
        std::fflush(stdout);
        return false;
    }
    std::printf("reload: applied config version %lu from %s (read %.0f ms, %s)\n", (unsigned long)version_.load(),
                path_.c_str(), load_ms, summary.c_str());
    std::fflush(stdout);
    return true;
}

}  // namespace sluice::dp
