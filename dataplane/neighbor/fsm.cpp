#include "dataplane/neighbor/fsm.hpp"

namespace sluice::nbr {

namespace {

// Saturating so a deadline never wraps into the past, and never becomes
// kNoDeadline by accident.
uint64_t after(uint64_t now_ns, uint64_t delay_ns) {
    constexpr uint64_t kLast = kNoDeadline - 1;
    return now_ns >= kLast || delay_ns >= kLast - now_ns ? kLast : now_ns + delay_ns;
}

bool same_mac(const Entry& e, const MacBytes& mac) { return e.mac_valid && e.mac == mac; }

// Failed and Incomplete never hold a MAC: workers must not use it and the
// next answer is compared against nothing.
void clear_mac(Entry& e) {
    e.mac = MacBytes{};
    e.mac_valid = false;
}

}  // namespace

void Fsm::enter(Entry& e, State s, uint64_t now_ns, uint64_t delay_ns) const {
    if (e.state != s) e.last_change_ns = now_ns;
    e.state = s;
    e.deadline_ns = after(now_ns, delay_ns);
    e.probes = 0;
}

void Fsm::set_mac(Entry& e, const MacBytes& mac, uint64_t now_ns) const {
    if (same_mac(e, mac)) return;
    e.mac = mac;
    e.mac_valid = true;
    e.last_change_ns = now_ns;
}

Entry Fsm::make_static(const MacBytes& mac, uint64_t now_ns) const {
    Entry e;
    e.state = State::Static;
    e.mac = mac;
    e.mac_valid = true;
    e.deadline_ns = kNoDeadline;
    e.last_change_ns = now_ns;
    return e;
}

uint32_t Fsm::on_resolve(Entry& e, uint64_t now_ns) const {
    if (e.state != State::Failed) return kNone;  // Incomplete: caller queues; others have a MAC
    clear_mac(e);
    enter(e, State::Incomplete, now_ns, p_.retrans_ns);
    e.probes = 1;  // RFC 4861 7.2.2: first multicast solicitation now
    return kSendMulticast;
}

uint32_t Fsm::on_first_waiter(Entry& e, uint64_t now_ns) const {
    if (e.state != State::Incomplete) return on_resolve(e, now_ns);
    enter(e, State::Incomplete, now_ns, p_.retrans_ns);
    e.probes = 1;
    return kSendMulticast;
}

uint32_t Fsm::on_confirmed(Entry& e, const MacBytes& mac, bool override_flag, uint64_t now_ns) const {
    switch (e.state) {
    case State::Static:
        return kNone;
    case State::Incomplete:
    case State::Failed: {
        // RFC 4861 7.2.5: with no cached lladdr, record it whatever O says.
        // Only Incomplete has queued packets (a late answer in Failed has none).
        const uint32_t flush = e.state == State::Incomplete ? uint32_t(kFlushPending) : 0u;
        set_mac(e, mac, now_ns);
        enter(e, State::Reachable, now_ns, p_.reachable_ns);
        return kPublish | flush;
    }
    case State::Reachable:
    case State::Stale:
    case State::Probe:
        if (same_mac(e, mac)) {
            enter(e, State::Reachable, now_ns, p_.reachable_ns);
            return kNone;
        }
        if (override_flag) {
            set_mac(e, mac, now_ns);
            enter(e, State::Reachable, now_ns, p_.reachable_ns);
            return kPublish;
        }
        // RFC 4861 7.2.5 (O clear, different lladdr): a REACHABLE entry
        // becomes STALE without other updates; otherwise ignore the NA.
        if (e.state == State::Reachable) enter(e, State::Stale, now_ns, p_.retrans_ns);
        return kNone;
    }
    return kNone;
}

uint32_t Fsm::on_hint(Entry& e, const MacBytes& mac, bool override_flag, uint64_t now_ns) const {
    switch (e.state) {
    case State::Static:
        return kNone;
    case State::Incomplete:
    case State::Failed: {
        // RFC 4861 7.2.3 / 7.2.5 (S clear): record the lladdr, state STALE.
        // The MAC is unconfirmed but usable, so queued packets go out now.
        const uint32_t flush = e.state == State::Incomplete ? uint32_t(kFlushPending) : 0u;
        set_mac(e, mac, now_ns);
        enter(e, State::Stale, now_ns, p_.retrans_ns);
        return kPublish | flush;
    }
    case State::Reachable:
    case State::Stale:
    case State::Probe:
        if (same_mac(e, mac)) return kNone;  // RFC 4861 7.2.3: no state change
        if (override_flag) {
            // RFC 826 merge / RFC 4861 7.2.3: replace the lladdr, state STALE.
            set_mac(e, mac, now_ns);
            enter(e, State::Stale, now_ns, p_.retrans_ns);
            return kPublish;
        }
        // RFC 4861 7.2.5 (unsolicited NA, O clear, different lladdr).
        if (e.state == State::Reachable) enter(e, State::Stale, now_ns, p_.retrans_ns);
        return kNone;
    }
    return kNone;
}

uint32_t Fsm::on_timer(Entry& e, uint64_t now_ns) const {
    if (e.state == State::Static || e.deadline_ns == kNoDeadline || now_ns < e.deadline_ns) return kNone;
    switch (e.state) {
    case State::Static:
        return kNone;
    case State::Incomplete:
        // RFC 4861 7.2.2: retransmit every RetransTimer, give up after
        // MAX_MULTICAST_SOLICIT solicitations.
        if (e.probes < p_.max_probes) {
            ++e.probes;
            e.deadline_ns = after(now_ns, p_.retrans_ns);
            return kSendMulticast;
        }
        clear_mac(e);
        enter(e, State::Failed, now_ns, p_.gc_ns);
        return kInvalidate | kDropPending;
    case State::Reachable:
    case State::Stale:
        // Self-refresh (see fsm.hpp): confirm the known MAC with a unicast probe.
        enter(e, State::Probe, now_ns, p_.retrans_ns);
        e.probes = 1;
        return kSendUnicast;
    case State::Probe:
        // RFC 4861 7.3.3: MAX_UNICAST_SOLICIT probes, then the entry goes.
        if (e.probes < p_.max_probes) {
            ++e.probes;
            e.deadline_ns = after(now_ns, p_.retrans_ns);
            return kSendUnicast;
        }
        clear_mac(e);
        enter(e, State::Failed, now_ns, p_.gc_ns);
        return kInvalidate;
    case State::Failed:
        e.deadline_ns = kNoDeadline;
        return kDelete;
    }
    return kNone;
}

const char* to_string(State s) {
    switch (s) {
    case State::Incomplete: return "incomplete";
    case State::Reachable: return "reachable";
    case State::Stale: return "stale";
    case State::Probe: return "probe";
    case State::Failed: return "failed";
    case State::Static: return "static";
    }
    return "unknown";
}

}  // namespace sluice::nbr
