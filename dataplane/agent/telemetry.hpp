// DPDK telemetry commands (/sluice/...), readable with dpdk-telemetry.py
// while the data plane runs, and the text view of the same counters. What
// they report is gathered by agent/telemetry_data.hpp, which the control
// channel's `show` shares.
#pragma once

#include <string>

namespace sluice::dp {

struct Shared;
class Agent;
class ConfigReloader;
class TableBuilder;
class ControlState;

// rte_telemetry callbacks take no context argument, so the registered
// commands read the one running instance through a pointer set here once
// at start-up (and cleared before shutdown).
// `control` (may be null) is the control channel's state (/sluice/control).
void telemetry_register(Shared* sh, Agent* agent, const ConfigReloader* reloader, const TableBuilder* builder,
                        const ControlState* control = nullptr);
// DPDK 22.11 cannot unregister a command, so the commands stay registered and
// answer with an error from here on. Returns only once no command is still
// reading `sh` or `agent` (see callback_gate.hpp): both may be destroyed then.
void telemetry_unregister();

// Counters as a readable table (live view, final counters at exit), with a
// line on the control session when `control` is given.
std::string render_stats(const Shared& sh, uint64_t config_version, const ControlState* control = nullptr,
                         const ConfigReloader* reloader = nullptr);

}  // namespace sluice::dp
