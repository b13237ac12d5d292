// The channel's requests as the running data plane answers them: state
// changes and `show routes` run as jobs on the table builder's thread
// (TableService: one at a time, in order with reloads), their replies go
// back to the channel's thread through the `done` callbacks; the other
// shows are answered on the channel's thread.
#pragma once

#include <string>

#include "dataplane/channel/session.hpp"
#include "dataplane/channel/show.hpp"

namespace sluice::dp {

class TableService;
class ConfigReloader;
class ControlState;

class DataplaneBackend : public Backend {
public:
    DataplaneBackend(ShowContext ctx, TableService& service, ConfigReloader& reloader, ControlState& state)
        : ctx_(std::move(ctx)), service_(service), reloader_(reloader), state_(state) {}

    channel::Json hello() override { return hello_result(ctx_); }
    void commit(uint64_t generation, std::shared_ptr<DesiredState> st, Done done) override;
    void apply(std::shared_ptr<ApplyOps> ops, Done done) override;
    void reload(Done done) override;
    void show(const std::string& what, const channel::Json& args, Done done) override;

private:
    // Runs `job` on the builder's thread; `done` gets an error if the
    // service stops first.
    void post(std::function<void(TableBuilder&)> job, const Done& done);
    // What sync_commit and apply share: a job that checks `generation`,
    // makes the Plan (plan_of(builder)), applies its batch (errors_of(plan,
    // result) renumbers the tables' errors for the request), hands the
    // tables to the control process, calls announce(plan, first) (first:
    // they were the file's until now) and replies. Refusals name `what`.
    template <class PlanOf, class ErrorsOf, class Announce>
    void post_planned(uint64_t generation, const char* what, PlanOf plan_of, ErrorsOf errors_of, Announce announce,
                      const Done& done);

    ShowContext ctx_;
    TableService& service_;
    ConfigReloader& reloader_;
    ControlState& state_;
};

}  // namespace sluice::dp
