#include "dataplane/sim/frame_buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "dataplane/sim/link.h"

namespace tern::sim {
namespace {

#if !defined(__SANITIZE_ADDRESS__)
TEST(FrameBufferPoolTest, TheMostRecentlyFreedBufferOfAClassComesBackFirst) {
  FrameBufferPool pool;
  void* a = pool.Allocate(4150);
  void* b = pool.Allocate(4150);
  ASSERT_NE(a, b);
  pool.Free(a, 4150);
  pool.Free(b, 4150);
  EXPECT_EQ(pool.Allocate(4100), b) << "same 256-byte class, last in first out";
  EXPECT_EQ(pool.Allocate(4150), a);
  pool.Free(a, 4150);
  pool.Free(b, 4150);
}

TEST(FrameBufferPoolTest, SizeClassesDoNotMix) {
  FrameBufferPool pool;
  void* small = pool.Allocate(100);
  pool.Free(small, 100);
  void* large = pool.Allocate(4150);
  EXPECT_NE(large, small);
  EXPECT_EQ(pool.Allocate(256), small) << "100 and 256 bytes share the first class";
  pool.Free(large, 4150);
  pool.Free(small, 256);
}
#endif

TEST(FrameBufferPoolTest, EveryByteOfAClassIsUsable) {
  FrameBufferPool pool;
  for (size_t bytes : {1u, 255u, 256u, 257u, 4150u, 9022u, 10240u, 10241u, 65536u}) {
    auto* p = static_cast<uint8_t*>(pool.Allocate(bytes));
    std::memset(p, 0xA5, bytes);  // AddressSanitizer: within the allocation
    pool.Free(p, bytes);
  }
}

TEST(FrameBufferPoolTest, FramesKeepVectorSemantics) {
  Frame a(4150, 0x11);
  a.route.ttl = 9;
  Frame b = a;  // a duplicated frame owns its own bytes
  b[0] = 0x22;
  EXPECT_EQ(a[0], 0x11);
  EXPECT_EQ(b.route.ttl, 9);
  b.resize(60);  // trimmed
  EXPECT_EQ(b.size(), 60u);
  Frame c = std::move(a);
  EXPECT_EQ(c.size(), 4150u);
  EXPECT_EQ(c[4149], 0x11);
}

TEST(FrameBufferPoolTest, ThreadsHaveTheirOwnPool) {
  FrameBufferPool* here = &FrameBufferPool::ForThisThread();
  FrameBufferPool* there = nullptr;
  std::thread([&] { there = &FrameBufferPool::ForThisThread(); }).join();
  EXPECT_NE(here, there);
}

}  // namespace
}  // namespace tern::sim
