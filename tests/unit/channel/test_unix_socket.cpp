#include <gtest/gtest.h>

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "control/api/unix_socket.hpp"

namespace sluice::channel {
namespace {

class UnixSocket : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/sluice-chan-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    std::string dir_;
};

mode_t mode_of(const std::string& p) {
    struct stat st{};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
}

TEST_F(UnixSocket, ListenCreatesDirAndMode0600) {
    std::string path = dir_ + "/run/sluice/dp.sock";
    AccessPolicy pol;
    pol.owner = ::getuid();
    std::string err;
    int fd = listen_unix(path, pol, &err);
    ASSERT_GE(fd, 0) << err;
    EXPECT_EQ(mode_of(path), 0600u);
    EXPECT_EQ(mode_of(dir_ + "/run/sluice"), 0750u);
    EXPECT_EQ(mode_of(dir_ + "/run"), 0750u);
    struct stat st{};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    // Non-blocking and close-on-exec.
    EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    ::close(fd);
}

TEST_F(UnixSocket, StaleSocketIsReplaced) {
    std::string path = dir_ + "/stale.sock";
    // A socket file nobody listens on: bound, then closed without unlink.
    int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strcpy(sa.sun_path, path.c_str());
    ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ::close(s);
    std::string err;
    int fd = listen_unix(path, AccessPolicy{::getuid()}, &err);
    ASSERT_GE(fd, 0) << err;
    std::string cerr;
    int c = connect_unix(path, false, &cerr);
    EXPECT_GE(c, 0) << cerr;
    if (c >= 0) ::close(c);
    ::close(fd);
}

TEST_F(UnixSocket, LiveSocketIsRefused) {
    std::string path = dir_ + "/live.sock";
    std::string err;
    int fd = listen_unix(path, AccessPolicy{::getuid()}, &err);
    ASSERT_GE(fd, 0) << err;
    int fd2 = listen_unix(path, AccessPolicy{::getuid()}, &err);
    EXPECT_EQ(fd2, -1);
    EXPECT_NE(err.find("another"), std::string::npos) << err;
    // The first listener still works.
    std::string cerr;
    int c = connect_unix(path, false, &cerr);
    EXPECT_GE(c, 0) << cerr;
    if (c >= 0) ::close(c);
    ::close(fd);
}

TEST_F(UnixSocket, RegularFileIsNotRemoved) {
    std::string path = dir_ + "/file";
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
    std::string err;
    EXPECT_EQ(listen_unix(path, AccessPolicy{::getuid()}, &err), -1);
    EXPECT_NE(err.find("not a socket"), std::string::npos) << err;
    EXPECT_TRUE(std::filesystem::exists(path));
}

TEST_F(UnixSocket, PathErrors) {
    std::string err;
    EXPECT_EQ(listen_unix(dir_ + "/" + std::string(200, 'a'), AccessPolicy{}, &err), -1);
    EXPECT_NE(err.find("too long"), std::string::npos) << err;
    EXPECT_EQ(listen_unix("relative.sock", AccessPolicy{}, &err), -1);
    EXPECT_NE(err.find("absolute"), std::string::npos) << err;
    EXPECT_EQ(connect_unix(dir_ + "/none.sock", false, &err), -1);
    EXPECT_NE(err.find("No such file"), std::string::npos) << err;
    EXPECT_NE(err.find("none.sock"), std::string::npos) << err;
}

TEST_F(UnixSocket, PeerCredIsOwnProcess) {
    std::string path = dir_ + "/cred.sock";
    std::string err;
    int l = listen_unix(path, AccessPolicy{::getuid()}, &err);
    ASSERT_GE(l, 0) << err;
    int c = connect_unix(path, true, &err);
    ASSERT_GE(c, 0) << err;
    EXPECT_NE(::fcntl(c, F_GETFL) & O_NONBLOCK, 0);
    int a = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(a, 0);
    PeerCred pc;
    ASSERT_TRUE(peer_cred(a, &pc));
    EXPECT_EQ(pc.uid, ::getuid());
    EXPECT_EQ(pc.gid, ::getgid());
    EXPECT_EQ(pc.pid, ::getpid());
    AccessPolicy pol{::getuid()};
    EXPECT_TRUE(pol.allows(pc));
    EXPECT_FALSE(peer_cred(-1, &pc));
    ::close(a);
    ::close(c);
    ::close(l);
}

TEST(AccessPolicy, Cases) {
    AccessPolicy p;
    p.owner = 1000;
    EXPECT_TRUE(p.allows({1, 0, 0}));        // root
    EXPECT_TRUE(p.allows({1, 1000, 50}));    // owner
    EXPECT_FALSE(p.allows({1, 1001, 50}));   // someone else
    EXPECT_FALSE(p.allows({1, 1001, 0}));    // gid 0 without a group set is nothing
    p.group_set = true;
    p.group = 50;
    EXPECT_TRUE(p.allows({1, 1001, 50}));    // primary group member
    EXPECT_FALSE(p.allows({1, 1001, 51}));
    AccessPolicy root_only;  // owner 0
    EXPECT_TRUE(root_only.allows({1, 0, 0}));
    EXPECT_FALSE(root_only.allows({1, 5, 5}));
}

TEST(ResolveGroup, KnownUnknownEmpty) {
    AccessPolicy p;
    std::string err;
    ASSERT_TRUE(resolve_group("", &p, &err));
    EXPECT_FALSE(p.group_set);
    EXPECT_FALSE(resolve_group("no-such-group-sluice-xyz", &p, &err));
    EXPECT_NE(err.find("no such group"), std::string::npos) << err;
    group* g = ::getgrgid(::getgid());
    if (!g) GTEST_SKIP() << "own group has no name";
    std::string name = g->gr_name;
    ASSERT_TRUE(resolve_group(name, &p, &err)) << err;
    EXPECT_TRUE(p.group_set);
    EXPECT_EQ(p.group, ::getgid());
}

TEST_F(UnixSocket, GroupMode0660) {
    // The caller's own primary group always works for chown; as root,
    // "nogroup" is tried too (any group is allowed then).
    std::string name;
    if (::getuid() == 0 && ::getgrnam("nogroup")) name = "nogroup";
    else if (group* g = ::getgrgid(::getgid())) name = g->gr_name;
    if (name.empty()) GTEST_SKIP() << "no usable group";
    AccessPolicy pol{::getuid()};
    std::string err;
    ASSERT_TRUE(resolve_group(name, &pol, &err)) << err;
    std::string path = dir_ + "/grp.sock";
    int fd = listen_unix(path, pol, &err);
    ASSERT_GE(fd, 0) << err;
    struct stat st{};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0660u);
    EXPECT_EQ(st.st_gid, pol.group);
    ::close(fd);
}

}  // namespace
}  // namespace sluice::channel
