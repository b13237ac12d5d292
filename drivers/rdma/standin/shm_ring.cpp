// Shared-memory files of the stand-in's wire (shm_ring.hpp).
#include "drivers/rdma/standin/shm_ring.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

namespace sluice::drivers::rdma::standin::detail {

namespace {

constexpr uint32_t kVersion = 1;
constexpr const char* kPrefix = "sluice-standin.";
constexpr size_t kRingHeaderBytes = 256;

static_assert(sizeof(RingHeader) <= kRingHeaderBytes);

struct NodeFile {
    FileHeader fh;
    uint16_t lid;
    uint8_t link_layer;
    uint8_t ngids;
    uint8_t gids[kMaxNodeGids][16];
};

size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

// Reads a file's header by name; false when absent or not yet published.
bool read_header(const std::string& name, uint64_t* magic, int32_t* pid) {
    int fd = shm_open(("/" + name).c_str(), O_RDONLY, 0);
    if (fd < 0) return false;
    uint64_t m = 0;
    int32_t p = 0;
    bool ok = pread(fd, &m, sizeof(m), 0) == sizeof(m) &&
              pread(fd, &p, sizeof(p), offsetof(FileHeader, owner_pid)) == sizeof(p);
    ::close(fd);
    if (!ok) return false;
    *magic = m;
    *pid = p;
    return true;
}

}  // namespace

bool pid_gone(int32_t pid) { return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH; }

std::string ring_name(const std::string& fabric, uint32_t node, uint32_t qpn) {
    return kPrefix + fabric + "." + std::to_string(node) + "." + std::to_string(qpn);
}

std::string node_name(const std::string& fabric, uint32_t node) {
    return kPrefix + fabric + ".node." + std::to_string(node);
}

bool Ring::create(const std::string& fabric, uint32_t node, uint32_t qpn, uint32_t slots, uint32_t slot_bytes) {
    close();
    name_ = "/" + ring_name(fabric, node, qpn);
    int fd = shm_open(name_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 && errno == EEXIST) {
        // Left by a process that held this node before us and died.
        uint64_t m = 0;
        int32_t p = 0;
        if (read_header(name_.substr(1), &m, &p) && p != getpid() && pid_gone(p)) {
            shm_unlink(name_.c_str());
            fd = shm_open(name_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
        } else {
            errno = EEXIST;
        }
    }
    if (fd < 0) return false;
    stride_ = round_up(sizeof(SlotHeader) + slot_bytes, 64);
    map_len_ = kRingHeaderBytes + stride_ * slots;
    if (ftruncate(fd, static_cast<off_t>(map_len_)) != 0) {
        int e = errno;
        ::close(fd);
        shm_unlink(name_.c_str());
        errno = e;
        return false;
    }
    void* p = mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    ::close(fd);
    if (p == MAP_FAILED) {
        shm_unlink(name_.c_str());
        errno = e;
        return false;
    }
    // The file is fresh (zero-filled): start the atomics' lifetimes in place.
    hdr_ = new (p) RingHeader{};
    base_ = static_cast<uint8_t*>(p) + kRingHeaderBytes;
    hdr_->fh.owner_pid = getpid();
    hdr_->fh.version = kVersion;
    hdr_->slots = slots;
    hdr_->slot_bytes = slot_bytes;
    hdr_->node = node;
    hdr_->qpn = qpn;
    hdr_->alive.store(1, std::memory_order_relaxed);
    hdr_->fh.magic.store(kRingMagic, std::memory_order_release);
    creator_ = true;
    return true;
}

bool Ring::open(const std::string& fabric, uint32_t node, uint32_t qpn) {
    close();
    std::string name = "/" + ring_name(fabric, node, qpn);
    int fd = shm_open(name.c_str(), O_RDWR, 0);
    if (fd < 0) return false;
    struct stat st {};
    if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < kRingHeaderBytes) {
        ::close(fd);
        errno = ENOENT;
        return false;
    }
    size_t len = static_cast<size_t>(st.st_size);
    void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) return false;
    auto* h = static_cast<RingHeader*>(p);
    size_t stride = round_up(sizeof(SlotHeader) + h->slot_bytes, 64);
    if (h->fh.magic.load(std::memory_order_acquire) != kRingMagic || h->slots == 0 ||
        kRingHeaderBytes + stride * h->slots != len || h->alive.load(std::memory_order_acquire) == 0 ||
        pid_gone(h->fh.owner_pid)) {
        munmap(p, len);
        errno = ENOENT;
        return false;
    }
    hdr_ = h;
    base_ = static_cast<uint8_t*>(p) + kRingHeaderBytes;
    map_len_ = len;
    stride_ = stride;
    name_ = name;
    creator_ = false;
    return true;
}

void Ring::kill() {
    if (hdr_) hdr_->alive.store(0, std::memory_order_release);
}

void Ring::close() {
    if (!hdr_) return;
    if (creator_) {
        hdr_->alive.store(0, std::memory_order_release);
        // A forked child holds its parent's mappings: only the owner unlinks.
        if (hdr_->fh.owner_pid == getpid()) shm_unlink(name_.c_str());
    }
    munmap(hdr_, map_len_);
    hdr_ = nullptr;
    base_ = nullptr;
    creator_ = false;
}

uint16_t claim_node(const std::string& fabric, uint32_t seed) {
    for (uint32_t i = 0; i < kMaxNodeId; ++i) {
        auto id = static_cast<uint16_t>((seed + i) % kMaxNodeId + 1);
        std::string name = "/" + node_name(fabric, id);
        int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd < 0 && errno == EEXIST) {
            uint64_t m = 0;
            int32_t p = 0;
            // Unpublished files (magic not yet set) belong to a process that
            // is claiming right now: leave them.
            if (read_header(name.substr(1), &m, &p) && (m == kNodeMagic || m == 0) && pid_gone(p)) {
                shm_unlink(name.c_str());
                fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
            }
        }
        if (fd < 0) continue;
        // The owner goes in at once (magic stays 0 until publish_node), so a
        // claim whose process died before publishing is still reclaimable.
        int32_t self = getpid();
        bool ok = ftruncate(fd, sizeof(NodeFile)) == 0 &&
                  pwrite(fd, &self, sizeof(self), offsetof(FileHeader, owner_pid)) == sizeof(self);
        ::close(fd);
        if (!ok) {
            shm_unlink(name.c_str());
            continue;
        }
        return id;
    }
    errno = EADDRINUSE;
    return 0;
}

void publish_node(const std::string& fabric, uint16_t id, uint8_t link_layer, const std::vector<GidEntry>& gids) {
    std::string name = "/" + node_name(fabric, id);
    int fd = shm_open(name.c_str(), O_RDWR, 0);
    if (fd < 0) return;
    void* p = mmap(nullptr, sizeof(NodeFile), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) return;
    auto* nf = new (p) NodeFile{};
    nf->fh.owner_pid = getpid();
    nf->fh.version = kVersion;
    nf->lid = id;
    nf->link_layer = link_layer;
    uint32_t n = 0;
    for (const auto& g : gids) {
        if (n == kMaxNodeGids) break;
        std::memcpy(nf->gids[n++], g.gid.data(), 16);
    }
    nf->ngids = static_cast<uint8_t>(n);
    nf->fh.magic.store(kNodeMagic, std::memory_order_release);
    munmap(p, sizeof(NodeFile));
}

void release_node(const std::string& fabric, uint16_t id) {
    std::string name = node_name(fabric, id);
    uint64_t m = 0;
    int32_t p = 0;
    if (read_header(name, &m, &p) && p == getpid()) shm_unlink(("/" + name).c_str());
}

namespace {

// Calls fn(name) for each /dev/shm entry whose name starts with `prefix`.
template <typename Fn>
void for_each_prefixed(const std::string& prefix, Fn&& fn) {
    DIR* d = opendir("/dev/shm");
    if (!d) return;
    while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n.compare(0, prefix.size(), prefix) == 0) {
            if (!fn(n)) break;
        }
    }
    closedir(d);
}

template <typename Fn>
void for_each_file(const std::string& fabric, Fn&& fn) {
    for_each_prefixed(kPrefix + fabric + ".", fn);
}

}  // namespace

uint16_t find_node_by_gid(const std::string& fabric, const uint8_t gid[16]) {
    uint16_t found = 0;
    std::string node_prefix = kPrefix + fabric + ".node.";
    for_each_file(fabric, [&](const std::string& n) {
        if (n.compare(0, node_prefix.size(), node_prefix) != 0) return true;
        int fd = shm_open(("/" + n).c_str(), O_RDONLY, 0);
        if (fd < 0) return true;
        NodeFile nf;
        bool ok = pread(fd, &nf, sizeof(nf), 0) == static_cast<ssize_t>(sizeof(nf));
        ::close(fd);
        if (!ok || nf.fh.magic.load(std::memory_order_relaxed) != kNodeMagic || pid_gone(nf.fh.owner_pid))
            return true;
        for (uint32_t i = 0; i < nf.ngids && i < kMaxNodeGids; ++i) {
            if (std::memcmp(nf.gids[i], gid, 16) == 0) {
                found = nf.lid;
                return false;
            }
        }
        return true;
    });
    return found;
}

void sweep_stale() {
    std::vector<std::string> stale;
    for_each_prefixed(kPrefix, [&](const std::string& n) {
        uint64_t m = 0;
        int32_t p = 0;
        if (read_header(n, &m, &p) && (m == kRingMagic || m == kNodeMagic || m == 0) && p != getpid() && pid_gone(p))
            stale.push_back(n);
        return true;
    });
    for (const auto& n : stale) shm_unlink(("/" + n).c_str());
}

void unlink_own_files() {
    std::vector<std::string> mine;
    for_each_prefixed(kPrefix, [&](const std::string& n) {
        uint64_t m = 0;
        int32_t p = 0;
        if (read_header(n, &m, &p) && p == getpid()) mine.push_back(n);
        return true;
    });
    for (const auto& n : mine) shm_unlink(("/" + n).c_str());
}

}  // namespace sluice::drivers::rdma::standin::detail
