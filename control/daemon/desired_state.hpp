// The control process's desired state (docs/control.md, "Desired state"):
// what the data plane should have, built from three owners:
//   - the config file: routes, static neighbors, VIPs with their backends
//     and health specs (replaced as a whole by `reload`);
//   - the operator: runtime changes through the CLI socket (routes set or
//     deleted, backends added, removed, re-weighted, drained), kept as an
//     overlay on top of the file, persisted in the state file and cleared by
//     `reload`;
//   - the health checker: each checked backend's up/down.
// A backend's effective state (what the data plane gets) is `down` while
// its health check says down, else `drain` while the operator drains it or
// its configured state is drain, else its configured state.
//
// Not thread safe: the Service guards it with its mutex.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "api/lb.hpp"
#include "api/net.hpp"
#include "config/model.hpp"
#include "control/api/message.hpp"

namespace sluice::control {

using channel::Json;

// One backend of one VIP (the same address in two VIPs is two backends:
// each VIP has its own health spec and admin state).
struct BackendKey {
    std::string vip;
    net::IpAddr address;
    uint16_t port = 0;
    friend bool operator==(const BackendKey&, const BackendKey&) = default;
    friend auto operator<=>(const BackendKey&, const BackendKey&) = default;
};
// "198.18.0.1:80", "[2001:db8::1]:80": the metrics' `backend` label and logs.
std::string endpoint_text(const net::IpAddr& a, uint16_t port);

// The operator's changes to one backend.
struct BackendOverlay {
    std::optional<api::Backend> added;  // backend_add: replaces a configured backend with the same address and port
    bool removed = false;               // backend_del
    std::optional<uint32_t> weight;     // backend_set weight
    bool drained = false;               // backend_set admin drain ("up" clears it)
    bool empty() const { return !added && !removed && !weight && !drained; }
    friend bool operator==(const BackendOverlay&, const BackendOverlay&) = default;
};

struct Overlay {
    std::map<net::Prefix, std::optional<config::Route>> routes;  // a value: set; nullopt: deleted
    std::map<BackendKey, BackendOverlay> backends;
    bool empty() const { return routes.empty() && backends.empty(); }
};

// A backend's state in the data plane from its configured state, the
// operator's drain and its health (nullopt: not checked or not known yet).
api::BackendState effective_state(api::BackendState configured, bool admin_drained, std::optional<bool> health_up);

// The operator's changes (control-protocol.md, "Control process requests").
struct RouteSet {
    config::Route route;
};
struct RouteDel {
    net::Prefix prefix;
};
struct BackendAdd {
    std::string vip;
    api::Backend backend;
};
struct BackendDel {
    BackendKey key;
};
struct BackendSet {
    BackendKey key;
    std::optional<uint32_t> weight;
    std::optional<bool> drain;  // true: admin drain; false: admin up
};
using OperatorChange = std::variant<RouteSet, RouteDel, BackendAdd, BackendDel, BackendSet>;

// What apply() needs to put things back when the data plane refuses the
// change: the overlay entry as it was.
struct Undo {
    std::optional<net::Prefix> prefix;
    std::optional<std::optional<config::Route>> route_before;  // outer empty: the prefix had no overlay entry
    std::optional<BackendKey> backend;
    std::optional<BackendOverlay> backend_before;  // empty: the backend had no overlay entry
};

struct ChangeOutcome {
    bool ok = false;
    channel::Error error;  // !ok: bad_field naming the argument
    bool changed = false;  // false: the state already was so (idempotent repeat)
    Undo undo;
    // What to send: route items ({"op":"set"|"del", ...}) and the VIPs to set.
    Json route_items = Json::array();
    std::vector<std::string> vips;
};

// A backend as the CLI and metrics show it.
struct BackendView {
    BackendKey key;
    api::Backend configured;  // with the operator's weight applied
    api::BackendState effective = api::BackendState::up;
    bool drained = false;
    bool from_operator = false;  // added at run time
    bool checked = false;        // the VIP has a health spec
    std::optional<bool> health;  // checked and known
};

// A backend to health-check (port resolved: spec.port, else the backend's,
// else the VIP's).
struct HealthTargetSpec {
    BackendKey key;
    uint16_t port = 0;
    config::HealthCheckConfig spec;
};

// An immutable copy of what a full sync sends, taken under the Service's
// lock and encoded outside it (a million routes take a while).
struct SyncSnapshot {
    std::shared_ptr<const std::vector<config::Route>> base_routes;  // the file's, sorted by prefix
    std::map<net::Prefix, std::optional<config::Route>> route_overlay;
    std::vector<config::StaticNeighbor> neighbors;
    std::vector<api::Vip> vips;   // effective
    uint64_t routes_version = 0;  // changes whenever the routes do (sync_parts.hpp's RouteCache)
    size_t route_count() const;
};

class DesiredState {
public:
    DesiredState();

    // Replaces the file's part (a validated config) and clears the operator
    // overlay and the health results of backends that no longer exist.
    void load_config(const config::Config& cfg);

    // The operator's changes. Validation that needs the state (a VIP name
    // that exists, a backend that exists, next-hop ports the config knows,
    // address families) happens here; a refusal is a bad_field whose field
    // is the request's argument ("args.vip").
    ChangeOutcome apply(const OperatorChange& change);
    // Puts back what apply() changed (the data plane refused it).
    void undo(const Undo& u);

    const Overlay& overlay() const { return overlay_; }
    // Installs an overlay read from the state file. Entries that name a VIP
    // the config does not have are dropped, each described in *dropped.
    void set_overlay(Overlay o, std::vector<std::string>* dropped);

    // Health. True when the effective state of the backend changed.
    bool set_health(const BackendKey& k, bool up);
    std::optional<bool> health(const BackendKey& k) const;
    // Forgets the health of backends that are gone.
    void prune_health();

    bool has_vip(const std::string& name) const;
    std::vector<std::string> vip_names() const;
    std::optional<api::Vip> effective_vip(const std::string& name) const;
    std::vector<api::Vip> effective_vips() const;
    std::optional<BackendView> backend(const BackendKey& k) const;
    std::vector<BackendView> backends(const std::string& vip) const;
    std::vector<HealthTargetSpec> health_targets(std::vector<std::string>* skipped = nullptr) const;
    std::optional<config::Route> route(const net::Prefix& p) const;
    size_t route_count() const;
    size_t neighbor_count() const { return neighbors_.size(); }
    SyncSnapshot snapshot() const;

private:
    struct VipEntry {
        config::VipConfig cfg;  // as in the file
    };
    const VipEntry* find_vip(const std::string& name) const;
    const config::Route* base_route(const net::Prefix& p) const;
    std::vector<BackendView> views(const VipEntry& v) const;
    channel::Error bad(std::string field, std::string message) const;
    bool check_route(const config::Route& r, channel::Error* err) const;

    std::shared_ptr<const std::vector<config::Route>> base_routes_;  // sorted by prefix
    std::vector<config::StaticNeighbor> neighbors_;
    std::vector<VipEntry> vips_;
    std::vector<std::string> ports_;  // the config's port names (next hops must name one)
    Overlay overlay_;
    std::map<BackendKey, bool> health_;
    uint64_t routes_version_ = 0;
    void routes_changed();  // a new process-wide unique routes_version_
};

// ---- the state file -------------------------------------------------------

// The state file of a CLI socket path: control-state.json in its directory
// ("/run/sluice/control.sock" -> "/run/sluice/control-state.json").
std::string state_file_path(const std::string& cli_socket);

Json overlay_to_json(const Overlay& o);
// `file` names the file in errors ("/run/sluice/control-state.json: routes[2].prefix: ...").
bool overlay_from_json(const Json& j, const std::string& file, Overlay* out, std::string* err);

// Atomic: written to a temporary file in the same directory, fsynced, then
// renamed over the old one, so a crash leaves the old or the new file,
// never half of one. An empty overlay removes the file.
bool save_state_file(const std::string& path, const Overlay& o, std::string* err);
// A missing file is an empty overlay (*exists = false).
bool load_state_file(const std::string& path, Overlay* out, bool* exists, std::string* err);

}  // namespace sluice::control
