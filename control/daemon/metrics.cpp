// The Prometheus endpoint (metrics.hpp). Metric names follow the
// Prometheus naming rules: `sluice_` prefix, snake_case, base units in the
// name (_bytes, _seconds), `_total` on counters.
#include "control/daemon/metrics.hpp"

#include <httplib.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <initializer_list>
#include <optional>

#include "control/daemon/cores.hpp"
#include "control/daemon/log.hpp"

namespace sluice::control {

using prom::Family;
using prom::Labels;
using prom::Type;

// ---- health latency histograms ------------------------------------------------

std::vector<double> HealthAggregator::bounds() {
    return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
}

void HealthAggregator::sample(const std::vector<HealthRow>& rows) {
    using PerVip = std::map<std::string, prom::Histogram>;
    std::lock_guard<std::mutex> g(mu_);
    std::vector<uint64_t> delta(rows.size(), 0);
    auto work = [&](size_t i, PerVip& local) {
        const auto& r = rows[i];
        auto it = prev_checks_.find(r.status.id);  // read only while parallel
        const uint64_t before = it == prev_checks_.end() ? 0 : it->second;
        const uint64_t d = r.status.checks >= before ? r.status.checks - before : r.status.checks;
        delta[i] = d;
        if (d == 0 || !r.status.probed) return;
        auto h = local.find(r.key.vip);
        if (h == local.end()) h = local.emplace(r.key.vip, prom::Histogram(bounds())).first;
        h->second.observe(r.status.last.latency_us / 1e6, d);
    };
    PerVip merged;
    // Below a few hundred targets the serial loop is faster than waking
    // TBB's workers.
    if (arena_ && rows.size() >= 512) {
        tbb::enumerable_thread_specific<PerVip> locals;
        arena_->execute([&] {
            tbb::parallel_for(tbb::blocked_range<size_t>(0, rows.size(), 256),
                              [&](const tbb::blocked_range<size_t>& r) {
                                  PerVip& l = locals.local();
                                  for (size_t i = r.begin(); i != r.end(); ++i) work(i, l);
                              });
        });
        locals.combine_each([&](const PerVip& l) {
            for (const auto& [vip, h] : l) {
                auto m = merged.find(vip);
                if (m == merged.end())
                    merged.emplace(vip, h);
                else
                    m->second.merge(h);
            }
        });
    } else {
        for (size_t i = 0; i < rows.size(); ++i) work(i, merged);
    }
    for (const auto& [vip, h] : merged) {
        auto m = per_vip_.find(vip);
        if (m == per_vip_.end())
            per_vip_.emplace(vip, h);
        else
            m->second.merge(h);
    }
    std::unordered_map<uint64_t, uint64_t> next;
    next.reserve(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) next[rows[i].status.id] = rows[i].status.checks;
    prev_checks_.swap(next);
}

std::map<std::string, prom::Histogram> HealthAggregator::histograms() const {
    std::lock_guard<std::mutex> g(mu_);
    return per_vip_;
}

// ---- helpers for the data plane's show results ---------------------------------

namespace {

// Families by name, in the order first asked for.
class Registry {
public:
    explicit Registry(std::vector<Family>& out) : out_(out) {
        for (size_t i = 0; i < out_.size(); ++i) index_[out_[i].name] = i;
    }
    Family& get(const std::string& name, const std::string& help, Type type) {
        auto it = index_.find(name);
        if (it != index_.end()) return out_[it->second];
        index_[name] = out_.size();
        out_.push_back(Family{name, help, type, {}});
        return out_.back();
    }

private:
    std::vector<Family>& out_;
    std::map<std::string, size_t> index_;
};

std::optional<uint64_t> num(const Json& o, std::initializer_list<const char*> keys) {
    if (!o.is_object()) return std::nullopt;
    for (const char* k : keys) {
        auto it = o.find(k);
        if (it == o.end()) continue;
        if (it->is_number_unsigned()) return it->get<uint64_t>();
        if (it->is_number_integer() && it->get<int64_t>() >= 0) return uint64_t(it->get<int64_t>());
        if (it->is_number_float() && it->get<double>() >= 0) return uint64_t(it->get<double>());
    }
    return std::nullopt;
}

std::string str(const Json& o, std::initializer_list<const char*> keys) {
    if (!o.is_object()) return "";
    for (const char* k : keys) {
        auto it = o.find(k);
        if (it == o.end()) continue;
        if (it->is_string()) return it->get<std::string>();
        if (it->is_number_unsigned()) return std::to_string(it->get<uint64_t>());
        if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
    }
    return "";
}

// The items of result[key]: an array of objects, or an object of objects
// (keyed by name: DPDK telemetry's shape); each with its key ("" in an array).
std::vector<std::pair<std::string, const Json*>> entries(const Json& result, const char* key) {
    std::vector<std::pair<std::string, const Json*>> out;
    if (!result.is_object()) return out;
    auto l = result.find(key);
    if (l == result.end()) return out;
    if (l->is_array()) {
        for (const auto& e : *l)
            if (e.is_object()) out.emplace_back("", &e);
    } else if (l->is_object()) {
        for (const auto& [k, v] : l->items())
            if (v.is_object()) out.emplace_back(k, &v);
    }
    return out;
}

void add_counter(Registry& reg, const std::string& name, const std::string& help, const Labels& l,
                 std::optional<uint64_t> v) {
    if (v) reg.get(name, help, Type::counter).add(l, *v);
}

void port_metrics(Registry& reg, const Json& result) {
    for (const auto& [key, p] : entries(result, "ports")) {
        std::string name = str(*p, {"name"});
        if (name.empty()) name = key;
        const Labels l{{"port", name}};
        const Json* nic = p->contains("nic") && (*p)["nic"].is_object() ? &(*p)["nic"] : nullptr;
        auto pick = [&](std::initializer_list<const char*> keys) {
            auto v = num(*p, keys);
            if (!v && nic) v = num(*nic, keys);
            return v;
        };
        add_counter(reg, "sluice_port_rx_packets_total", "Packets the data plane received on the port.", l,
                    pick({"rx_packets", "packets_in", "in_packets"}));
        add_counter(reg, "sluice_port_tx_packets_total", "Packets the data plane sent on the port.", l,
                    pick({"tx_packets", "packets_out", "out_packets"}));
        add_counter(reg, "sluice_port_rx_bytes_total", "Bytes received on the port (the NIC's count).", l,
                    pick({"rx_bytes", "nic_rx_bytes", "bytes_in"}));
        add_counter(reg, "sluice_port_tx_bytes_total", "Bytes sent on the port (the NIC's count).", l,
                    pick({"tx_bytes", "nic_tx_bytes", "bytes_out"}));
        add_counter(reg, "sluice_port_nic_rx_packets_total", "Packets the NIC received on the port.", l,
                    pick({"nic_rx_packets", "ipackets"}));
        add_counter(reg, "sluice_port_nic_tx_packets_total", "Packets the NIC sent on the port.", l,
                    pick({"nic_tx_packets", "opackets"}));
        // Receive drops: the data plane's own count when it gives one, else
        // what the NIC dropped (no descriptor, no mbuf); per-reason drops in
        // the data plane itself are sluice_drops_total.
        std::optional<uint64_t> rx_drops = pick({"rx_drops", "drops_in", "rx_dropped"});
        if (!rx_drops) {
            auto missed = pick({"rx_missed", "imissed"}), nombuf = pick({"rx_nombuf"});
            if (missed || nombuf) rx_drops = missed.value_or(0) + nombuf.value_or(0);
        }
        add_counter(reg, "sluice_port_rx_drops_total",
                    "Packets dropped on receive before the data plane saw them (NIC: missed + no mbuf).", l, rx_drops);
        add_counter(reg, "sluice_port_tx_drops_total", "Packets dropped on transmit.", l,
                    pick({"tx_drops", "drops_out", "tx_dropped"}));
        add_counter(reg, "sluice_port_rx_missed_total", "Packets the NIC dropped for lack of RX descriptors.", l,
                    pick({"rx_missed", "imissed"}));
        add_counter(reg, "sluice_port_rx_nombuf_total", "Receive failures for lack of mbufs.", l, pick({"rx_nombuf"}));
        add_counter(reg, "sluice_port_rx_errors_total", "Receive errors counted by the NIC.", l,
                    pick({"rx_errors", "ierrors"}));
        add_counter(reg, "sluice_port_tx_errors_total", "Transmit errors counted by the NIC.", l,
                    pick({"tx_errors", "oerrors"}));
        auto queue = [&](const std::string& q, const Json& qj) {
            const Labels ql{{"port", name}, {"queue", q}};
            add_counter(reg, "sluice_port_queue_rx_packets_total",
                        "Packets the data plane received on one RX queue of the port.", ql,
                        num(qj, {"rx_packets", "rx"}));
            add_counter(reg, "sluice_port_queue_nic_rx_packets_total", "Packets the NIC received on one RX queue.", ql,
                        num(qj, {"nic_rx_packets"}));
            add_counter(reg, "sluice_port_queue_nic_rx_bytes_total", "Bytes the NIC received on one RX queue.", ql,
                        num(qj, {"nic_rx_bytes"}));
            add_counter(reg, "sluice_port_queue_nic_rx_errors_total", "Receive errors of one RX queue (NIC).", ql,
                        num(qj, {"nic_rx_errors"}));
        };
        for (const char* list : {"rx_queue_counters", "queues"}) {
            size_t pos = 0;
            for (const auto& [qk, q] : entries(*p, list)) {
                std::string id = str(*q, {"queue", "id", "index"});
                if (id.empty()) id = qk.empty() ? std::to_string(pos) : qk;
                ++pos;
                queue(id, *q);
            }
        }
        // DPDK telemetry style: "rxq0": packets.
        for (const auto& [k, v] : p->items())
            if (k.size() > 3 && k.compare(0, 3, "rxq") == 0 && v.is_number_unsigned() &&
                k.find_first_not_of("0123456789", 3) == std::string::npos)
                queue(k.substr(3), Json{{"rx_packets", v}});
    }
}

void drop_metrics(Registry& reg, const Json& result) {
    auto add = [&](const std::string& reason, uint64_t v) {
        reg.get("sluice_drops_total", "Packets dropped by the data plane, by reason.", Type::counter)
            .add({{"reason", reason}}, v);
    };
    if (!result.is_object()) return;
    auto d = result.find("drops");
    const Json& src = d != result.end() ? *d : result;
    if (src.is_array()) {
        for (const auto& e : src) {
            auto v = num(e, {"count", "packets", "value"});
            std::string r = str(e, {"reason", "name"});
            if (v && !r.empty()) add(r, *v);
        }
    } else if (src.is_object()) {
        for (const auto& [k, v] : src.items())
            if (v.is_number_unsigned()) add(k, v.get<uint64_t>());
    }
}

// RDMA peers (docs/rdma.md, "Counters"): one label set per peer. A data
// plane without peers answers an empty list; an older one an error (nothing).
void rdma_metrics(Registry& reg, const Json& result) {
    for (const auto& [key, e] : entries(result, "rdma")) {
        std::string name = str(*e, {"name"});
        if (name.empty()) name = key;
        if (name.empty()) continue;
        const Labels l{{"peer", name}};
        struct C {
            const char* metric;
            const char* field;
            const char* help;
        };
        static const C kCounters[] = {
            {"sluice_rdma_tx_packets_total", "tx_packets", "Frames sent to the RDMA peer."},
            {"sluice_rdma_rx_packets_total", "rx_packets", "Frames received from the RDMA peer."},
            {"sluice_rdma_tx_bytes_total", "tx_bytes", "Bytes sent to the RDMA peer."},
            {"sluice_rdma_rx_bytes_total", "rx_bytes", "Bytes received from the RDMA peer."},
            {"sluice_rdma_credit_stalls_total", "credit_stalls", "Frames not sent for want of credit."},
            {"sluice_rdma_qp_resets_total", "qp_resets", "Queue pairs torn down and rebuilt."},
            {"sluice_rdma_lost_in_flight_total", "lost_in_flight", "Frames in flight when a queue pair was torn down."},
            {"sluice_rdma_completion_errors_total", "completion_errors", "Completions with an error status."},
        };
        for (const C& c : kCounters) add_counter(reg, c.metric, c.help, l, num(*e, {c.field}));
        if (auto v = num(*e, {"credits"}))
            reg.get("sluice_rdma_credits", "Send credits the data plane holds for the peer now.", Type::gauge)
                .add(l, *v);
        reg.get("sluice_rdma_up", "1 while the peer's queue pair is up.", Type::gauge)
            .add(l, uint64_t(str(*e, {"state"}) == "up" ? 1 : 0));
    }
}

void state_gauges(Registry& reg, const std::string& name, const std::string& help, const Labels& base,
                  const std::string& state) {
    Family& f = reg.get(name, help, Type::gauge);
    for (const char* s : {"up", "drain", "down"}) {
        Labels l = base;
        l.emplace_back("state", s);
        f.add(l, uint64_t(state == s ? 1 : 0));
    }
}

}  // namespace

// ---- the scrape ----------------------------------------------------------------

Metrics::Metrics(Service& service, std::string dp_socket, std::chrono::milliseconds dp_timeout)
    : service_(service), dp_socket_(std::move(dp_socket)), dp_timeout_(dp_timeout), agg_(&service.arena()) {}

Metrics::~Metrics() { stop(); }

void Metrics::own(std::vector<Family>& out) {
    Registry reg(out);
    const LinkStatus ls = service_.link_status();
    reg.get("sluice_control_dataplane_connected", "1 while the control process's link to the data plane is up.",
            Type::gauge)
        .add({}, uint64_t(ls.connected));
    reg.get("sluice_control_synced", "1 when the current link had its full sync applied.", Type::gauge)
        .add({}, uint64_t(ls.synced));
    reg.get("sluice_control_generation", "Generation of the last change the data plane applied from this process.",
            Type::gauge)
        .add({}, ls.generation);
    reg.get("sluice_control_last_sync_generation", "Generation of the last applied full sync.", Type::gauge)
        .add({}, ls.last_sync_generation);
    if (ls.syncs) {
        reg.get("sluice_control_last_sync_timestamp_seconds", "Unix time of the last applied full sync.", Type::gauge)
            .add({}, std::chrono::duration<double>(ls.last_sync.time_since_epoch()).count());
        reg.get("sluice_control_last_sync_duration_seconds",
                "Encode, send and commit time of the last applied full sync.", Type::gauge)
            .add({}, ls.last_sync_seconds);
        reg.get("sluice_control_last_sync_changes", "Routes, neighbors and VIPs the last full sync changed.",
                Type::gauge)
            .add({}, ls.last_sync_changes);
    }
    reg.get("sluice_control_syncs_total", "Full syncs the data plane applied.", Type::counter).add({}, ls.syncs);
    reg.get("sluice_control_sync_failures_total", "Full syncs not applied (refused or connection lost).", Type::counter)
        .add({}, ls.sync_failures);
    reg.get("sluice_control_applies_total", "Incremental applies the data plane applied.", Type::counter)
        .add({}, ls.applies);
    reg.get("sluice_control_apply_failures_total", "Incremental applies not applied.", Type::counter)
        .add({}, ls.apply_failures);
    reg.get("sluice_control_dataplane_connects_total", "Connections made to the data plane.", Type::counter)
        .add({}, ls.connects);

    const DesiredState ds = service_.desired();
    reg.get("sluice_control_routes", "Routes in the desired state.", Type::gauge).add({}, uint64_t(ds.route_count()));
    reg.get("sluice_control_operator_changes", "Operator changes kept on top of the config file, by kind.", Type::gauge)
        .add({{"kind", "route"}}, uint64_t(ds.overlay().routes.size()));
    reg.get("sluice_control_operator_changes", "", Type::gauge)
        .add({{"kind", "backend"}}, uint64_t(ds.overlay().backends.size()));
    for (const auto& vip : ds.vip_names())
        for (const auto& b : ds.backends(vip)) {
            const Labels l{{"vip", vip}, {"backend", endpoint_text(b.key.address, b.key.port)}};
            state_gauges(reg, "sluice_backend_desired_state",
                         "1 for the state the control process wants the backend in (health, drain, config).", l,
                         api::to_string(b.effective));
            reg.get("sluice_backend_admin_drained", "1 while the operator drains the backend.", Type::gauge)
                .add(l, uint64_t(b.drained));
        }

    const auto rows = service_.health_rows();
    agg_.sample(rows);
    for (const auto& r : rows) {
        const Labels l{{"vip", r.key.vip}, {"backend", endpoint_text(r.key.address, r.key.port)}};
        reg.get("sluice_backend_health_up", "1 while the backend's health check says up.", Type::gauge)
            .add(l, uint64_t(r.status.up));
        Labels ok = l, fail = l;
        ok.emplace_back("result", "ok");
        fail.emplace_back("result", "fail");
        Family& checks = reg.get("sluice_health_checks_total", "Health probes finished, by result.", Type::counter);
        checks.add(ok, r.status.checks - std::min(r.status.checks, r.status.failures));
        checks.add(fail, r.status.failures);
        reg.get("sluice_health_transitions_total", "Health state changes of the backend.", Type::counter)
            .add(l, r.status.transitions);
    }
    for (const auto& [vip, h] : agg_.histograms())
        reg.get("sluice_health_check_duration_seconds", "Health probe latency (start to outcome), per VIP.",
                Type::histogram)
            .add_histogram({{"vip", vip}}, h);
    const auto cs = service_.checker_stats();
    reg.get("sluice_health_targets", "Backends being health-checked.", Type::gauge).add({}, uint64_t(cs.targets));
    reg.get("sluice_health_probes_in_flight", "Health probes open right now.", Type::gauge)
        .add({}, uint64_t(cs.in_flight));
    reg.get("sluice_health_probes_total", "Health probes started.", Type::counter).add({}, cs.probes);
    reg.get("sluice_health_probe_timeouts_total", "Health probes that timed out.", Type::counter).add({}, cs.timeouts);
    reg.get("sluice_health_probe_socket_errors_total", "Health probes that could not start (no socket).", Type::counter)
        .add({}, cs.socket_errors);
}

bool Metrics::dataplane(std::vector<Family>& out) {
    Registry reg(out);
    std::lock_guard<std::mutex> g(client_mu_);
    const auto t0 = std::chrono::steady_clock::now();
    if (!client_.connected() && !client_.connect(dp_socket_, "sluice-control-metrics", dp_timeout_)) return false;
    auto show = [&](Json args) -> std::optional<Json> {
        channel::Reply r = client_.call("show", args, dp_timeout_);
        if (r.ok) return std::move(r.result);
        return std::nullopt;
    };
    auto ports = show(Json{{"what", "ports"}});
    if (!ports && !client_.connected()) {
        // A connection left from before a data plane restart: one more try.
        if (!client_.connect(dp_socket_, "sluice-control-metrics", dp_timeout_)) return false;
        ports = show(Json{{"what", "ports"}});
        if (!ports && !client_.connected()) return false;
    }
    if (ports) port_metrics(reg, *ports);
    if (auto d = show(Json{{"what", "drops"}})) drop_metrics(reg, *d);
    if (auto r = show(Json{{"what", "rdma"}})) rdma_metrics(reg, *r);
    std::vector<std::string> vips;
    if (auto v = show(Json{{"what", "vips"}})) {
        for (const auto& [key, e] : entries(*v, "vips")) {
            std::string name = str(*e, {"name"});
            if (name.empty()) name = key;
            if (name.empty()) continue;
            vips.push_back(name);
            const Labels l{{"vip", name}};
            add_counter(reg, "sluice_vip_packets_total", "Packets to the VIP.", l, num(*e, {"packets"}));
            add_counter(reg, "sluice_vip_bytes_total", "Bytes to the VIP.", l, num(*e, {"bytes"}));
            add_counter(reg, "sluice_vip_new_flows_total", "New flows the VIP scheduled.", l, num(*e, {"new_flows"}));
            if (auto t = num(*e, {"tracked_flows", "tracked"}))
                reg.get("sluice_vip_tracked_flows", "Flows of the VIP in the flow tables now.", Type::gauge).add(l, *t);
        }
    }
    for (const auto& vip : vips) {
        if (!client_.connected()) break;
        auto b = show(Json{{"what", "backends"}, {"vip", vip}});
        if (!b) continue;
        for (const auto& [key, e] : entries(*b, "backends")) {
            const std::string addr = str(*e, {"address"});
            auto ip = net::parse_ip(addr);
            if (!ip) continue;
            const Labels l{{"vip", vip}, {"backend", endpoint_text(*ip, uint16_t(num(*e, {"port"}).value_or(0)))}};
            add_counter(reg, "sluice_backend_packets_total", "Packets sent to the backend.", l, num(*e, {"packets"}));
            add_counter(reg, "sluice_backend_bytes_total", "Bytes sent to the backend.", l, num(*e, {"bytes"}));
            add_counter(reg, "sluice_backend_new_flows_total", "New flows scheduled to the backend.", l,
                        num(*e, {"new_flows"}));
            if (auto t = num(*e, {"tracked_flows", "tracked"}))
                reg.get("sluice_backend_tracked_flows", "Flows tracked to the backend now.", Type::gauge).add(l, *t);
            if (auto w = num(*e, {"weight"}))
                reg.get("sluice_backend_weight", "The backend's weight in the data plane.", Type::gauge).add(l, *w);
            const std::string st = str(*e, {"state"});
            if (!st.empty())
                state_gauges(reg, "sluice_backend_state", "1 for the backend's state in the data plane.", l, st);
        }
    }
    reg.get("sluice_dataplane_scrape_duration_seconds", "Time taken to read the data plane's counters.", Type::gauge)
        .add({}, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return true;
}

std::vector<Family> Metrics::collect() {
    std::vector<Family> out;
    try {
        std::vector<Family> dp;
        const bool up = dataplane(dp);
        out.push_back(Family{"sluice_dataplane_up", "1 when the data plane answered this scrape.", Type::gauge, {}});
        out.back().add({}, uint64_t(up));
        own(out);
        // Without the data plane: only the control process's own metrics
        // (a partial set of data plane counters would look like resets).
        if (up)
            for (auto& f : dp) out.push_back(std::move(f));
    } catch (const std::exception& e) {
        log_line(std::string("metrics: scrape failed: ") + e.what());
    }
    return out;
}

std::string Metrics::scrape() {
    try {
        return prom::render(collect());
    } catch (const std::exception& e) {
        log_line(std::string("metrics: render failed: ") + e.what());
        return "";
    }
}

// ---- the HTTP server ------------------------------------------------------------

bool Metrics::parse_listen(const std::string& text, std::string* host, int* port, std::string* err) {
    auto fail = [&](const std::string& m) {
        if (err) *err = "control.metrics: " + m + ", got \"" + text + "\"";
        return false;
    };
    std::string h, p;
    if (!text.empty() && text[0] == '[') {
        const auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return fail("expected [ADDRESS]:PORT");
        h = text.substr(1, close - 1);
        p = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string::npos || text.find(':') != colon) return fail("expected ADDRESS:PORT");
        h = text.substr(0, colon);
        p = text.substr(colon + 1);
    }
    if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos || std::stoi(p) < 1 ||
        std::stoi(p) > 65535)
        return fail("expected a port 1..65535");
    bool loopback = h == "localhost";
    if (auto a = net::parse_ip(h)) {
        loopback = a->is_v4() ? a->bytes[0] == 127 : *a == *net::parse_ip("::1");
        if (loopback && a->is_v6()) h = "::1";
    } else if (!loopback) {
        return fail("expected an IP address or localhost");
    }
    // The endpoint has no authentication and shows the whole topology:
    // loopback only; scrape it through a local agent or a proxy.
    if (!loopback) return fail("the metrics endpoint listens on loopback only (127.0.0.1, ::1 or localhost)");
    *host = h == "localhost" ? "127.0.0.1" : h;
    *port = std::stoi(p);
    return true;
}

bool Metrics::start(const std::string& listen, std::string* err) {
    std::string host;
    int port = 0;
    if (!parse_listen(listen, &host, &port, err)) return false;
    try {
        http_ = std::make_unique<httplib::Server>();
        // Two threads are plenty for a scraper or two; httplib's default
        // (one per core, at least 8) would only add idle threads.
        http_->new_task_queue = [] { return new httplib::ThreadPool(2); };
        http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(scrape(), "text/plain; version=0.0.4; charset=utf-8");
        });
        if (!http_->bind_to_port(host, port)) {
            if (err) *err = "control.metrics: cannot listen on " + listen + " (address in use?)";
            http_.reset();
            return false;
        }
        http_thread_ = std::thread([this] { http_->listen_after_bind(); });
        sampler_ = std::thread([this] {
            std::unique_lock<std::mutex> lk(stop_mu_);
            while (!stopping_) {
                stop_cv_.wait_for(lk, std::chrono::milliseconds(250));
                if (stopping_) break;
                lk.unlock();
                agg_.sample(service_.health_rows());
                lk.lock();
            }
        });
    } catch (const std::exception& e) {
        if (err) *err = std::string("control.metrics: ") + e.what();
        return false;
    }
    return true;
}

void Metrics::stop() {
    {
        std::lock_guard<std::mutex> g(stop_mu_);
        stopping_ = true;
    }
    stop_cv_.notify_all();
    if (sampler_.joinable()) sampler_.join();
    if (http_) http_->stop();
    if (http_thread_.joinable()) http_thread_.join();
    http_.reset();
}

}  // namespace sluice::control
