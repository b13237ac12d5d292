// Internal to the config library: transparent huge pages for the few large
// arrays a full table fills once, in order (the route array, the duplicate
// index). With 4 KiB pages, filling the 64 MiB route array of 10^6 routes
// takes 16 000 page faults, about a sixth of the load's CPU time as measured
// with tests/perf/micro/bench_config_load; with 2 MiB pages it takes 32.
// Only advice: where THP is "never" or the kernel refuses, nothing changes;
// where it is "madvise" (Debian's default) it applies to these ranges only.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

namespace sluice::config {

inline constexpr size_t kHugePage = size_t(2) << 20;
// glibc's malloc gives blocks of 32 MiB and more (its largest mmap
// threshold on 64-bit) their own mapping, so advice on them never reaches
// its shared heap; smaller blocks are left alone.
inline constexpr size_t kHugePageMinBlock = size_t(32) << 20;

// Advises the whole 2 MiB pages inside the block [p, p + bytes).
inline void advise_huge_pages(const void* p, size_t bytes) {
    if (bytes < kHugePageMinBlock) return;
    uintptr_t begin = (uintptr_t(p) + kHugePage - 1) & ~uintptr_t(kHugePage - 1);
    uintptr_t end = (uintptr_t(p) + bytes) & ~uintptr_t(kHugePage - 1);
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace sluice::config
