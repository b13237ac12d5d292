// The load balancer's telemetry commands (registered by telemetry.cpp, which
// runs them inside its shutdown gate):
//   /sluice/lb/vips[,<page>]              VIPs with their counters
//   /sluice/lb/backends,<vip>[,<page>]    one VIP's backends with theirs
//   /sluice/lb/which,<tcp|udp>,<src>,<sport>,<dst>,<dport>
//                                          which backend a 5-tuple gets, and why
// Field lists: docs/lb.md, "Telemetry".
#pragma once

struct rte_tel_data;

namespace sluice::dp {

struct Shared;

int lb_cmd_vips(Shared& sh, const char* params, rte_tel_data* d);
int lb_cmd_backends(Shared& sh, const char* params, rte_tel_data* d);
int lb_cmd_which(Shared& sh, const char* params, rte_tel_data* d);

}  // namespace sluice::dp
