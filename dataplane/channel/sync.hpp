// The control channel's state changes (docs/control-protocol.md, "sync_*"
// and "apply"): decoding what a request carries (any thread, no DPDK), and,
// on the table builder's thread, checking it the way the config file is
// checked and turning it into one Batch.
//
// sync_commit: the staged routes, static neighbors and VIPs become the data
// plane's whole state of those kinds. A Config is assembled from the running
// ports, interface addresses and settings plus the staged state, checked by
// the config file's validator (so a route's gateway must be on a connected
// subnet, a neighbor's port must exist, ... with the same messages), and
// diffed against the running tables with the reload's functions
// (reload/config_diff.hpp): unchanged items are not touched.
//
// apply: each op becomes one request of the batch, in the order given (so
// the builder's "routes[3]" is the request's routes[3]); route and neighbor
// sets and the VIPs that result are checked by the same validator first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/update.hpp"
#include "config/model.hpp"
#include "control/api/codec.hpp"
#include "control/api/message.hpp"

namespace sluice::dp {

class TableBuilder;
struct PortRegistry;

// What a sync stages: the desired routes, static neighbors and VIPs.
struct DesiredState {
    std::vector<config::Route> routes;
    std::vector<config::StaticNeighbor> neighbors;
    std::vector<config::VipConfig> vips;
    size_t items() const { return routes.size() + neighbors.size() + vips.size(); }
};

// The most items one connection may stage (routes + neighbors + VIPs): a
// bound on what a peer can make the data plane hold before a commit.
inline constexpr size_t kMaxStagedItems = size_t(16) << 20;

// Appends a sync_part's routes, neighbors and vips (each optional, each an
// array) to *st. False and *err (field "args.routes[3].prefix") on the
// first item that does not decode; *st is then partly filled (the caller
// discards the staged sync).
bool stage_part(const channel::Json& args, DesiredState* st, channel::FieldError* err);

// An apply request, decoded.
struct ApplyOps {
    struct Route {
        bool del = false;
        config::Route route;  // del: prefix only
    };
    struct Neighbor {
        bool clear = false;
        config::StaticNeighbor n;  // clear: port and address only
    };
    struct Vip {
        bool del = false;
        config::VipConfig vip;  // del: key only
    };
    uint64_t generation = 0;
    std::vector<Route> routes;
    std::vector<Neighbor> neighbors;
    std::vector<Vip> vips;
    size_t items() const { return routes.size() + neighbors.size() + vips.size(); }
};

bool decode_apply(const channel::Json& args, ApplyOps* out, channel::FieldError* err);

// What a commit or an apply turned into (builder thread).
struct Plan {
    api::Batch batch;
    std::vector<channel::Error::Item> errors;  // non-empty: refused, nothing to apply
    // apply: the request's index of each batch VIP (a del of a VIP that is
    // not there is left out of the batch). Routes and neighbors keep the
    // request's order and numbering.
    std::vector<size_t> vip_request;
};

// The running ports (registry order), their addresses and the running
// settings as a Config, for the validator. Builder thread.
config::Config running_config(const PortRegistry& ports, const TableBuilder& running);

// sync_commit: validates the desired state against the running ports and
// addresses and diffs it against the running tables; fills in the port of
// each gateway written without one. Builder thread.
Plan plan_sync(DesiredState& st, const PortRegistry& ports, TableBuilder& running);
// apply. Builder thread.
Plan plan_apply(const ApplyOps& ops, const PortRegistry& ports, TableBuilder& running);

// The builder's refusal of a sync's batch in the request's terms: a
// "routes[12]" of the diff batch names the staged route with that prefix
// ("routes[3]", "(a running route the sync removes)" when it is a del), and
// likewise for neighbors and VIPs.
std::vector<channel::Error::Item> sync_errors(const std::vector<api::UpdateError>& errs, const api::Batch& batch,
                                              const DesiredState& st);

// The builder's refusal of an apply's batch in the request's numbering.
std::vector<channel::Error::Item> apply_errors(const std::vector<api::UpdateError>& errs, const Plan& plan);

// The reply to an applied sync_commit or apply.
channel::Json applied_result(uint64_t generation, const api::Batch& batch, const api::BatchResult& r);

}  // namespace sluice::dp
