// A full sync's sync_part messages (docs/control-protocol.md, "sync_begin,
// sync_part, sync_commit"): the desired state cut into parts that each stay
// under the channel's message limit and hold at most `max_routes` routes, so
// that the data plane never has to hold one huge message and a million
// routes go out as ~20 parts of 50k.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "control/daemon/desired_state.hpp"

namespace sluice::control {

class ControlArena;

struct SyncLimits {
    size_t max_body = 16u << 20;  // control.max_message: the whole framed body of one sync_part
    size_t max_routes = 50000;    // routes per part
    size_t chunk = 4096;          // routes one TBB task encodes (the unit parts are cut from)
};

// The JSON text of each part's `args` ({"routes":[...]} / {"neighbors":[...]}
// / {"vips":[...]}), ready to be put in an envelope without another encode.
struct SyncParts {
    std::vector<std::string> args;
    size_t routes = 0, neighbors = 0, vips = 0;
    bool ok = true;
    std::string error;  // !ok: one item alone is larger than a message may be
};

// The route parts of the last encode, reused while the routes have not
// changed: a reconnect (a restarted data plane) then costs only the VIPs and
// neighbors, not a million routes. Link thread only.
struct RouteCache {
    std::shared_ptr<const std::vector<config::Route>> base;  // held: its address cannot be reused meanwhile
    uint64_t version = 0;
    size_t max_body = 0, max_routes = 0;
    std::vector<std::string> parts;
    size_t routes = 0;
    bool valid = false;
};

// Bytes of envelope around a part's args: {"v":1,"id":<20 digits>,"type":"sync_part","args":...}.
inline constexpr size_t kPartEnvelope = 96;

// Encodes `s`. With an arena, the routes are encoded in parallel on its
// threads (the order of the parts is the same as serially); without one,
// on the calling thread. Never throws.
SyncParts encode_sync(const SyncSnapshot& s, const SyncLimits& lim, ControlArena* arena, RouteCache* cache = nullptr);

// A route's JSON text, byte for byte what dump_json(channel::to_json(r))
// gives, written directly: 10x faster than building a Json first, which
// matters at a million routes.
void append_route_json(std::string& out, const config::Route& r);

// One value's JSON text, the way every message of the control process
// writes it (invalid UTF-8 replaced, never an exception).
std::string dump_json(const Json& j);

}  // namespace sluice::control
