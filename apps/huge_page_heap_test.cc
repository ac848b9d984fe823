#include "apps/huge_page_heap.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "apps/file_io.h"
#include "gtest/gtest.h"

namespace tern {
namespace {

TEST(HugePageHeapTest, TunableIsTheWholeSettingWhenNoneIsSet) {
  EXPECT_EQ(TunablesWithHugePageHeap(nullptr), "glibc.malloc.hugetlb=1");
  EXPECT_EQ(TunablesWithHugePageHeap(""), "glibc.malloc.hugetlb=1");
}

TEST(HugePageHeapTest, TunableJoinsTheUsersOthers) {
  EXPECT_EQ(TunablesWithHugePageHeap("glibc.malloc.arena_max=2"),
            "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1");
}

TEST(HugePageHeapTest, UsersOwnHugetlbSettingStands) {
  EXPECT_EQ(TunablesWithHugePageHeap("glibc.malloc.hugetlb=0"), std::nullopt);
  EXPECT_EQ(TunablesWithHugePageHeap("glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2"),
            std::nullopt);
  // A longer name that starts the same is another tunable.
  EXPECT_EQ(TunablesWithHugePageHeap("glibc.malloc.hugetlbx=1"),
            "glibc.malloc.hugetlbx=1:glibc.malloc.hugetlb=1");
}

// The restart runs this test binary again on this one test; the second run
// writes the GLIBC_TUNABLES it started with to the file the first named.
constexpr char kChildReportsTo[] = "TERN_HUGE_PAGE_HEAP_TEST_REPORT";

TEST(HugePageHeapTest, RestartRunsTheProgramAgainWithTheTunable) {
  if (const char* report = getenv(kChildReportsTo)) {
    const char* tunables = getenv("GLIBC_TUNABLES");
    ASSERT_TRUE(WriteWholeFile(report, tunables ? tunables : "(unset)").ok());
    return;
  }
  if (!HugePagesOnlyOnRequest()) {
    GTEST_SKIP() << "transparent huge pages are not in madvise mode here: nothing restarts";
  }
  const std::string report = testing::TempDir() + "huge_page_heap_report";
  unlink(report.c_str());
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    setenv(kChildReportsTo, report.c_str(), 1);
    unsetenv("GLIBC_TUNABLES");
    std::string filter = "--gtest_filter=HugePageHeapTest.RestartRunsTheProgramAgainWithTheTunable";
    char* argv[] = {const_cast<char*>("huge_page_heap_test"), filter.data(), nullptr};
    RestartWithHugePageHeap(argv);
    _exit(99);  // it returned: no restart
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "99: RestartWithHugePageHeap returned instead of executing";
  EXPECT_EQ(ReadWholeFile(report).value_or("(no report)"), "glibc.malloc.hugetlb=1");
}

}  // namespace
}  // namespace tern
