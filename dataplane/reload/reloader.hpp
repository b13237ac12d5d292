// Config reload (SIGHUP), run on the builder thread: read and validate the
// file, refuse restart-only changes by name, diff the rest against the
// running state and apply the differences as one batch. A file that fails
// anywhere changes nothing. Prints one outcome line (and one line per
// error), which operators and tests read:
//   reload: applied config version N from FILE (...)
//   reload: rejected FILE: the running config (version N) stays
// Once the control process owns the routes, neighbors and VIPs, the
// applied line says so: "... (settings and addresses only: routes, static
// neighbors and VIPs are set by the control process; ...)".
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

// Who sets the routes, static neighbors and VIPs (docs/architecture.md,
// "The control channel"): the config file until a control process has
// synced (sync_commit or apply), the control process from then on.
enum class TablesOwner : uint8_t { file, control };
const char* to_string(TablesOwner o);

// What a reload did, for the control channel's `reload` reply.
struct ReloadOutcome {
    bool applied = false;
    uint64_t version = 0;             // the running config version after it
    std::string summary;              // applied: what changed
    std::vector<std::string> errors;  // rejected: "file:line:column: field: message", one each
};

class ConfigReloader {
public:
    ConfigReloader(std::string path, FixedAtStart fixed) : path_(std::move(path)), fixed_(std::move(fixed)) {}

    // Start-up: applies an already loaded config to the empty tables.
    // Empty string on success, else every error, one per line.
    std::string load_initial(const config::Config& cfg, TableBuilder& b);
    // SIGHUP: re-reads the file and applies it, or says why not.
    bool reload(TableBuilder& b) { return reload_outcome(b).applied; }
    // The same, saying what happened (the control channel's `reload`).
    ReloadOutcome reload_outcome(TableBuilder& b);

    uint64_t version() const { return version_.load(); }
    std::string source() const {
        std::lock_guard<std::mutex> g(mu_);
        return source_;
    }
    const std::string& path() const { return path_; }

    // Builder thread (between jobs, so a reload sees one owner from start
    // to end); read from any thread.
    void set_owner(TablesOwner o) { owner_.store(o); }
    TablesOwner owner() const { return owner_.load(); }

private:
    std::vector<std::string> apply(const config::Config& cfg, TableBuilder& b, std::string* summary);

    std::string path_;
    FixedAtStart fixed_;
    std::atomic<uint64_t> version_{0};
    std::atomic<TablesOwner> owner_{TablesOwner::file};
    mutable std::mutex mu_;
    std::string source_;
};

}  // namespace sluice::dp
