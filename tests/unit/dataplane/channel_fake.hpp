// A Backend for the control channel's session and server tests: records
// what reached it and answers at once (or, with `defer`, when the test
// says), no DPDK and no tables.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "dataplane/channel/session.hpp"

namespace sluice::test {

class FakeBackend : public dp::Backend {
public:
    channel::Json hello() override { return {{"server", "fake"}, {"version", 1}}; }
    void commit(uint64_t generation, std::shared_ptr<dp::DesiredState> st, dp::Done done) override {
        std::lock_guard<std::mutex> g(mu);
        commits.push_back({generation, *st});
        finish(std::move(done), channel::Json{{"applied", true}, {"generation", generation}});
    }
    void apply(std::shared_ptr<dp::ApplyOps> ops, dp::Done done) override {
        std::lock_guard<std::mutex> g(mu);
        applies.push_back(*ops);
        finish(std::move(done), channel::Json{{"applied", true}, {"generation", ops->generation}});
    }
    void reload(dp::Done done) override {
        std::lock_guard<std::mutex> g(mu);
        ++reloads;
        finish(std::move(done), channel::Json{{"applied", true}, {"version", 2}});
    }
    void show(const std::string& what, const channel::Json& args, dp::Done done) override {
        std::lock_guard<std::mutex> g(mu);
        shows.push_back(what);
        if (what == "routes" && args.contains("limit") && args["limit"].is_number_unsigned() &&
            args["limit"].get<uint64_t>() <= 100000) {
            // A large reply: `limit` routes.
            channel::Json routes = channel::Json::array();
            for (uint64_t i = 0; i < args["limit"].get<uint64_t>(); ++i)
                routes.push_back({{"prefix", "198.18.0.0/24"}, {"nexthops", channel::Json::array()}});
            finish(std::move(done), channel::Json{{"routes", routes}});
            return;
        }
        finish(std::move(done), channel::Json{{"what", what}});
    }
    // Replies held back (defer = true) are sent by release().
    void release() {
        std::vector<std::pair<dp::Done, dp::Outcome>> held;
        {
            std::lock_guard<std::mutex> g(mu);
            held.swap(deferred);
        }
        for (auto& [d, o] : held) d(std::move(o));
    }

    struct Commit {
        uint64_t generation;
        dp::DesiredState st;
    };
    std::mutex mu;
    bool defer = false;
    std::vector<Commit> commits;
    std::vector<dp::ApplyOps> applies;
    std::vector<std::string> shows;
    int reloads = 0;

private:
    void finish(dp::Done done, dp::Outcome o) {
        if (defer) deferred.emplace_back(std::move(done), std::move(o));
        else done(std::move(o));
    }
    std::vector<std::pair<dp::Done, dp::Outcome>> deferred;
};

}  // namespace sluice::test
