// The control process's core (docs/control.md): the desired state, the
// health checker feeding it, the link pushing it to the data plane and the
// state file keeping the operator's changes. The CLI server, the metrics
// endpoint and SIGHUP call into it; everything here is thread safe.
//
// Threads: the link thread (dp_link.hpp) does all data plane traffic of
// changes; the checker's thread only queues events (OnChange must not
// block it); callers of change()/reload() wait for the link's answer
// without holding the state lock.
#pragma once

#include <tbb/concurrent_queue.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "config/model.hpp"
#include "control/daemon/cores.hpp"
#include "control/daemon/desired_state.hpp"
#include "control/daemon/dp_link.hpp"
#include "control/health/checker.hpp"

namespace sluice::control {

using Outcome = std::variant<Json, channel::Error>;

// One health-checked backend as the CLI and metrics see it.
struct HealthRow {
    BackendKey key;
    uint16_t probe_port = 0;
    uint32_t rise = 0, fall = 0;
    health::TargetStatus status;
    std::chrono::system_clock::time_point since{};  // last transition (zero: none since start)
};

class Service {
public:
    struct Options {
        std::string config_path;                           // re-read by reload ("" = reload refused)
        std::string state_file;                            // "" = the operator's changes are not persisted
        std::chrono::milliseconds initial_wait{1000};      // for the data plane before health starts without it
        std::chrono::milliseconds request_timeout{15000};  // a change's push, a sync
        std::chrono::milliseconds backoff_min{50}, backoff_max{500};
        bool health = true;  // run the health checker (tests of other parts turn it off)
    };

    Service(config::Config cfg, Options opt);
    ~Service();
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;

    // Reads the state file, starts the link (and, once the data plane's
    // backend states are known or it stayed away for initial_wait, the
    // health checker). False and *err when the state file is unreadable.
    bool start(std::string* err);
    void stop();

    // An operator's change: validated, applied to the desired state, pushed
    // to the data plane, persisted. The data plane refusing it undoes it.
    Outcome change(const OperatorChange& c);
    // Re-reads the config file (control-protocol.md, "reload").
    Outcome reload();

    // show status's "control" part, show health, show backends' merge.
    Json control_status() const;
    Json health_list() const;
    Json merge_backends(const Json& dp_result, const std::string& vip) const;
    bool has_vip(const std::string& name) const;
    std::vector<std::string> vip_names() const;

    std::vector<HealthRow> health_rows() const;
    LinkStatus link_status() const { return link_->status(); }
    health::CheckerStats checker_stats() const;
    const config::ControlConfig& control_config() const { return control_; }
    const std::string& state_file() const { return opt_.state_file; }
    ControlArena& arena() { return *arena_; }
    // A copy for tests and metrics.
    DesiredState desired() const;

private:
    struct Event {
        uint64_t id = 0;
        bool up = false;
        health::ProbeResult last;
        std::chrono::system_clock::time_point at;
    };
    void init_health(const std::map<BackendKey, bool>& observed, const std::string& source);
    void update_targets();
    void discover(DpConn& conn);
    std::vector<std::string> drain_events();
    Json vip_items(const std::vector<std::string>& names);
    void persist(Json* result);

    config::Config cfg_;  // the file's control section stays as started (restart-only)
    config::ControlConfig control_;
    Options opt_;
    std::unique_ptr<ControlArena> arena_;

    mutable std::mutex mu_;  // ds_, ids_, keys_, since_, health_ready_
    std::mutex op_mu_;       // one operator change or reload at a time (their undo depends on it)
    DesiredState ds_;
    std::map<BackendKey, uint64_t> ids_;
    std::map<uint64_t, BackendKey> keys_;
    std::map<uint64_t, std::chrono::system_clock::time_point> since_;
    std::map<uint64_t, HealthTargetSpec> specs_;
    uint64_t next_id_ = 1;
    bool health_ready_ = false;

    tbb::concurrent_queue<Event> events_;  // checker thread -> link thread, never blocks the checker
    std::unique_ptr<health::Checker> checker_;
    std::unique_ptr<DpLink> link_;
    bool started_ = false;
};

}  // namespace sluice::control
