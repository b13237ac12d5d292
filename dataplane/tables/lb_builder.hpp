// The table builder's load balancer part: turns VIP update requests into a
// new LbTables (tables/lb_tables.hpp), rebuilding only the Maglev tables of
// the VIPs whose backends or table size changed, and tells the table
// builder which VIP addresses appear in or leave the FIBs. Builder thread
// only.
//
// Two steps, so that a batch stays all or nothing with the rest of the
// table builder: stage() checks the requests and prepares the new state
// without touching the running one; commit() makes it the running state,
// abort() forgets it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/lb.hpp"
#include "api/update.hpp"
#include "dataplane/tables/lb_tables.hpp"

namespace sluice::dp {

class LbBuilder {
public:
    LbBuilder();

    struct AddressChange {
        net::IpAddr address;
        uint32_t index = 0;  // the FIB value's index (NhKind::vip)
        bool add = false;    // false: the address has no VIP any more
    };
    struct Staged {
        bool changed = false;                 // any VIP or setting changed
        std::vector<AddressChange> addresses;
        uint32_t maglev_rebuilt = 0;          // VIP tables rebuilt
    };

    // Checks b.vips and b.lb; on error appends to `errors` and returns false
    // (nothing staged).
    bool stage(const api::Batch& b, std::vector<api::UpdateError>& errors, Staged& out);
    void commit();
    void abort();

    // The running state.
    std::shared_ptr<const LbTables> tables() const { return tables_; }
    std::shared_ptr<const api::LbSettings> settings() const { return settings_; }
    const std::map<api::VipKey, api::Vip>& vips() const { return vip_configs_; }

private:
    struct VipState {
        uint32_t slot = 0, uid = 0;
        std::shared_ptr<const api::Vip> config;
        std::shared_ptr<const MaglevTable> maglev;
        struct BackendSlot {
            uint32_t slot = 0, uid = 0;
        };
        std::map<std::pair<net::IpAddr, uint16_t>, BackendSlot> backend_slots;  // (address, port)
    };
    struct AddrState {
        uint32_t index = 0;
        uint32_t refs = 0;
    };
    // Slot numbers handed out oldest-freed first, so a freed slot is reused
    // as late as possible (tracked flows naming it have likely expired).
    struct Slots {
        uint32_t limit = 0, next = 0;
        std::deque<uint32_t> free;
        bool take(uint32_t* s);
        void give(uint32_t s) { free.push_back(s); }
    };
    struct State {
        std::map<api::VipKey, std::shared_ptr<const VipState>> vips;
        std::map<net::IpAddr, AddrState> addrs;
        Slots vip_slots, backend_slots, addr_slots;
        uint32_t next_uid = 1;
    };

    std::string check(const api::Vip& v) const;
    bool build_vip(State& s, const api::Vip& v, const VipState* old, std::shared_ptr<const VipState>* out,
                   uint32_t* rebuilt, std::string* err);
    void release_vip(State& s, const VipState& v);
    std::shared_ptr<const LbTables> make_tables(const State& s) const;

    State state_;
    std::unique_ptr<State> staged_;
    std::shared_ptr<const LbTables> staged_tables_;
    std::shared_ptr<const api::LbSettings> staged_settings_;
    std::shared_ptr<const LbTables> tables_;
    std::shared_ptr<const api::LbSettings> settings_;
    std::map<api::VipKey, api::Vip> vip_configs_;
    bool started_ = false;  // a batch was published: lb.flow_table_size is fixed from then on
};

}  // namespace sluice::dp
