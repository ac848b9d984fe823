#include "apps/huge_page_heap.h"

#include <unistd.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "apps/file_io.h"

namespace tern {

namespace {
constexpr absl::string_view kTunable = "glibc.malloc.hugetlb";
}  // namespace

std::optional<std::string> TunablesWithHugePageHeap(const char* current) {
  const std::string setting = absl::StrCat(kTunable, "=1");
  if (current == nullptr || *current == '\0') return setting;
  for (absl::string_view entry : absl::StrSplit(current, ':')) {
    const absl::string_view name = entry.substr(0, entry.find('='));
    if (name == kTunable) return std::nullopt;
  }
  return absl::StrCat(current, ":", setting);
}

bool HugePagesOnlyOnRequest() {
  const absl::StatusOr<std::string> mode =
      ReadWholeFile("/sys/kernel/mm/transparent_hugepage/enabled");
  return mode.ok() && absl::StrContains(*mode, "[madvise]");
}

void RestartWithHugePageHeap(char** argv) {
  if (!HugePagesOnlyOnRequest()) return;
  const char* current = getenv("GLIBC_TUNABLES");
  const std::optional<std::string> tunables = TunablesWithHugePageHeap(current);
  if (!tunables.has_value()) return;
  const std::optional<std::string> before =
      current ? std::optional<std::string>(current) : std::nullopt;
  if (setenv("GLIBC_TUNABLES", tunables->c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
  // The exec failed (no /proc, say): carry on with the heap as it is, and
  // with the environment as it was, for the children this process starts.
  if (before.has_value()) {
    setenv("GLIBC_TUNABLES", before->c_str(), 1);
  } else {
    unsetenv("GLIBC_TUNABLES");
  }
}

}  // namespace tern
