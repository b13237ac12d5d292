#include "dataplane/channel/sync.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <type_traits>

#include "config/load.hpp"
#include "config/rules.hpp"
#include "dataplane/port_registry.hpp"
#include "dataplane/reload/config_diff.hpp"
#include "dataplane/tables/builder.hpp"

namespace sluice::dp {

using channel::FieldError;
using channel::Json;

namespace {

std::string item_path(const std::string& at, size_t i) { return at + "[" + std::to_string(i) + "]"; }

bool fail(FieldError* err, std::string field, std::string message) {
    err->field = std::move(field);
    err->message = std::move(message);
    return false;
}

// The array under `key` of an object (absent or null: no items).
bool array_of(const Json& args, const char* key, const Json** out, FieldError* err) {
    *out = nullptr;
    auto it = args.find(key);
    if (it == args.end() || it->is_null()) return true;
    if (!it->is_array())
        return fail(err, std::string("args.") + key, std::string("expected a list of ") + key + ", got " +
                                                         (it->is_object() ? "an object" : it->dump().substr(0, 60)));
    *out = &*it;
    return true;
}

bool only_keys(const Json& obj, const std::string& at, std::initializer_list<const char*> keys, FieldError* err) {
    for (const auto& [k, v] : obj.items()) {
        bool known = false;
        for (const char* x : keys) known = known || k == x;
        if (known) continue;
        std::string msg = "unknown field \"" + k.substr(0, 60) + "\"; expected one of: ";
        size_t i = 0;
        for (const char* x : keys) msg += (i++ ? ", " : "") + std::string(x);
        return fail(err, at.empty() ? k : at + "." + k.substr(0, 60), msg);
    }
    return true;
}

config::VipConfig vip_config(const api::Vip& v) {
    config::VipConfig c;
    static_cast<api::Vip&>(c) = v;
    return c;
}

// "set" or "del" (or "clear" for neighbors) from an op item.
bool op_of(const Json& item, const std::string& at, const char* del_name, bool* del, FieldError* err) {
    if (!item.is_object()) return fail(err, at, "expected an object with \"op\"");
    auto it = item.find("op");
    if (it == item.end()) return fail(err, at + ".op", std::string("required field \"op\" is missing; expected \"set\" or \"") + del_name + "\"");
    if (it->is_string() && *it == "set") {
        *del = false;
        return true;
    }
    if (it->is_string() && *it == del_name) {
        *del = true;
        return true;
    }
    return fail(err, at + ".op", std::string("expected \"set\" or \"") + del_name + "\", got " + it->dump().substr(0, 60));
}

Json without_op(const Json& item) {
    Json c = item;
    c.erase("op");
    return c;
}

// Maps a validator field ("routes[3].nexthops[0].via") of the assembled
// Config back to the request's numbering, by kind.
struct Renumber {
    std::vector<size_t> routes, neighbors, vips;  // config index -> request index (SIZE_MAX: not the request's)
    std::string apply(const std::string& field) const {
        for (auto [kind, map] : {std::pair<const char*, const std::vector<size_t>*>{"routes[", &routes},
                                 {"neighbors[", &neighbors},
                                 {"vips[", &vips}}) {
            std::string k = kind;
            if (field.compare(0, k.size(), k) != 0) continue;
            size_t close = field.find(']', k.size());
            if (close == std::string::npos) return field;
            size_t idx = 0;
            try {
                idx = std::stoul(field.substr(k.size(), close - k.size()));
            } catch (const std::exception&) {
                return field;
            }
            if (idx >= map->size()) return field;
            size_t to = (*map)[idx];
            if (to == SIZE_MAX) return field + " (a running item)";
            return k + std::to_string(to) + field.substr(close);
        }
        return field;
    }
};

std::vector<channel::Error::Item> config_errors(const std::vector<config::ConfigError>& errs, const Renumber* rn) {
    std::vector<channel::Error::Item> out;
    for (const auto& e : errs) {
        std::string what = e.field.empty() ? std::string("config") : (rn ? rn->apply(e.field) : e.field);
        out.push_back({what, e.message});
    }
    return out;
}

// The index inside "kind[N]..." or SIZE_MAX.
size_t index_in(const std::string& what, const std::string& kind, size_t* close_at) {
    if (what.compare(0, kind.size(), kind) != 0) return SIZE_MAX;
    size_t close = what.find(']', kind.size());
    if (close == std::string::npos || close == kind.size()) return SIZE_MAX;
    size_t v = 0;
    for (size_t i = kind.size(); i < close; ++i) {
        char c = what[i];
        if (c < '0' || c > '9') return SIZE_MAX;
        v = v * 10 + size_t(c - '0');
    }
    *close_at = close;
    return v;
}

// A request's three lists (each absent or null: no items).
struct Lists {
    const Json* routes = nullptr;
    const Json* nbrs = nullptr;
    const Json* vips = nullptr;
    size_t size() const {
        return (routes ? routes->size() : 0) + (nbrs ? nbrs->size() : 0) + (vips ? vips->size() : 0);
    }
};

bool lists_of(const Json& args, Lists* l, FieldError* err) {
    return array_of(args, "routes", &l->routes, err) && array_of(args, "neighbors", &l->nbrs, err) &&
           array_of(args, "vips", &l->vips, err);
}

// Decodes each item of `list` (none when absent) onto the end of *out with
// decode(item, "<at>[i]", &value, err); false at the first that does not.
template <class T>
bool decode_items(const Json* list, const char* at,
                  bool (*decode)(const Json&, const std::string&, std::type_identity_t<T>*, FieldError*),
                  std::vector<T>* out, FieldError* err) {
    if (!list) return true;
    for (size_t i = 0; i < list->size(); ++i) {
        T v;
        if (!decode((*list)[i], item_path(at, i), &v, err)) return false;
        out->push_back(std::move(v));
    }
    return true;
}

// A VIP as the channel carries it (api::Vip); the config file's own fields
// (mark, health, gue_port_set) keep their defaults, as with vip_config().
bool channel_vip(const Json& j, const std::string& at, config::VipConfig* out, FieldError* err) {
    return channel::from_json(j, at, static_cast<api::Vip*>(out), err);
}

// The apply ops: {"op":"set", ...the item...} or the del (clear) form.
bool route_op(const Json& it, const std::string& at, ApplyOps::Route* op, FieldError* err) {
    if (!op_of(it, at, "del", &op->del, err)) return false;
    if (!op->del) return channel::from_json(without_op(it), at, &op->route, err);
    if (!only_keys(it, at, {"op", "prefix"}, err)) return false;
    auto p = it.find("prefix");
    if (p == it.end()) return fail(err, at + ".prefix", "required field \"prefix\" is missing");
    if (!channel::from_json(*p, at + ".prefix", &op->route.prefix, err)) return false;
    if (!net::is_network(op->route.prefix))
        return fail(err, at + ".prefix",
                    "host bits set: did you mean " + net::to_string(net::network_of(op->route.prefix)) + "?");
    return true;
}

bool neighbor_op(const Json& it, const std::string& at, ApplyOps::Neighbor* op, FieldError* err) {
    if (!op_of(it, at, "clear", &op->clear, err)) return false;
    if (!op->clear) return channel::from_json(without_op(it), at, &op->n, err);
    if (!only_keys(it, at, {"op", "port", "address"}, err)) return false;
    if (!channel::get_string(it, at, "port", &op->n.port, err)) return false;
    if (op->n.port.empty()) return fail(err, at + ".port", "expected a port name, got an empty string");
    auto a = it.find("address");
    if (a == it.end()) return fail(err, at + ".address", "required field \"address\" is missing");
    return channel::from_json(*a, at + ".address", &op->n.address, err);
}

bool vip_op(const Json& it, const std::string& at, ApplyOps::Vip* op, FieldError* err) {
    if (!op_of(it, at, "del", &op->del, err)) return false;
    if (!op->del) {
        if (!only_keys(it, at, {"op", "vip"}, err)) return false;
        auto v = it.find("vip");
        if (v == it.end()) return fail(err, at + ".vip", "required field \"vip\" is missing; expected a VIP");
        return channel_vip(*v, at + ".vip", &op->vip, err);
    }
    if (!only_keys(it, at, {"op", "address", "protocol", "port"}, err)) return false;
    auto a = it.find("address");
    if (a == it.end()) return fail(err, at + ".address", "required field \"address\" is missing");
    if (!channel::from_json(*a, at + ".address", &op->vip.key.address, err)) return false;
    std::string proto = "tcp";
    if (!channel::get_string(it, at, "protocol", &proto, err, true)) return false;
    if (proto == "tcp") op->vip.key.proto = api::LbProto::tcp;
    else if (proto == "udp") op->vip.key.proto = api::LbProto::udp;
    else if (proto == "both") op->vip.key.proto = api::LbProto::both;
    else return fail(err, at + ".protocol", "expected tcp, udp or both");
    uint64_t port = 0;
    if (!channel::get_u64(it, at, "port", &port, err, true)) return false;
    if (port > 65535) return fail(err, at + ".port", "expected a whole number 0..65535");
    op->vip.key.port = uint16_t(port);
    return true;
}

}  // namespace

bool stage_part(const Json& args, DesiredState* st, FieldError* err) {
    if (!only_keys(args, "args", {"routes", "neighbors", "vips"}, err)) return false;
    Lists l;
    if (!lists_of(args, &l, err)) return false;
    if (st->items() + l.size() > kMaxStagedItems)
        return fail(err, "args", "a sync may stage at most " + std::to_string(kMaxStagedItems) + " items");
    if (l.routes) st->routes.reserve(st->routes.size() + l.routes->size());
    return decode_items(l.routes, "args.routes", channel::from_json, &st->routes, err) &&
           decode_items(l.nbrs, "args.neighbors", channel::from_json, &st->neighbors, err) &&
           decode_items(l.vips, "args.vips", channel_vip, &st->vips, err);
}

bool decode_apply(const Json& args, ApplyOps* out, FieldError* err) {
    if (!only_keys(args, "args", {"generation", "routes", "neighbors", "vips"}, err)) return false;
    if (!channel::get_u64(args, "args", "generation", &out->generation, err)) return false;
    Lists l;
    if (!lists_of(args, &l, err)) return false;
    if (l.size() > kMaxStagedItems)
        return fail(err, "args", "an apply may carry at most " + std::to_string(kMaxStagedItems) + " items");
    return decode_items(l.routes, "args.routes", route_op, &out->routes, err) &&
           decode_items(l.nbrs, "args.neighbors", neighbor_op, &out->neighbors, err) &&
           decode_items(l.vips, "args.vips", vip_op, &out->vips, err);
}

config::Config running_config(const PortRegistry& ports, const TableBuilder& running) {
    config::Config c;
    c.source = "<control>";
    for (const Port& p : ports.port) {
        if (!p.open) continue;
        config::PortConfig pc;
        static_cast<net::PortSpec&>(pc) = p.spec;
        pc.addresses = running.addresses(p.info.port_id);
        c.ports.push_back(std::move(pc));
    }
    c.workers = running.workers();
    c.neighbor = running.neighbor();
    c.icmp = running.icmp();
    c.lb = running.lb();
    return c;
}

Plan plan_sync(DesiredState& st, const PortRegistry& ports, TableBuilder& running) {
    Plan plan;
    config::Config cfg = running_config(ports, running);
    cfg.routes = std::move(st.routes);
    cfg.neighbors = std::move(st.neighbors);
    cfg.vips = std::move(st.vips);
    std::vector<config::ConfigError> errs = config::rules::validate_filling_ports(cfg);
    if (errs.empty()) {
        diff_routes(cfg.routes, running, plan.batch);
        diff_neighbors(cfg.neighbors, running, plan.batch);
        diff_vips(cfg.vips, running, plan.batch);
    } else {
        plan.errors = config_errors(errs, nullptr);
    }
    st.routes = std::move(cfg.routes);
    st.neighbors = std::move(cfg.neighbors);
    st.vips = std::move(cfg.vips);
    return plan;
}

Plan plan_apply(const ApplyOps& ops, const PortRegistry& ports, TableBuilder& running) {
    Plan plan;
    // What the validator checks: the route and neighbor sets, and the VIPs
    // as they would be after the request (the running ones with the sets
    // and dels applied: names and addresses must stay unique).
    config::Config cfg = running_config(ports, running);
    Renumber rn;
    for (size_t i = 0; i < ops.routes.size(); ++i) {
        if (ops.routes[i].del) continue;
        cfg.routes.push_back(ops.routes[i].route);
        rn.routes.push_back(i);
    }
    for (size_t i = 0; i < ops.neighbors.size(); ++i) {
        if (ops.neighbors[i].clear) continue;
        cfg.neighbors.push_back(ops.neighbors[i].n);
        rn.neighbors.push_back(i);
    }
    std::map<api::VipKey, std::pair<config::VipConfig, size_t>> vips;
    for (const auto& [key, v] : running.vips()) vips[key] = {vip_config(v), SIZE_MAX};
    for (size_t i = 0; i < ops.vips.size(); ++i) {
        const auto& op = ops.vips[i];
        if (op.del) vips.erase(op.vip.key);
        else vips[op.vip.key] = {op.vip, i};
    }
    for (auto& [key, v] : vips) {
        cfg.vips.push_back(v.first);
        rn.vips.push_back(v.second);
    }
    std::vector<config::ConfigError> errs = config::rules::validate_filling_ports(cfg);
    if (!errs.empty()) {
        plan.errors = config_errors(errs, &rn);
        return plan;
    }

    // The batch, in request order. Route sets take the validated copy (a
    // gateway's port filled in).
    api::Batch& b = plan.batch;
    size_t set_i = 0;
    for (const auto& op : ops.routes) {
        if (op.del) {
            b.routes.push_back({api::RouteUpdate::Op::del, op.route.prefix, 0});
            continue;
        }
        const config::Route& r = cfg.routes[set_i++];
        std::vector<api::Nexthop> hops;
        for (const auto& h : r.nexthops) hops.push_back(api::Nexthop{h.via, h.port});
        uint32_t idx = uint32_t(b.nexthop_sets.size());
        for (uint32_t k = 0; k < b.nexthop_sets.size(); ++k)
            if (b.nexthop_sets[k] == hops) idx = k;
        if (idx == b.nexthop_sets.size()) b.nexthop_sets.push_back(std::move(hops));
        b.routes.push_back({api::RouteUpdate::Op::set, r.prefix, idx});
    }
    for (const auto& op : ops.neighbors)
        b.neighbors.push_back({op.clear ? api::NeighborUpdate::Op::clear : api::NeighborUpdate::Op::set, op.n.port,
                               op.n.address, op.n.mac});
    for (size_t i = 0; i < ops.vips.size(); ++i) {
        const auto& op = ops.vips[i];
        // Deleting a VIP that is not there is no change (requests are
        // idempotent), though the builder would refuse it; unless this
        // request set it first (then the builder says it appears twice).
        if (op.del && !running.vips().count(op.vip.key)) {
            bool set_before = false;
            for (const auto& u : b.vips) set_before |= u.op == api::VipUpdate::Op::set && u.vip.key == op.vip.key;
            if (!set_before) continue;
        }
        api::VipUpdate u;
        u.op = op.del ? api::VipUpdate::Op::del : api::VipUpdate::Op::set;
        u.vip = op.vip;
        b.vips.push_back(std::move(u));
        plan.vip_request.push_back(i);
    }
    return plan;
}

std::vector<channel::Error::Item> sync_errors(const std::vector<api::UpdateError>& errs, const api::Batch& batch,
                                              const DesiredState& st) {
    std::vector<channel::Error::Item> out;
    for (const auto& e : errs) {
        std::string what = e.what;
        size_t close = 0;
        if (size_t i = index_in(e.what, "routes[", &close); i != SIZE_MAX && i < batch.routes.size()) {
            const auto& u = batch.routes[i];
            std::string rest = e.what.substr(close + 1);
            auto it = std::find_if(st.routes.begin(), st.routes.end(),
                                   [&](const config::Route& r) { return r.prefix == u.prefix; });
            if (u.op == api::RouteUpdate::Op::set && it != st.routes.end())
                what = "routes[" + std::to_string(it - st.routes.begin()) + "]" + rest;
            else
                what = "route " + net::to_string(u.prefix) + " (running, removed by this sync)" + rest;
        } else if (size_t n = index_in(e.what, "neighbors[", &close); n != SIZE_MAX && n < batch.neighbors.size()) {
            const auto& u = batch.neighbors[n];
            std::string rest = e.what.substr(close + 1);
            auto it = std::find_if(st.neighbors.begin(), st.neighbors.end(), [&](const config::StaticNeighbor& x) {
                return x.port == u.port && x.address == u.address;
            });
            if (u.op == api::NeighborUpdate::Op::set && it != st.neighbors.end())
                what = "neighbors[" + std::to_string(it - st.neighbors.begin()) + "]" + rest;
            else
                what = "neighbor " + net::to_string(u.address) + " on " + u.port + " (running, cleared by this sync)" +
                       rest;
        } else if (size_t v = index_in(e.what, "vips[", &close); v != SIZE_MAX && v < batch.vips.size()) {
            const auto& u = batch.vips[v];
            std::string rest = e.what.substr(close + 1);
            auto it = std::find_if(st.vips.begin(), st.vips.end(),
                                   [&](const config::VipConfig& x) { return x.key == u.vip.key; });
            if (u.op == api::VipUpdate::Op::set && it != st.vips.end())
                what = "vips[" + std::to_string(it - st.vips.begin()) + "]" + rest;
            else
                what = "vip " + u.vip.name + " (running, removed by this sync)" + rest;
        }
        out.push_back({what, e.message});
    }
    return out;
}

std::vector<channel::Error::Item> apply_errors(const std::vector<api::UpdateError>& errs, const Plan& plan) {
    std::vector<channel::Error::Item> out;
    for (const auto& e : errs) {
        std::string what = e.what;
        size_t close = 0;
        if (size_t v = index_in(e.what, "vips[", &close); v != SIZE_MAX && v < plan.vip_request.size())
            what = "vips[" + std::to_string(plan.vip_request[v]) + "]" + e.what.substr(close + 1);
        out.push_back({what, e.message});
    }
    return out;
}

Json applied_result(uint64_t generation, const api::Batch& batch, const api::BatchResult& r) {
    return Json{{"applied", true},
                {"generation", generation},
                {"changes",
                 {{"routes", batch.routes.size()}, {"neighbors", batch.neighbors.size()}, {"vips", batch.vips.size()}}},
                {"fib_ops", r.fib_ops},
                {"maglev_rebuilt", r.maglev_rebuilt},
                {"visible_ns", r.visible_ns}};
}

}  // namespace sluice::dp
