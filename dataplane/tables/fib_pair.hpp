// Two copies of one family's FIB (tables/fib.hpp says why): the published
// one, read by workers, and the spare, which only the builder touches.
//
//   commit(ops):  patch the spare (or rebuild it, when the batch is large
//                 or the spare ran out of room), then it becomes current;
//                 the old current becomes the spare-to-be, still read.
//   catch_up():   once a grace period has passed and the last root holding
//                 the old copy has been reclaimed (the builder holds the
//                 only reference), replay the same ops on it, or rebuild it
//                 at the new size. Both copies are equal again.
//
// Both copies see the same ops in the same order, so their rte_fib6 tbl8
// reservations stay equal too.
#pragma once

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/tables/fib.hpp"

namespace sluice::dp {

struct FibCommit {
    bool ok = false;
    bool rebuilt = false;
    std::string error;  // when !ok: the spare could not be built (out of memory)
};

template <class Fib>
class FibPair {
public:
    // Every entry the table needs, sorted for a fast full build.
    using FullOps = std::function<std::vector<FibOp>()>;

    std::shared_ptr<const Fib> current() const { return current_; }
    // True when the spare equals the current copy (nothing to catch up).
    bool in_sync() const { return !stale_; }

    // Applies ops to the spare (patch; or a rebuild from `full` when asked,
    // when the spare is smaller than `need` (what the table holds after the
    // ops), or when patching runs out of room) and makes it current. Call
    // only when in_sync() (after catch_up()), or before anything was
    // published. A rebuilt copy gets room to grow (planned()).
    FibCommit commit(const std::vector<FibOp>& ops, bool rebuild, FibCapacity need, const FullOps& full) {
        FibCommit c;
        bool patchable = spare_ && !stale_ && spare_.use_count() == 1 && fits(spare_->capacity(), need);
        need = planned(need);
        if (!rebuild && patchable) {
            int rc = patch(*spare_, ops);
            if (rc == 0) {
                c.ok = true;
                swap_in(std::move(spare_), false, ops);
                return c;
            }
            // Half-patched: rebuild it from the full state, at a size that
            // fits when it ran out of room.
            if (rc == -ENOSPC) need = grow(max(spare_->capacity(), need));
        }
        spare_.reset();  // its memory back before the new copy is built
        std::shared_ptr<Fib> fresh;
        c = build(need, full, &fresh);
        if (!c.ok) return c;
        swap_in(std::move(fresh), true, {});
        return c;
    }

    // Brings the old copy up to date. False while a root still holds it
    // (wait for a grace period and reclaim, then call again), or when a
    // needed rebuild failed (error set).
    bool catch_up(const FullOps& full, std::string* error) {
        if (!stale_) return true;
        if (spare_ && spare_.use_count() != 1) return false;
        if (spare_ && !rebuild_ && patch(*spare_, pending_) == 0) {
            pending_.clear();
            stale_ = false;
            return true;
        }
        spare_.reset();
        std::shared_ptr<Fib> fresh;
        FibCommit c = build(current_->capacity(), full, &fresh);
        if (!c.ok) {
            if (error) *error = c.error;
            return false;
        }
        spare_ = std::move(fresh);
        pending_.clear();
        stale_ = false;
        rebuild_ = false;
        return true;
    }

    // Memory of both copies (estimate from their sizes).
    uint64_t bytes() const { return (current_ ? current_->bytes() : 0) + (spare_ ? spare_->bytes() : 0); }

    // Room to grow before a patch runs out: a quarter more than needed now.
    static FibCapacity planned(FibCapacity need) {
        return FibCapacity{need.entries + need.entries / 4 + 1024, need.tbl8 + need.tbl8 / 4 + 256};
    }

private:
    static FibCapacity max(FibCapacity a, FibCapacity b) {
        return FibCapacity{a.entries > b.entries ? a.entries : b.entries, a.tbl8 > b.tbl8 ? a.tbl8 : b.tbl8};
    }
    static bool fits(FibCapacity have, FibCapacity need) { return have.entries >= need.entries && have.tbl8 >= need.tbl8; }
    static FibCapacity grow(FibCapacity c) { return FibCapacity{c.entries * 2, c.tbl8 * 2}; }

    static int patch(Fib& f, const std::vector<FibOp>& ops) {
        for (const auto& op : ops) {
            int rc = f.apply(op);
            if (rc != 0) return rc;
        }
        return 0;
    }

    static FibCommit build(FibCapacity cap, const FullOps& full, std::shared_ptr<Fib>* out) {
        FibCommit c;
        c.rebuilt = true;
        std::vector<FibOp> ops = full();
        // The capacity comes from the builder's count of what the table
        // needs (tbl8 reservations follow DPDK 22.11's rules); should a
        // build still run out of room, it retries bigger, a bounded number
        // of times.
        for (int attempt = 0; attempt < 4; ++attempt, cap = grow(cap)) {
            std::string err;
            std::unique_ptr<Fib> f = Fib::create(cap, &err);
            if (!f) {
                c.error = err;
                return c;
            }
            int rc = patch(*f, ops);
            if (rc == 0) {
                *out = std::move(f);
                c.ok = true;
                return c;
            }
            if (rc != -ENOSPC) {
                c.error = std::string("FIB build failed: ") + strerror(-rc);
                return c;
            }
        }
        c.error = "the FIB ran out of room even at 8x the planned size";
        return c;
    }

    void swap_in(std::shared_ptr<Fib> next, bool rebuilt, const std::vector<FibOp>& ops) {
        spare_ = std::const_pointer_cast<Fib>(current_);
        current_ = std::move(next);
        stale_ = true;
        rebuild_ = rebuilt || !spare_;
        if (!rebuild_) pending_ = ops;
    }

    std::shared_ptr<const Fib> current_;
    std::shared_ptr<Fib> spare_;
    std::vector<FibOp> pending_;
    bool stale_ = true;
    bool rebuild_ = true;
};

}  // namespace sluice::dp
