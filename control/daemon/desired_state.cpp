// The desired state: the config file's routes, neighbors and VIPs, the
// operator's overlay and the health checker's results (desired_state.hpp).
#include "control/daemon/desired_state.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "control/api/codec.hpp"

namespace sluice::control {

std::string endpoint_text(const net::IpAddr& a, uint16_t port) {
    return a.is_v6() ? "[" + net::to_string(a) + "]:" + std::to_string(port)
                     : net::to_string(a) + ":" + std::to_string(port);
}

api::BackendState effective_state(api::BackendState configured, bool admin_drained, std::optional<bool> health_up) {
    if (health_up && !*health_up) return api::BackendState::down;
    // A backend the file sets down stays down: an operator's drain must not
    // bring it back to `drain`, where its tracked flows would stay with it.
    if (configured == api::BackendState::down) return api::BackendState::down;
    if (admin_drained || configured == api::BackendState::drain) return api::BackendState::drain;
    return configured;
}

namespace {

bool route_less(const config::Route& a, const config::Route& b) { return a.prefix < b.prefix; }

// Next hops compare as a set: the data plane builds its group from them in
// any order (docs/config.md: "the group order in this file does not matter").
bool same_route(const config::Route& a, const config::Route& b) {
    if (a.prefix != b.prefix || a.nexthops.size() != b.nexthops.size()) return false;
    auto x = a.nexthops, y = b.nexthops;
    std::sort(x.begin(), x.end());
    std::sort(y.begin(), y.end());
    return x == y;
}

const config::Route* find_in(const std::vector<config::Route>& v, const net::Prefix& p) {
    auto it = std::lower_bound(v.begin(), v.end(), p,
                               [](const config::Route& r, const net::Prefix& q) { return r.prefix < q; });
    return it != v.end() && it->prefix == p ? &*it : nullptr;
}

Json route_set_item(const config::Route& r) {
    Json j = channel::to_json(r);
    j["op"] = "set";
    return j;
}

std::string vip_list(const std::vector<std::string>& names) {
    if (names.empty()) return "none are configured";
    std::string s = "VIPs are: ";
    for (size_t i = 0; i < names.size(); ++i) s += (i ? ", " : "") + names[i];
    return s;
}

}  // namespace

size_t SyncSnapshot::route_count() const {
    size_t n = base_routes ? base_routes->size() : 0;
    for (const auto& [p, r] : route_overlay) {
        const bool in_base = base_routes && find_in(*base_routes, p);
        if (r && !in_base) ++n;
        if (!r && in_base) --n;
    }
    return n;
}

DesiredState::DesiredState() : base_routes_(std::make_shared<const std::vector<config::Route>>()) { routes_changed(); }

void DesiredState::routes_changed() {
    // Unique across every DesiredState of the process (a copy restored after
    // a refused reload brings its own number back, which still names the
    // same routes).
    static std::atomic<uint64_t> counter{0};
    routes_version_ = ++counter;
}

void DesiredState::load_config(const config::Config& cfg) {
    auto routes = std::make_shared<std::vector<config::Route>>(cfg.routes);
    // Sorted once so that lookups (route_del, state file checks) are binary
    // searches; a million routes are never copied into a map.
    std::stable_sort(routes->begin(), routes->end(), route_less);
    base_routes_ = std::move(routes);
    neighbors_ = cfg.neighbors;
    vips_.clear();
    for (const auto& v : cfg.vips) vips_.push_back(VipEntry{v});
    ports_.clear();
    for (const auto& p : cfg.ports) ports_.push_back(p.name);
    overlay_ = Overlay{};
    routes_changed();
    prune_health();
}

const DesiredState::VipEntry* DesiredState::find_vip(const std::string& name) const {
    for (const auto& v : vips_)
        if (v.cfg.name == name) return &v;
    return nullptr;
}

const config::Route* DesiredState::base_route(const net::Prefix& p) const { return find_in(*base_routes_, p); }

bool DesiredState::has_vip(const std::string& name) const { return find_vip(name) != nullptr; }

std::vector<std::string> DesiredState::vip_names() const {
    std::vector<std::string> n;
    for (const auto& v : vips_) n.push_back(v.cfg.name);
    return n;
}

channel::Error DesiredState::bad(std::string field, std::string message) const {
    channel::Error e;
    e.code = channel::ErrorCode::bad_field;
    e.field = std::move(field);
    e.message = std::move(message);
    return e;
}

bool DesiredState::check_route(const config::Route& r, channel::Error* err) const {
    // The codec checked the types; these are the checks that need the
    // config (its ports) or relate fields, made here so that the operator
    // gets a precise field instead of the data plane's `rejected`.
    if (r.nexthops.empty()) {
        *err = bad("args.nexthops", "expected at least one next hop");
        return false;
    }
    for (size_t i = 0; i < r.nexthops.size(); ++i) {
        const auto& h = r.nexthops[i];
        const std::string at = "args.nexthops[" + std::to_string(i) + "]";
        if (h.via && h.via->family != r.prefix.addr.family) {
            *err =
                bad(at + ".via", "gateway " + net::to_string(*h.via) + " is not of the prefix " +
                                     net::to_string(r.prefix) + "'s family; a next hop must be of the prefix's family");
            return false;
        }
        if (h.via && net::is_link_local6(*h.via) && h.port.empty()) {
            *err = bad(at + ".port", "a link-local gateway (" + net::to_string(*h.via) + ") needs its port");
            return false;
        }
        if (!h.port.empty() && !ports_.empty() && std::find(ports_.begin(), ports_.end(), h.port) == ports_.end()) {
            std::string known;
            for (size_t k = 0; k < ports_.size(); ++k) known += (k ? ", " : "") + ports_[k];
            *err = bad(at + ".port", "no port named \"" + h.port + "\"; ports are: " + known);
            return false;
        }
    }
    return true;
}

std::optional<config::Route> DesiredState::route(const net::Prefix& p) const {
    auto it = overlay_.routes.find(p);
    if (it != overlay_.routes.end()) return it->second;
    if (const auto* r = base_route(p)) return *r;
    return std::nullopt;
}

size_t DesiredState::route_count() const {
    SyncSnapshot s;
    s.base_routes = base_routes_;
    s.route_overlay = overlay_.routes;  // small: operator changes only
    return s.route_count();
}

std::vector<BackendView> DesiredState::views(const VipEntry& v) const {
    std::vector<BackendView> out;
    out.reserve(v.cfg.backends.size());
    const bool checked = v.cfg.health.has_value();
    auto fill = [&](BackendView& bv, const BackendOverlay* o) {
        if (o && o->weight) bv.configured.weight = *o->weight;
        bv.drained = o && o->drained;
        bv.checked = checked;
        if (checked) {
            auto h = health_.find(bv.key);
            if (h != health_.end()) bv.health = h->second;
        }
        bv.effective = effective_state(bv.configured.state, bv.drained, bv.health);
    };
    std::set<BackendKey> configured;
    for (const auto& b : v.cfg.backends) {
        BackendKey k{v.cfg.name, b.address, b.port};
        configured.insert(k);
        auto it = overlay_.backends.find(k);
        const BackendOverlay* o = it == overlay_.backends.end() ? nullptr : &it->second;
        if (o && o->removed) continue;
        BackendView bv;
        bv.key = k;
        bv.configured = o && o->added ? *o->added : b;
        bv.from_operator = o && o->added;
        fill(bv, o);
        out.push_back(std::move(bv));
    }
    // Backends the operator added that the file does not have, in key order.
    for (auto it = overlay_.backends.lower_bound(BackendKey{v.cfg.name, net::IpAddr{}, 0});
         it != overlay_.backends.end() && it->first.vip == v.cfg.name; ++it) {
        if (!it->second.added || it->second.removed || configured.count(it->first)) continue;
        BackendView bv;
        bv.key = it->first;
        bv.configured = *it->second.added;
        bv.from_operator = true;
        fill(bv, &it->second);
        out.push_back(std::move(bv));
    }
    return out;
}

std::vector<BackendView> DesiredState::backends(const std::string& vip) const {
    const VipEntry* v = find_vip(vip);
    return v ? views(*v) : std::vector<BackendView>{};
}

std::optional<BackendView> DesiredState::backend(const BackendKey& k) const {
    const VipEntry* v = find_vip(k.vip);
    if (!v) return std::nullopt;
    for (auto& bv : views(*v))
        if (bv.key == k) return bv;
    return std::nullopt;
}

std::optional<api::Vip> DesiredState::effective_vip(const std::string& name) const {
    const VipEntry* v = find_vip(name);
    if (!v) return std::nullopt;
    api::Vip out = static_cast<const api::Vip&>(v->cfg);
    out.backends.clear();
    for (const auto& bv : views(*v)) {
        api::Backend b = bv.configured;
        b.state = bv.effective;
        out.backends.push_back(b);
    }
    return out;
}

std::vector<api::Vip> DesiredState::effective_vips() const {
    std::vector<api::Vip> out;
    out.reserve(vips_.size());
    for (const auto& v : vips_)
        if (auto e = effective_vip(v.cfg.name)) out.push_back(std::move(*e));
    return out;
}

std::vector<HealthTargetSpec> DesiredState::health_targets(std::vector<std::string>* skipped) const {
    std::vector<HealthTargetSpec> out;
    for (const auto& v : vips_) {
        if (!v.cfg.health) continue;
        for (const auto& bv : views(v)) {
            HealthTargetSpec t;
            t.key = bv.key;
            t.spec = *v.cfg.health;
            t.port = t.spec.port ? t.spec.port : bv.key.port ? bv.key.port : v.cfg.key.port;
            if (t.port == 0) {
                // An all-ports VIP with a port-0 backend and no health.port:
                // nothing to connect to. The config validation refuses this
                // for the file's backends; an operator's backend_add can
                // still make one.
                if (skipped)
                    skipped->push_back("VIP " + v.cfg.name + " backend " + net::to_string(bv.key.address) +
                                       ": no port to probe (set health.port)");
                continue;
            }
            out.push_back(std::move(t));
        }
    }
    return out;
}

bool DesiredState::set_health(const BackendKey& k, bool up) {
    auto before = backend(k);
    health_[k] = up;
    auto after = backend(k);
    return before && after && before->effective != after->effective;
}

std::optional<bool> DesiredState::health(const BackendKey& k) const {
    auto it = health_.find(k);
    if (it == health_.end()) return std::nullopt;
    return it->second;
}

void DesiredState::prune_health() {
    for (auto it = health_.begin(); it != health_.end();) {
        const VipEntry* v = find_vip(it->first.vip);
        bool keep = v && v->cfg.health && backend(it->first).has_value();
        it = keep ? std::next(it) : health_.erase(it);
    }
}

SyncSnapshot DesiredState::snapshot() const {
    SyncSnapshot s;
    s.base_routes = base_routes_;
    s.route_overlay = overlay_.routes;
    s.neighbors = neighbors_;
    s.vips = effective_vips();
    s.routes_version = routes_version_;
    return s;
}

ChangeOutcome DesiredState::apply(const OperatorChange& change) {
    ChangeOutcome out;
    auto fail = [&](channel::Error e) {
        out.ok = false;
        out.error = std::move(e);
        return out;
    };
    auto no_vip = [&](const std::string& name) {
        return fail(bad("args.vip", "no VIP named \"" + name + "\"; " + vip_list(vip_names())));
    };

    if (const auto* c = std::get_if<RouteSet>(&change)) {
        channel::Error e;
        if (!check_route(c->route, &e)) return fail(e);
        config::Route r = c->route;
        r.mark = {};
        auto cur = route(r.prefix);
        out.ok = true;
        out.changed = !cur || !same_route(*cur, r);
        if (!out.changed) return out;
        out.undo.prefix = r.prefix;
        auto it = overlay_.routes.find(r.prefix);
        if (it != overlay_.routes.end()) out.undo.route_before = it->second;
        out.route_items.push_back(route_set_item(r));
        overlay_.routes[r.prefix] = std::move(r);
        routes_changed();
        return out;
    }
    if (const auto* c = std::get_if<RouteDel>(&change)) {
        out.ok = true;
        out.changed = route(c->prefix).has_value();
        if (!out.changed) return out;  // deleting an absent route is no change
        out.undo.prefix = c->prefix;
        auto it = overlay_.routes.find(c->prefix);
        if (it != overlay_.routes.end()) out.undo.route_before = it->second;
        out.route_items.push_back(Json{{"op", "del"}, {"prefix", channel::to_json(c->prefix)}});
        if (base_route(c->prefix))
            overlay_.routes[c->prefix] = std::nullopt;
        else
            overlay_.routes.erase(c->prefix);  // only the operator had it: forget it altogether
        routes_changed();
        return out;
    }

    // Backend changes.
    BackendKey key;
    if (const auto* c = std::get_if<BackendAdd>(&change))
        key = BackendKey{c->vip, c->backend.address, c->backend.port};
    else if (const auto* d = std::get_if<BackendDel>(&change))
        key = d->key;
    else
        key = std::get<BackendSet>(change).key;
    if (!has_vip(key.vip)) return no_vip(key.vip);
    const auto before_view = backend(key);
    auto oit = overlay_.backends.find(key);
    out.undo.backend = key;
    if (oit != overlay_.backends.end()) out.undo.backend_before = oit->second;
    BackendOverlay o = oit == overlay_.backends.end() ? BackendOverlay{} : oit->second;

    if (const auto* c = std::get_if<BackendAdd>(&change)) {
        if (c->backend.weight > api::kMaxBackendWeight)
            return fail(
                bad("args.backend.weight", "expected a whole number 0.." + std::to_string(api::kMaxBackendWeight)));
        o.removed = false;
        o.added = c->backend;
        o.weight.reset();  // the added backend carries its own weight
    } else if (std::get_if<BackendDel>(&change)) {
        if (!before_view) {
            out.ok = true;  // removing an absent backend is no change
            out.undo = {};
            return out;
        }
        o = BackendOverlay{};
        // A backend of the file is hidden; one only the operator added is
        // simply forgotten.
        const VipEntry* v = find_vip(key.vip);
        bool in_file = false;
        for (const auto& b : v->cfg.backends) in_file = in_file || (b.address == key.address && b.port == key.port);
        o.removed = in_file;
    } else {
        const auto& c = std::get<BackendSet>(change);
        if (!before_view)
            return fail(bad("args.address", "VIP " + key.vip + " has no backend " + net::to_string(key.address) +
                                                " port " + std::to_string(key.port)));
        if (c.weight && *c.weight > api::kMaxBackendWeight)
            return fail(bad("args.weight", "expected a whole number 0.." + std::to_string(api::kMaxBackendWeight)));
        if (c.weight) o.weight = *c.weight;
        if (c.drain) o.drained = *c.drain;
    }
    if (o.empty())
        overlay_.backends.erase(key);
    else
        overlay_.backends[key] = o;
    const auto after_view = backend(key);
    auto same = [](const std::optional<BackendView>& a, const std::optional<BackendView>& b) {
        if (a.has_value() != b.has_value()) return false;
        if (!a) return true;
        return a->configured == b->configured && a->drained == b->drained && a->effective == b->effective;
    };
    out.ok = true;
    out.changed = !same(before_view, after_view);
    if (out.changed) out.vips.push_back(key.vip);
    return out;
}

void DesiredState::undo(const Undo& u) {
    if (u.prefix) {
        if (u.route_before)
            overlay_.routes[*u.prefix] = *u.route_before;
        else
            overlay_.routes.erase(*u.prefix);
        routes_changed();
    }
    if (u.backend) {
        if (u.backend_before)
            overlay_.backends[*u.backend] = *u.backend_before;
        else
            overlay_.backends.erase(*u.backend);
    }
}

void DesiredState::set_overlay(Overlay o, std::vector<std::string>* dropped) {
    overlay_ = Overlay{};
    routes_changed();
    for (auto& [p, r] : o.routes) {
        channel::Error e;
        if (r && !check_route(*r, &e)) {
            if (dropped) dropped->push_back("route " + net::to_string(p) + ": " + e.message);
            continue;
        }
        if (!r && !base_route(p)) continue;  // a deletion of a route the file no longer has: nothing to do
        overlay_.routes[p] = std::move(r);
    }
    for (auto& [k, b] : o.backends) {
        const VipEntry* v = find_vip(k.vip);
        if (!v) {
            if (dropped)
                dropped->push_back("backend " + endpoint_text(k.address, k.port) + " of VIP " + k.vip +
                                   ": the config has no such VIP any more");
            continue;
        }
        bool in_file = false;
        for (const auto& x : v->cfg.backends) in_file = in_file || (x.address == k.address && x.port == k.port);
        if (!in_file && !b.added) {
            if (dropped)
                dropped->push_back("backend " + endpoint_text(k.address, k.port) + " of VIP " + k.vip +
                                   ": the config has no such backend any more");
            continue;
        }
        if (!in_file) b.removed = false;  // hiding a backend the file does not have means nothing
        if (!b.empty()) overlay_.backends[k] = b;
    }
}

// ---- the state file -------------------------------------------------------

std::string state_file_path(const std::string& cli_socket) {
    const auto slash = cli_socket.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : cli_socket.substr(0, slash);
    return (dir == "/" ? "" : dir) + "/control-state.json";
}

Json overlay_to_json(const Overlay& o) {
    Json routes = Json::array();
    for (const auto& [p, r] : o.routes) {
        if (r)
            routes.push_back(route_set_item(*r));
        else
            routes.push_back(Json{{"op", "del"}, {"prefix", channel::to_json(p)}});
    }
    Json backends = Json::array();
    for (const auto& [k, b] : o.backends) {
        Json j{{"vip", k.vip}, {"address", channel::to_json(k.address)}, {"port", k.port}};
        if (b.added) j["added"] = channel::to_json(*b.added);
        if (b.removed) j["removed"] = true;
        if (b.weight) j["weight"] = *b.weight;
        if (b.drained) j["admin"] = "drain";
        backends.push_back(std::move(j));
    }
    return Json{{"version", 1}, {"routes", std::move(routes)}, {"backends", std::move(backends)}};
}

bool overlay_from_json(const Json& j, const std::string& file, Overlay* out, std::string* err) {
    auto fail = [&](const std::string& field, const std::string& msg) {
        if (err) *err = file + ": " + field + ": " + msg;
        return false;
    };
    try {
        if (!j.is_object()) return fail("(top)", "expected an object");
        auto v = j.find("version");
        if (v == j.end() || !v->is_number_integer() || v->get<int64_t>() != 1)
            return fail("version", "expected 1 (a state file of this version of sluice-control)");
        Overlay o;
        auto routes = j.find("routes");
        if (routes != j.end()) {
            if (!routes->is_array()) return fail("routes", "expected a list");
            for (size_t i = 0; i < routes->size(); ++i) {
                const std::string at = "routes[" + std::to_string(i) + "]";
                Json item = (*routes)[i];
                if (!item.is_object() || !item.contains("op") || !item["op"].is_string())
                    return fail(at + ".op", "expected \"set\" or \"del\"");
                const std::string op = item["op"].get<std::string>();
                item.erase("op");
                channel::FieldError fe;
                if (op == "set") {
                    config::Route r;
                    if (!channel::from_json(item, at, &r, &fe)) return fail(fe.field, fe.message);
                    o.routes[r.prefix] = std::move(r);
                } else if (op == "del") {
                    net::Prefix p;
                    if (!item.contains("prefix")) return fail(at + ".prefix", "required field is missing");
                    if (!channel::from_json(item["prefix"], at + ".prefix", &p, &fe)) return fail(fe.field, fe.message);
                    o.routes[p] = std::nullopt;
                } else {
                    return fail(at + ".op", "expected \"set\" or \"del\", got \"" + op + "\"");
                }
            }
        }
        auto backends = j.find("backends");
        if (backends != j.end()) {
            if (!backends->is_array()) return fail("backends", "expected a list");
            for (size_t i = 0; i < backends->size(); ++i) {
                const std::string at = "backends[" + std::to_string(i) + "]";
                const Json& item = (*backends)[i];
                if (!item.is_object()) return fail(at, "expected an object");
                BackendKey k;
                channel::FieldError fe;
                if (!channel::get_string(item, at, "vip", &k.vip, &fe)) return fail(fe.field, fe.message);
                if (!item.contains("address")) return fail(at + ".address", "required field is missing");
                if (!channel::from_json(item["address"], at + ".address", &k.address, &fe))
                    return fail(fe.field, fe.message);
                uint64_t port = 0;
                if (!channel::get_u64(item, at, "port", &port, &fe)) return fail(fe.field, fe.message);
                if (port > 65535) return fail(at + ".port", "expected a whole number 0..65535");
                k.port = uint16_t(port);
                BackendOverlay b;
                if (item.contains("added")) {
                    api::Backend x;
                    if (!channel::from_json(item["added"], at + ".added", &x, &fe)) return fail(fe.field, fe.message);
                    b.added = x;
                }
                if (item.contains("removed")) {
                    if (!item["removed"].is_boolean()) return fail(at + ".removed", "expected true or false");
                    b.removed = item["removed"].get<bool>();
                }
                if (item.contains("weight")) {
                    uint64_t w = 0;
                    if (!channel::get_u64(item, at, "weight", &w, &fe)) return fail(fe.field, fe.message);
                    if (w > api::kMaxBackendWeight) return fail(at + ".weight", "above the maximum weight");
                    b.weight = uint32_t(w);
                }
                if (item.contains("admin")) {
                    std::string a;
                    if (!channel::get_string(item, at, "admin", &a, &fe)) return fail(fe.field, fe.message);
                    if (a != "drain" && a != "up") return fail(at + ".admin", "expected \"up\" or \"drain\"");
                    b.drained = a == "drain";
                }
                if (!b.empty()) o.backends[k] = b;
            }
        }
        *out = std::move(o);
        return true;
    } catch (const std::exception& e) {
        return fail("(top)", std::string("unreadable: ") + e.what());
    }
}

bool save_state_file(const std::string& path, const Overlay& o, std::string* err) {
    if (o.empty()) {
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
            if (err) *err = "remove " + path + ": " + std::strerror(errno);
            return false;
        }
        return true;
    }
    std::string text;
    try {
        text = overlay_to_json(o).dump(1, '\t', false, Json::error_handler_t::replace) + "\n";
    } catch (const std::exception& e) {
        if (err) *err = "encode " + path + ": " + e.what();
        return false;
    }
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (err) *err = "create " + tmp + ": " + std::strerror(errno);
        return false;
    }
    size_t off = 0;
    while (off < text.size()) {
        const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (err) *err = "write " + tmp + ": " + std::strerror(errno);
            ::close(fd);
            ::unlink(tmp.c_str());
            return false;
        }
        off += size_t(n);
    }
    // fsync before rename: otherwise a crash can leave the new name pointing
    // at an empty file (the rename reached the disk, the data did not).
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        if (err) *err = "sync " + tmp + ": " + std::strerror(errno);
        ::unlink(tmp.c_str());
        return false;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        if (err) *err = "rename " + tmp + " to " + path + ": " + std::strerror(errno);
        ::unlink(tmp.c_str());
        return false;
    }
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)::fsync(dfd);  // the rename itself; best effort (tmpfs ignores it)
        ::close(dfd);
    }
    return true;
}

bool load_state_file(const std::string& path, Overlay* out, bool* exists, std::string* err) {
    *exists = false;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (errno == ENOENT) {
            *out = Overlay{};
            return true;
        }
        if (err) *err = path + ": cannot open: " + std::strerror(errno);
        return false;
    }
    *exists = true;
    std::stringstream ss;
    ss << in.rdbuf();
    Json j = Json::parse(ss.str(), nullptr, false);
    if (j.is_discarded()) {
        if (err) *err = path + ": not valid JSON (a damaged state file: remove it, or `reload` to start over)";
        return false;
    }
    return overlay_from_json(j, path, out, err);
}

}  // namespace sluice::control
