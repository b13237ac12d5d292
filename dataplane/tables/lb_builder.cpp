#include "dataplane/tables/lb_builder.hpp"

#include <algorithm>
#include <set>

#include "dataplane/lb/maglev.hpp"
#include "dataplane/lb/flow_table.hpp"

namespace sluice::dp {

namespace {

std::string vip_name(const api::Vip& v) {
    return "vips[" + (v.name.empty() ? net::to_string(v.key.address) : v.name) + "]";
}

uint8_t protos_of(api::LbProto p) {
    switch (p) {
    case api::LbProto::tcp: return kLbTcp;
    case api::LbProto::udp: return kLbUdp;
    case api::LbProto::both: return kLbTcp | kLbUdp;
    }
    return 0;
}

uint16_t be16(uint16_t host) { return uint16_t((host >> 8) | (host << 8)); }

// The Maglev table's backend weight: only "up" backends take new flows.
uint32_t maglev_weight(const api::Backend& b) { return b.state == api::BackendState::up ? b.weight : 0; }

bool same_backends_for_table(const api::Vip& a, const api::Vip& b) {
    if (a.table_size != b.table_size || a.backends.size() != b.backends.size()) return false;
    // Both lists arrive in any order: compare as sets of (key, weight).
    auto keyed = [](const api::Vip& v) {
        std::vector<std::tuple<net::IpAddr, uint16_t, uint32_t>> r;
        for (const auto& x : v.backends) r.emplace_back(x.address, x.port, maglev_weight(x));
        std::sort(r.begin(), r.end());
        return r;
    };
    return keyed(a) == keyed(b);
}

}  // namespace

bool LbBuilder::Slots::take(uint32_t* s) {
    if (!free.empty()) {
        *s = free.front();
        free.pop_front();
        return true;
    }
    if (next >= limit) return false;
    *s = next++;
    return true;
}

LbBuilder::LbBuilder() {
    state_.vip_slots.limit = lb::kMaxVips;
    state_.backend_slots.limit = kMaxLbBackends;
    state_.addr_slots.limit = kMaxVipAddresses;
    tables_ = make_tables(state_);
    settings_ = std::make_shared<api::LbSettings>();
}

// What a VIP request must satisfy whoever sent it (the config file checks
// the same and more, with line numbers: config/validate_lb.cpp).
std::string LbBuilder::check(const api::Vip& v) const {
    const bool v6 = v.key.address.is_v6();
    if (!lb::is_prime(v.table_size) || v.table_size < 3 || v.table_size > api::kMaxMaglevSize)
        return "table_size " + std::to_string(v.table_size) + " must be a prime in 3.." +
               std::to_string(api::kMaxMaglevSize);
    if (v.backends.empty()) return "a VIP needs at least one backend";
    if (v.backends.size() > lb::kMaxBackendsPerVip)
        return std::to_string(v.backends.size()) + " backends: at most " + std::to_string(lb::kMaxBackendsPerVip);
    if (v.backends.size() > v.table_size) return "more backends than table_size slots";
    bool need4 = false, need6 = false;
    std::set<std::pair<net::IpAddr, uint16_t>> seen;
    for (size_t i = 0; i < v.backends.size(); ++i) {
        const auto& b = v.backends[i];
        std::string at = "backends[" + std::to_string(i) + "]: ";
        if (!seen.insert({b.address, b.port}).second) return at + "listed twice";
        if (b.weight > api::kMaxBackendWeight)
            return at + "weight " + std::to_string(b.weight) + " above " + std::to_string(api::kMaxBackendWeight);
        bool bv6 = b.address.is_v6();
        (bv6 ? need6 : need4) = true;
        if ((v.mode == api::LbMode::l2_dsr || v.mode == api::LbMode::nat) && bv6 != v6)
            return at + "an " + (bv6 ? "IPv6" : "IPv4") + " backend behind an " + (v6 ? "IPv6" : "IPv4") + " VIP needs mode ipip or gue";
        if (b.port != 0 && v.mode != api::LbMode::nat) return at + "a backend port needs mode nat";
        // The reply's source port must tell which VIP port it answers.
        if (b.port != 0 && v.key.port == 0) return at + "a backend port needs a VIP port (not all ports)";
    }
    if (v.mode == api::LbMode::ipip || v.mode == api::LbMode::gue) {
        bool has4 = false, has6 = false;
        for (const auto& p : v.encap_source) (p.addr.is_v6() ? has6 : has4) = true;
        if ((need4 && !has4) || (need6 && !has6))
            return std::string("encap_source needs a prefix for ") + (need4 && !has4 ? "IPv4" : "IPv6") + " backends";
    }
    return {};
}

bool LbBuilder::build_vip(State& s, const api::Vip& v, const VipState* old, std::shared_ptr<const VipState>* out,
                          uint32_t* rebuilt, std::string* err) {
    auto n = std::make_shared<VipState>();
    if (old) {
        n->slot = old->slot;
        n->uid = old->uid;
    } else {
        if (!s.vip_slots.take(&n->slot)) {
            *err = "more than " + std::to_string(lb::kMaxVips) + " VIPs";
            return false;
        }
        n->uid = s.next_uid++;
    }
    n->config = std::make_shared<const api::Vip>(v);
    // Backends keep their slot (and uid: tracked flows stay with them) when
    // the VIP is replaced; new ones get a slot, removed ones give theirs back.
    std::vector<std::pair<std::pair<net::IpAddr, uint16_t>, const api::Backend*>> sorted;
    for (const auto& b : v.backends) sorted.push_back({{b.address, b.port}, &b});
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
        return lb::maglev_key(a.first.first.is_v6(), a.first.first.bytes.data(), a.first.second) <
               lb::maglev_key(b.first.first.is_v6(), b.first.first.bytes.data(), b.first.second);
    });
    for (const auto& [k, b] : sorted) {
        const VipState::BackendSlot* kept = nullptr;
        if (old) {
            auto it = old->backend_slots.find(k);
            if (it != old->backend_slots.end()) kept = &it->second;
        }
        VipState::BackendSlot bs;
        if (kept) {
            bs = *kept;
        } else if (s.backend_slots.take(&bs.slot)) {
            bs.uid = s.next_uid++;
        } else {
            *err = "more than " + std::to_string(kMaxLbBackends) + " backends in all VIPs";
            return false;
        }
        n->backend_slots[k] = bs;
    }
    if (old)
        for (const auto& [k, bs] : old->backend_slots)
            if (!n->backend_slots.count(k)) s.backend_slots.give(bs.slot);

    if (old && same_backends_for_table(*old->config, v)) {
        n->maglev = old->maglev;  // same keys, weights and size: same table (Maglev is a pure function)
    } else {
        auto t = std::make_shared<MaglevTable>();
        std::vector<lb::MaglevInput> in;
        in.reserve(sorted.size());
        for (const auto& [k, b] : sorted) {
            in.push_back({lb::maglev_key(k.first.is_v6(), k.first.bytes.data(), k.second), maglev_weight(*b)});
            t->members.push_back(n->backend_slots.at(k).slot);
        }
        std::string e = lb::maglev_build(in, v.table_size, t->slot);
        if (!e.empty()) {
            *err = "Maglev table: " + e;
            return false;
        }
        t->m = v.table_size;
        t->held.assign(t->members.size(), 0);
        for (uint16_t i : t->slot)
            if (i != lb::kNoBackend) ++t->held[i];
        n->maglev = std::move(t);
        ++*rebuilt;
    }
    *out = std::move(n);
    return true;
}

void LbBuilder::release_vip(State& s, const VipState& v) {
    s.vip_slots.give(v.slot);
    for (const auto& [k, bs] : v.backend_slots) s.backend_slots.give(bs.slot);
}

bool LbBuilder::stage(const api::Batch& b, std::vector<api::UpdateError>& errors, Staged& out) {
    out = {};
    staged_.reset();
    if (b.vips.empty() && !b.lb) return true;
    auto s = std::make_unique<State>(state_);
    size_t before = errors.size();
    std::set<api::VipKey> named;
    for (size_t i = 0; i < b.vips.size(); ++i) {
        const auto& u = b.vips[i];
        std::string at = "vips[" + std::to_string(i) + "]";
        if (!named.insert(u.vip.key).second) {
            errors.push_back({at, "the same VIP (address, protocol, port) appears twice in this request"});
            continue;
        }
        auto it = s->vips.find(u.vip.key);
        if (u.op == api::VipUpdate::Op::del) {
            if (it == s->vips.end()) {
                errors.push_back({at, "no VIP " + net::to_string(u.vip.key.address) + " " +
                                          api::to_string(u.vip.key.proto) + " port " + std::to_string(u.vip.key.port)});
                continue;
            }
            release_vip(*s, *it->second);
            s->vips.erase(it);
            continue;
        }
        if (std::string e = check(u.vip); !e.empty()) {
            errors.push_back({vip_name(u.vip), e});
            continue;
        }
        std::shared_ptr<const VipState> n;
        std::string err;
        if (!build_vip(*s, u.vip, it == s->vips.end() ? nullptr : it->second.get(), &n, &out.maglev_rebuilt, &err)) {
            errors.push_back({vip_name(u.vip), err});
            continue;
        }
        s->vips[u.vip.key] = std::move(n);
    }
    // A protocol served twice on one address and port ("both" against "tcp").
    for (auto it = s->vips.begin(); it != s->vips.end(); ++it) {
        auto next = std::next(it);
        for (; next != s->vips.end() && next->first.address == it->first.address; ++next)
            if (next->first.port == it->first.port &&
                (protos_of(next->first.proto) & protos_of(it->first.proto)))
                errors.push_back({vip_name(*next->second->config),
                                  "serves a protocol and port that " + vip_name(*it->second->config) + " serves too"});
    }
    // Names are how telemetry finds a VIP.
    std::map<std::string, const api::Vip*> names;
    for (const auto& [k, v] : s->vips)
        if (!v->config->name.empty() && !names.emplace(v->config->name, v->config.get()).second)
            errors.push_back({vip_name(*v->config), "another VIP has the same name"});
    if (b.lb && started_ && b.lb->flow_table_size != settings_->flow_table_size)
        errors.push_back({"lb.flow_table_size", "cannot change at run time (it sizes the workers' flow tables)"});
    if (errors.size() != before) return false;

    // Addresses: reference counts, then what appears and leaves.
    std::map<net::IpAddr, uint32_t> refs;
    for (const auto& [k, v] : s->vips) ++refs[k.address];
    for (auto it = s->addrs.begin(); it != s->addrs.end();) {
        if (!refs.count(it->first)) {
            out.addresses.push_back({it->first, it->second.index, false});
            s->addr_slots.give(it->second.index);
            it = s->addrs.erase(it);
        } else {
            ++it;
        }
    }
    for (const auto& [a, n] : refs) {
        auto [it, fresh] = s->addrs.try_emplace(a);
        it->second.refs = n;
        if (!fresh) continue;
        if (!s->addr_slots.take(&it->second.index)) {
            errors.push_back({"vips", "more than " + std::to_string(kMaxVipAddresses) + " VIP addresses"});
            return false;
        }
        out.addresses.push_back({a, it->second.index, true});
    }
    staged_tables_ = make_tables(*s);
    staged_settings_ = b.lb ? std::make_shared<const api::LbSettings>(*b.lb) : settings_;
    staged_ = std::move(s);
    out.changed = true;
    return true;
}

void LbBuilder::commit() {
    started_ = true;
    if (!staged_) return;
    state_ = std::move(*staged_);
    staged_.reset();
    tables_ = std::move(staged_tables_);
    settings_ = std::move(staged_settings_);
    vip_configs_.clear();
    for (const auto& [k, v] : state_.vips) vip_configs_.emplace(k, *v->config);
}

void LbBuilder::abort() {
    staged_.reset();
    staged_tables_.reset();
    staged_settings_.reset();
}

std::shared_ptr<const LbTables> LbBuilder::make_tables(const State& s) const {
    auto t = std::make_shared<LbTables>();
    uint32_t max_vip = 0, max_backend = 0, max_addr = 0;
    for (const auto& [k, v] : s.vips) {
        max_vip = std::max(max_vip, v->slot + 1);
        for (const auto& [bk, bs] : v->backend_slots) max_backend = std::max(max_backend, bs.slot + 1);
    }
    for (const auto& [a, st] : s.addrs) max_addr = std::max(max_addr, st.index + 1);
    t->vips.resize(max_vip);
    t->backends.resize(max_backend);
    t->addresses.resize(max_addr);
    for (const auto& [k, v] : s.vips) {
        const api::Vip& c = *v->config;
        LbVip& r = t->vips[v->slot];
        r.uid = v->uid;
        r.mode = c.mode;
        r.hash = c.hash;
        r.on_down = c.on_down;
        r.v6 = k.address.is_v6();
        r.protos = protos_of(k.proto);
        r.port_be = be16(k.port);
        r.gue_port_be = be16(c.gue_port);
        r.src4_len = r.src6_len = 0xff;
        for (const auto& p : c.encap_source) {
            if (p.addr.is_v6()) {
                std::copy_n(p.addr.bytes.begin(), 16, r.src6.begin());
                r.src6_len = p.len;
            } else {
                std::copy_n(p.addr.bytes.begin(), 4, r.src4.begin());
                r.src4_len = p.len;
            }
        }
        r.maglev = v->maglev;
        r.m = v->maglev->m;
        r.slot = v->maglev->slot.data();
        r.members = v->maglev->members.data();
        r.config = v->config;
        for (const auto& b : c.backends) {
            const VipState::BackendSlot& bs = v->backend_slots.at({b.address, b.port});
            LbBackend& x = t->backends[bs.slot];
            x.uid = bs.uid;
            x.vip = v->slot;
            x.addr = b.address.bytes;
            x.port_be = be16(b.port);
            x.v6 = b.address.is_v6();
            x.state = b.state;
            x.weight = b.weight;
        }
        // Counted when the table was built: a batch that changes one VIP
        // must not walk every VIP's table (1 000 x 65 537 slots took 68 ms).
        const auto& mt = *v->maglev;
        for (size_t i = 0; i < mt.members.size(); ++i) t->backends[mt.members[i]].slots = mt.held[i];
        ++t->vip_count;
        t->backend_count += uint32_t(c.backends.size());
        // Exact ports first, so the all-ports VIP only takes what they leave.
        auto& list = t->addresses[s.addrs.at(k.address).index].vips;
        LbAddress::Entry e{r.protos, r.port_be, v->slot};
        if (k.port != 0) list.insert(list.begin(), e);
        else list.push_back(e);
        if (c.mode == api::LbMode::nat) {
            if (t->nat_filter.empty()) t->nat_filter.assign(LbTables::kNatFilterBits / 64, 0);
            for (const auto& b : c.backends) {
                for (uint8_t proto : {uint8_t(6), uint8_t(17)}) {
                    if (!(r.protos & (proto == 6 ? kLbTcp : kLbUdp))) continue;
                    // Port-keeping backend: the reply's source port is the
                    // client's destination port, which is the VIP's port (or
                    // any port for an all-ports VIP).
                    uint16_t bport = b.port ? be16(b.port) : r.port_be;
                    NatReturnKey rk{b.address.bytes, bport, proto, uint8_t(b.address.is_v6())};
                    t->nat_return[rk] = NatReturn{k.address.bytes, b.port ? r.port_be : uint16_t(0), v->slot};
                }
                uint32_t bit = nat_filter_bit(b.address.bytes.data(), b.address.is_v6());
                t->nat_filter[bit / 64] |= uint64_t(1) << (bit % 64);
            }
        }
    }
    t->keeps_flows.resize(t->backends.size());
    for (size_t i = 0; i < t->backends.size(); ++i)
        t->keeps_flows[i] = t->backends[i].state == api::BackendState::down ? 0 : t->backends[i].uid;
    return t;
}

}  // namespace sluice::dp
