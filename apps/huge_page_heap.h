// A heap backed by transparent huge pages for the simulator's apps.
//
// A simulated fabric of thousands of hosts keeps gigabytes of small objects
// (links, queue pairs, frames in flight) and touches them at random, and on
// 4 KB pages each such load costs more the larger the range it falls in
// (dataplane/sim/memory_latency_bench.cc). glibc backs its heap with transparent
// huge pages when the tunable glibc.malloc.hugetlb=1 is set, but it reads
// tunables only as a process starts: an app that wants it restarts itself.
#pragma once

#include <optional>
#include <string>

namespace tern {

// GLIBC_TUNABLES as `current` (null when unset) plus glibc.malloc.hugetlb=1;
// nullopt when `current` already sets glibc.malloc.hugetlb, since a value
// the user chose stands.
std::optional<std::string> TunablesWithHugePageHeap(const char* current);

// Whether the kernel gives transparent huge pages only to memory that asks
// for them ("madvise" mode): the one mode where the tunable changes anything.
// In "always" the heap gets them anyway; in "never" it cannot.
bool HugePagesOnlyOnRequest();

// Executes this program again with the same arguments and the tunable added,
// when the kernel gives transparent huge pages only to memory that asks for
// them ("madvise" mode) and the tunable is not set yet. Otherwise, or when
// the exec fails, returns and leaves the process as it was: huge pages change
// how fast a run goes, never what it computes.
void RestartWithHugePageHeap(char** argv);

}  // namespace tern
