// The EAL for a test binary of dataplane/dpdk: started once, before any test,
// with --no-huge and a per-process file prefix. Including this header is
// enough; the environment registers itself.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "dataplane/dpdk/eal.h"

namespace tern::dpdk {

class EalTestEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    std::vector<std::string> app;
    absl::StatusOr<std::unique_ptr<Eal>> eal =
        Eal::Init({"dpdk_test", "-l", "0", "--no-huge", "-m", "256", "--no-pci", "--file-prefix",
                   absl::StrFormat("tern-ut-%d", getpid()), "--log-level", "lib.*:error"},
                  &app);
    ASSERT_TRUE(eal.ok()) << eal.status();
    eal_ = *std::move(eal);
  }
  void TearDown() override { eal_.reset(); }

 private:
  std::unique_ptr<Eal> eal_;
};

inline ::testing::Environment* const kEalTestEnvironment =
    ::testing::AddGlobalTestEnvironment(new EalTestEnvironment);

}  // namespace tern::dpdk
