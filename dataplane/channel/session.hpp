// One control channel connection's protocol state and request dispatch
// (docs/control-protocol.md): hello first, the sync staging, generation
// checks, argument errors. No sockets and no DPDK: the server
// (channel/server.hpp) feeds it whole frames, and a Backend does the work,
// so unit tests drive a session with a fake backend.
//
// Every request gets exactly one reply, through `Deliver`, either during
// handle() or later from another thread (a batch applied on the table
// builder's thread); the server reads no further request from the
// connection until it has it (replies stay in request order).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "control/api/message.hpp"
#include "dataplane/channel/sync.hpp"

namespace sluice::dp {

class ControlState;

// A request's outcome: a result object or an error.
using Outcome = std::variant<channel::Json, channel::Error>;
// Called once, from any thread.
using Done = std::function<void(Outcome)>;

// What a request needs from the data plane (channel/dp_backend.hpp).
class Backend {
public:
    virtual ~Backend() = default;
    virtual channel::Json hello() = 0;
    // Each calls `done` exactly once, now or later.
    virtual void commit(uint64_t generation, std::shared_ptr<DesiredState> st, Done done) = 0;
    virtual void apply(std::shared_ptr<ApplyOps> ops, Done done) = 0;
    virtual void reload(Done done) = 0;
    // `what` is one of kShowWhat (checked by the session).
    virtual void show(const std::string& what, const channel::Json& args, Done done) = 0;
};

inline constexpr const char* kShowWhat[] = {"status", "ports",  "routes", "neighbors", "vips",
                                            "backends", "drops", "which", "workers", "rdma"};

// Which connection stages a sync (one at a time): 0 = none. Server thread only.
struct SyncLock {
    uint64_t owner = 0;
};

class Session {
public:
    // `bytes` is a framed reply; `close` when the connection ends after it.
    using Deliver = std::function<void(std::string bytes, bool close)>;

    Session(uint64_t conn, Backend& backend, ControlState& state, SyncLock& lock, uint32_t max_message)
        : conn_(conn), backend_(backend), state_(state), lock_(lock), max_message_(max_message) {}
    ~Session() { end(); }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // One frame's body. Calls `deliver` exactly once for it (maybe later,
    // from another thread: it must not reach this Session then).
    void handle(std::string_view body, const Deliver& deliver);
    // The connection ended: a staged sync is dropped (nothing changed).
    void end();

    bool greeted() const { return hello_; }
    bool staging() const { return staging_; }
    uint64_t conn() const { return conn_; }

    // The framed error reply for `e` (the server's own errors: bad frames,
    // refused peers), and whether it closes the connection.
    static std::string error_frame(const channel::Error& e);

private:
    void dispatch(std::string_view body, const Deliver& deliver);
    void reply(const Deliver& d, uint64_t id, Outcome o);
    void drop_staging();
    Outcome sync_begin(const channel::Json& args);
    Outcome sync_part(const channel::Json& args);

    const uint64_t conn_;
    Backend& backend_;
    ControlState& state_;
    SyncLock& lock_;
    const uint32_t max_message_;
    bool hello_ = false;
    bool staging_ = false;
    uint64_t staging_generation_ = 0;
    std::shared_ptr<DesiredState> staged_;
};

// Shorthands for errors.
channel::Error make_error(channel::ErrorCode code, std::string message, std::string field = {});
// A field's error (bad_field, with its path), and the reply to a request
// whose generation is older than the last applied one.
channel::Error field_error(const channel::FieldError& fe);
channel::Error stale(uint64_t requested, uint64_t last);

}  // namespace sluice::dp
