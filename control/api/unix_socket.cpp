// Unix domain sockets of the control channel (docs/control-protocol.md,
// "Transport and access").
#include "control/api/unix_socket.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace sluice::channel {

namespace {

std::string errno_text(int e) { return std::strerror(e); }

bool fill_addr(const std::string& path, sockaddr_un* sa, std::string* err) {
    std::memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (path.empty()) {
        if (err) *err = "socket path is empty";
        return false;
    }
    // sun_path has no room for longer names; a truncated path would bind
    // somewhere else.
    if (path.size() >= sizeof sa->sun_path) {
        if (err)
            *err = "socket path " + path + " is too long (" + std::to_string(path.size()) + " bytes, at most " +
                   std::to_string(sizeof sa->sun_path - 1) + ")";
        return false;
    }
    std::memcpy(sa->sun_path, path.data(), path.size());
    return true;
}

// mkdir -p of `dir`; only the directories created here get `mode`
// (an existing /run stays as it is).
bool make_dirs(const std::string& dir, mode_t mode, std::string* err) {
    if (dir.empty()) return true;
    std::string cur;
    size_t i = 0;
    while (i <= dir.size()) {
        size_t slash = dir.find('/', i);
        if (slash == std::string::npos) slash = dir.size();
        cur = dir.substr(0, slash);
        i = slash + 1;
        if (cur.empty()) continue;  // the leading "/"
        if (::mkdir(cur.c_str(), mode) == 0) {
            // mkdir's mode is filtered by the umask; the directory must be
            // exactly 0750 (group may traverse to reach a 0660 socket).
            if (::chmod(cur.c_str(), mode) != 0) {
                if (err) *err = "chmod " + cur + ": " + errno_text(errno);
                return false;
            }
            continue;
        }
        if (errno == EEXIST) {
            struct stat st{};
            if (::stat(cur.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
            if (err) *err = "mkdir " + cur + ": exists and is not a directory";
            return false;
        }
        if (err) *err = "mkdir " + cur + ": " + errno_text(errno);
        return false;
    }
    return true;
}

}  // namespace

bool AccessPolicy::allows(const PeerCred& c) const {
    if (c.uid == 0 || c.uid == owner) return true;
    return group_set && c.gid == group;
}

bool resolve_group(const std::string& name, AccessPolicy* policy, std::string* err) {
    if (name.empty()) {
        policy->group_set = false;
        policy->group = 0;
        return true;
    }
    long hint = ::sysconf(_SC_GETGR_R_SIZE_MAX);
    size_t size = hint > 0 ? size_t(hint) : 4096;
    // getgrnam_r reports ERANGE when a group's member list does not fit:
    // grow the buffer (large groups exist) up to a sane bound.
    while (true) {
        std::vector<char> buf;
        try {
            buf.resize(size);
        } catch (const std::exception&) {
            if (err) *err = "group " + name + ": out of memory";
            return false;
        }
        group gr{};
        group* res = nullptr;
        int rc = ::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &res);
        if (rc == ERANGE && size < (1u << 24)) {
            size *= 4;
            continue;
        }
        if (rc != 0) {
            if (err) *err = "group " + name + ": " + errno_text(rc);
            return false;
        }
        if (!res) {
            if (err) *err = "group " + name + ": no such group";
            return false;
        }
        policy->group_set = true;
        policy->group = gr.gr_gid;
        return true;
    }
}

int listen_unix(const std::string& path, const AccessPolicy& policy, std::string* err) {
    sockaddr_un sa{};
    if (!fill_addr(path, &sa, err)) return -1;
    if (path[0] != '/') {
        if (err) *err = "socket path " + path + " must be absolute";
        return -1;
    }
    size_t slash = path.rfind('/');
    if (!make_dirs(path.substr(0, slash), 0750, err)) return -1;

    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0) {
        // Never unlink something that is not a socket: a wrong path in the
        // config must not delete a file.
        if (!S_ISSOCK(st.st_mode)) {
            if (err) *err = "listen " + path + ": exists and is not a socket";
            return -1;
        }
        // A non-blocking probe: a live server whose backlog is full answers
        // EAGAIN instead of making a blocking connect hang the start-up.
        int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (probe < 0) {
            if (err) *err = "socket: " + errno_text(errno);
            return -1;
        }
        int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
        int e = rc == 0 ? 0 : errno;
        ::close(probe);
        if (rc == 0 || e == EAGAIN || e == EINPROGRESS || e == EINTR) {
            if (err) *err = "listen " + path + ": another process is listening on it (is another instance running?)";
            return -1;
        }
        if (e != ECONNREFUSED && e != ENOENT) {
            // EACCES and the like: not ours to judge stale, so not ours to remove.
            if (err) *err = "listen " + path + ": cannot tell whether the socket is in use: " + errno_text(e);
            return -1;
        }
        // Nobody answers (ECONNREFUSED): a stale file of a process that
        // died; replace it.
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
            if (err) *err = "remove stale socket " + path + ": " + errno_text(errno);
            return -1;
        }
    } else if (errno != ENOENT) {
        if (err) *err = "stat " + path + ": " + errno_text(errno);
        return -1;
    }

    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        if (err) *err = "socket: " + errno_text(errno);
        return -1;
    }
    auto fail = [&](const std::string& what) {
        int e = errno;
        ::close(fd);
        if (err) *err = what + " " + path + ": " + errno_text(e);
        return -1;
    };
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) return fail("bind");
    // Between bind and chmod the file has the umask's mode; the parent
    // directory (0750) keeps others out during that window. umask() is not
    // used because it is process-wide and other threads may create files.
    if (policy.group_set) {
        if (::chown(path.c_str(), uid_t(-1), policy.group) != 0) {
            int e = errno;
            ::unlink(path.c_str());
            errno = e;
            return fail("chown");
        }
        if (::chmod(path.c_str(), 0660) != 0) {
            int e = errno;
            ::unlink(path.c_str());
            errno = e;
            return fail("chmod");
        }
    } else if (::chmod(path.c_str(), 0600) != 0) {
        int e = errno;
        ::unlink(path.c_str());
        errno = e;
        return fail("chmod");
    }
    if (::listen(fd, 64) != 0) {
        int e = errno;
        ::unlink(path.c_str());
        errno = e;
        return fail("listen");
    }
    return fd;
}

int connect_unix(const std::string& path, bool nonblocking, std::string* err) {
    sockaddr_un sa{};
    if (!fill_addr(path, &sa, err)) return -1;
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        if (err) *err = "socket: " + errno_text(errno);
        return -1;
    }
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    if (rc != 0 && errno == EINTR) {
        // The connection goes on in the background after EINTR: wait for it.
        pollfd p{fd, POLLOUT, 0};
        while ((rc = ::poll(&p, 1, -1)) < 0 && errno == EINTR) {
        }
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (rc > 0 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0) {
            rc = soerr == 0 ? 0 : -1;
            errno = soerr;
        } else {
            rc = -1;
        }
    }
    if (rc != 0) {
        int e = errno;
        ::close(fd);
        if (err) *err = "connect " + path + ": " + errno_text(e);
        return -1;
    }
    if (nonblocking) {
        int fl = ::fcntl(fd, F_GETFL);
        if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
            int e = errno;
            ::close(fd);
            if (err) *err = "fcntl " + path + ": " + errno_text(e);
            return -1;
        }
    }
    return fd;
}

bool peer_cred(int fd, PeerCred* out) {
    ucred c{};
    socklen_t len = sizeof c;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0 || len != sizeof c) return false;
    out->pid = c.pid;
    out->uid = c.uid;
    out->gid = c.gid;
    return true;
}

}  // namespace sluice::channel
