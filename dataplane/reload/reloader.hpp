// Config reload (SIGHUP), run on the builder thread: read and validate the
// file, refuse restart-only changes by name, diff the rest against the
// running state and apply the differences as one batch. A file that fails
// anywhere changes nothing. Prints one outcome line (and one line per
// error), which operators and tests read:
//   reload: applied config version N from FILE (...)
//   reload: rejected FILE: the running config (version N) stays
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "dataplane/reload/config_diff.hpp"

namespace sluice::dp {

class TableBuilder;

class ConfigReloader {
public:
    ConfigReloader(std::string path, FixedAtStart fixed) : path_(std::move(path)), fixed_(std::move(fixed)) {}

    // Start-up: applies an already loaded config to the empty tables.
    // Empty string on success, else every error, one per line.
    std::string load_initial(const config::Config& cfg, TableBuilder& b);
    // SIGHUP: re-reads the file and applies it, or says why not.
    bool reload(TableBuilder& b);

    uint64_t version() const { return version_.load(); }
    std::string source() const {
        std::lock_guard<std::mutex> g(mu_);
        return source_;
    }
    const std::string& path() const { return path_; }

private:
    std::vector<std::string> apply(const config::Config& cfg, TableBuilder& b, std::string* summary);

    std::string path_;
    FixedAtStart fixed_;
    std::atomic<uint64_t> version_{0};
    mutable std::mutex mu_;
    std::string source_;
};

}  // namespace sluice::dp
