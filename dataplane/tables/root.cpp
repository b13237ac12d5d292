#include "dataplane/tables/root.hpp"

#include "dataplane/pkt/flow_hash.hpp"
#include "dataplane/pkt/ip.hpp"

namespace sluice::dp {

RouteResult route(const Root& r, const uint8_t* ip, uint32_t avail) {
    bool v6 = (ip[0] >> 4) == 6;
    uint64_t nhv = v6 ? r.fib6->lookup(ip + 24) : r.fib4->lookup(pkt::ipv4_dst(ip));
    RouteResult res{nh_kind(nhv), nullptr};
    uint32_t idx = nh_index(nhv);
    const Nexthops& t = *r.nexthops;
    if (res.kind == NhKind::group)
        idx = t.members[ecmp_pick(t.groups[idx], v6 ? pkt::flow_hash_v6(ip, avail) : pkt::flow_hash_v4(ip, avail))];
    if (res.kind == NhKind::single || res.kind == NhKind::group) res.nh = &t.nh[idx];
    return res;
}

}  // namespace sluice::dp
