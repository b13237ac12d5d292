// Unix domain sockets of the control channel: listening with the access
// the config asks for, connecting, and checking who is on the other end.
// Plain POSIX, no DPDK: the data plane, the control process and the CLI
// all use it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace sluice::channel {

struct PeerCred {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};

// Who may connect: root, the server's own uid, and (when set) the primary
// group `gid` of the peer (SO_PEERCRED reports the primary group only).
struct AccessPolicy {
    uid_t owner = 0;
    bool group_set = false;
    gid_t group = 0;
    bool allows(const PeerCred& c) const;
};

// Resolves a group name ("" = none); false and *err when unknown.
bool resolve_group(const std::string& name, AccessPolicy* policy, std::string* err);

// Listens on `path` (non-blocking, close-on-exec). Creates the parent
// directory (mode 0750) when missing, removes a stale socket file (one
// nobody answers on; a live one is an error: another instance runs), and
// sets the socket file's mode to 0600, or 0660 with the group's ownership
// when the policy names a group. Returns the fd, or -1 and *err.
int listen_unix(const std::string& path, const AccessPolicy& policy, std::string* err);

// Connects (blocking connect, then non-blocking when `nonblocking`).
// Returns the fd, or -1 and *err ("connect /run/sluice/x.sock: No such file or directory").
int connect_unix(const std::string& path, bool nonblocking, std::string* err);

bool peer_cred(int fd, PeerCred* out);

}  // namespace sluice::channel
