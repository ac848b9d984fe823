#include "apps/replay_chakra.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "apps/chakra_et.pb.h"
#include "apps/replay_workload.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"
#include "transport/testing/mutate_bytes.h"

namespace tern::replay {
namespace {

namespace fs = std::filesystem;
namespace pb = ::ChakraProtoMsg;

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// The astra-sim example traces (see /work/shared/data/README.md);
// TERN_CHAKRA_DATA points elsewhere.
std::string RealTraces(const std::string& name) {
  const char* root = std::getenv("TERN_CHAKRA_DATA");
  return absl::StrCat(root != nullptr ? root : "/work/shared/data/chakra", "/", name);
}

// A scratch directory for one test, removed afterwards.
class TraceDir {
 public:
  TraceDir() {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / absl::StrCat("tern_chakra_", test->name(), "_", ::getpid());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TraceDir() { fs::remove_all(path_); }
  TraceDir(const TraceDir&) = delete;
  TraceDir& operator=(const TraceDir&) = delete;

  std::string path() const { return path_.string(); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

  void Write(const std::string& name, const std::string& bytes) const {
    std::ofstream out(path_ / name, std::ios::binary);
    out << bytes;
  }

 private:
  fs::path path_;
};

std::string Delimited(const google::protobuf::MessageLite& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.WriteVarint32(static_cast<uint32_t>(message.ByteSizeLong()));
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

std::string RankFile(const std::vector<pb::Node>& nodes) {
  pb::GlobalMetadata metadata;
  metadata.set_version("0.0.4");
  std::string out = Delimited(metadata);
  for (const pb::Node& node : nodes) out += Delimited(node);
  return out;
}

pb::AttributeProto Int64Attr(const std::string& name, int64_t value) {
  pb::AttributeProto attr;
  attr.set_name(name);
  attr.set_int64_val(value);
  return attr;
}

pb::Node MakeNode(uint64_t id, pb::NodeType type, std::vector<uint64_t> data_deps = {},
                  std::vector<pb::AttributeProto> attrs = {}) {
  pb::Node node;
  node.set_id(id);
  node.set_name(absl::StrCat("node", id));
  node.set_type(type);
  for (uint64_t dep : data_deps) node.add_data_deps(dep);
  for (pb::AttributeProto& attr : attrs) *node.add_attr() = std::move(attr);
  return node;
}

pb::Node Comp(uint64_t id, uint64_t micros, std::vector<uint64_t> deps = {}) {
  pb::Node node = MakeNode(id, pb::COMP_NODE, std::move(deps));
  node.set_duration_micros(micros);
  return node;
}

pb::Node Send(uint64_t id, int64_t dst, int64_t bytes, std::vector<uint64_t> deps = {},
              int64_t tag = 0) {
  return MakeNode(id, pb::COMM_SEND_NODE, std::move(deps),
                  {Int64Attr("comm_type", pb::COMM_SEND_NODE), Int64Attr("comm_size", bytes),
                   Int64Attr("comm_dst", dst), Int64Attr("comm_tag", tag)});
}

pb::Node Recv(uint64_t id, int64_t src, int64_t bytes, std::vector<uint64_t> deps = {},
              int64_t tag = 0) {
  return MakeNode(id, pb::COMM_RECV_NODE, std::move(deps),
                  {Int64Attr("comm_type", pb::COMM_RECV_NODE), Int64Attr("comm_size", bytes),
                   Int64Attr("comm_src", src), Int64Attr("comm_tag", tag)});
}

pb::Node Coll(uint64_t id, pb::CollectiveCommType type, int64_t bytes,
              std::vector<uint64_t> deps = {}) {
  return MakeNode(id, pb::COMM_COLL_NODE, std::move(deps),
                  {Int64Attr("comm_type", type), Int64Attr("comm_size", bytes)});
}

pb::AttributeProto StringAttr(const std::string& name, const std::string& value) {
  pb::AttributeProto attr;
  attr.set_name(name);
  attr.set_string_val(value);
  return attr;
}

// A COMM_COLL node of communicator group `pg_name`, as PyTorch's traces mark them.
pb::Node GroupColl(uint64_t id, pb::CollectiveCommType type, int64_t bytes,
                   const std::string& pg_name, std::vector<uint64_t> deps = {}) {
  pb::Node node = Coll(id, type, bytes, std::move(deps));
  *node.add_attr() = StringAttr("pg_name", pg_name);
  return node;
}

// Step index by label; -1 when missing.
int64_t Find(const Workload& w, const std::string& label) {
  for (size_t i = 0; i < w.steps.size(); ++i) {
    if (w.steps[i].label == label) return static_cast<int64_t>(i);
  }
  return -1;
}

size_t CountTransfers(const Workload& w) {
  size_t n = 0;
  for (const Step& s : w.steps) n += s.kind == StepKind::kTransfer;
  return n;
}

Workload LoadOk(const std::string& dir, const ChakraOptions& options = {}) {
  absl::StatusOr<Workload> w = LoadChakraTrace(dir, options);
  EXPECT_TRUE(w.ok()) << w.status();
  if (!w.ok()) return {};
  EXPECT_TRUE(ValidateWorkload(*w).ok()) << ValidateWorkload(*w);
  return *std::move(w);
}

TEST(ChakraRealTraceTest, AllReduceIsOneRingAllreduceOverEightRanks) {
  const std::string dir = RealTraces("all_reduce_8npus_1MB");
  if (!fs::is_directory(dir)) {
    GTEST_SKIP() << "no traces at " << dir;
  }
  const Workload w = LoadOk(dir);
  EXPECT_EQ(w.hosts, 8u);
  EXPECT_EQ(w.description, dir);
  ASSERT_EQ(w.collectives.size(), 1u);
  EXPECT_EQ(w.collectives[0].operation, "allreduce");
  EXPECT_EQ(w.collectives[0].algorithm, "ring");
  EXPECT_EQ(w.collectives[0].ranks, 8u);
  EXPECT_EQ(w.collectives[0].bytes, 1048576u);
  EXPECT_EQ(w.collectives[0].name, "rank0/node0");
  EXPECT_EQ(CountTransfers(w), 2u * 7 * 8);
  uint64_t bytes = 0;
  for (const Step& s : w.steps) {
    if (s.kind == StepKind::kTransfer) bytes += s.bytes;
  }
  EXPECT_EQ(bytes, 2u * 7 * 1048576);
}

TEST(ChakraRealTraceTest, AllReduceTakesTheAlgorithmFromTheOptions) {
  const std::string dir = RealTraces("all_reduce_8npus_1MB");
  if (!fs::is_directory(dir)) {
    GTEST_SKIP() << "no traces at " << dir;
  }
  const Workload w = LoadOk(dir, {.collective_algorithm = "recursive_doubling"});
  ASSERT_EQ(w.collectives.size(), 1u);
  EXPECT_EQ(w.collectives[0].algorithm, "recursive_doubling");
  EXPECT_EQ(CountTransfers(w), 3u * 8);
}

TEST(ChakraRealTraceTest, AllToAllIsOneDirectAlltoall) {
  const std::string dir = RealTraces("all_to_all_8npus_1MB");
  if (!fs::is_directory(dir)) {
    GTEST_SKIP() << "no traces at " << dir;
  }
  const Workload w = LoadOk(dir);
  ASSERT_EQ(w.collectives.size(), 1u);
  EXPECT_EQ(w.collectives[0].operation, "alltoall");
  EXPECT_EQ(w.collectives[0].ranks, 8u);
  EXPECT_EQ(w.collectives[0].bytes, 1048576u);
  EXPECT_EQ(CountTransfers(w), 8u * 7);
  for (const Step& s : w.steps) {
    if (s.kind == StepKind::kTransfer) {
      EXPECT_EQ(s.bytes, 1048576u / 8);
    }
  }
}

TEST(ChakraRealTraceTest, P2pRingHasMatchedSendsAndNoCollectives) {
  const std::string dir = RealTraces("ring_allreduce_p2p_8npus_1MB");
  if (!fs::is_directory(dir)) {
    GTEST_SKIP() << "no traces at " << dir;
  }
  const Workload w = LoadOk(dir);
  EXPECT_EQ(w.hosts, 8u);
  EXPECT_THAT(w.collectives, IsEmpty());
  // Each rank sends 14 chunks of 1 MiB / 8 to its ring successor.
  EXPECT_EQ(CountTransfers(w), 8u * 14);
  std::map<uint32_t, uint64_t> sent;
  size_t computes = 0;
  for (const Step& s : w.steps) {
    if (s.kind == StepKind::kTransfer) {
      EXPECT_EQ(s.dst, (s.src + 1) % 8) << s.label;
      EXPECT_EQ(s.bytes, 131072u);
      EXPECT_EQ(s.collective, kNoCollective);
      sent[s.src] += s.bytes;
    } else if (s.duration > Duration::Zero()) {
      ++computes;
    }
  }
  for (uint32_t r = 0; r < 8; ++r) EXPECT_EQ(sent[r], 14u * 131072) << r;
  EXPECT_EQ(computes, 8u * 7) << "the reduce steps are COMP nodes";
  // Rank 1's first transfer is its node 0, waiting for nothing.
  const int64_t first = Find(w, "rank1/node0");
  ASSERT_GE(first, 0);
  EXPECT_EQ(w.steps[first].kind, StepKind::kTransfer);
  EXPECT_THAT(w.steps[first].deps, IsEmpty());
}

TEST(ChakraTraceTest, MatchesSendsAndReceivesInOrderPerTag) {
  TraceDir dir;
  // Rank 0 sends tag 7 then tag 3; rank 1 receives tag 3 first.
  dir.Write("t.0.et", RankFile({Comp(10, 5), Send(11, 1, 100, {10}, 7), Send(12, 1, 300, {10}, 3),
                                Send(13, 1, 200, {}, 7)}));
  dir.Write("t.1.et", RankFile({Recv(20, 0, 300, {}, 3), Recv(21, 0, 100, {20}, 7),
                                Recv(22, 0, 200, {}, 7), Comp(23, 2, {21})}));
  const Workload w = LoadOk(dir.path());
  ASSERT_EQ(CountTransfers(w), 3u);
  const int64_t comp = Find(w, "rank0/node10");
  const int64_t t11 = Find(w, "rank0/node11"), t12 = Find(w, "rank0/node12");
  const int64_t t13 = Find(w, "rank0/node13");
  const int64_t r20 = Find(w, "rank1/node20"), r21 = Find(w, "rank1/node21");
  const int64_t c23 = Find(w, "rank1/node23");
  ASSERT_GE(std::min({comp, t11, t12, t13, r20, r21, c23}), 0);
  EXPECT_EQ(w.steps[comp].duration, Duration::Microseconds(5));
  EXPECT_EQ(w.steps[t11].bytes, 100u);
  EXPECT_EQ(w.steps[t12].bytes, 300u);
  EXPECT_EQ(w.steps[t13].bytes, 200u);
  // The transfer waits for the SEND's dependencies only.
  EXPECT_THAT(w.steps[t11].deps, UnorderedElementsAre(comp));
  EXPECT_THAT(w.steps[t13].deps, IsEmpty());
  // A RECV is a zero-length step on the receiver after its transfer and its
  // own dependencies; whoever depends on the RECV waits for that.
  EXPECT_EQ(w.steps[r21].kind, StepKind::kDelay);
  EXPECT_EQ(w.steps[r21].src, 1u);
  EXPECT_EQ(w.steps[r21].duration, Duration::Zero());
  EXPECT_THAT(w.steps[r21].deps, UnorderedElementsAre(t11, r20));
  EXPECT_THAT(w.steps[r20].deps, UnorderedElementsAre(t12));
  EXPECT_THAT(w.steps[c23].deps, UnorderedElementsAre(r21));
}

TEST(ChakraTraceTest, KeepsControlDependenciesAndOtherNodesAndAnyIntegerSize) {
  TraceDir dir;
  pb::Node mem = MakeNode(1, pb::MEM_LOAD_NODE);
  mem.set_duration_micros(99);  // only COMP nodes take time
  pb::Node send = Send(2, 1, 0);
  send.add_ctrl_deps(1);
  send.mutable_attr(1)->set_uint64_val(4096);  // comm_size as uint64_val
  pb::Node recv = Recv(3, 0, 0);
  recv.mutable_attr(1)->set_sint32_val(4096);  // and as sint32_val
  dir.Write("x.0.et", RankFile({mem, send}));
  dir.Write("x.1.et", RankFile({recv}));
  const Workload w = LoadOk(dir.path());
  const int64_t m = Find(w, "rank0/node1"), t = Find(w, "rank0/node2");
  ASSERT_GE(std::min(m, t), 0);
  EXPECT_EQ(w.steps[m].kind, StepKind::kDelay);
  EXPECT_EQ(w.steps[m].duration, Duration::Zero());
  EXPECT_EQ(w.steps[t].bytes, 4096u);
  EXPECT_THAT(w.steps[t].deps, UnorderedElementsAre(m));
}

TEST(ChakraTraceTest, CollectivesWaitForEachRanksDependenciesAndGateLaterNodes) {
  TraceDir dir;
  for (int r = 0; r < 4; ++r) {
    dir.Write(absl::StrCat("c.", r, ".et"),
              RankFile({Comp(0, 10 * (r + 1)), Coll(1, pb::ALL_GATHER, 4096, {0}), Comp(2, 1, {1}),
                        Coll(3, pb::BARRIER, 0, {2})}));
  }
  const Workload w = LoadOk(dir.path());
  ASSERT_EQ(w.collectives.size(), 2u);
  EXPECT_EQ(w.collectives[0].operation, "allgather");
  EXPECT_EQ(w.collectives[0].bytes, 4096u);
  EXPECT_EQ(w.collectives[1].operation, "barrier");
  for (int r = 0; r < 4; ++r) {
    const int64_t comp = Find(w, absl::StrCat("rank", r, "/node0"));
    const int64_t gate = Find(w, absl::StrCat("rank", r, "/node1"));
    const int64_t after = Find(w, absl::StrCat("rank", r, "/node2"));
    ASSERT_GE(std::min({comp, gate, after}), 0);
    EXPECT_THAT(w.steps[gate].deps, UnorderedElementsAre(comp));
    // The rank's first allgather send waits for its gate.
    const int64_t first_send = Find(w, absl::StrCat("rank0/node1/step0/r", r, "->r", (r + 1) % 4));
    ASSERT_GE(first_send, 0);
    EXPECT_THAT(w.steps[first_send].deps, UnorderedElementsAre(gate));
    // The next node waits for the rank's last send and last receive.
    ASSERT_EQ(w.steps[after].deps.size(), 2u);
    for (uint32_t dep : w.steps[after].deps) {
      EXPECT_EQ(w.steps[dep].collective, 0);
      EXPECT_THAT(w.steps[dep].label, HasSubstr("/step2/"));
      EXPECT_TRUE(w.steps[dep].src == static_cast<uint32_t>(r) ||
                  w.steps[dep].dst == static_cast<uint32_t>(r));
    }
  }
}

// Errors. Each names the file, and the node once past the header.

void ExpectError(const absl::StatusOr<Workload>& w, absl::StatusCode code,
                 const std::vector<std::string>& parts) {
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), code) << w.status();
  for (const std::string& part : parts) EXPECT_THAT(w.status().message(), HasSubstr(part));
}

// Two ranks exchanging one message each way, to break in the tests below.
std::vector<std::vector<pb::Node>> PingPong() {
  return {{Send(0, 1, 64), Recv(1, 1, 64, {0}), Comp(2, 3, {1})},
          {Recv(0, 0, 64), Send(1, 0, 64, {0})}};
}

void WriteRanks(const TraceDir& dir, const std::vector<std::vector<pb::Node>>& ranks) {
  for (size_t r = 0; r < ranks.size(); ++r)
    dir.Write(absl::StrCat("p.", r, ".et"), RankFile(ranks[r]));
}

TEST(ChakraErrorTest, PingPongLoads) {
  TraceDir dir;
  WriteRanks(dir, PingPong());
  const Workload w = LoadOk(dir.path());
  EXPECT_EQ(CountTransfers(w), 2u);
}

TEST(ChakraErrorTest, TruncatedFile) {
  TraceDir dir;
  WriteRanks(dir, PingPong());
  const std::string whole = RankFile(PingPong()[0]);
  dir.Write("p.0.et", whole.substr(0, whole.size() - 5));  // into the last node
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument,
              {dir.File("p.0.et"), "after node 1", "truncated"});
}

TEST(ChakraErrorTest, GarbageBytes) {
  TraceDir dir;
  WriteRanks(dir, PingPong());
  // A GlobalMetadata, then a 5-byte "node" that is an unfinished varint.
  pb::GlobalMetadata metadata;
  dir.Write("p.1.et", Delimited(metadata) + std::string("\x05\xff\xff\xff\xff\xff", 6));
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument,
              {dir.File("p.1.et"), "the first node", "not a valid Node"});
}

TEST(ChakraErrorTest, EmptyFile) {
  TraceDir dir;
  WriteRanks(dir, PingPong());
  dir.Write("p.1.et", "");
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument,
              {dir.File("p.1.et"), "no GlobalMetadata"});
}

TEST(ChakraErrorTest, MissingRank) {
  TraceDir dir;
  dir.Write("p.0.et", RankFile({Comp(0, 1)}));
  dir.Write("p.2.et", RankFile({Comp(0, 1)}));
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument,
              {dir.path(), "no file for rank 1", dir.File("p.2.et")});
}

TEST(ChakraErrorTest, RepeatedRank) {
  TraceDir dir;
  dir.Write("a.0.et", RankFile({Comp(0, 1)}));
  dir.Write("b.0.et", RankFile({Comp(0, 1)}));
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument, {"rank 0 also in"});
}

TEST(ChakraErrorTest, FileNameWithoutRank) {
  TraceDir dir;
  dir.Write("trace.et", RankFile({Comp(0, 1)}));
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument,
              {dir.File("trace.et"), "NAME.RANK.et"});
}

TEST(ChakraErrorTest, UnmatchedSend) {
  TraceDir dir;
  std::vector<std::vector<pb::Node>> ranks = PingPong();
  ranks[0].push_back(Send(7, 1, 64, {}, 42));
  WriteRanks(dir, ranks);
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument,
              {dir.File("p.0.et"), "node 7", "no matching RECV", dir.File("p.1.et")});
}

TEST(ChakraErrorTest, UnmatchedRecv) {
  TraceDir dir;
  std::vector<std::vector<pb::Node>> ranks = PingPong();
  ranks[1].push_back(Recv(9, 0, 64));
  WriteRanks(dir, ranks);
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument,
              {dir.File("p.1.et"), "node 9", "no matching SEND"});
}

TEST(ChakraErrorTest, SendToItself) {
  TraceDir dir;
  std::vector<std::vector<pb::Node>> ranks = PingPong();
  ranks[1].push_back(Send(9, 1, 64));
  WriteRanks(dir, ranks);
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument,
              {dir.File("p.1.et"), "node 9", "comm_dst 1 is not another"});
}

TEST(ChakraErrorTest, SizeThatIsNotAnInteger) {
  TraceDir dir;
  std::vector<std::vector<pb::Node>> ranks = PingPong();
  ranks[0][0].mutable_attr(1)->set_string_val("64");
  WriteRanks(dir, ranks);
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument,
              {dir.File("p.0.et"), "node 0", "comm_size is not an integer"});
}

TEST(ChakraErrorTest, DependencyOnUnknownNode) {
  TraceDir dir;
  std::vector<std::vector<pb::Node>> ranks = PingPong();
  ranks[1][1].add_ctrl_deps(77);
  WriteRanks(dir, ranks);
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument,
              {dir.File("p.1.et"), "node 1", "unknown node 77"});
}

TEST(ChakraErrorTest, RepeatedNodeId) {
  TraceDir dir;
  std::vector<std::vector<pb::Node>> ranks = PingPong();
  ranks[0].push_back(Comp(2, 1));
  WriteRanks(dir, ranks);
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument,
              {dir.File("p.0.et"), "node 2", "id used twice"});
}

TEST(ChakraErrorTest, DependencyCycleOnOneRank) {
  TraceDir dir;
  std::vector<std::vector<pb::Node>> ranks = PingPong();
  ranks[0].push_back(Comp(5, 1, {6}));
  ranks[0].push_back(Comp(6, 1, {5}));
  WriteRanks(dir, ranks);
  const absl::StatusOr<Workload> w = LoadChakraTrace(dir.path());
  ExpectError(w, absl::StatusCode::kInvalidArgument, {dir.File("p.0.et"), "dependency cycle"});
  EXPECT_THAT(w.status().message(),
              ::testing::AnyOf(HasSubstr("node 5: on a"), HasSubstr("node 6: on a")));
}

TEST(ChakraErrorTest, DependencyCycleAcrossRanks) {
  // Each rank sends only after receiving the other's message: a deadlock.
  TraceDir dir;
  WriteRanks(dir, {{Recv(0, 1, 64), Send(1, 1, 64, {0})}, {Recv(0, 0, 64), Send(1, 0, 64, {0})}});
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument,
              {"dependency cycle", ".et: node "});
}

TEST(ChakraErrorTest, CollectivesThatDisagree) {
  TraceDir dir;
  WriteRanks(dir, {{Coll(0, pb::ALL_REDUCE, 1024)}, {Coll(4, pb::ALL_REDUCE, 2048)}});
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument,
              {dir.File("p.1.et"), "node 4", "2048", dir.File("p.0.et")});
  WriteRanks(dir, {{Coll(0, pb::ALL_REDUCE, 1024)}, {Comp(4, 1)}});
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument,
              {dir.File("p.1.et"), "0 COMM_COLL nodes", dir.File("p.0.et"), "has 1"});
}

TEST(ChakraErrorTest, UnsupportedCollective) {
  TraceDir dir;
  WriteRanks(dir, {{Coll(3, pb::GATHER, 1024)}, {Coll(3, pb::GATHER, 1024)}});
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument,
              {dir.File("p.0.et"), "node 3", "type 3 not supported"});
}

TEST(ChakraErrorTest, CollectiveAlgorithmThatDoesNotFit) {
  TraceDir dir;
  WriteRanks(dir, {{Coll(3, pb::ALL_REDUCE, 1024)},
                   {Coll(3, pb::ALL_REDUCE, 1024)},
                   {Coll(3, pb::ALL_REDUCE, 1024)}});
  ExpectError(LoadChakraTrace(dir.path(), {.collective_algorithm = "recursive_doubling"}),
              absl::StatusCode::kInvalidArgument, {dir.File("p.0.et"), "node 3", "power-of-two"});
}

TEST(ChakraErrorTest, EmptyDirectory) {
  TraceDir dir;
  dir.Write("README", "not a trace");
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument,
              {dir.path(), "no *.et files"});
}

TEST(ChakraErrorTest, NonexistentDirectory) {
  TraceDir dir;
  ExpectError(LoadChakraTrace(dir.File("missing")), absl::StatusCode::kNotFound,
              {dir.File("missing")});
}

// ---- communicator groups (ChakraOptions::comm_groups_file) ----

// Four ranks: groups "1" = {0, 1} and "2" = {3, 2} each run an all-reduce of
// their own, then all four an all-gather without a pg_name.
std::vector<std::vector<pb::Node>> TwoGroupsThenAll() {
  return {{GroupColl(0, pb::ALL_REDUCE, 1024, "1"), Coll(1, pb::ALL_GATHER, 512, {0})},
          {GroupColl(0, pb::ALL_REDUCE, 1024, "1"), Coll(1, pb::ALL_GATHER, 512, {0})},
          {GroupColl(0, pb::ALL_REDUCE, 2048, "2"), Coll(1, pb::ALL_GATHER, 512, {0})},
          {GroupColl(0, pb::ALL_REDUCE, 2048, "2"), Coll(1, pb::ALL_GATHER, 512, {0})}};
}

// Per collective size, the ranks its transfers touch.
std::map<uint64_t, std::set<uint32_t>> RanksByCollectiveBytes(const Workload& w) {
  std::map<uint64_t, std::set<uint32_t>> by_bytes;
  for (const Step& s : w.steps) {
    if (s.kind != StepKind::kTransfer) continue;
    std::set<uint32_t>& ranks = by_bytes[w.collectives[static_cast<size_t>(s.collective)].bytes];
    ranks.insert(s.src);
    ranks.insert(s.dst);
  }
  return by_bytes;
}

// The label of the first transfer of the collective of `bytes`: the
// collective is named after its group's first rank.
std::string FirstTransferLabel(const Workload& w, uint64_t bytes) {
  for (const Step& s : w.steps) {
    if (s.kind == StepKind::kTransfer &&
        w.collectives[static_cast<size_t>(s.collective)].bytes == bytes) {
      return s.label;
    }
  }
  return "";
}

TEST(ChakraCommGroupTest, CollectivesRunAmongTheirGroupsRanksInListedOrder) {
  TraceDir dir;
  WriteRanks(dir, TwoGroupsThenAll());
  dir.Write("groups.json", R"({"1": [0, 1], "2": {"ranks": [3, 2], "dimensions": [2]}})");
  const Workload w = LoadOk(dir.path(), {.comm_groups_file = dir.File("groups.json")});
  ASSERT_EQ(w.collectives.size(), 3u);
  std::map<uint64_t, std::set<uint32_t>> by_bytes = RanksByCollectiveBytes(w);
  EXPECT_THAT(by_bytes[1024], ElementsAre(0u, 1u));
  EXPECT_THAT(by_bytes[2048], ElementsAre(2u, 3u));
  EXPECT_THAT(by_bytes[512], ElementsAre(0u, 1u, 2u, 3u));
  // The all-gather waits on each rank for that rank's own group's all-reduce.
  for (const Step& s : w.steps) {
    if (s.kind == StepKind::kTransfer &&
        w.collectives[static_cast<size_t>(s.collective)].bytes == 512) {
      EXPECT_FALSE(s.deps.empty()) << s.label;
    }
  }
  // Ring order is the listed order: group "2"'s ring starts at rank 3.
  EXPECT_THAT(FirstTransferLabel(w, 2048), ::testing::StartsWith("rank3/"));
}

TEST(ChakraCommGroupTest, WithoutAGroupsFileEveryCollectiveSpansAllRanks) {
  TraceDir dir;
  // Every rank in the same groups, so that the k-th collectives line up.
  WriteRanks(dir, {{GroupColl(0, pb::ALL_REDUCE, 1024, "7")},
                   {GroupColl(0, pb::ALL_REDUCE, 1024, "7")},
                   {GroupColl(0, pb::ALL_REDUCE, 1024, "9")}});
  const Workload w = LoadOk(dir.path());
  ASSERT_EQ(w.collectives.size(), 1u);
  EXPECT_EQ(w.collectives[0].ranks, 3u);
}

TEST(ChakraCommGroupTest, AGroupOfOneMovesNoDataAndPassesItsDependenciesOn) {
  TraceDir dir;
  WriteRanks(dir, {{Comp(0, 5), GroupColl(1, pb::ALL_REDUCE, 1024, "solo", {0}), Comp(2, 1, {1})},
                   {Comp(0, 1)}});
  dir.Write("groups.json", R"({"solo": [0]})");
  const Workload w = LoadOk(dir.path(), {.comm_groups_file = dir.File("groups.json")});
  for (const Step& s : w.steps) EXPECT_NE(s.kind, StepKind::kTransfer) << s.label;
  const int64_t after = Find(w, "rank0/node2");
  const int64_t gate = Find(w, "rank0/node1");
  ASSERT_GE(after, 0);
  EXPECT_THAT(w.steps[static_cast<size_t>(after)].deps, ElementsAre(static_cast<uint32_t>(gate)));
}

TEST(ChakraCommGroupTest, BadGroupsAndNodesOutsideThemAreRefused) {
  TraceDir dir;
  WriteRanks(dir, TwoGroupsThenAll());
  const auto error_with = [&](const std::string& json, const std::vector<std::string>& parts) {
    dir.Write("g.json", json);
    ExpectError(LoadChakraTrace(dir.path(), {.comm_groups_file = dir.File("g.json")}),
                absl::StatusCode::kInvalidArgument, parts);
  };
  const std::string file = dir.File("g.json");
  error_with("[0, 1]", {file, "not a JSON object"});
  error_with("{\"1\": [0, 1], ", {file, "not a JSON object"});
  error_with("{}", {file, "no groups"});
  error_with(R"({"1": []})", {file, "group \"1\"", "non-empty list"});
  error_with(R"({"1": "0,1"})", {file, "group \"1\"", "non-empty list"});
  error_with(R"({"1": [0, 4]})", {file, "group \"1\"", "0 to 3"});
  error_with(R"({"1": [0, 1.5]})", {file, "group \"1\"", "integers"});
  error_with(R"({"1": [0, 1, 0]})", {file, "group \"1\"", "rank 0 twice"});
  error_with(R"({"1": [0, 1]})", {dir.File("p.2.et"), "node 0", "pg_name \"2\" is not a group"});
  error_with(R"({"1": [0, 1], "2": [2, 1]})",
             {dir.File("p.3.et"), "node 0", "rank 3 is not in group \"2\""});
  ExpectError(LoadChakraTrace(dir.path(), {.comm_groups_file = dir.File("missing.json")}),
              absl::StatusCode::kInvalidArgument, {dir.File("missing.json"), "cannot open"});
  // A group whose members disagree on how many collectives it has.
  TraceDir uneven;
  WriteRanks(uneven,
             {{GroupColl(0, pb::ALL_REDUCE, 64, "1"), GroupColl(1, pb::ALL_REDUCE, 64, "1")},
              {GroupColl(0, pb::ALL_REDUCE, 64, "1")}});
  uneven.Write("g.json", R"({"1": [0, 1]})");
  ExpectError(LoadChakraTrace(uneven.path(), {.comm_groups_file = uneven.File("g.json")}),
              absl::StatusCode::kInvalidArgument,
              {uneven.File("p.1.et"), "1 COMM_COLL nodes of group \"1\"", "has 2"});
}

// ---- communicator groups the traces record (process_group:init) ----

// PyTorch's record of its process groups as Chakra's converter writes it:
// str() of the node's input list, whose one element is json.dumps of
// pg_config_info, so the JSON sits in a Python string literal.
pb::Node ProcessGroupInit(uint64_t id, const std::string& json) {
  pb::Node node;
  node.set_id(id);
  node.set_name("## process_group:init ##");
  node.set_type(pb::METADATA_NODE);
  node.mutable_inputs()->set_values(absl::StrCat("['", json, "']"));
  return node;
}

// Groups "0" (every rank: PyTorch lists no ranks for it), "1" = {0, 1} and
// "2" = {2, 3}; each rank records the groups it belongs to.
constexpr char kGroupsOfRanks01[] =
    R"([{"pg_name": "0", "pg_desc": "default_pg", "backend_config": "cuda:nccl", )"
    R"("ranks": [], "group_size": 4, "group_count": 3}, )"
    R"({"pg_name": "1", "pg_desc": "undefined", "backend_config": "cuda:nccl", )"
    R"("ranks": [0, 1], "group_size": 2, "group_count": 3}])";
constexpr char kGroupsOfRanks23[] =
    R"([{"pg_name": "0", "pg_desc": "default_pg", "ranks": [], "group_size": 4}, )"
    R"({"pg_name": "2", "pg_desc": "undefined", "ranks": [2, 3], "group_size": 2}])";

// TwoGroupsThenAll with each rank's process_group:init node (id 100) first
// and the all-gather marked as group "0".
std::vector<std::vector<pb::Node>> TwoRecordedGroupsThenAll() {
  std::vector<std::vector<pb::Node>> ranks = TwoGroupsThenAll();
  for (size_t r = 0; r < ranks.size(); ++r) {
    *ranks[r][1].add_attr() = StringAttr("pg_name", "0");
    ranks[r].insert(ranks[r].begin(),
                    ProcessGroupInit(100, r < 2 ? kGroupsOfRanks01 : kGroupsOfRanks23));
  }
  return ranks;
}

TEST(ChakraProcessGroupTest, CollectivesRunAmongTheGroupsTheTracesRecord) {
  TraceDir dir;
  std::vector<std::vector<pb::Node>> ranks = TwoRecordedGroupsThenAll();
  // The nested-list form some converters write reads the same.
  ranks[3][0].mutable_inputs()->set_values(absl::StrCat("[[", kGroupsOfRanks23, "]]"));
  WriteRanks(dir, ranks);
  const Workload w = LoadOk(dir.path());
  ASSERT_EQ(w.collectives.size(), 3u);
  std::map<uint64_t, std::set<uint32_t>> by_bytes = RanksByCollectiveBytes(w);
  EXPECT_THAT(by_bytes[1024], ElementsAre(0u, 1u));
  EXPECT_THAT(by_bytes[2048], ElementsAre(2u, 3u));
  EXPECT_THAT(by_bytes[512], ElementsAre(0u, 1u, 2u, 3u)) << "group \"0\" is every rank";
  EXPECT_THAT(FirstTransferLabel(w, 2048), ::testing::StartsWith("rank2/"));
}

TEST(ChakraProcessGroupTest, AGroupsFileOverridesWhatTheTracesRecord) {
  TraceDir dir;
  WriteRanks(dir, TwoRecordedGroupsThenAll());
  dir.Write("groups.json", R"({"0": [0, 1, 2, 3], "1": [0, 1], "2": [3, 2]})");
  const Workload w = LoadOk(dir.path(), {.comm_groups_file = dir.File("groups.json")});
  EXPECT_THAT(FirstTransferLabel(w, 2048), ::testing::StartsWith("rank3/"))
      << "the file's ring order, not the trace's";
}

TEST(ChakraProcessGroupTest, ARecordWithoutGroupsLeavesCollectivesOnAllRanks) {
  TraceDir dir;
  WriteRanks(dir, {{ProcessGroupInit(100, "[]"), GroupColl(0, pb::ALL_REDUCE, 1024, "7")},
                   {ProcessGroupInit(100, "[]"), GroupColl(0, pb::ALL_REDUCE, 1024, "7")}});
  const Workload w = LoadOk(dir.path());
  ASSERT_EQ(w.collectives.size(), 1u);
  EXPECT_EQ(w.collectives[0].ranks, 2u);
}

TEST(ChakraProcessGroupTest, BadRecordsAreRefusedNamingTheFileAndNode) {
  TraceDir dir;
  const std::string rank0 = dir.File("p.0.et");
  const auto error_with = [&](const std::string& values, const std::vector<std::string>& parts) {
    SCOPED_TRACE(values);
    std::vector<std::vector<pb::Node>> ranks = TwoRecordedGroupsThenAll();
    ranks[0][0].mutable_inputs()->set_values(values);
    WriteRanks(dir, ranks);
    std::vector<std::string> expected = {rank0, "node 100"};
    expected.insert(expected.end(), parts.begin(), parts.end());
    ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument, expected);
  };
  const auto record = [](const std::string& json) { return absl::StrCat("['", json, "']"); };
  error_with(record(R"([{"pg_name": "1", "ranks": [0, 1])"), {"ends inside its JSON list"});
  error_with(record(R"({"pg_name": "1"})"), {"no JSON list of groups"});
  error_with(record(R"([{"pg_name": "1" "ranks": [0, 1]}])"), {"process_group:init groups"});
  error_with(record(R"([{"pg_name": 1, "ranks": [0, 1]}])"), {"expected {\"pg_name\""});
  error_with(record(R"([{"pg_name": "1"}])"), {"expected {\"pg_name\""});
  error_with(record(R"([{"pg_name": "1", "ranks": [0, 9]}])"), {"group \"1\"", "0 to 3"});
  error_with(record(R"([{"pg_name": "1", "ranks": [0, 0]}])"), {"group \"1\"", "rank 0 twice"});
  error_with(record(R"([{"pg_name": "1", "ranks": [0, 1], "group_size": 3}])"),
             {"group \"1\"", "group_size 3 but 2 ranks listed"});
  error_with(record(R"([{"pg_name": "0", "ranks": [], "group_size": 8}])"),
             {"group \"0\"", "group_size 8 is not the trace's 4 ranks"});
  error_with(record(R"([{"pg_name": "1", "ranks": [0, 1], "group_size": "2"}])"),
             {"group_size is not a number"});
  // Ranks 0 and 1 both list group "1", with different members.
  error_with(record(R"([{"pg_name": "0", "ranks": []}, {"pg_name": "1", "ranks": [0, 2]}])"),
             {"group \"1\"", "ranks differ", dir.File("p.1.et")});
  // A collective whose group no rank recorded.
  std::vector<std::vector<pb::Node>> ranks = TwoRecordedGroupsThenAll();
  ranks[2][0] = ProcessGroupInit(100, R"([{"pg_name": "0", "ranks": []}])");
  ranks[3][0] = ranks[2][0];
  WriteRanks(dir, ranks);
  ExpectError(LoadChakraTrace(dir.path()), absl::StatusCode::kInvalidArgument,
              {dir.File("p.2.et"), "pg_name \"2\" is not a group of", "process_group:init"});
}

// Seeded damage to one rank file of a valid 3-rank trace (sends, receives,
// compute, an all-reduce, a record of process groups): each result is a workload that passes
// ValidateWorkload or an InvalidArgument naming the damaged file or the
// directory, and nothing else is printed (protobuf would log invalid UTF-8
// itself). Seeds 1 to 300; the failing seed is printed.
TEST(ChakraRobustnessTest, DamagedRankFilesLoadOrAreRefusedNamingTheFile) {
  const std::vector<std::vector<pb::Node>> ranks = {
      {ProcessGroupInit(9, R"([{"pg_name": "0", "ranks": [], "group_size": 3}])"), Send(0, 1, 4096),
       Recv(1, 2, 64, {0}), Coll(2, pb::ALL_REDUCE, 8192, {1}), Comp(3, 5, {2})},
      {Recv(0, 0, 4096), Send(1, 2, 64, {0}), Coll(2, pb::ALL_REDUCE, 8192, {1})},
      {Recv(0, 1, 64), Send(1, 0, 64, {0}), Coll(2, pb::ALL_REDUCE, 8192, {1})}};
  std::vector<std::string> files;
  for (const std::vector<pb::Node>& rank : ranks) files.push_back(RankFile(rank));
  int loaded = 0;
  ::testing::internal::CaptureStderr();  // the returned error must be the only report
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed=" << seed);
    Random rng(seed);
    TraceDir dir;
    const size_t damaged = rng.Uniform(files.size());
    for (size_t r = 0; r < files.size(); ++r) {
      dir.Write(absl::StrCat("p.", r, ".et"),
                r == damaged ? testing::MutateBytes(files[r], rng) : files[r]);
    }
    const absl::StatusOr<Workload> w = LoadChakraTrace(dir.path());
    if (w.ok()) {
      ++loaded;
      EXPECT_TRUE(ValidateWorkload(*w).ok()) << ValidateWorkload(*w);
      continue;
    }
    EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument) << w.status();
    EXPECT_THAT(w.status().message(), HasSubstr(dir.path())) << w.status();
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "") << "nothing printed while loading";
  EXPECT_GE(loaded, 1) << "some damage leaves a valid trace: the accept path runs too";
}

}  // namespace
}  // namespace tern::replay
