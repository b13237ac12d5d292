#include "dataplane/agent/telemetry_lb.hpp"

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <rte_telemetry.h>

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

int lb_cmd_vips(Shared& sh, const char* params, rte_tel_data* d) {
    uint32_t page = 0;
    if (params && *params && !parse_u32(params, UINT32_MAX, &page)) return -1;
    RcuDomain::ReadGuard guard(*sh.rcu);
    const Root* r = sh.tables->get();
    const LbTables& t = *r->lb;
    std::vector<uint32_t> slots;
    for (uint32_t s = 0; s < t.vips.size(); ++s)
        if (t.vips[s].uid) slots.push_back(s);
    uint32_t pages = uint32_t((slots.size() + kVipPageRows - 1) / kVipPageRows);
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "vips", slots.size());
    rte_tel_data_add_dict_u64(d, "page", page);
    rte_tel_data_add_dict_u64(d, "pages", pages);
    uint64_t untracked = 0, rescheduled = 0, icmp = 0;
    for (const auto& w : sh.lb_workers) {
        untracked += read(w->counters->untracked);
        rescheduled += read(w->counters->rescheduled);
        icmp += read(w->counters->icmp_to_backend);
    }
    rte_tel_data_add_dict_u64(d, "untracked_new_flows", untracked);
    rte_tel_data_add_dict_u64(d, "rescheduled_flows", rescheduled);
    rte_tel_data_add_dict_u64(d, "icmp_to_backend", icmp);
    for (size_t i = size_t(page) * kVipPageRows; i < slots.size() && i < size_t(page + 1) * kVipPageRows; ++i) {
        uint32_t s = slots[i];
        const LbVip& v = t.vips[s];
        const api::Vip& c = *v.config;
        rte_tel_data* x = rte_tel_data_alloc();
        if (!x) return -1;
        rte_tel_data_start_dict(x);
        rte_tel_data_add_dict_string(x, "name", c.name.c_str());
        rte_tel_data_add_dict_string(x, "address", net::to_string(c.key.address).c_str());
        rte_tel_data_add_dict_string(x, "protocol", api::to_string(c.key.proto));
        rte_tel_data_add_dict_u64(x, "port", c.key.port);
        rte_tel_data_add_dict_string(x, "mode", api::to_string(c.mode));
        rte_tel_data_add_dict_u64(x, "table_size", v.m);
        rte_tel_data_add_dict_u64(x, "backends", c.backends.size());
        rte_tel_data_add_dict_u64(x, "packets", sum_vip(sh, s, &LbCounters::Vip::packets));
        rte_tel_data_add_dict_u64(x, "bytes", sum_vip(sh, s, &LbCounters::Vip::bytes));
        rte_tel_data_add_dict_u64(x, "new_flows", sum_vip(sh, s, &LbCounters::Vip::new_flows));
        uint64_t tracked = 0;
        for (const auto& w : sh.lb_workers) tracked += w->flows.live(s);
        rte_tel_data_add_dict_u64(x, "tracked_flows", tracked);
        if (rte_tel_data_add_dict_container(d, key_of(c.name).c_str(), x, 0) != 0) rte_tel_data_free(x);
    }
    return 0;
}

int lb_cmd_backends(Shared& sh, const char* params, rte_tel_data* d) {
    std::vector<std::string> a = split(params);
    if (a.empty() || a.size() > 2 || a[0].empty()) return -1;
    uint32_t page = 0;
    if (a.size() == 2 && !parse_u32(a[1], UINT32_MAX, &page)) return -1;
    RcuDomain::ReadGuard guard(*sh.rcu);
    const LbTables& t = *sh.tables->get()->lb;
    const LbVip* v = nullptr;
    for (const auto& x : t.vips)
        if (x.uid && x.config->name == a[0]) v = &x;
    if (!v) return -1;
    const MaglevTable& mt = *v->maglev;
    // Key order (the Maglev table's members), then any backend out of the
    // table: every backend of the VIP is a member, whatever its weight.
    const std::vector<uint32_t>& members = mt.members;
    uint32_t pages = uint32_t((members.size() + kBackendPageRows - 1) / kBackendPageRows);
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "vip", v->config->name.c_str());
    rte_tel_data_add_dict_u64(d, "backends", members.size());
    rte_tel_data_add_dict_u64(d, "page", page);
    rte_tel_data_add_dict_u64(d, "pages", pages);
    for (size_t i = size_t(page) * kBackendPageRows; i < members.size() && i < size_t(page + 1) * kBackendPageRows;
         ++i) {
        uint32_t s = members[i];
        const LbBackend& b = t.backends[s];
        rte_tel_data* x = rte_tel_data_alloc();
        if (!x) return -1;
        rte_tel_data_start_dict(x);
        std::string addr = addr_text(b.addr.data(), b.v6);
        rte_tel_data_add_dict_string(x, "address", addr.c_str());
        rte_tel_data_add_dict_u64(x, "port", host16(b.port_be));
        rte_tel_data_add_dict_u64(x, "weight", b.weight);
        rte_tel_data_add_dict_string(x, "state", api::to_string(b.state));
        rte_tel_data_add_dict_u64(x, "slots", b.slots);
        rte_tel_data_add_dict_u64(x, "packets", sum_backend(sh, s, &LbCounters::Backend::packets));
        rte_tel_data_add_dict_u64(x, "bytes", sum_backend(sh, s, &LbCounters::Backend::bytes));
        rte_tel_data_add_dict_u64(x, "new_flows", sum_backend(sh, s, &LbCounters::Backend::new_flows));
        uint64_t tracked = 0;
        for (const auto& w : sh.lb_workers) tracked += w->flows.live_backend(s);
        rte_tel_data_add_dict_u64(x, "tracked_flows", tracked);
        std::string key = key_of(addr + "_" + std::to_string(host16(b.port_be)));
        if (rte_tel_data_add_dict_container(d, key.c_str(), x, 0) != 0) rte_tel_data_free(x);
    }
    return 0;
}

// Asks every worker (each owns its flow table) through its mailbox and
// waits for the answers, at most a second: a worker answers once per poll
// loop, and an idle one sleeps for at most its idle back-off.
int lb_cmd_which(Shared& sh, const char* params, rte_tel_data* d) {
    std::vector<std::string> a = split(params);
    if (a.size() != 5) return -1;
    lb::FlowKey k;
    if (a[0] == "tcp") k.proto = 6;
    else if (a[0] == "udp") k.proto = 17;
    else return -1;
    auto src = net::parse_ip(a[1]);
    auto dst = net::parse_ip(a[3]);
    uint32_t sport = 0, dport = 0;
    if (!src || !dst || src->family != dst->family || !parse_u32(a[2], 65535, &sport) ||
        !parse_u32(a[4], 65535, &dport))
        return -1;
    k.v6 = dst->is_v6();
    std::copy_n(src->bytes.begin(), 16, k.src.begin());
    std::copy_n(dst->bytes.begin(), 16, k.dst.begin());
    k.sport = host16(uint16_t(sport));
    k.dport = host16(uint16_t(dport));

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
    if (got == 0 && !q.empty()) return -1;
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
    rte_tel_data_start_dict(d);
    bool vip_ok = best->matched && best->vip < t.vips.size() && t.vips[best->vip].uid;
    rte_tel_data_add_dict_string(d, "vip", vip_ok ? t.vips[best->vip].config->name.c_str() : "");
    rte_tel_data_add_dict_u64(d, "slot", best->maglev_slot);
    rte_tel_data_add_dict_string(d, "maglev_backend",
                                 best->maglev_backend == UINT32_MAX ? "" : backend_text(t, best->maglev_backend).c_str());
    rte_tel_data_add_dict_u64(d, "tracked", best->tracked_backend != UINT32_MAX);
    rte_tel_data_add_dict_string(d, "tracked_backend",
                                 best->tracked_backend == UINT32_MAX ? "" : backend_text(t, best->tracked_backend).c_str());
    rte_tel_data_add_dict_string(d, "backend", best->chosen == UINT32_MAX ? "" : backend_text(t, best->chosen).c_str());
    rte_tel_data_add_dict_string(d, "reason", best->reason);
    rte_tel_data_add_dict_u64(d, "worker", uint64_t(worker));
    rte_tel_data_add_dict_u64(d, "workers_answered", got);
    return 0;
}

}  // namespace sluice::dp
