// The control channel's per-connection protocol (dataplane/channel/
// session.hpp) without sockets or DPDK: hello first, the error table of
// docs/control-protocol.md (which errors close), sync staging and the one
// staging connection, generation rules, and a fuzz of malformed requests
// that must each get exactly one reply.
#include <gtest/gtest.h>

#include <random>

#include "control/api/frame.hpp"
#include "dataplane/channel/state.hpp"
#include "tests/unit/dataplane/channel_fake.hpp"

namespace sluice::test {
namespace {

using channel::ErrorCode;
using channel::Json;

struct Got {
    channel::Reply reply;
    bool close = false;
    bool parsed = false;
};

// One session with its own state, lock and fake backend.
struct Rig {
    FakeBackend backend;
    dp::ControlState state;
    dp::SyncLock lock;
    uint32_t max = 1 << 20;
    std::unique_ptr<dp::Session> s = std::make_unique<dp::Session>(1, backend, state, lock, max);

    std::vector<Got> send_raw(dp::Session& sess, const std::string& body) {
        std::vector<Got> out;
        sess.handle(body, [&](std::string bytes, bool close) {
            Got g;
            g.close = close;
            channel::FrameReader r(1u << 30);
            r.feed(bytes.data(), bytes.size());
            std::string b;
            EXPECT_EQ(r.next(&b), channel::FrameReader::Status::frame);
            auto p = channel::parse_reply(b);
            if (auto* rep = std::get_if<channel::Reply>(&p)) {
                g.reply = *rep;
                g.parsed = true;
            }
            out.push_back(g);
        });
        return out;
    }
    Got call(dp::Session& sess, const std::string& type, const Json& args = Json::object(), uint64_t id = 7) {
        auto v = send_raw(sess, channel::encode_request(id, type, args));
        EXPECT_EQ(v.size(), 1u) << type;
        return v.empty() ? Got{} : v[0];
    }
    Got call(const std::string& type, const Json& args = Json::object(), uint64_t id = 7) {
        return call(*s, type, args, id);
    }
    void hello(dp::Session& sess) { ASSERT_TRUE(call(sess, "hello", {{"client", "test"}}).reply.ok); }
};

void expect_error(const Got& g, ErrorCode code, bool closes, const std::string& field = "") {
    ASSERT_TRUE(g.parsed);
    EXPECT_FALSE(g.reply.ok);
    EXPECT_EQ(channel::to_string(g.reply.error.code), std::string(channel::to_string(code))) << g.reply.error.message;
    EXPECT_EQ(g.close, closes) << g.reply.error.message;
    if (!field.empty()) {
        EXPECT_EQ(g.reply.error.field, field) << g.reply.error.message;
    }
}

TEST(ChannelSession, HelloMustComeFirst) {
    Rig r;
    Got g = r.call("show", {{"what", "status"}}, 3);
    expect_error(g, ErrorCode::not_permitted, true);
    EXPECT_EQ(g.reply.id, 3u);
    EXPECT_TRUE(r.backend.shows.empty());
    Got h = r.call("hello", {{"client", "sluice-control"}}, 4);
    ASSERT_TRUE(h.reply.ok);
    EXPECT_EQ(h.reply.id, 4u);
    EXPECT_EQ(h.reply.result["server"], "fake");
    EXPECT_TRUE(r.state.view().connections == 0) << "opened() is the server's";
}

TEST(ChannelSession, EnvelopeErrorsCloseTheConnection) {
    Rig r;
    r.hello(*r.s);
    struct Case {
        std::string body;
        ErrorCode code;
    } cases[] = {
        {"not json", ErrorCode::malformed},
        {"[1,2,3]", ErrorCode::malformed},
        {R"({"v":1,"type":"hello"})", ErrorCode::malformed},
        {R"({"v":1,"id":-1,"type":"hello"})", ErrorCode::malformed},
        {R"({"v":1,"id":1,"type":5})", ErrorCode::malformed},
        {R"({"v":1,"id":1,"type":"show","args":[1]})", ErrorCode::malformed},
        {R"({"v":2,"id":1,"type":"hello"})", ErrorCode::bad_version},
        {R"({"id":1,"type":"hello"})", ErrorCode::malformed},
        {R"({"v":1,"id":1,"type":"frobnicate"})", ErrorCode::unknown_type},
    };
    for (const auto& c : cases) {
        auto v = r.send_raw(*r.s, c.body);
        ASSERT_EQ(v.size(), 1u) << c.body;
        expect_error(v[0], c.code, true);
    }
}

TEST(ChannelSession, ArgumentErrorsKeepTheConnection) {
    Rig r;
    r.hello(*r.s);
    expect_error(r.call("show"), ErrorCode::bad_field, false, "args.what");
    expect_error(r.call("show", {{"what", 5}}), ErrorCode::bad_field, false, "args.what");
    expect_error(r.call("show", {{"what", "everything"}}), ErrorCode::bad_field, false, "args.what");
    expect_error(r.call("sync_begin"), ErrorCode::bad_field, false, "args.generation");
    expect_error(r.call("sync_begin", {{"generation", "x"}}), ErrorCode::bad_field, false, "args.generation");
    expect_error(r.call("sync_part", {{"routes", Json::array()}}), ErrorCode::bad_field, false);
    expect_error(r.call("sync_commit", {{"generation", 1}}), ErrorCode::bad_field, false);
    expect_error(r.call("apply"), ErrorCode::bad_field, false, "args.generation");
    expect_error(r.call("apply", {{"generation", 1}, {"routes", {{{"op", "move"}}}}}), ErrorCode::bad_field, false,
                 "args.routes[0].op");
    expect_error(r.call("apply", {{"generation", 1}, {"routes", {{{"op", "set"}, {"prefix", "198.18.0.0/24"}}}}}),
                 ErrorCode::bad_field, false, "args.routes[0].nexthops");
    expect_error(r.call("reload", {{"force", true}}), ErrorCode::bad_field, false, "args.force");
    // Still served after all that.
    Got ok = r.call("show", {{"what", "drops"}});
    ASSERT_TRUE(ok.reply.ok);
    EXPECT_EQ(r.backend.shows, std::vector<std::string>{"drops"});
    EXPECT_TRUE(r.backend.applies.empty());
}

TEST(ChannelSession, SyncStagesThenCommitsOnce) {
    Rig r;
    r.hello(*r.s);
    ASSERT_TRUE(r.call("sync_begin", {{"generation", 5}}).reply.ok);
    EXPECT_EQ(r.lock.owner, 1u);
    Got p1 = r.call("sync_part", {{"routes", {{{"prefix", "198.18.10.0/24"}, {"nexthops", {{{"via", "198.18.1.2"}}}}}}}});
    ASSERT_TRUE(p1.reply.ok) << p1.reply.error.message;
    Got p2 = r.call("sync_part",
                    {{"neighbors", {{{"port", "a"}, {"address", "198.18.1.9"}, {"mac", "02:00:00:00:00:09"}}}},
                     {"routes", {{{"prefix", "2001:db8:9::/48"}, {"nexthops", {{{"port", "b"}}}}}}}});
    ASSERT_TRUE(p2.reply.ok) << p2.reply.error.message;
    EXPECT_EQ(p2.reply.result["staged"]["routes"], 2);
    expect_error(r.call("sync_commit", {{"generation", 6}}), ErrorCode::bad_field, false, "args.generation");
    Got c = r.call("sync_commit", {{"generation", 5}});
    ASSERT_TRUE(c.reply.ok) << c.reply.error.message;
    ASSERT_EQ(r.backend.commits.size(), 1u);
    EXPECT_EQ(r.backend.commits[0].generation, 5u);
    EXPECT_EQ(r.backend.commits[0].st.routes.size(), 2u);
    EXPECT_EQ(r.backend.commits[0].st.neighbors.size(), 1u);
    EXPECT_EQ(r.lock.owner, 0u) << "the commit ends the staging";
    expect_error(r.call("sync_commit", {{"generation", 5}}), ErrorCode::bad_field, false);
    EXPECT_EQ(r.backend.commits.size(), 1u);
}

TEST(ChannelSession, ABadPartDiscardsTheStagedSync) {
    Rig r;
    r.hello(*r.s);
    ASSERT_TRUE(r.call("sync_begin", {{"generation", 1}}).reply.ok);
    Got bad = r.call("sync_part", {{"vips", {{{"name", "web"}, {"address", "198.18.100.1"},
                                               {"backends", {{{"address", "nope"}}}}}}}});
    expect_error(bad, ErrorCode::bad_field, false, "args.vips[0].backends[0].address");
    EXPECT_EQ(r.lock.owner, 0u);
    expect_error(r.call("sync_commit", {{"generation", 1}}), ErrorCode::bad_field, false);
    EXPECT_TRUE(r.backend.commits.empty());
    expect_error(r.call("sync_part", {{"routes", Json::array()}, {"extra", 1}}), ErrorCode::bad_field, false);
}

TEST(ChannelSession, OneStagingConnectionAtATime) {
    Rig r;
    dp::Session other(2, r.backend, r.state, r.lock, r.max);
    r.hello(*r.s);
    r.hello(other);
    ASSERT_TRUE(r.call(*r.s, "sync_begin", {{"generation", 1}}).reply.ok);
    expect_error(r.call(other, "sync_begin", {{"generation", 2}}), ErrorCode::busy, false);
    // Show and apply are not syncs: served meanwhile.
    EXPECT_TRUE(r.call(other, "show", {{"what", "status"}}).reply.ok);
    EXPECT_TRUE(r.call(other, "apply", {{"generation", 1}}).reply.ok);
    // The staging connection ends: the other may sync now, and nothing was committed.
    r.s.reset();
    EXPECT_EQ(r.lock.owner, 0u);
    ASSERT_TRUE(r.call(other, "sync_begin", {{"generation", 2}}).reply.ok);
    EXPECT_EQ(r.lock.owner, 2u);
    EXPECT_TRUE(r.backend.commits.empty());
    // A second sync_begin on the same connection starts over.
    ASSERT_TRUE(r.call(other, "sync_part", {{"routes", {{{"prefix", "198.18.10.0/24"}, {"nexthops", {{{"port", "a"}}}}}}}})
                    .reply.ok);
    ASSERT_TRUE(r.call(other, "sync_begin", {{"generation", 3}}).reply.ok);
    ASSERT_TRUE(r.call(other, "sync_commit", {{"generation", 3}}).reply.ok);
    ASSERT_EQ(r.backend.commits.size(), 1u);
    EXPECT_TRUE(r.backend.commits[0].st.routes.empty());
}

TEST(ChannelSession, Generations) {
    EXPECT_FALSE(dp::ControlState::is_stale(0, 0));
    EXPECT_FALSE(dp::ControlState::is_stale(5, 5)) << "equal is applied (a repeated request)";
    EXPECT_FALSE(dp::ControlState::is_stale(6, 5));
    EXPECT_TRUE(dp::ControlState::is_stale(4, 5));

    Rig r;
    r.hello(*r.s);
    r.state.applied(50);
    r.state.applied(40);  // never goes back
    EXPECT_EQ(r.state.generation(), 50u);
    expect_error(r.call("sync_begin", {{"generation", 49}}), ErrorCode::stale_generation, false, "args.generation");
    expect_error(r.call("apply", {{"generation", 3}}), ErrorCode::stale_generation, false, "args.generation");
    EXPECT_TRUE(r.backend.applies.empty());
    EXPECT_TRUE(r.call("apply", {{"generation", 50}}).reply.ok);
    ASSERT_TRUE(r.call("sync_begin", {{"generation", 51}}).reply.ok);
    // A newer generation applied by someone else while this one staged.
    r.state.applied(60);
    expect_error(r.call("sync_commit", {{"generation", 51}}), ErrorCode::stale_generation, false);
    EXPECT_TRUE(r.backend.commits.empty());
    EXPECT_EQ(r.lock.owner, 0u);
}

TEST(ChannelSession, ControlSessionState) {
    Rig r;
    r.state.opened(1, 1234, 0);
    r.state.opened(9, 99, 0);
    r.hello(*r.s);
    dp::ControlView v = r.state.view();
    EXPECT_FALSE(v.connected) << "a client that did not say it is the control process";
    EXPECT_EQ(v.connections, 2u);
    ASSERT_TRUE(r.call("hello", {{"client", "sluice-control"}}).reply.ok);
    v = r.state.view();
    EXPECT_TRUE(v.connected);
    EXPECT_EQ(v.peer_pid, 1234);
    EXPECT_FALSE(v.forwarding_on_last_state);
    r.state.applied(3);
    r.state.closed(1);
    v = r.state.view();
    EXPECT_FALSE(v.connected);
    EXPECT_TRUE(v.synced);
    EXPECT_TRUE(v.forwarding_on_last_state) << "synced, then the control process went away";
    EXPECT_EQ(v.peer_pid, 1234) << "the last control session is remembered";
    EXPECT_GE(v.since_request_s, 0.0);
    EXPECT_EQ(r.state.instance().size(), 16u);
    EXPECT_NE(r.state.instance(), dp::ControlState().instance());
}

TEST(ChannelSession, RepliesAboveTheLimitBecomeAnError) {
    Rig r;
    r.max = 4096;
    r.s = std::make_unique<dp::Session>(1, r.backend, r.state, r.lock, r.max);
    r.hello(*r.s);
    Got g = r.call("show", {{"what", "routes"}, {"limit", 1000}});
    expect_error(g, ErrorCode::internal, false);
    EXPECT_NE(g.reply.error.message.find("max_message"), std::string::npos);
    EXPECT_TRUE(r.call("show", {{"what", "routes"}, {"limit", 2}}).reply.ok);
}

TEST(ChannelSession, DeferredRepliesNeedNoSession) {
    Rig r;
    r.backend.defer = true;
    r.hello(*r.s);
    std::vector<std::string> got;
    r.s->handle(channel::encode_request(11, "reload", Json::object()),
                [&](std::string bytes, bool) { got.push_back(bytes); });
    EXPECT_TRUE(got.empty());
    r.s.reset();  // the connection went away before the reply
    r.backend.release();
    ASSERT_EQ(got.size(), 1u);
}

// Thousands of hostile bodies: each gets exactly one reply, nothing throws,
// and a well-formed request is served afterwards.
TEST(ChannelSession, FuzzEachRequestGetsOneReply) {
    Rig r;
    std::mt19937_64 rng(42);
    const std::vector<std::string> types = {"hello", "sync_begin", "sync_part", "sync_commit", "apply",
                                            "reload", "show", "x", ""};
    const std::vector<Json> values = {Json(nullptr), Json(true), Json(-1), Json(1.5), Json(UINT64_MAX), Json("x"),
                                      Json::array(), Json::object(), Json("198.18.0.0/24"), Json(7)};
    size_t closing = 0;
    for (int i = 0; i < 5000; ++i) {
        std::string body;
        switch (rng() % 4) {
            case 0: {  // random bytes
                size_t n = rng() % 64;
                for (size_t k = 0; k < n; ++k) body.push_back(char(rng() % 256));
                break;
            }
            case 1: {  // random JSON
                Json j = Json::object();
                for (int k = 0, n = int(rng() % 5); k < n; ++k)
                    j[std::string(1, char('a' + rng() % 26))] = values[rng() % values.size()];
                body = j.dump();
                break;
            }
            default: {  // a valid envelope with wrong or random arguments
                Json args = Json::object();
                for (const char* k : {"generation", "what", "routes", "neighbors", "vips", "client", "limit"})
                    if (rng() % 3 == 0) args[k] = values[rng() % values.size()];
                if (rng() % 4 == 0) args["what"] = std::string(dp::kShowWhat[rng() % 9]);
                body = channel::encode_request(rng() % 100, types[rng() % types.size()], args);
            }
        }
        auto v = r.send_raw(*r.s, body);
        ASSERT_EQ(v.size(), 1u) << body;
        ASSERT_TRUE(v[0].parsed);
        if (v[0].close) ++closing;
        if (!v[0].reply.ok && channel::closes_connection(v[0].reply.error.code)) {
            EXPECT_TRUE(v[0].close);
        }
        if (v[0].close) {
            // The server would close: start a new connection.
            r.s = std::make_unique<dp::Session>(1, r.backend, r.state, r.lock, r.max);
        }
    }
    EXPECT_GT(closing, 100u);
    r.hello(*r.s);
    EXPECT_TRUE(r.call("show", {{"what", "status"}}).reply.ok);
}

}  // namespace
}  // namespace sluice::test
