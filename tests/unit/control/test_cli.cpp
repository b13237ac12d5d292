// The CLI socket's request handling (control/daemon/cli_server.hpp) against
// a fake data plane (an in-process channel server on a temporary socket):
// changes validated, applied, pushed and persisted; bad requests answered
// with structured errors naming the argument; the data plane refusing a
// change undoes it; show proxied and merged with health; reload; restart
// without disturbance.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <filesystem>

#include "control/api/client.hpp"
#include "control/api/codec.hpp"
#include "control/daemon/cli_server.hpp"
#include "control/daemon/log.hpp"
#include "control/daemon/service.hpp"
#include "tests/unit/control/fake_dataplane.hpp"
#include "tests/unit/control/helpers.hpp"

namespace sluice::control {
namespace {

using channel::ErrorCode;
using test::backend_of;
using test::eventually;
using test::FakeDataplane;

struct CliFixture : ::testing::Test {
    void SetUp() override {
        set_log_quiet(true);
        config_path = dir.file("sluice.yaml");
        test::write_file(config_path, test::test_yaml(dp, cli));
        ASSERT_TRUE(fake.start());
    }
    void TearDown() override {
        handler.reset();
        if (svc) svc->stop();
        svc.reset();
        set_log_quiet(false);
    }
    void start(bool health = false) {
        Service::Options o;
        o.health = health;
        o.config_path = config_path;
        o.state_file = state_file_path(cli);
        o.initial_wait = std::chrono::milliseconds(200);
        svc = std::make_unique<Service>(test::parse_or_die(test::test_yaml(dp, cli)), o);
        ASSERT_TRUE(svc->start(nullptr));
        ASSERT_TRUE(eventually([&] { return svc->link_status().synced; }));
        handler = std::make_unique<CliHandler>(*svc, dp);
    }
    channel::Reply call(const std::string& type, Json args = Json::object()) {
        channel::Request r;
        r.id = ++id;
        r.type = type;
        r.args = std::move(args);
        channel::Reply rep = handler->handle_reply(r);
        EXPECT_EQ(rep.id, r.id);
        return rep;
    }
    void expect_bad(const channel::Reply& r, const std::string& field, ErrorCode code = ErrorCode::bad_field) {
        EXPECT_FALSE(r.ok);
        EXPECT_EQ(r.error.code, code) << r.error.message;
        EXPECT_EQ(r.error.field, field) << r.error.message;
        EXPECT_FALSE(r.error.message.empty());
    }

    test::TempDir dir;
    std::string dp = dir.file("dp.sock");
    std::string cli = dir.file("cli.sock");
    std::string config_path;
    FakeDataplane fake{dp, 41};
    std::unique_ptr<Service> svc;
    std::unique_ptr<CliHandler> handler;
    uint64_t id = 0;
};

TEST_F(CliFixture, Hello) {
    start();
    auto r = call("hello", Json{{"client", "test"}});
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.result["server"], "sluice-control");
    EXPECT_EQ(r.result["dataplane"]["connected"], true);
}

TEST_F(CliFixture, RouteAddAndDel) {
    start();
    auto r =
        call("route_add", Json{{"prefix", "198.19.113.0/24"}, {"nexthops", Json::array({Json{{"via", "198.18.2.2"}}})}});
    ASSERT_TRUE(r.ok) << r.error.message;
    EXPECT_EQ(r.result["changed"], true);
    EXPECT_EQ(r.result["pushed"], true);
    EXPECT_EQ(r.result["dataplane"]["applied"], true);
    EXPECT_EQ(fake.routes().count("198.19.113.0/24"), 1u);
    EXPECT_TRUE(std::filesystem::exists(state_file_path(cli))) << "persisted";
    // Again: no change, nothing sent.
    const auto applies = fake.count("apply");
    r = call("route_add", Json{{"prefix", "198.19.113.0/24"}, {"nexthops", Json::array({Json{{"via", "198.18.2.2"}}})}});
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.result["changed"], false);
    EXPECT_EQ(fake.count("apply"), applies);
    r = call("route_del", Json{{"prefix", "198.19.0.0/16"}});
    ASSERT_TRUE(r.ok) << r.error.message;
    EXPECT_EQ(fake.routes().count("198.19.0.0/16"), 0u);
}

TEST_F(CliFixture, BadRequestsGetStructuredErrors) {
    start();
    expect_bad(
        call("route_add", Json{{"prefix", "198.19.113.0/33"}, {"nexthops", Json::array({Json{{"via", "198.18.2.2"}}})}}),
        "args.prefix");
    expect_bad(call("route_add", Json{{"prefix", "198.19.113.0/24"}}), "args.nexthops");
    expect_bad(call("route_add", Json{{"prefix", "198.19.113.0/24"},
                                      {"nexthops", Json::array({Json{{"via", "198.18.2.2"}, {"port", "p7"}}})}}),
               "args.nexthops[0].port");
    expect_bad(call("route_del", Json{{"prefix", "198.19.0.1/16"}}), "args.prefix");
    expect_bad(call("route_del", Json{{"prefx", "198.19.0.0/16"}}), "args.prefx");
    expect_bad(call("backend_add", Json{{"vip", "nope"}, {"backend", Json{{"address", "198.18.2.30"}}}}), "args.vip");
    expect_bad(call("backend_add", Json{{"vip", "web"}, {"backend", Json{{"address", "not-an-ip"}}}}),
               "args.backend.address");
    expect_bad(call("backend_add", Json{{"vip", "web"}}), "args.backend");
    expect_bad(call("backend_del", Json{{"vip", "web"}}), "args.address");
    expect_bad(call("backend_set", Json{{"vip", "web"}, {"address", "198.18.2.10"}, {"weight", 20000}}), "args.weight");
    expect_bad(call("backend_set", Json{{"vip", "web"}, {"address", "198.18.2.10"}, {"admin", "sideways"}}),
               "args.admin");
    expect_bad(call("backend_set", Json{{"vip", "web"}, {"address", "198.18.2.10"}}), "args");
    expect_bad(call("backend_set", Json{{"vip", "web"}, {"address", "198.18.2.99"}, {"weight", 3}}), "args.address");
    expect_bad(call("backend_set", Json{{"vip", "web"}, {"address", "198.18.2.10"}, {"wieght", 3}}), "args.wieght");
    expect_bad(call("show", Json{{"what", "everything"}}), "args.what");
    expect_bad(call("show", Json{{"what", "backends"}, {"vip", "nope"}}), "args.vip");
    expect_bad(call("reload", Json{{"now", true}}), "args.now");
    auto r = call("launch_missiles");
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error.code, ErrorCode::unknown_type);
    // Nothing of it reached the data plane or the state file.
    EXPECT_EQ(fake.count("apply"), 0u);
    EXPECT_FALSE(std::filesystem::exists(state_file_path(cli)));
}

TEST_F(CliFixture, BackendChangesReachTheDataplane) {
    start();
    auto r = call("backend_set", Json{{"vip", "web"}, {"address", "198.18.2.10"}, {"admin", "drain"}});
    ASSERT_TRUE(r.ok) << r.error.message;
    EXPECT_EQ(backend_of(fake.vips()["web"], "198.18.2.10")["state"], "drain");
    r = call("backend_set", Json{{"vip", "web"}, {"address", "198.18.2.10"}, {"admin", "up"}, {"weight", 6}});
    ASSERT_TRUE(r.ok) << r.error.message;
    EXPECT_EQ(backend_of(fake.vips()["web"], "198.18.2.10")["state"], "up");
    EXPECT_EQ(backend_of(fake.vips()["web"], "198.18.2.10")["weight"], 6);
    r = call("backend_add", Json{{"vip", "web"}, {"backend", Json{{"address", "198.18.2.13"}, {"weight", 3}}}});
    ASSERT_TRUE(r.ok) << r.error.message;
    EXPECT_EQ(backend_of(fake.vips()["web"], "198.18.2.13")["weight"], 3);
    r = call("backend_del", Json{{"vip", "web"}, {"address", "198.18.2.11"}});
    ASSERT_TRUE(r.ok) << r.error.message;
    EXPECT_TRUE(backend_of(fake.vips()["web"], "198.18.2.11").is_null());
    EXPECT_EQ(fake.vips()["web"]["backends"].size(), 3u);
}

TEST_F(CliFixture, RefusedByTheDataplaneIsUndone) {
    start();
    fake.refuse_backend("198.18.2.66");
    auto r = call("backend_add", Json{{"vip", "web"}, {"backend", Json{{"address", "198.18.2.66"}}}});
    ASSERT_FALSE(r.ok);
    EXPECT_EQ(r.error.code, ErrorCode::rejected);
    ASSERT_FALSE(r.error.errors.empty());
    EXPECT_NE(r.error.errors[0].message.find("not reachable"), std::string::npos);
    EXPECT_FALSE(svc->desired().backend(BackendKey{"web", *net::parse_ip("198.18.2.66"), 0}).has_value());
    EXPECT_TRUE(backend_of(fake.vips()["web"], "198.18.2.66").is_null());
    EXPECT_FALSE(std::filesystem::exists(state_file_path(cli)));
}

TEST_F(CliFixture, ShowProxiesAndMerges) {
    start();
    auto r = call("show", Json{{"what", "backends"}, {"vip", "web"}});
    ASSERT_TRUE(r.ok) << r.error.message;
    ASSERT_EQ(r.result["backends"].size(), 3u);
    for (const auto& b : r.result["backends"]) {
        EXPECT_EQ(b["slots"], 100) << "the data plane's fields";
        EXPECT_TRUE(b.contains("admin"));
        EXPECT_TRUE(b.contains("desired_state"));
    }
    r = call("show", Json{{"what", "status"}});
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.result["instance"], "fake-1");
    EXPECT_TRUE(r.result.contains("control")) << "the data plane's own view of the session stays";
    EXPECT_EQ(r.result["control_process"]["dataplane_connected"], true);
    EXPECT_EQ(r.result["control_process"]["backends"]["drain"], 1);
    EXPECT_GE(r.result["control_process"]["syncs"].get<int>(), 1);
    r = call("show", Json{{"what", "health"}});
    ASSERT_TRUE(r.ok);
    EXPECT_TRUE(r.result["backends"].is_array());
    r = call("show", Json{{"what", "ports"}});
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.result["ports"][0]["name"], "p0");
}

TEST_F(CliFixture, DataplaneAway) {
    start();
    fake.stop();
    ASSERT_TRUE(eventually([&] { return !svc->link_status().connected; }));
    auto r = call("show", Json{{"what", "vips"}});
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error.code, ErrorCode::unavailable);
    r = call("show", Json{{"what", "status"}});
    ASSERT_TRUE(r.ok) << "status answers with the control process's part";
    EXPECT_EQ(r.result["dataplane"]["connected"], false);
    EXPECT_EQ(r.result["control_process"]["dataplane_connected"], false);
    // A change is accepted into the desired state and goes with the next sync.
    r = call("backend_set", Json{{"vip", "web"}, {"address", "198.18.2.10"}, {"weight", 8}});
    ASSERT_TRUE(r.ok) << r.error.message;
    EXPECT_EQ(r.result["pushed"], false);
    FakeDataplane again(dp, 60, "fake-2");
    ASSERT_TRUE(again.start());
    ASSERT_TRUE(eventually([&] { return again.vips().size() == 2; }));
    EXPECT_EQ(backend_of(again.vips()["web"], "198.18.2.10")["weight"], 8);
}

TEST_F(CliFixture, Reload) {
    start();
    ASSERT_TRUE(call("backend_set", Json{{"vip", "web"}, {"address", "198.18.2.10"}, {"admin", "drain"}}).ok);
    ASSERT_TRUE(std::filesystem::exists(state_file_path(cli)));
    // A broken file: rejected with file:line:column: field: message, nothing changes.
    test::write_file(config_path, test::test_yaml(dp, cli) + "  - name: broken\n    address: 198.18.100.300\n");
    auto r = call("reload");
    ASSERT_FALSE(r.ok);
    EXPECT_EQ(r.error.code, ErrorCode::rejected);
    ASSERT_FALSE(r.error.errors.empty());
    bool address_named = false;
    for (const auto& e : r.error.errors) {
        // "file:line:column: field: message"
        EXPECT_EQ(e.message.rfind(config_path + ":", 0), 0u) << e.message;
        address_named = address_named || e.message.find(": vips[2].address: ") != std::string::npos;
    }
    EXPECT_TRUE(address_named);
    EXPECT_EQ(backend_of(fake.vips()["web"], "198.18.2.10")["state"], "drain");
    // A good file with a new route: synced, the data plane reloaded, the
    // operator's drain cleared and the state file gone.
    test::write_file(config_path, test::test_yaml(dp, cli, "      - address: 198.18.2.10\n",
                                                  "  - prefix: 198.19.20.0/24\n    via: 198.18.2.2\n"));
    r = call("reload");
    ASSERT_TRUE(r.ok) << r.error.message;
    EXPECT_EQ(r.result["applied"], true);
    EXPECT_EQ(r.result["sync"]["applied"], true);
    EXPECT_EQ(r.result["dataplane_reload"]["applied"], true);
    EXPECT_EQ(fake.count("reload"), 1u);
    EXPECT_EQ(fake.routes().count("198.19.20.0/24"), 1u);
    EXPECT_EQ(fake.vips()["web"]["backends"].size(), 1u);
    EXPECT_EQ(backend_of(fake.vips()["web"], "198.18.2.10")["state"], "up");
    EXPECT_FALSE(std::filesystem::exists(state_file_path(cli)));
    EXPECT_TRUE(svc->desired().overlay().empty());
}

TEST_F(CliFixture, RestartKeepsOperatorChangesAndChangesNothing) {
    start();
    ASSERT_TRUE(call("backend_set", Json{{"vip", "web"}, {"address", "198.18.2.10"}, {"admin", "drain"}}).ok);
    ASSERT_TRUE(
        call("route_add", Json{{"prefix", "198.19.113.0/24"}, {"nexthops", Json::array({Json{{"via", "198.18.2.2"}}})}})
            .ok);
    handler.reset();
    svc->stop();
    svc.reset();
    // The same data plane, a new control process: the first sync is an empty diff.
    start();
    const Json res = fake.last_commit_result();
    EXPECT_EQ(res["changes"]["routes"], 0) << res.dump();
    EXPECT_EQ(res["changes"]["vips"], 0) << res.dump();
    EXPECT_EQ(res["changes"]["neighbors"], 0) << res.dump();
    EXPECT_EQ(backend_of(fake.vips()["web"], "198.18.2.10")["state"], "drain");
    auto g = fake.commit_generations();
    ASSERT_EQ(g.size(), 2u);
    EXPECT_GT(g[1], g[0]);
}

TEST_F(CliFixture, OverTheSocket) {
    start();
    CliServer::Options o;
    o.path = cli;
    o.policy.owner = ::geteuid();
    CliServer server(*handler, o);
    std::string err;
    ASSERT_TRUE(server.start(&err)) << err;
    channel::Client c;
    ASSERT_TRUE(c.connect(cli, "test", std::chrono::seconds(2))) << c.error();
    EXPECT_EQ(c.hello_result()["server"], "sluice-control");
    auto r =
        c.call("backend_set", Json{{"vip", "web"}, {"address", "198.18.2.11"}, {"weight", 4}}, std::chrono::seconds(5));
    ASSERT_TRUE(r.ok) << r.error.message;
    r = c.call("backend_set", Json{{"vip", "nope"}, {"address", "198.18.2.11"}, {"weight", 4}},
               std::chrono::seconds(5));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error.code, ErrorCode::bad_field);
    EXPECT_EQ(r.error.field, "args.vip");
    EXPECT_TRUE(c.connected()) << "bad_field keeps the connection";
    r = c.call("frobnicate", Json::object(), std::chrono::seconds(5));
    EXPECT_EQ(r.error.code, ErrorCode::unknown_type);
    // A request before hello is refused and the connection closed.
    std::string e;
    const int fd = channel::connect_unix(cli, false, &e);
    ASSERT_GE(fd, 0) << e;
    const std::string f = channel::frame(channel::encode_request(1, "show", Json{{"what", "health"}}));
    ASSERT_EQ(::write(fd, f.data(), f.size()), ssize_t(f.size()));
    channel::FrameReader reader;
    char buf[4096];
    std::string body;
    while (reader.next(&body) != channel::FrameReader::Status::frame) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        ASSERT_GT(n, 0);
        reader.feed(buf, size_t(n));
    }
    auto rep = channel::parse_reply(body);
    ASSERT_TRUE(std::holds_alternative<channel::Reply>(rep));
    EXPECT_EQ(std::get<channel::Reply>(rep).error.code, ErrorCode::not_permitted);
    EXPECT_EQ(::read(fd, buf, sizeof buf), 0) << "closed";
    ::close(fd);
    server.stop();
}

TEST_F(CliFixture, HealthFromTheDataplaneOnStart) {
    // Restart without disturbance with health checks: the data plane has
    // 198.18.2.10 down and the others up; the control process starts its
    // checker from those states, so its first sync changes nothing (the
    // probes to 198.18.2.x fail here, but a backend only goes down after
    // `fall` = 2 failures, 100 ms at the test's 50 ms interval: the sync
    // comes first).
    auto cfg = test::parse_or_die(test::test_yaml(dp, cli));
    std::map<std::string, Json> vips;
    DesiredState ds;
    ds.load_config(cfg);
    for (const auto& v : ds.effective_vips()) {
        Json j = channel::to_json(v);
        for (auto& b : j["backends"])
            if (b["address"] == "198.18.2.10") b["state"] = "down";
        vips[v.name] = j;
    }
    fake.set_vips(vips);
    start(true);
    const Json res = fake.last_commit_result();
    EXPECT_EQ(res["changes"]["vips"], 0) << res.dump();
    auto st = svc->desired().backend(BackendKey{"web", *net::parse_ip("198.18.2.10"), 0});
    ASSERT_TRUE(st);
    EXPECT_EQ(st->health, std::optional<bool>(false));
}

// A TCP listener on 127.0.0.1 (port chosen by the kernel, then reused).
int listen_tcp(uint16_t port, uint16_t* bound) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0) {
        ::close(fd);
        return -1;
    }
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    *bound = ntohs(a.sin_port);
    return fd;
}

TEST_F(CliFixture, HealthTransitionsReachTheDataplane) {
    // web's first backend is 127.0.0.1, probed on a local listener: closing
    // it takes the backend down after `fall` (2) failures, reopening brings
    // it back after `rise` (2) successes; each change is one apply of the VIP.
    uint16_t port = 0;
    int lfd = listen_tcp(0, &port);
    ASSERT_GE(lfd, 0);
    auto cfg = test::parse_or_die(test::test_yaml(dp, cli));
    cfg.vips[0].backends[0].address = *net::parse_ip("127.0.0.1");
    cfg.vips[0].health->port = port;
    Service::Options o;
    o.config_path = config_path;
    o.initial_wait = std::chrono::milliseconds(200);
    svc = std::make_unique<Service>(cfg, o);
    ASSERT_TRUE(svc->start(nullptr));
    ASSERT_TRUE(eventually([&] { return svc->link_status().synced; }));
    EXPECT_EQ(backend_of(fake.vips()["web"], "127.0.0.1")["state"], "up");
    ::close(lfd);
    ASSERT_TRUE(eventually([&] { return backend_of(fake.vips()["web"], "127.0.0.1")["state"] == "down"; }));
    EXPECT_GE(fake.count("apply"), 1u);
    auto b = svc->desired().backend(BackendKey{"web", *net::parse_ip("127.0.0.1"), 0});
    ASSERT_TRUE(b);
    EXPECT_EQ(b->health, std::optional<bool>(false));
    lfd = listen_tcp(port, &port);
    ASSERT_GE(lfd, 0);
    ASSERT_TRUE(eventually([&] { return backend_of(fake.vips()["web"], "127.0.0.1")["state"] == "up"; }));
    bool found = false;
    for (const auto& r : svc->health_rows())
        if (r.key.address == *net::parse_ip("127.0.0.1")) {
            found = true;
            EXPECT_EQ(r.status.transitions, 2u);
            EXPECT_TRUE(r.status.up);
        }
    EXPECT_TRUE(found);
    ::close(lfd);
}

}  // namespace
}  // namespace sluice::control
