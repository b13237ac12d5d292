#include "dataplane/channel/dp_backend.hpp"

#include <cstdio>

#include "dataplane/channel/state.hpp"
#include "dataplane/reload/reloader.hpp"
#include "dataplane/shared.hpp"
#include "dataplane/tables/builder.hpp"
#include "dataplane/tables/service.hpp"

namespace sluice::dp {

using channel::ErrorCode;
using channel::Json;

namespace {

channel::Error rejected(std::vector<channel::Error::Item> items, const std::string& what) {
    channel::Error e = make_error(ErrorCode::rejected,
                                  what + " refused (" + std::to_string(items.size()) +
                                      (items.size() == 1 ? " error" : " errors") + "); nothing changed");
    e.errors = std::move(items);
    return e;
}


}  // namespace

void DataplaneBackend::post(std::function<void(TableBuilder&)> job, const Done& done) {
    auto cancel = [done] {
        done(make_error(ErrorCode::internal, "the data plane is shutting down; nothing was applied"));
    };
    // Nothing may throw out of a job into the builder's thread. A job that
    // throws before it replies gets `internal` (the builder's own state is
    // consistent: a batch either applied or was undone).
    auto guarded = [job = std::move(job), done](TableBuilder& b) {
        try {
            job(b);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "channel: internal error in a table job: %s\n", e.what());
            done(make_error(ErrorCode::internal, std::string("internal error: ") + e.what()));
        }
    };
    if (!service_.post(std::move(guarded), {}, cancel)) cancel();
}

// The job runs on the builder's thread, in order with every other change:
// the generation is checked again there (a newer one may have been applied
// since the request).
template <class PlanOf, class ErrorsOf, class Announce>
void DataplaneBackend::post_planned(uint64_t generation, const char* what, PlanOf plan_of, ErrorsOf errors_of,
                                    Announce announce, const Done& done) {
    ConfigReloader* rl = &reloader_;
    ControlState* state = &state_;
    post(
        [=](TableBuilder& b) {
            uint64_t last = state->generation();
            if (ControlState::is_stale(generation, last)) return done(stale(generation, last));
            Plan plan = plan_of(b);
            if (!plan.errors.empty()) return done(rejected(std::move(plan.errors), what));
            api::BatchResult r;
            r.applied = true;
            if (!plan.batch.empty()) r = b.apply(plan.batch);
            if (!r.applied) return done(rejected(errors_of(plan, r), what));
            bool first = rl->owner() != TablesOwner::control;
            rl->set_owner(TablesOwner::control);
            state->applied(generation);
            announce(plan, first);
            done(applied_result(generation, plan.batch, r));
        },
        done);
}

void DataplaneBackend::commit(uint64_t generation, std::shared_ptr<DesiredState> st, Done done) {
    const PortRegistry* ports = &ctx_.sh->ports;
    post_planned(
        generation, "sync_commit", [st, ports](TableBuilder& b) { return plan_sync(*st, *ports, b); },
        [st](const Plan& plan, const api::BatchResult& r) { return sync_errors(r.errors, plan.batch, *st); },
        [generation](const Plan& plan, bool first) {
            std::printf("channel: sync_commit generation %lu applied (%zu route, %zu neighbor, %zu VIP changes)%s\n",
                        (unsigned long)generation, plan.batch.routes.size(), plan.batch.neighbors.size(),
                        plan.batch.vips.size(),
                        first ? "; routes, static neighbors and VIPs now belong to the control process "
                                "(a reload applies only the file's settings and addresses)"
                              : "");
            std::fflush(stdout);
        },
        done);
}

void DataplaneBackend::apply(std::shared_ptr<ApplyOps> ops, Done done) {
    const PortRegistry* ports = &ctx_.sh->ports;
    post_planned(
        ops->generation, "apply", [ops, ports](TableBuilder& b) { return plan_apply(*ops, *ports, b); },
        [](const Plan& plan, const api::BatchResult& r) { return apply_errors(r.errors, plan); },
        [ops](const Plan&, bool first) {
            if (!first) return;
            std::printf("channel: apply generation %lu: routes, static neighbors and VIPs now belong to the "
                        "control process (a reload applies only the file's settings and addresses)\n",
                        (unsigned long)ops->generation);
            std::fflush(stdout);
        },
        done);
}

void DataplaneBackend::reload(Done done) {
    ConfigReloader* rl = &reloader_;
    post(
        [=](TableBuilder& b) {
            ReloadOutcome o = rl->reload_outcome(b);
            if (!o.applied) {
                std::vector<channel::Error::Item> items;
                for (auto& e : o.errors) items.push_back({"reload", std::move(e)});
                channel::Error err = rejected(std::move(items), "reload of " + rl->path());
                err.message += "; the running config (version " + std::to_string(o.version) + ") stays";
                return done(std::move(err));
            }
            done(Json{{"applied", true},
                      {"version", o.version},
                      {"owner", to_string(rl->owner())},
                      {"summary", o.summary}});
        },
        done);
}

void DataplaneBackend::show(const std::string& what, const Json& args, Done done) {
    if (what != "routes") return done(show_now(ctx_, what, args));
    const Shared* sh = ctx_.sh;
    post([sh, args, done](TableBuilder& b) { done(show_routes(*sh, b, args)); }, done);
}

}  // namespace sluice::dp
