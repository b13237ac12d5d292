// The control process's core (service.hpp).
#include "control/daemon/service.hpp"

#include <unistd.h>

#include <set>

#include "config/load.hpp"
#include "control/api/codec.hpp"
#include "control/daemon/log.hpp"

namespace sluice::control {

using channel::ErrorCode;

namespace {

std::string key_text(const BackendKey& k) { return "VIP " + k.vip + " backend " + endpoint_text(k.address, k.port); }

std::string describe(const OperatorChange& c) {
    if (const auto* x = std::get_if<RouteSet>(&c)) return "route_add " + net::to_string(x->route.prefix);
    if (const auto* x = std::get_if<RouteDel>(&c)) return "route_del " + net::to_string(x->prefix);
    if (const auto* x = std::get_if<BackendAdd>(&c))
        return "backend_add " + key_text(BackendKey{x->vip, x->backend.address, x->backend.port});
    if (const auto* x = std::get_if<BackendDel>(&c)) return "backend_del " + key_text(x->key);
    const auto& s = std::get<BackendSet>(c);
    std::string t = "backend_set " + key_text(s.key);
    if (s.weight) t += " weight " + std::to_string(*s.weight);
    if (s.drain) t += *s.drain ? " admin drain" : " admin up";
    return t;
}

Json error_json(const channel::Error& e) {
    Json items = Json::array();
    for (const auto& i : e.errors) items.push_back(Json{{"what", i.what}, {"message", i.message}});
    Json j{{"code", channel::to_string(e.code)}, {"message", e.message}, {"errors", std::move(items)}};
    if (!e.field.empty()) j["field"] = e.field;
    return j;
}

Json push_json(const PushResult& r) {
    if (r.kind == PushResult::Kind::applied) return r.reply.result;
    if (r.kind == PushResult::Kind::refused) return Json{{"error", error_json(r.reply.error)}};
    return Json{{"pushed", false}, {"error", r.error}};
}

bool same_control(const config::ControlConfig& a, const config::ControlConfig& b) {
    return a.socket == b.socket && a.cli_socket == b.cli_socket && a.group == b.group && a.metrics == b.metrics &&
           a.cores == b.cores && a.max_message == b.max_message;
}

// A backend entry of the data plane's `show backends`: (address, port, state).
bool backend_entry(const Json& e, net::IpAddr* addr, uint16_t* port, std::string* state) {
    if (!e.is_object()) return false;
    auto a = e.find("address");
    if (a == e.end() || !a->is_string()) return false;
    auto ip = net::parse_ip(a->get<std::string>());
    if (!ip) return false;
    *addr = *ip;
    auto p = e.find("port");
    *port = p != e.end() && p->is_number_integer() && p->get<int64_t>() >= 0 && p->get<int64_t>() <= 65535
                ? uint16_t(p->get<int64_t>())
                : 0;
    auto s = e.find("state");
    *state = s != e.end() && s->is_string() ? s->get<std::string>() : "";
    return true;
}

// The entries of a `backends` list, whether the data plane sends an array or
// an object keyed by backend (DPDK telemetry's shape).
std::vector<Json*> backend_entries(Json& result) {
    std::vector<Json*> out;
    if (!result.is_object()) return out;
    auto b = result.find("backends");
    if (b == result.end()) return out;
    if (b->is_array() || b->is_object())
        for (auto& e : *b)
            if (e.is_object()) out.push_back(&e);
    return out;
}

}  // namespace

Service::Service(config::Config cfg, Options opt)
    : control_(cfg.control), opt_(std::move(opt)), arena_(std::make_unique<ControlArena>(control_.cores)) {
    ds_.load_config(cfg);
    DpLink::Options lo;
    lo.socket = control_.socket;
    lo.limits.max_body = control_.max_message;
    lo.arena = arena_.get();
    lo.backoff_min = opt_.backoff_min;
    lo.backoff_max = opt_.backoff_max;
    lo.initial_wait = opt_.initial_wait;
    DpLink::Hooks h;
    h.on_connected = [this](DpConn& c, bool) {
        bool ready;
        {
            std::lock_guard<std::mutex> g(mu_);
            ready = health_ready_;
        }
        if (!ready) discover(c);
    };
    h.on_initial_timeout = [this] { init_health({}, "defaults (the data plane did not answer within a second)"); };
    h.snapshot = [this] {
        std::lock_guard<std::mutex> g(mu_);
        return ds_.snapshot();
    };
    h.drain_events = [this] { return drain_events(); };
    h.vip_items = [this](const std::vector<std::string>& n) { return vip_items(n); };
    link_ = std::make_unique<DpLink>(std::move(lo), std::move(h));
    if (opt_.health) {
        health::Checker::Options co;
        co.cpus = control_.cores;
        // OnChange runs on the checker's thread: it only queues the event
        // (lock-free) and wakes the link thread, so a slow data plane can
        // never delay a probe.
        checker_ = std::make_unique<health::Checker>(co, [this](uint64_t id, bool up, const health::ProbeResult& last) {
            events_.push(Event{id, up, last, std::chrono::system_clock::now()});
            link_->wake();
        });
    }
}

Service::~Service() { stop(); }

bool Service::start(std::string* err) {
    if (started_) return true;
    if (!opt_.state_file.empty()) {
        Overlay o;
        bool exists = false;
        std::string e;
        if (!load_state_file(opt_.state_file, &o, &exists, &e)) {
            // Refusing to start is safer than forgetting an operator's drain
            // (traffic would go back to a backend under maintenance).
            if (err) *err = e;
            return false;
        }
        if (exists) {
            std::vector<std::string> dropped;
            size_t routes = o.routes.size(), backends = o.backends.size();
            {
                std::lock_guard<std::mutex> g(mu_);
                ds_.set_overlay(std::move(o), &dropped);
            }
            log_line("state: " + opt_.state_file + ": the operator's changes are back (" + std::to_string(routes) +
                     " routes, " + std::to_string(backends) + " backends)");
            for (const auto& d : dropped) log_line("state: dropped " + d);
        }
    }
    started_ = true;
    link_->start();
    return true;
}

void Service::stop() {
    if (!started_) return;
    started_ = false;
    if (checker_) checker_->stop();  // no more callbacks into events_/link_
    link_->stop();
}

// ---- health ---------------------------------------------------------------

void Service::discover(DpConn& conn) {
    // Restart without disturbance: the data plane's current backend states
    // become the checker's starting states, so the first sync describes
    // exactly what the data plane has (no change) and a backend only moves
    // after `rise` or `fall` probes.
    std::set<std::string> vips;
    {
        std::lock_guard<std::mutex> g(mu_);
        for (const auto& t : ds_.health_targets()) vips.insert(t.key.vip);
    }
    std::map<BackendKey, bool> observed;
    for (const auto& name : vips) {
        channel::Reply r = conn.call("show", Json{{"what", "backends"}, {"vip", name}}, std::chrono::seconds(2));
        if (!conn.connected()) {
            log_line("health: the data plane went away while reading backend states; they start as configured");
            break;
        }
        if (!r.ok) {
            // A VIP the data plane does not have yet (new in the file): its
            // backends start from their defaults.
            log_line("health: show backends " + name + ": " + r.error.message);
            continue;
        }
        for (Json* e : backend_entries(r.result)) {
            net::IpAddr a;
            uint16_t port = 0;
            std::string state;
            if (backend_entry(*e, &a, &port, &state)) observed[BackendKey{name, a, port}] = state != "down";
        }
    }
    init_health(observed, "the data plane");
}

void Service::init_health(const std::map<BackendKey, bool>& observed, const std::string& source) {
    size_t up = 0, down = 0, known = 0;
    {
        std::lock_guard<std::mutex> g(mu_);
        if (health_ready_) return;
        health_ready_ = true;
        if (!checker_) return;
        for (const auto& t : ds_.health_targets()) {
            auto it = observed.find(t.key);
            // Not seen (a backend the data plane does not have): up, as
            // HAProxy starts a server; it goes down after `fall` failures.
            const bool u = it == observed.end() ? true : it->second;
            known += it != observed.end();
            ds_.set_health(t.key, u);
            (u ? up : down)++;
        }
    }
    log_line("health: starting " + std::to_string(up + down) + " checks; initial states from " + source + " (" +
             std::to_string(known) + " known): " + std::to_string(up) + " up, " + std::to_string(down) + " down");
    update_targets();
    checker_->start();
}

void Service::update_targets() {
    if (!checker_) return;
    std::vector<health::Target> ts;
    std::vector<std::string> skipped;
    {
        std::lock_guard<std::mutex> g(mu_);
        if (!health_ready_) return;  // init_health sets them from the data plane's states
        auto specs = ds_.health_targets(&skipped);
        std::map<BackendKey, uint64_t> ids;
        std::map<uint64_t, BackendKey> keys;
        std::map<uint64_t, HealthTargetSpec> sp;
        for (auto& s : specs) {
            auto it = ids_.find(s.key);
            // Stable ids: the checker keeps the state of a target whose id,
            // address, port and spec did not change.
            const uint64_t id = it != ids_.end() ? it->second : next_id_++;
            if (!ds_.health(s.key)) ds_.set_health(s.key, true);
            health::Target t;
            t.id = id;
            t.address = s.key.address;
            t.port = s.port;
            t.spec = s.spec;
            t.initially_up = ds_.health(s.key).value_or(true);
            ts.push_back(std::move(t));
            ids[s.key] = id;
            keys[id] = s.key;
            sp[id] = s;
        }
        for (auto it = since_.begin(); it != since_.end();)
            it = keys.count(it->first) ? std::next(it) : since_.erase(it);
        ids_.swap(ids);
        keys_.swap(keys);
        specs_.swap(sp);
        ds_.prune_health();
    }
    for (const auto& s : skipped) log_line("health: not checked: " + s);
    checker_->set_targets(std::move(ts));
}

std::vector<std::string> Service::drain_events() {
    std::vector<std::string> dirty;
    Event e;
    while (events_.try_pop(e)) {
        BackendKey key;
        bool changed = false;
        uint32_t n = 0;
        {
            std::lock_guard<std::mutex> g(mu_);
            auto k = keys_.find(e.id);
            if (k == keys_.end()) continue;  // removed since the probe
            key = k->second;
            changed = ds_.set_health(key, e.up);
            since_[e.id] = e.at;
            auto s = specs_.find(e.id);
            if (s != specs_.end()) n = e.up ? s->second.spec.rise : s->second.spec.fall;
        }
        std::string line = "health: " + key_text(key) + " is " + (e.up ? "up" : "down") + " at " + utc_time(e.at) +
                           " after " + std::to_string(n) + (e.up ? " successes" : " failures");
        if (e.up)
            line += " (latency " + std::to_string(e.last.latency_us / 1000.0).substr(0, 6) + " ms)";
        else
            line += " (reason: " + (e.last.error.empty() ? std::string("probe failed") : e.last.error) + ")";
        if (!changed) line += "; its state in the data plane does not change (drained or configured so)";
        log_line(line);
        if (changed) dirty.push_back(key.vip);
    }
    return dirty;
}

Json Service::vip_items(const std::vector<std::string>& names) {
    Json items = Json::array();
    std::lock_guard<std::mutex> g(mu_);
    for (const auto& n : names)
        if (auto v = ds_.effective_vip(n)) items.push_back(Json{{"op", "set"}, {"vip", channel::to_json(*v)}});
    return items;
}

// ---- operator changes -------------------------------------------------------

void Service::persist(Json* result) {
    if (opt_.state_file.empty()) return;
    Overlay o;
    {
        std::lock_guard<std::mutex> g(mu_);
        o = ds_.overlay();
    }
    std::string err;
    if (!save_state_file(opt_.state_file, o, &err)) {
        log_line("state: " + err + " (the change is live but will not survive a restart)");
        if (result) (*result)["state_file_error"] = err;
    }
}

Outcome Service::change(const OperatorChange& c) {
    try {
        std::lock_guard<std::mutex> op(op_mu_);
        ChangeOutcome oc;
        {
            std::lock_guard<std::mutex> g(mu_);
            oc = ds_.apply(c);
        }
        if (!oc.ok) return oc.error;
        if (!oc.changed) return Json{{"changed", false}};
        const bool backends = !oc.vips.empty();
        if (backends) update_targets();  // a new backend starts being probed, a removed one stops
        PushResult r = link_->push(oc.route_items, oc.vips, opt_.request_timeout);
        if (r.kind == PushResult::Kind::refused) {
            {
                std::lock_guard<std::mutex> g(mu_);
                ds_.undo(oc.undo);
            }
            if (backends) {
                update_targets();
                // A health transition may have ridden on the refused apply:
                // send these VIPs again as they are now.
                link_->mark_dirty(oc.vips);
            }
            log_line("operator: " + describe(c) + " refused by the data plane: " + r.reply.error.message);
            channel::Error e = r.reply.error;
            e.id = 0;
            return e;
        }
        Json res{{"changed", true}};
        if (r.kind == PushResult::Kind::applied) {
            res["pushed"] = true;
            res["dataplane"] = r.reply.result;
        } else {
            res["pushed"] = false;
            res["dataplane_error"] = r.error;
        }
        persist(&res);
        log_line("operator: " + describe(c) +
                 (r.kind == PushResult::Kind::applied
                      ? std::string(": applied")
                      : ": in the desired state; goes to the data plane with the next sync (" + r.error + ")"));
        return res;
    } catch (const std::exception& e) {
        channel::Error err;
        err.code = ErrorCode::internal;
        err.message = std::string("internal error: ") + e.what();
        log_line("operator: " + err.message);
        return err;
    }
}

Outcome Service::reload() {
    try {
        std::lock_guard<std::mutex> op(op_mu_);
        channel::Error err;
        if (opt_.config_path.empty()) {
            err.code = ErrorCode::rejected;
            err.message = "sluice-control was started without a config file path";
            return err;
        }
        log_line("reload: reading " + opt_.config_path);
        config::LoadResult lr = config::load_config_file(opt_.config_path);
        if (!lr.ok()) {
            err.code = ErrorCode::rejected;
            err.message = "the config file has errors; nothing changed";
            for (const auto& e : lr.errors()) {
                err.errors.push_back({e.field, e.to_string()});
                log_line("reload: " + e.to_string());
            }
            log_line("reload: rejected " + opt_.config_path + "; the running state stays");
            return err;
        }
        const config::Config& nc = lr.config();
        if (!same_control(nc.control, control_))
            log_line("reload: the control section changed; sluice-control applies it on its next start only");
        DesiredState old;
        {
            std::lock_guard<std::mutex> g(mu_);
            old = ds_;
            ds_.load_config(nc);  // the file is the desired state again: the operator's changes are cleared
        }
        update_targets();
        PushResult s = link_->sync_now(opt_.request_timeout);
        PushResult rl;
        bool reloaded = false;
        if (s.kind == PushResult::Kind::refused) {
            // The new routes may need the file's new interface addresses,
            // which only the data plane's own reload applies: reload it, then
            // try the sync once more.
            rl = link_->request("reload", Json::object(), opt_.request_timeout);
            reloaded = true;
            if (rl.kind == PushResult::Kind::applied) s = link_->sync_now(opt_.request_timeout);
        }
        if (s.kind == PushResult::Kind::refused) {
            {
                std::lock_guard<std::mutex> g(mu_);
                ds_ = old;
                // Health moved on during the attempt: the checker is the truth.
                if (checker_)
                    for (const auto& st : checker_->snapshot()) {
                        auto k = keys_.find(st.id);
                        if (k != keys_.end()) ds_.set_health(k->second, st.up);
                    }
            }
            update_targets();
            err = s.reply.error;
            err.id = 0;
            err.message = "the data plane refused the new state; the previous one stays: " + err.message;
            log_line("reload: " + err.message);
            return err;
        }
        persist(nullptr);  // the overlay is empty now: the state file goes away
        if (!reloaded) rl = link_->request("reload", Json::object(), opt_.request_timeout);
        Json res{{"applied", true}, {"sync", push_json(s)}, {"dataplane_reload", push_json(rl)}};
        log_line(std::string("reload: applied ") + opt_.config_path + "; operator changes cleared; sync " +
                 (s.kind == PushResult::Kind::applied ? "applied" : "pending (" + s.error + ")") +
                 "; data plane reload " +
                 (rl.kind == PushResult::Kind::applied   ? "applied"
                  : rl.kind == PushResult::Kind::refused ? "refused: " + rl.reply.error.message
                                                         : "not done: " + rl.error));
        return res;
    } catch (const std::exception& e) {
        channel::Error err;
        err.code = ErrorCode::internal;
        err.message = std::string("internal error: ") + e.what();
        log_line("reload: " + err.message);
        return err;
    }
}

// ---- views ------------------------------------------------------------------

bool Service::has_vip(const std::string& name) const {
    std::lock_guard<std::mutex> g(mu_);
    return ds_.has_vip(name);
}

std::vector<std::string> Service::vip_names() const {
    std::lock_guard<std::mutex> g(mu_);
    return ds_.vip_names();
}

DesiredState Service::desired() const {
    std::lock_guard<std::mutex> g(mu_);
    return ds_;
}

health::CheckerStats Service::checker_stats() const { return checker_ ? checker_->stats() : health::CheckerStats{}; }

std::vector<HealthRow> Service::health_rows() const {
    std::vector<health::TargetStatus> snap;
    if (checker_) snap = checker_->snapshot();
    std::vector<HealthRow> rows;
    rows.reserve(snap.size());
    std::lock_guard<std::mutex> g(mu_);
    for (auto& st : snap) {
        auto k = keys_.find(st.id);
        if (k == keys_.end()) continue;
        HealthRow r;
        r.key = k->second;
        auto s = specs_.find(st.id);
        if (s != specs_.end()) {
            r.probe_port = s->second.port;
            r.rise = s->second.spec.rise;
            r.fall = s->second.spec.fall;
        }
        auto t = since_.find(st.id);
        if (t != since_.end()) r.since = t->second;
        r.status = std::move(st);
        rows.push_back(std::move(r));
    }
    return rows;
}

namespace {
Json health_json(const HealthRow& r) {
    Json last{{"ok", r.status.last.ok}, {"latency_ms", r.status.last.latency_us / 1000.0}};
    if (!r.status.last.error.empty()) last["error"] = r.status.last.error;
    Json j{{"state", r.status.up ? "up" : "down"},
           {"probed", r.status.probed},
           {"progress", r.status.progress},
           {"rise", r.rise},
           {"fall", r.fall},
           {"checks", r.status.checks},
           {"failures", r.status.failures},
           {"transitions", r.status.transitions},
           {"probe_port", r.probe_port},
           {"last", std::move(last)}};
    if (r.since.time_since_epoch().count() != 0) j["since"] = utc_time(r.since);
    return j;
}
}  // namespace

Json Service::health_list() const {
    Json list = Json::array();
    for (const auto& r : health_rows()) {
        Json j = health_json(r);
        j["vip"] = r.key.vip;
        j["address"] = net::to_string(r.key.address);
        j["port"] = r.key.port;
        list.push_back(std::move(j));
    }
    const auto st = checker_stats();
    return Json{{"backends", std::move(list)},
                {"checker", Json{{"targets", st.targets},
                                 {"probes", st.probes},
                                 {"failures", st.failures},
                                 {"timeouts", st.timeouts},
                                 {"socket_errors", st.socket_errors},
                                 {"in_flight", st.in_flight}}}};
}

Json Service::merge_backends(const Json& dp_result, const std::string& vip) const {
    Json out = dp_result;
    std::map<BackendKey, HealthRow> rows;
    for (auto& r : health_rows())
        if (r.key.vip == vip) rows.emplace(r.key, std::move(r));
    std::lock_guard<std::mutex> g(mu_);
    for (Json* e : backend_entries(out)) {
        net::IpAddr a;
        uint16_t port = 0;
        std::string state;
        if (!backend_entry(*e, &a, &port, &state)) continue;
        const BackendKey k{vip, a, port};
        auto v = ds_.backend(k);
        if (!v) continue;
        (*e)["admin"] = v->drained ? "drain" : "up";
        (*e)["desired_state"] = api::to_string(v->effective);
        auto r = rows.find(k);
        if (r != rows.end())
            (*e)["health"] = health_json(r->second);
        else if (v->checked)
            (*e)["health"] = Json{{"state", "unknown"}};
    }
    return out;
}

Json Service::control_status() const {
    const LinkStatus ls = link_->status();
    size_t up = 0, drain = 0, down = 0, hup = 0, hdown = 0, routes = 0, vips = 0, ov_routes = 0, ov_backends = 0;
    bool ready;
    {
        std::lock_guard<std::mutex> g(mu_);
        for (const auto& name : ds_.vip_names()) {
            ++vips;
            for (const auto& b : ds_.backends(name)) {
                if (b.effective == api::BackendState::up)
                    ++up;
                else if (b.effective == api::BackendState::drain)
                    ++drain;
                else
                    ++down;
                if (b.health) (*b.health ? hup : hdown)++;
            }
        }
        routes = ds_.route_count();
        ov_routes = ds_.overlay().routes.size();
        ov_backends = ds_.overlay().backends.size();
        ready = health_ready_;
    }
    Json j{{"pid", uint64_t(::getpid())},
           {"config", opt_.config_path},
           {"state_file", opt_.state_file},
           {"dataplane_connected", ls.connected},
           {"dataplane_instance", ls.instance},
           {"dataplane_pid", ls.dataplane_pid},
           {"synced", ls.synced},
           {"generation", ls.generation},
           {"last_sync_generation", ls.last_sync_generation},
           {"last_sync_changes", ls.last_sync_changes},
           {"syncs", ls.syncs},
           {"sync_failures", ls.sync_failures},
           {"applies", ls.applies},
           {"apply_failures", ls.apply_failures},
           {"connects", ls.connects},
           {"routes", routes},
           {"vips", vips},
           {"backends", Json{{"up", up}, {"drain", drain}, {"down", down}}},
           {"health", Json{{"started", ready}, {"up", hup}, {"down", hdown}}},
           {"operator_changes", Json{{"routes", ov_routes}, {"backends", ov_backends}}}};
    if (ls.syncs) {
        j["last_sync"] = utc_time(ls.last_sync);
        j["last_sync_age_s"] = std::chrono::duration<double>(std::chrono::system_clock::now() - ls.last_sync).count();
    } else {
        j["last_sync"] = nullptr;
    }
    if (!ls.last_error.empty()) j["last_error"] = ls.last_error;
    return j;
}

}  // namespace sluice::control
