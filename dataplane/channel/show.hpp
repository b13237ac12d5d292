// The channel's `show` queries (docs/control-protocol.md, "show"). The
// counters come from the same gathering functions as the /sluice/*
// telemetry commands (agent/telemetry_data.hpp). `routes` reads the table
// builder's running state and so runs on the builder's thread; everything
// else runs on the channel's thread (the published tables under an RCU read
// guard, the counters, the agent's neighbor view).
#pragma once

#include <string>

#include "dataplane/channel/session.hpp"

namespace sluice::dp {

struct Shared;
class Agent;
class ConfigReloader;
class ControlState;
class TableBuilder;

struct ShowContext {
    Shared* sh = nullptr;
    Agent* agent = nullptr;
    const ConfigReloader* reloader = nullptr;
    const TableBuilder* builder = nullptr;  // stats() only (any thread)
    const ControlState* state = nullptr;
    std::string file_prefix;
};

// Every `what` but routes (channel thread).
Outcome show_now(const ShowContext& ctx, const std::string& what, const channel::Json& args);
// show routes (builder thread): `prefix` (exact), `lookup` (longest
// matching route for an address), else `offset`/`limit` over the routes in
// (family, address, length) order.
Outcome show_routes(const Shared& sh, TableBuilder& b, const channel::Json& args);

// The hello result.
channel::Json hello_result(const ShowContext& ctx);

inline constexpr uint64_t kDefaultShowLimit = 1000;
inline constexpr uint64_t kMaxShowLimit = 100000;

}  // namespace sluice::dp
