// What the /sluice/* telemetry commands and the control channel's `show`
// requests report, gathered once: each function reads the counters and
// tables and returns plain JSON (insertion-ordered, as DPDK's telemetry
// prints it). The telemetry commands (telemetry.cpp, telemetry_lb.cpp) pass
// it through to_tel(); the channel (dataplane/channel/show.cpp) returns it
// as it is, or with more detail where a field has no telemetry form.
//
// Values are unsigned integers (flags 0/1, as DPDK 22.11's telemetry has no
// boolean) and strings; a container is an object of those, one level deep.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/lb.hpp"
#include "dataplane/lb/flow_table.hpp"

struct rte_tel_data;

namespace sluice::dp {

struct Shared;
struct Port;
class Agent;
class ConfigReloader;
class TableBuilder;
class ControlState;

using TelJson = nlohmann::ordered_json;

// The telemetry form of `j` (an object) in `d`: unsigned and signed numbers,
// strings, booleans as 0/1, and objects of those one level down as
// containers (a key DPDK refuses is left out, as before).
int to_tel(const TelJson& j, rte_tel_data* d);

// Every drop reason with its count, all cores summed.
TelJson gather_drops(const Shared& sh);
uint64_t sum_drop(const Shared& sh, size_t reason);

// One port's counts (/sluice/ports' per-port object): software rx/tx, NIC
// counters, RX queues and offloads, per RX queue packets ("rxq<N>").
TelJson gather_port(const Shared& sh, const Port& port);
// { "<port name>": gather_port(...) } for every open port.
TelJson gather_ports(const Shared& sh);

// Per core: workers then "agent" (docs/architecture.md, "Counters").
TelJson gather_workers(const Shared& sh);

// ICMP messages sent by type, and rate-limited ones.
TelJson gather_icmp(const Agent& a);

// The config version and source, and what the published tables hold.
TelJson gather_config(const Shared& sh, const ConfigReloader& rl, const TableBuilder& tb);

// The control channel's state (/sluice/control, show status): connected,
// peer pid/uid, generation, owner, seconds since the last request,
// forwarding_on_last_state.
TelJson gather_control(const ControlState& st, const ConfigReloader* rl);
// One line for the counters table (render_stats).
std::string control_line(const ControlState& st, const ConfigReloader* rl);

// ---- load balancer (telemetry_lb.cpp) ----

// Every VIP in slot order (each row as /sluice/lb/vips shows one), and the
// totals ("untracked_new_flows", ...).
// With `configs`, each row's VIP as configured too (same order).
void lb_gather_vips(Shared& sh, TelJson* totals, std::vector<TelJson>* rows,
                    std::vector<api::Vip>* configs = nullptr);
// A VIP's backends in Maglev member order (rows as /sluice/lb/backends
// shows them). False when there is no VIP of that name.
bool lb_gather_backends(Shared& sh, const std::string& vip, std::vector<TelJson>* rows);
// Where a 5-tuple would go now (/sluice/lb/which's fields). False when no
// worker answered.
bool lb_gather_which(Shared& sh, const lb::FlowKey& k, TelJson* out);
// "tcp"/"udp", addresses and ports as text into a flow key; false when any
// does not parse (families must match).
bool lb_flow_key(const std::string& proto, const std::string& src, const std::string& sport, const std::string& dst,
                 const std::string& dport, lb::FlowKey* out);

}  // namespace sluice::dp
