#include "dataplane/channel/show.hpp"

#include <unistd.h>

#include <algorithm>
#include <tuple>

#include <rte_ethdev.h>

#include "control/api/frame.hpp"
#include "dataplane/agent/agent.hpp"
#include "dataplane/agent/telemetry_data.hpp"
#include "dataplane/channel/state.hpp"
#include "dataplane/rdma/telemetry_rdma.hpp"
#include "dataplane/reload/reloader.hpp"
#include "dataplane/shared.hpp"
#include "dataplane/tables/builder.hpp"
#include "drivers/rdma/transport/peer.hpp"

namespace sluice::dp {

using channel::ErrorCode;
using channel::FieldError;
using channel::Json;

namespace {

Json plain(const TelJson& t) { return Json(t); }

// offset and limit (both optional).
bool paging(const Json& args, uint64_t* offset, uint64_t* limit, FieldError* fe) {
    *offset = 0;
    *limit = kDefaultShowLimit;
    if (!channel::get_u64(args, "args", "offset", offset, fe, true)) return false;
    if (!channel::get_u64(args, "args", "limit", limit, fe, true)) return false;
    if (*limit > kMaxShowLimit) {
        fe->field = "args.limit";
        fe->message = "expected at most " + std::to_string(kMaxShowLimit) + ", got " + std::to_string(*limit);
        return false;
    }
    return true;
}

// Only these argument names (and "what").
bool only_args(const Json& args, std::initializer_list<const char*> keys, FieldError* fe) {
    for (const auto& [k, v] : args.items()) {
        if (k == "what") continue;
        bool known = false;
        for (const char* x : keys) known = known || k == x;
        if (known) continue;
        std::string list;
        for (const char* x : keys) list += (list.empty() ? "" : ", ") + std::string(x);
        fe->field = "args." + k.substr(0, 60);
        fe->message = "unknown argument \"" + k.substr(0, 60) + "\" for this show; expected " +
                      (list.empty() ? std::string("none") : list);
        return false;
    }
    return true;
}

Json control_json(const ControlState& st) {
    ControlView v = st.view();
    Json c = Json::object();
    c["connected"] = v.connected;
    c["peer_pid"] = v.peer_pid;
    c["peer_uid"] = v.peer_uid;
    c["generation"] = v.generation;
    c["synced"] = v.synced;
    c["seconds_since_request"] = v.since_request_s < 0 ? Json(nullptr) : Json(v.since_request_s);
    c["forwarding_on_last_state"] = v.forwarding_on_last_state;
    c["connections"] = v.connections;
    return c;
}

Json port_names(const Shared& sh) {
    Json ports = Json::array();
    for (const Port& p : sh.ports.port)
        if (p.open) ports.push_back(p.spec.name);
    return ports;
}

Json show_status(const ShowContext& ctx) {
    Json j = Json::object();
    j["instance"] = ctx.state->instance();
    j["pid"] = int64_t(::getpid());
    j["uptime_s"] = ctx.state->uptime_s();
    j["config_version"] = ctx.reloader->version();
    j["config_file"] = ctx.reloader->path();
    j["owner"] = to_string(ctx.reloader->owner());
    j["control"] = control_json(*ctx.state);
    j["file_prefix"] = ctx.file_prefix;
    j["ports"] = port_names(*ctx.sh);
    j["workers"] = ctx.sh->lb_workers.size();
    {
        RcuDomain::ReadGuard guard(*ctx.sh->rcu);
        const Root* r = ctx.sh->tables->get();
        j["tables_generation"] = r->generation;
    }
    return j;
}

Json show_ports(const Shared& sh) {
    Json out = Json::array();
    for (const Port& port : sh.ports.port) {
        if (!port.open) continue;
        const drivers::PortInfo& p = port.info;
        Json j = plain(gather_port(sh, port));
        j["name"] = port.spec.name;
        j["id"] = p.port_id;
        rte_eth_link link{};
        const RdmaPort* rp = sh.rdma ? sh.rdma->get(p.port_id) : nullptr;
        if (rp)  // an RDMA peer: the link is up when its queue pair is
            link.link_status = rp->peer && rp->peer->state() == drivers::rdma::PeerState::up ? RTE_ETH_LINK_UP : 0;
        else
            rte_eth_link_get_nowait(p.port_id, &link);
        j["link"] = {{"up", link.link_status == RTE_ETH_LINK_UP},
                     {"speed_mbps", link.link_speed},
                     {"full_duplex", link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX}};
        rte_eth_stats st{};
        if (!rp) rte_eth_stats_get(p.port_id, &st);
        j["nic_rx_bytes"] = st.ibytes;
        j["nic_tx_bytes"] = st.obytes;
        Json queues = Json::array();
        for (uint16_t q = 0; q < p.rx_queues && q < kMaxQueuesPerPort; ++q) {
            Json qj = {{"queue", q}, {"rx_packets", read(sh.queues[p.port_id][q].rx)}};
            if (q < RTE_ETHDEV_QUEUE_STAT_CNTRS) {
                qj["nic_rx_packets"] = st.q_ipackets[q];
                qj["nic_rx_bytes"] = st.q_ibytes[q];
                qj["nic_rx_errors"] = st.q_errors[q];
            }
            queues.push_back(std::move(qj));
        }
        j["rx_queue_counters"] = std::move(queues);
        // The per-queue keys (rxq<N>) are telemetry's form of the same.
        for (uint16_t q = 0; q < p.rx_queues && q < kMaxQueuesPerPort; ++q) j.erase("rxq" + std::to_string(q));
        out.push_back(std::move(j));
    }
    return Json{{"ports", std::move(out)}};
}

Outcome show_neighbors(const ShowContext& ctx, const Json& args) {
    FieldError fe;
    uint64_t offset = 0, limit = 0;
    if (!only_args(args, {"offset", "limit"}, &fe) || !paging(args, &offset, &limit, &fe)) return field_error(fe);
    Json rows = Json::array();
    NeighborPage first;
    if (limit > 0) {
        // Two pages of `limit` rows cover [offset, offset + limit).
        uint32_t lim = uint32_t(limit);
        uint64_t page = offset / lim;
        for (uint64_t pg = page; pg <= page + 1 && pg <= UINT32_MAX; ++pg) {
            NeighborPage p = ctx.agent->neighbors_page(uint32_t(pg), lim);
            if (pg == page) first = p;
            for (size_t i = 0; i < p.entries.size(); ++i) {
                uint64_t idx = pg * lim + i;
                if (idx < offset || idx >= offset + limit) continue;
                const NeighborView& n = p.entries[i];
                rows.push_back({{"port", n.port},
                                {"address", n.address},
                                {"mac", n.mac},
                                {"state", n.state},
                                {"static", n.is_static},
                                {"pending", n.pending}});
            }
        }
    } else {
        first = ctx.agent->neighbors_page(0, 1);
    }
    Json counts = Json::object();
    for (int v6 = 0; v6 < 2; ++v6)
        for (size_t s = 0; s < nbr::kStateCount; ++s)
            counts[std::string(v6 ? "v6_" : "v4_") + nbr::to_string(nbr::State(s))] =
                first.summary.by_state[size_t(v6)][s];
    return Json{{"capacity", first.summary.capacity},
                {"total", first.summary.total},
                {"offset", offset},
                {"limit", limit},
                {"counts", std::move(counts)},
                {"neighbors", std::move(rows)}};
}

Outcome show_vips(const ShowContext& ctx, const Json& args) {
    FieldError fe;
    if (!only_args(args, {}, &fe)) return field_error(fe);
    TelJson totals;
    std::vector<TelJson> rows;
    std::vector<api::Vip> configs;
    lb_gather_vips(*ctx.sh, &totals, &rows, &configs);
    Json vips = Json::array();
    for (size_t i = 0; i < rows.size(); ++i) {
        Json v = plain(rows[i]);
        v["config"] = channel::to_json(configs[i]);
        vips.push_back(std::move(v));
    }
    Json j = plain(totals);
    j["vips"] = std::move(vips);
    return j;
}

Outcome show_backends(const ShowContext& ctx, const Json& args) {
    FieldError fe;
    std::string vip;
    if (!only_args(args, {"vip"}, &fe) || !channel::get_string(args, "args", "vip", &vip, &fe))
        return field_error(fe);
    std::vector<TelJson> rows;
    if (!lb_gather_backends(*ctx.sh, vip, &rows))
        return make_error(ErrorCode::bad_field, "no VIP named \"" + vip.substr(0, 60) + "\"", "args.vip");
    Json list = Json::array();
    for (const auto& r : rows) list.push_back(plain(r));
    return Json{{"vip", vip}, {"backends", std::move(list)}};
}

// A port as a number or a decimal string.
bool port_arg(const Json& args, const char* key, std::string* out, FieldError* fe) {
    auto it = args.find(key);
    if (it == args.end()) {
        fe->field = std::string("args.") + key;
        fe->message = std::string("required field \"") + key + "\" is missing; expected a port 0..65535";
        return false;
    }
    if (it->is_number_unsigned() && it->get<uint64_t>() <= 65535) {
        *out = std::to_string(it->get<uint64_t>());
        return true;
    }
    if (it->is_string()) {
        *out = it->get<std::string>();
        return true;
    }
    fe->field = std::string("args.") + key;
    fe->message = "expected a port 0..65535";
    return false;
}

Outcome show_which(const ShowContext& ctx, const Json& args) {
    FieldError fe;
    std::string proto, src, dst, sport, dport;
    if (!only_args(args, {"protocol", "src", "sport", "dst", "dport"}, &fe) ||
        !channel::get_string(args, "args", "protocol", &proto, &fe) ||
        !channel::get_string(args, "args", "src", &src, &fe) || !channel::get_string(args, "args", "dst", &dst, &fe) ||
        !port_arg(args, "sport", &sport, &fe) || !port_arg(args, "dport", &dport, &fe))
        return field_error(fe);
    if (proto != "tcp" && proto != "udp")
        return make_error(ErrorCode::bad_field, "expected tcp or udp", "args.protocol");
    lb::FlowKey k;
    if (!lb_flow_key(proto, src, sport, dst, dport, &k))
        return make_error(ErrorCode::bad_field,
                          "expected src and dst addresses of one family and ports 0..65535", "args");
    TelJson out;
    if (!lb_gather_which(*ctx.sh, k, &out))
        return make_error(ErrorCode::internal, "no worker answered within a second");
    Json j = plain(out);
    j["tracked"] = out["tracked"].get<uint64_t>() != 0;
    return j;
}

// The next hops a route value stands for, from the published next-hop
// table (builder thread: the tables it published last).
Json nexthops_of(const Shared& sh, const Root& r, uint64_t value) {
    Json hops = Json::array();
    auto one = [&](uint32_t idx) {
        if (idx >= r.nexthops->nh.size()) return;
        const NextHop& h = r.nexthops->nh[idx];
        Json o = Json::object();
        bool gw = std::any_of(h.gateway.begin(), h.gateway.end(), [](uint8_t b) { return b != 0; });
        if (gw) o["via"] = net::to_string(h.v6 ? net::IpAddr::v6(h.gateway.data()) : net::IpAddr::v4(h.gateway.data()));
        o["port"] = sh.ports.name(h.port);
        hops.push_back(std::move(o));
    };
    if (nh_kind(value) == NhKind::single) {
        one(nh_index(value));
    } else if (nh_kind(value) == NhKind::group) {
        uint32_t g = nh_index(value);
        if (g < r.nexthops->groups.size()) {
            const EcmpGroup& grp = r.nexthops->groups[g];
            for (uint32_t i = 0; i < grp.count && grp.first + i < r.nexthops->members.size(); ++i)
                one(r.nexthops->members[grp.first + i]);
        }
    }
    return hops;
}

auto prefix_order(const net::Prefix& p) { return std::make_tuple(p.addr.family, p.addr.bytes, p.len); }

}  // namespace

Json hello_result(const ShowContext& ctx) {
    ControlView v = ctx.state->view();
    return Json{{"server", "sluice-dp"},
                {"version", channel::kVersion},
                {"instance", ctx.state->instance()},
                {"pid", int64_t(::getpid())},
                {"generation", v.generation},
                {"synced", v.synced},
                {"owner", to_string(ctx.reloader->owner())},
                {"config_version", ctx.reloader->version()},
                {"file_prefix", ctx.file_prefix},
                {"ports", port_names(*ctx.sh)}};
}

Outcome show_now(const ShowContext& ctx, const std::string& what, const Json& args) {
    FieldError fe;
    if (what == "status") {
        if (!only_args(args, {}, &fe)) return field_error(fe);
        return show_status(ctx);
    }
    if (what == "ports") {
        if (!only_args(args, {}, &fe)) return field_error(fe);
        return show_ports(*ctx.sh);
    }
    if (what == "drops") {
        if (!only_args(args, {}, &fe)) return field_error(fe);
        return Json{{"drops", plain(gather_drops(*ctx.sh))}};
    }
    if (what == "workers") {
        if (!only_args(args, {}, &fe)) return field_error(fe);
        return Json{{"workers", plain(gather_workers(*ctx.sh))}};
    }
    if (what == "rdma") {  // RDMA peers (docs/rdma.md): one row each, in config order
        if (!only_args(args, {}, &fe)) return field_error(fe);
        Json rows = Json::array();
        if (ctx.sh->rdma) {
            const Json peers = plain(gather_rdma(*ctx.sh->rdma));  // alive through the loop
            for (auto& [name, v] : peers.items()) {
                Json row = {{"name", name}};
                row.update(v);
                rows.push_back(std::move(row));
            }
        }
        return Json{{"rdma", std::move(rows)}};
    }
    if (what == "neighbors") return show_neighbors(ctx, args);
    if (what == "vips") return show_vips(ctx, args);
    if (what == "backends") return show_backends(ctx, args);
    if (what == "which") return show_which(ctx, args);
    return make_error(ErrorCode::internal, "show " + what + " is not answered here");
}

Outcome show_routes(const Shared& sh, TableBuilder& b, const Json& args) {
    FieldError fe;
    uint64_t offset = 0, limit = 0;
    if (!only_args(args, {"prefix", "lookup", "offset", "limit"}, &fe) || !paging(args, &offset, &limit, &fe))
        return field_error(fe);
    const Root& r = *sh.tables->get();  // the builder's own last publication
    auto route_json = [&](const net::Prefix& p, uint64_t value) {
        return Json{{"prefix", net::to_string(p)}, {"nexthops", nexthops_of(sh, r, value)}};
    };
    Json routes = Json::array();
    Json out = Json::object();
    out["total"] = b.route_count();
    if (args.contains("prefix") || args.contains("lookup")) {
        if (args.contains("prefix") && args.contains("lookup"))
            return make_error(ErrorCode::bad_field, "give prefix or lookup, not both", "args.lookup");
        uint32_t mark = b.next_mark();
        if (args.contains("prefix")) {
            net::Prefix p;
            if (!channel::from_json(args["prefix"], "args.prefix", &p, &fe)) return field_error(fe);
            p = net::network_of(p);
            uint64_t v = b.route_value(p, mark);
            if (v != kNoRoute) routes.push_back(route_json(p, v));
        } else {
            net::IpAddr a;
            if (!channel::from_json(args["lookup"], "args.lookup", &a, &fe)) return field_error(fe);
            for (int len = int(net::max_len(a)); len >= 0; --len) {
                net::Prefix p = net::network_of(net::Prefix{a, uint8_t(len)});
                uint64_t v = b.route_value(p, mark);
                if (v == kNoRoute) continue;
                routes.push_back(route_json(p, v));
                break;
            }
        }
        out["routes"] = std::move(routes);
        return out;
    }
    // Every route, then the page in (family, address, length) order.
    std::vector<net::Prefix> all;
    all.reserve(b.route_count());
    b.for_each_unmarked_route(b.next_mark(), [&](const net::Prefix& p) { all.push_back(p); });
    auto less = [](const net::Prefix& x, const net::Prefix& y) { return prefix_order(x) < prefix_order(y); };
    size_t from = std::min<size_t>(offset, all.size());
    size_t to = std::min<size_t>(from + limit, all.size());
    if (from < all.size()) {
        std::nth_element(all.begin(), all.begin() + ptrdiff_t(from), all.end(), less);
        std::partial_sort(all.begin() + ptrdiff_t(from), all.begin() + ptrdiff_t(to), all.end(), less);
    }
    uint32_t mark = b.next_mark();
    for (size_t i = from; i < to; ++i) routes.push_back(route_json(all[i], b.route_value(all[i], mark)));
    out["offset"] = offset;
    out["limit"] = limit;
    out["routes"] = std::move(routes);
    return out;
}

}  // namespace sluice::dp
