// Neighbor reachability state machine shared by ARP (RFC 826) and IPv6
// neighbor discovery (RFC 4861 section 7.3). Pure logic: the agent thread owns
// one Entry per neighbor, calls these functions on events with the current
// time, and performs the returned actions. Nothing here reads a clock, sends a
// packet or touches the workers, so every transition is unit-testable.
//
// Differences from RFC 4861 7.3.2, and why:
//  - Workers cannot cheaply report "this entry was used", so there is no
//    upper-layer reachability confirmation and no DELAY state. Reachable
//    expires into Probe on its own after reachable_ns, and Stale moves to
//    Probe after one retrans_ns; a live neighbor answers the unicast probe and
//    goes back to Reachable.
//  - Failed is an explicit state (RFC 4861 simply deletes the entry) so the
//    caller can keep an entry a route still references; it offers kDelete
//    after gc_ns.
//  - Static entries come from configuration and ignore the protocol.
#pragma once

#include <array>
#include <cstdint>

namespace sluice::nbr {

struct Params {
    uint64_t reachable_ns;   // REACHABLE_TIME (RFC 4861 10: 30 s base)
    uint64_t retrans_ns;     // RETRANS_TIMER (RFC 4861 10: 1 s)
    uint64_t gc_ns;          // how long a Failed entry lingers before kDelete
    uint32_t max_probes;     // MAX_MULTICAST/UNICAST_SOLICIT (3); 0 acts as 1
};

enum class State : uint8_t { Incomplete, Reachable, Stale, Probe, Failed, Static };

using MacBytes = std::array<uint8_t, 6>;

inline constexpr uint64_t kNoDeadline = UINT64_MAX;

struct Entry {
    State state = State::Failed;
    MacBytes mac{};            // all zero whenever mac_valid is false
    bool mac_valid = false;
    uint64_t deadline_ns = 0;  // next on_timer due; kNoDeadline = none
    uint32_t probes = 0;       // solicitations sent in the current round
    uint64_t last_change_ns = 0;  // last change of state or MAC
};

// Actions are a bit set; the caller performs all set bits, in this order:
// kInvalidate, kPublish, kSendMulticast, kSendUnicast, kFlushPending,
// kDropPending, kDelete.
enum Action : uint32_t {
    kNone = 0,
    kSendMulticast = 1,   // broadcast ARP request / multicast NS (solicited-node group)
    kSendUnicast = 2,     // unicast ARP request / NS to entry.mac
    kPublish = 4,         // make entry.mac visible to workers
    kInvalidate = 8,      // withdraw the MAC from workers
    kFlushPending = 16,   // send the queued packets with entry.mac
    kDropPending = 32,    // drop the queued packets (count neighbor_failed)
    kDelete = 64,         // entry may be removed (caller decides if a route still uses it)
};

class Fsm {
public:
    explicit Fsm(Params p) : p_(p) {}
    const Params& params() const { return p_; }

    // A configured entry: Static, MAC valid, no deadline. The caller publishes it.
    Entry make_static(const MacBytes& mac, uint64_t now_ns) const;

    // A packet needs this neighbor and found no usable MAC (new entry: pass a
    // default Entry, state Failed). Failed -> Incomplete + kSendMulticast;
    // Incomplete -> kNone (the caller queues the packet); other states kNone.
    uint32_t on_resolve(Entry& e, uint64_t now_ns) const;

    // A packet starts waiting on this neighbor when none was waiting: like
    // on_resolve, and an Incomplete entry that was being resolved ahead of
    // need (a gateway at start-up) restarts its round, so the first waiter
    // gets every solicitation RFC 4861 7.2.2 allows rather than what is left.
    uint32_t on_first_waiter(Entry& e, uint64_t now_ns) const;

    // A confirmed answer: ARP reply addressed to us (pass override_flag =
    // true), or a solicited NA (pass its O flag). RFC 4861 7.2.5.
    uint32_t on_confirmed(Entry& e, const MacBytes& mac, bool override_flag, uint64_t now_ns) const;

    // An unconfirmed hint: ARP request from the neighbor (RFC 826 merge) or NS
    // carrying a source link-layer address (RFC 4861 7.2.3): pass
    // override_flag = true; an unsolicited NA: pass its O flag (7.2.5).
    uint32_t on_hint(Entry& e, const MacBytes& mac, bool override_flag, uint64_t now_ns) const;

    // Call when now_ns >= e.deadline_ns; earlier calls are ignored (kNone).
    uint32_t on_timer(Entry& e, uint64_t now_ns) const;

private:
    void enter(Entry& e, State s, uint64_t now_ns, uint64_t delay_ns) const;
    void set_mac(Entry& e, const MacBytes& mac, uint64_t now_ns) const;
    Params p_;
};

// Lower-case name, as shown by the CLI ("reachable"); "unknown" if out of range.
const char* to_string(State s);

}  // namespace sluice::nbr
