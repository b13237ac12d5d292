#include "dataplane/agent/telemetry_lb.hpp"

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <rte_telemetry.h>

#include "dataplane/agent/telemetry_data.hpp"
#include "dataplane/lb/stage.hpp"
#include "dataplane/shared.hpp"

namespace sluice::dp {

namespace {

// DPDK 22.11 writes a reply into one 16 KiB buffer and a dict holds at most
// RTE_TEL_MAX_DICT_ENTRIES (256) entries (see the neighbors command in
// telemetry.cpp): VIPs and backends are paged. A VIP row is at most about
// 330 bytes, a backend row about 250.
constexpr uint32_t kVipPageRows = 32;
constexpr uint32_t kBackendPageRows = 48;

uint16_t host16(uint16_t be) { return uint16_t((be >> 8) | (be << 8)); }

std::string addr_text(const uint8_t* a, bool v6) {
    return net::to_string(v6 ? net::IpAddr::v6(a) : net::IpAddr::v4(a));
}

// DPDK 22.11 takes only letters, digits, '_' and '/' in a dict key
// (rte_telemetry's valid_name()) and silently leaves out an entry with any
// other: everything else becomes '_'. Each entry carries its real name too.
std::string key_of(std::string s) {
    for (char& c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) c = '_';
    return s;
}

std::vector<std::string> split(const char* params) {
    std::vector<std::string> out;
    if (!params) return out;
    std::string cur;
    for (const char* p = params; *p; ++p) {
        if (*p == ',') {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += *p;
        }
    }
    out.push_back(cur);
    return out;
}

bool parse_u32(const std::string& s, uint32_t max, uint32_t* out) {
    if (s.empty() || s.size() > 10) return false;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + uint64_t(c - '0');
    }
    if (v > max) return false;
    *out = uint32_t(v);
    return true;
}

uint64_t sum_vip(const Shared& sh, uint32_t slot, Counter LbCounters::Vip::*f) {
    uint64_t t = 0;
    for (const auto& w : sh.lb_workers) t += read(w->counters->vip[slot].*f);
    return t;
}
uint64_t sum_backend(const Shared& sh, uint32_t slot, Counter LbCounters::Backend::*f) {
    uint64_t t = 0;
    for (const auto& w : sh.lb_workers) t += read(w->counters->backend[slot].*f);
    return t;
}

std::string backend_text(const LbTables& t, uint32_t slot) {
    if (slot == kRemovedBackend) return "(removed)";
    if (slot >= t.backends.size()) return "";
    const LbBackend& b = t.backends[slot];
    return addr_text(b.addr.data(), b.v6) + " " + std::to_string(host16(b.port_be));
}

}  // namespace

void lb_gather_vips(Shared& sh, TelJson* totals, std::vector<TelJson>* rows, std::vector<api::Vip>* configs) {
    uint64_t untracked = 0, rescheduled = 0, icmp = 0;
    for (const auto& w : sh.lb_workers) {
        untracked += read(w->counters->untracked);
        rescheduled += read(w->counters->rescheduled);
        icmp += read(w->counters->icmp_to_backend);
    }
    RcuDomain::ReadGuard guard(*sh.rcu);
    const Root* r = sh.tables->get();
    const LbTables& t = *r->lb;
    uint64_t n = 0;
    for (uint32_t s = 0; s < t.vips.size(); ++s) {
        if (!t.vips[s].uid) continue;
        ++n;
        const LbVip& v = t.vips[s];
        const api::Vip& c = *v.config;
        TelJson x = TelJson::object();
        x["name"] = c.name;
        x["address"] = net::to_string(c.key.address);
        x["protocol"] = api::to_string(c.key.proto);
        x["port"] = uint64_t(c.key.port);
        x["mode"] = api::to_string(c.mode);
        x["table_size"] = uint64_t(v.m);
        x["backends"] = uint64_t(c.backends.size());
        x["packets"] = sum_vip(sh, s, &LbCounters::Vip::packets);
        x["bytes"] = sum_vip(sh, s, &LbCounters::Vip::bytes);
        x["new_flows"] = sum_vip(sh, s, &LbCounters::Vip::new_flows);
        uint64_t tracked = 0;
        for (const auto& w : sh.lb_workers) tracked += w->flows.live(s);
        x["tracked_flows"] = tracked;
        rows->push_back(std::move(x));
        if (configs) configs->push_back(c);
    }
    *totals = TelJson::object();
    (*totals)["vips"] = n;
    (*totals)["untracked_new_flows"] = untracked;
    (*totals)["rescheduled_flows"] = rescheduled;
    (*totals)["icmp_to_backend"] = icmp;
}

int lb_cmd_vips(Shared& sh, const char* params, rte_tel_data* d) {
    uint32_t page = 0;
    if (params && *params && !parse_u32(params, UINT32_MAX, &page)) return -1;
    TelJson totals;
    std::vector<TelJson> rows;
    lb_gather_vips(sh, &totals, &rows);
    uint32_t pages = uint32_t((rows.size() + kVipPageRows - 1) / kVipPageRows);
    TelJson j = TelJson::object();
    j["vips"] = totals["vips"];
    j["page"] = uint64_t(page);
    j["pages"] = uint64_t(pages);
    j["untracked_new_flows"] = totals["untracked_new_flows"];
    j["rescheduled_flows"] = totals["rescheduled_flows"];
    j["icmp_to_backend"] = totals["icmp_to_backend"];
    for (size_t i = size_t(page) * kVipPageRows; i < rows.size() && i < size_t(page + 1) * kVipPageRows; ++i) {
        // The key first: the row is moved into the reply after.
        std::string key = key_of(rows[i].value("name", std::string()));
        j[key] = std::move(rows[i]);
    }
    return to_tel(j, d);
}

bool lb_gather_backends(Shared& sh, const std::string& name, std::vector<TelJson>* rows) {
    RcuDomain::ReadGuard guard(*sh.rcu);
    const LbTables& t = *sh.tables->get()->lb;
    const LbVip* v = nullptr;
    for (const auto& x : t.vips)
        if (x.uid && x.config->name == name) v = &x;
    if (!v) return false;
    // Key order (the Maglev table's members): every backend of the VIP is a
    // member, whatever its weight.
    for (uint32_t s : v->maglev->members) {
        const LbBackend& b = t.backends[s];
        TelJson x = TelJson::object();
        x["address"] = addr_text(b.addr.data(), b.v6);
        x["port"] = uint64_t(host16(b.port_be));
        x["weight"] = uint64_t(b.weight);
        x["state"] = api::to_string(b.state);
        x["slots"] = uint64_t(b.slots);
        x["packets"] = sum_backend(sh, s, &LbCounters::Backend::packets);
        x["bytes"] = sum_backend(sh, s, &LbCounters::Backend::bytes);
        x["new_flows"] = sum_backend(sh, s, &LbCounters::Backend::new_flows);
        uint64_t tracked = 0;
        for (const auto& w : sh.lb_workers) tracked += w->flows.live_backend(s);
        x["tracked_flows"] = tracked;
        rows->push_back(std::move(x));
    }
    return true;
}

int lb_cmd_backends(Shared& sh, const char* params, rte_tel_data* d) {
    std::vector<std::string> a = split(params);
    if (a.empty() || a.size() > 2 || a[0].empty()) return -1;
    uint32_t page = 0;
    if (a.size() == 2 && !parse_u32(a[1], UINT32_MAX, &page)) return -1;
    std::vector<TelJson> rows;
    if (!lb_gather_backends(sh, a[0], &rows)) return -1;
    uint32_t pages = uint32_t((rows.size() + kBackendPageRows - 1) / kBackendPageRows);
    TelJson j = TelJson::object();
    j["vip"] = a[0];
    j["backends"] = uint64_t(rows.size());
    j["page"] = uint64_t(page);
    j["pages"] = uint64_t(pages);
    for (size_t i = size_t(page) * kBackendPageRows; i < rows.size() && i < size_t(page + 1) * kBackendPageRows;
         ++i) {
        std::string key = key_of(rows[i].value("address", std::string()) + "_" +
                                 std::to_string(rows[i].value("port", uint64_t(0))));
        j[key] = std::move(rows[i]);
    }
    return to_tel(j, d);
}

bool lb_flow_key(const std::string& proto, const std::string& src_s, const std::string& sport_s,
                 const std::string& dst_s, const std::string& dport_s, lb::FlowKey* out) {
    lb::FlowKey k;
    if (proto == "tcp") k.proto = 6;
    else if (proto == "udp") k.proto = 17;
    else return false;
    auto src = net::parse_ip(src_s);
    auto dst = net::parse_ip(dst_s);
    uint32_t sport = 0, dport = 0;
    if (!src || !dst || src->family != dst->family || !parse_u32(sport_s, 65535, &sport) ||
        !parse_u32(dport_s, 65535, &dport))
        return false;
    k.v6 = dst->is_v6();
    std::copy_n(src->bytes.begin(), 16, k.src.begin());
    std::copy_n(dst->bytes.begin(), 16, k.dst.begin());
    k.sport = host16(uint16_t(sport));
    k.dport = host16(uint16_t(dport));
    *out = k;
    return true;
}

// Asks every worker (each owns its flow table) through its mailbox and
// waits for the answers, at most a second: a worker answers once per poll
// loop, and an idle one sleeps for at most its idle back-off.
bool lb_gather_which(Shared& sh, const lb::FlowKey& k, TelJson* out) {
    static std::mutex one_at_a_time;  // the mailboxes hold one question each
    std::lock_guard<std::mutex> lock(one_at_a_time);
    std::vector<WhichQuery> q(sh.lb_workers.size());
    for (size_t i = 0; i < q.size(); ++i) {
        q[i].key = k;
        sh.lb_workers[i]->answered.store(nullptr, std::memory_order_relaxed);
        sh.lb_workers[i]->query.store(&q[i], std::memory_order_release);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    size_t got = 0;
    std::vector<bool> done(q.size(), false);
    while (got < q.size() && std::chrono::steady_clock::now() < deadline) {
        for (size_t i = 0; i < q.size(); ++i)
            if (!done[i] && sh.lb_workers[i]->answered.load(std::memory_order_acquire) == &q[i]) {
                done[i] = true;
                ++got;
            }
        if (got < q.size()) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    // A worker that did not answer must not write into q later.
    for (size_t i = 0; i < q.size(); ++i) {
        if (done[i]) continue;
        WhichQuery* expect = &q[i];
        if (!sh.lb_workers[i]->query.compare_exchange_strong(expect, nullptr)) {
            // It took the question meanwhile: wait for its answer (it is
            // writing into q[i] now).
            while (sh.lb_workers[i]->answered.load(std::memory_order_acquire) != &q[i]) std::this_thread::yield();
            done[i] = true;
            ++got;
        }
    }
    if (got == 0) return false;
    // Any worker that tracks the flow decides (RSS sends a flow to one).
    const WhichQuery* best = nullptr;
    int worker = -1;
    for (size_t i = 0; i < q.size(); ++i) {
        if (!done[i]) continue;
        if (!best || (q[i].tracked_backend != UINT32_MAX && best->tracked_backend == UINT32_MAX)) {
            best = &q[i];
            worker = int(i);
        }
    }
    RcuDomain::ReadGuard guard(*sh.rcu);
    const LbTables& t = *sh.tables->get()->lb;
    TelJson& j = *out;
    j = TelJson::object();
    bool vip_ok = best->matched && best->vip < t.vips.size() && t.vips[best->vip].uid;
    j["vip"] = vip_ok ? t.vips[best->vip].config->name : std::string();
    j["slot"] = uint64_t(best->maglev_slot);
    j["maglev_backend"] = best->maglev_backend == UINT32_MAX ? std::string() : backend_text(t, best->maglev_backend);
    j["tracked"] = uint64_t(best->tracked_backend != UINT32_MAX);
    j["tracked_backend"] =
        best->tracked_backend == UINT32_MAX ? std::string() : backend_text(t, best->tracked_backend);
    j["backend"] = best->chosen == UINT32_MAX ? std::string() : backend_text(t, best->chosen);
    j["reason"] = std::string(best->reason);
    j["worker"] = uint64_t(worker);
    j["workers_answered"] = uint64_t(got);
    return true;
}

int lb_cmd_which(Shared& sh, const char* params, rte_tel_data* d) {
    std::vector<std::string> a = split(params);
    if (a.size() != 5) return -1;
    lb::FlowKey k;
    if (!lb_flow_key(a[0], a[1], a[2], a[3], a[4], &k)) return -1;
    TelJson j;
    if (!lb_gather_which(sh, k, &j)) return -1;
    return to_tel(j, d);
}

}  // namespace sluice::dp
