// How trace nodes become steps (every node is one of the rank's host's steps
// unless said otherwise; its label is "rank<R>/node<id>"):
//
// - COMP: a delay of duration_micros. Any type without communication: a delay
//   of zero.
// - COMM_SEND and COMM_RECV, matched in file order per (source, destination,
//   tag): one transfer, labelled by the SEND node, that waits for the SEND
//   node's dependencies only; the RECV node becomes a zero-length delay on the
//   receiver that waits for the transfer and for the RECV node's own
//   dependencies. Making the transfer also wait for the RECV's dependencies
//   would deadlock ordinary traces: in a ring, every rank posts its receive
//   after its own send, so each send would wait for the next one around the
//   ring. Senders in Chakra's simulators do not wait for the receive either.
// - COMM_COLL: the k-th one on every rank forms the k-th collective, over all
//   ranks in rank order; with communicator groups (ChakraOptions), the k-th
//   one whose pg_name names group G, on every rank of G, forms G's k-th
//   collective, over G's ranks in their listed order. The groups come from
//   ChakraOptions' file or else from the traces' process_group:init METADATA
//   nodes (PyTorch's record of its process groups). Expanded by
//   ExpandCollective. Each rank's node becomes a zero-length "gate" delay
//   carrying the node's dependencies, which the rank's part of the
//   collective waits for; later nodes wait for the rank's part to finish.
//
// A node "completes" with the steps listed above (for a SEND, its transfer;
// for a COMM_COLL, the rank's completion steps); data and control dependencies
// both wait for completion.
#include "apps/replay_chakra.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "apps/chakra_et.pb.h"
#include "apps/file_io.h"
#include "apps/replay_collectives.h"
#include "apps/replay_workload.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/json_util.h"

namespace tern::replay {
namespace {

namespace fs = std::filesystem;
namespace pb = ::ChakraProtoMsg;

using StepList = std::vector<uint32_t>;

constexpr int64_t kNoStep = -1;

// The attributes that matter here, as integers; nullopt when absent.
struct CommAttributes {
  std::optional<int64_t> type;  // CollectiveCommType on COMM_COLL nodes
  std::optional<int64_t> size;  // bytes
  std::optional<int64_t> src;
  std::optional<int64_t> dst;
  std::optional<int64_t> tag;
};

// One trace node, reduced to what the replay needs.
struct TraceNode {
  uint64_t id = 0;
  int type = pb::INVALID_NODE;
  uint64_t duration_micros = 0;
  std::vector<uint64_t> deps;  // data and control, as written
  CommAttributes comm;
  std::optional<std::string> pg_name;  // the communicator group, on COMM_COLL nodes
  // inputs.values of a process_group:init METADATA node: the groups as JSON.
  std::optional<std::string> process_groups;

  // Filled while building: the step that waits for `deps` (kNoStep until
  // made), and the steps whose completion means the node's.
  int64_t entry_step = kNoStep;
  StepList done;
};

struct RankTrace {
  std::string file;  // the path, for messages
  std::vector<TraceNode> nodes;
  absl::flat_hash_map<uint64_t, size_t> by_id;  // node id -> index in nodes
};

// Where a step came from, to name it in a cycle error.
struct NodeRef {
  uint32_t rank = 0;
  size_t node = 0;
};

std::string NodeName(const RankTrace& trace, const TraceNode& node) {
  return absl::StrCat(trace.file, ": node ", node.id);
}

std::string Label(uint32_t rank, const TraceNode& node) {
  return absl::StrCat("rank", rank, "/node", node.id);
}

// The value of an integer attribute, whichever integer type its writer chose.
std::optional<int64_t> IntegerValue(const pb::AttributeProto& attr) {
  constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
  switch (attr.value_case()) {
    case pb::AttributeProto::kInt32Val:
      return attr.int32_val();
    case pb::AttributeProto::kInt64Val:
      return attr.int64_val();
    case pb::AttributeProto::kUint32Val:
      return attr.uint32_val();
    case pb::AttributeProto::kUint64Val:
      if (attr.uint64_val() > kMax) return std::nullopt;
      return static_cast<int64_t>(attr.uint64_val());
    case pb::AttributeProto::kSint32Val:
      return attr.sint32_val();
    case pb::AttributeProto::kSint64Val:
      return attr.sint64_val();
    case pb::AttributeProto::kFixed32Val:
      return attr.fixed32_val();
    case pb::AttributeProto::kFixed64Val:
      if (attr.fixed64_val() > kMax) return std::nullopt;
      return static_cast<int64_t>(attr.fixed64_val());
    case pb::AttributeProto::kSfixed32Val:
      return attr.sfixed32_val();
    case pb::AttributeProto::kSfixed64Val:
      return attr.sfixed64_val();
    default:
      return std::nullopt;
  }
}

// The name PyTorch's execution-trace observer gives the node that records
// its process groups (json.dumps of pg_config_info, the node's one input).
constexpr std::string_view kProcessGroupInit = "## process_group:init ##";

absl::StatusOr<TraceNode> ConvertNode(const std::string& file, const pb::Node& message) {
  TraceNode node;
  node.id = message.id();
  node.type = message.type();
  node.duration_micros = message.duration_micros();
  node.deps.assign(message.data_deps().begin(), message.data_deps().end());
  node.deps.insert(node.deps.end(), message.ctrl_deps().begin(), message.ctrl_deps().end());
  if (node.type == pb::METADATA_NODE && message.name() == kProcessGroupInit) {
    node.process_groups = message.inputs().values();
  }
  const std::pair<const char*, std::optional<int64_t>*> wanted[] = {
      {"comm_type", &node.comm.type}, {"comm_size", &node.comm.size}, {"comm_src", &node.comm.src},
      {"comm_dst", &node.comm.dst},   {"comm_tag", &node.comm.tag},
  };
  for (const pb::AttributeProto& attr : message.attr()) {
    if (attr.name() == "pg_name") {
      // ASTRA-sim writes a decimal string; an integer means the same.
      const std::optional<int64_t> number = IntegerValue(attr);
      if (attr.value_case() == pb::AttributeProto::kStringVal) {
        node.pg_name = attr.string_val();
      } else if (number) {
        node.pg_name = absl::StrCat(*number);
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat(file, ": node ", node.id, ": attribute pg_name is not a string"));
      }
    }
    for (const auto& [name, value] : wanted) {
      if (attr.name() != name) continue;
      *value = IntegerValue(attr);
      if (!value->has_value()) {
        return absl::InvalidArgumentError(absl::StrCat(file, ": node ", node.id, ": attribute ",
                                                       name, " is not an integer in range"));
      }
    }
  }
  return node;
}

// Reads one rank's file: a GlobalMetadata, then Nodes, each preceded by its
// length as a varint.
absl::StatusOr<RankTrace> ReadRankTrace(const std::string& path) {
  absl::StatusOr<std::string> data = ReadWholeFile(path);
  if (!data.ok()) return data.status();
  if (data->size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": larger than 2 GiB"));
  }
  if (data->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": empty, no GlobalMetadata"));
  }
  const int size = static_cast<int>(data->size());
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(data->data()), size);

  RankTrace trace;
  trace.file = path;
  pb::GlobalMetadata metadata;
  pb::Node message;
  bool header = true;
  while (in.CurrentPosition() < size) {
    const int offset = in.CurrentPosition();
    // Past the header, point at the last good node: a broken message has no id.
    const std::string where =
        header ? absl::StrCat(path, ": GlobalMetadata")
               : absl::StrCat(path, ": message at byte ", offset,
                              trace.nodes.empty()
                                  ? std::string(", the first node")
                                  : absl::StrCat(", after node ", trace.nodes.back().id));
    uint32_t length = 0;
    if (!in.ReadVarint32(&length)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": truncated length prefix"));
    }
    if (length > static_cast<uint32_t>(size - in.CurrentPosition())) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", length, " bytes announced, ",
                                                     size - in.CurrentPosition(),
                                                     " left (truncated file?)"));
    }
    const google::protobuf::io::CodedInputStream::Limit limit =
        in.PushLimit(static_cast<int>(length));
    // protobuf would also log a string field's invalid UTF-8 to stderr by
    // itself; the error returned below is the one report.
    const google::protobuf::LogSilencer quiet;
    const bool parsed =
        header ? metadata.ParseFromCodedStream(&in) : message.ParseFromCodedStream(&in);
    const bool whole = parsed && in.ConsumedEntireMessage() && in.BytesUntilLimit() == 0;
    in.PopLimit(limit);
    if (!whole) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": not a valid ", header ? "GlobalMetadata" : "Node", " message"));
    }
    if (header) {
      header = false;
      continue;
    }
    absl::StatusOr<TraceNode> node = ConvertNode(path, message);
    if (!node.ok()) return node.status();
    if (!trace.by_id.emplace(node->id, trace.nodes.size()).second) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": node ", node->id, ": id used twice"));
    }
    trace.nodes.push_back(*std::move(node));
  }
  return trace;
}

// The rank of "NAME.RANK.et", or nullopt.
std::optional<uint32_t> RankOf(const std::string& filename) {
  constexpr std::string_view kSuffix = ".et";
  if (filename.size() <= kSuffix.size() || !filename.ends_with(kSuffix)) return std::nullopt;
  const std::string_view stem(filename.data(), filename.size() - kSuffix.size());
  const size_t dot = stem.rfind('.');
  const std::string_view digits = dot == std::string_view::npos ? stem : stem.substr(dot + 1);
  uint32_t rank = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), rank);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) {
    return std::nullopt;
  }
  return rank;
}

// The *.et files of `dir` in rank order, checked to be ranks 0..N-1.
absl::StatusOr<std::vector<std::string>> ListRankFiles(const std::string& dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    return absl::NotFoundError(absl::StrCat(dir, ": not a directory of Chakra traces"));
  }
  std::vector<std::pair<uint32_t, std::string>> files;
  // The error_code overloads throughout: a listing problem is an error, not an exception.
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const fs::directory_entry& entry = *it;
    const std::string name = entry.path().filename().string();
    std::error_code type_error;
    if (!name.ends_with(".et") || entry.is_directory(type_error)) continue;
    const std::optional<uint32_t> rank = RankOf(name);
    if (!rank) {
      return absl::InvalidArgumentError(
          absl::StrCat(entry.path().string(), ": no rank number before .et (NAME.RANK.et)"));
    }
    files.emplace_back(*rank, entry.path().string());
  }
  if (error) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": cannot list: ", error.message()));
  }
  if (files.empty()) return absl::InvalidArgumentError(absl::StrCat(dir, ": no *.et files"));
  std::sort(files.begin(), files.end());
  std::vector<std::string> paths;
  for (size_t i = 0; i < files.size(); ++i) {
    if (files[i].first != i) {
      if (files[i].first < i) {
        return absl::InvalidArgumentError(absl::StrCat(files[i].second, ": rank ", files[i].first,
                                                       " also in ", files[i - 1].second));
      }
      return absl::InvalidArgumentError(
          absl::StrCat(dir, ": no file for rank ", i, " (next is ", files[i].second, ")"));
    }
    paths.push_back(files[i].second);
  }
  return paths;
}

// Communicator group name -> its ranks, in the order listed.
using CommGroups = std::map<std::string, std::vector<uint32_t>>;

// The ranks of one group's JSON list, each an integer below `ranks`, none
// twice; errors start with `where`.
absl::StatusOr<std::vector<uint32_t>> ParseGroupRanks(const google::protobuf::ListValue& list,
                                                      uint32_t ranks, const std::string& where) {
  std::vector<uint32_t> members;
  std::vector<bool> seen(ranks);
  for (const google::protobuf::Value& element : list.values()) {
    const double rank = element.number_value();
    if (!element.has_number_value() || rank != std::floor(rank) || rank < 0 || rank >= ranks) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ranks are integers from 0 to ",
                                                     ranks - 1, " (the trace's ranks); got ",
                                                     element.ShortDebugString()));
    }
    const auto r = static_cast<uint32_t>(rank);
    if (seen[r]) return absl::InvalidArgumentError(absl::StrCat(where, ": rank ", r, " twice"));
    seen[r] = true;
    members.push_back(r);
  }
  return members;
}

// Reads a groups file (ChakraOptions::comm_groups_file) for a trace of
// `ranks` ranks.
absl::StatusOr<CommGroups> LoadCommGroups(const std::string& path, uint32_t ranks) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  google::protobuf::Struct json;
  const auto parsed = google::protobuf::util::JsonStringToMessage(*text, &json);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": not a JSON object of communicator groups: ", std::string(parsed.message())));
  }
  if (json.fields().empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no groups"));
  CommGroups groups;
  for (const auto& [name, value] : json.fields()) {
    const std::string where = absl::StrCat(path, ": group \"", name, "\"");
    const google::protobuf::ListValue* list = nullptr;
    if (value.has_list_value()) {
      list = &value.list_value();
    } else if (value.has_struct_value() && value.struct_value().fields().contains("ranks") &&
               value.struct_value().fields().at("ranks").has_list_value()) {
      list = &value.struct_value().fields().at("ranks").list_value();
    }
    if (name.empty() || list == nullptr || list->values().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": expected a name and a non-empty list of ranks, or {\"ranks\": [...]}"));
    }
    absl::StatusOr<std::vector<uint32_t>> members = ParseGroupRanks(*list, ranks, where);
    if (!members.ok()) return members.status();
    groups[name] = *std::move(members);
  }
  return groups;
}

// The JSON array inside a process_group:init node's inputs.values. Chakra's
// converter writes str() of the node's input list, so the array sits in a
// Python string literal (['[{"pg_name": ...}]']) or in nested lists: it is the
// first '[' that opens an object, up to its matching ']'. Empty when the node
// lists no group.
absl::StatusOr<std::string_view> ProcessGroupArray(std::string_view values,
                                                   const std::string& where) {
  size_t start = std::string_view::npos;
  for (size_t i = 0; i < values.size() && start == std::string_view::npos; ++i) {
    if (values[i] != '[') continue;
    const size_t next = values.find_first_not_of(" \t\n", i + 1);
    if (next != std::string_view::npos && values[next] == '{') start = i;
  }
  if (start == std::string_view::npos) {
    if (values.find('{') == std::string_view::npos) return std::string_view();
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": process_group:init input holds no JSON list of groups"));
  }
  int depth = 0;
  bool in_string = false;
  for (size_t i = start; i < values.size(); ++i) {
    const char c = values[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if ((c == ']' || c == '}') && --depth == 0) {
      return values.substr(start, i + 1 - start);
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": process_group:init input ends inside its JSON list of groups"));
}

// The groups that the traces' process_group:init nodes list (PyTorch's
// pg_config_info: pg_name, ranks, group_size per group; a rank lists the groups
// it belongs to, and "ranks" is empty for a group of every rank). A name listed
// on several ranks must list the same ranks there.
absl::StatusOr<CommGroups> GroupsFromTraces(const std::vector<RankTrace>& traces) {
  const auto ranks = static_cast<uint32_t>(traces.size());
  CommGroups groups;
  std::map<std::string, std::string> listed_by;  // group -> the first node that listed it
  for (const RankTrace& trace : traces) {
    for (const TraceNode& node : trace.nodes) {
      if (!node.process_groups) continue;
      const std::string where = NodeName(trace, node);
      absl::StatusOr<std::string_view> array = ProcessGroupArray(*node.process_groups, where);
      if (!array.ok()) return array.status();
      if (array->empty()) continue;
      google::protobuf::ListValue json;
      const auto parsed = google::protobuf::util::JsonStringToMessage(*array, &json);
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": process_group:init groups: ", std::string(parsed.message())));
      }
      for (const google::protobuf::Value& entry : json.values()) {
        const auto& fields = entry.struct_value().fields();
        const auto field = [&](const char* key) -> const google::protobuf::Value* {
          const auto it = fields.find(key);
          return it == fields.end() ? nullptr : &it->second;
        };
        const google::protobuf::Value* pg_name = field("pg_name");
        const google::protobuf::Value* listed = field("ranks");
        if (!entry.has_struct_value() || pg_name == nullptr || !pg_name->has_string_value() ||
            pg_name->string_value().empty() || listed == nullptr || !listed->has_list_value()) {
          return absl::InvalidArgumentError(
              absl::StrCat(where,
                           ": process_group:init: expected {\"pg_name\": \"NAME\", "
                           "\"ranks\": [...], ...} per group, got ",
                           entry.ShortDebugString()));
        }
        const std::string& name = pg_name->string_value();
        const std::string of_group = absl::StrCat(where, ": group \"", name, "\"");
        absl::StatusOr<std::vector<uint32_t>> members =
            ParseGroupRanks(listed->list_value(), ranks, of_group);
        if (!members.ok()) return members.status();
        const google::protobuf::Value* size = field("group_size");
        if (size != nullptr && !size->has_number_value()) {
          return absl::InvalidArgumentError(absl::StrCat(of_group, ": group_size is not a number"));
        }
        if (members->empty()) {
          // PyTorch leaves "ranks" empty for a group of every rank.
          if (size != nullptr && size->number_value() != ranks) {
            return absl::InvalidArgumentError(
                absl::StrCat(of_group, ": no ranks listed and group_size ", size->number_value(),
                             " is not the trace's ", ranks, " ranks"));
          }
          for (uint32_t r = 0; r < ranks; ++r) members->push_back(r);
        } else if (size != nullptr && size->number_value() != members->size()) {
          return absl::InvalidArgumentError(absl::StrCat(of_group, ": group_size ",
                                                         size->number_value(), " but ",
                                                         members->size(), " ranks listed"));
        }
        const auto [it, added] = groups.emplace(name, *members);
        if (added) {
          listed_by[name] = where;
        } else if (it->second != *members) {
          return absl::InvalidArgumentError(
              absl::StrCat(of_group, ": ranks differ from the same group in ", listed_by[name]));
        }
      }
    }
  }
  return groups;
}

class TraceBuilder {
 public:
  // `groups_source` names where `groups` came from, for messages.
  TraceBuilder(std::vector<RankTrace> ranks, const ChakraOptions& options, CommGroups groups,
               std::string groups_source, Workload& workload)
      : ranks_(std::move(ranks)),
        options_(options),
        comm_groups_(std::move(groups)),
        groups_source_(std::move(groups_source)),
        workload_(workload),
        collectives_(ranks_.size()) {
    workload_.hosts = static_cast<uint32_t>(ranks_.size());
  }

  absl::Status Build() {
    if (absl::Status s = MakeNodeSteps(); !s.ok()) return s;
    if (absl::Status s = MatchSendsAndReceives(); !s.ok()) return s;
    if (absl::Status s = ExpandCollectives(); !s.ok()) return s;
    if (absl::Status s = AddDependencies(); !s.ok()) return s;
    if (std::optional<uint32_t> step = FindDependencyCycle(workload_)) {
      const NodeRef ref = owner_[*step];
      const RankTrace& trace = ranks_[ref.rank];
      return absl::InvalidArgumentError(absl::StrCat(NodeName(trace, trace.nodes[ref.node]),
                                                     ": on a dependency cycle (step ", *step, ", ",
                                                     workload_.steps[*step].label, ")"));
    }
    return absl::OkStatus();
  }

 private:
  uint32_t AddStep(Step step, NodeRef owner) {
    workload_.steps.push_back(std::move(step));
    owner_.push_back(owner);
    return static_cast<uint32_t>(workload_.steps.size() - 1);
  }

  uint32_t AddDelay(uint32_t rank, size_t index, Duration duration) {
    Step delay;
    delay.kind = StepKind::kDelay;
    delay.src = rank;
    delay.duration = duration;
    delay.label = Label(rank, ranks_[rank].nodes[index]);
    return AddStep(std::move(delay), {rank, index});
  }

  // Delays for computation and other local nodes, RECV completions and
  // collective gates; SEND nodes wait for their match.
  absl::Status MakeNodeSteps() {
    // Keeps duration_micros * 10^6 picoseconds within int64.
    constexpr uint64_t kMaxMicros = std::numeric_limits<int64_t>::max() / 1'000'000;
    for (uint32_t r = 0; r < ranks_.size(); ++r) {
      for (size_t i = 0; i < ranks_[r].nodes.size(); ++i) {
        TraceNode& node = ranks_[r].nodes[i];
        Duration duration = Duration::Zero();
        if (node.type == pb::COMM_SEND_NODE) continue;
        if (node.type == pb::COMP_NODE) {
          if (node.duration_micros > kMaxMicros) {
            return absl::InvalidArgumentError(absl::StrCat(NodeName(ranks_[r], node), ": duration ",
                                                           node.duration_micros, "us too long"));
          }
          duration = Duration::Microseconds(static_cast<int64_t>(node.duration_micros));
        }
        if (node.type == pb::COMM_COLL_NODE) collectives_[r].push_back(i);
        node.entry_step = AddDelay(r, i, duration);
        // A RECV completes later, with its transfer; a gate is not a completion.
        if (node.type != pb::COMM_RECV_NODE && node.type != pb::COMM_COLL_NODE) {
          node.done = {static_cast<uint32_t>(node.entry_step)};
        }
      }
    }
    return absl::OkStatus();
  }

  // The peer rank of a SEND (comm_dst) or RECV (comm_src), checked.
  absl::StatusOr<uint32_t> Peer(uint32_t rank, const TraceNode& node) const {
    const bool send = node.type == pb::COMM_SEND_NODE;
    const char* attribute = send ? "comm_dst" : "comm_src";
    const std::optional<int64_t>& peer = send ? node.comm.dst : node.comm.src;
    if (!peer) {
      return absl::InvalidArgumentError(absl::StrCat(
          NodeName(ranks_[rank], node), ": ", send ? "SEND" : "RECV", " without ", attribute));
    }
    if (*peer < 0 || *peer >= static_cast<int64_t>(ranks_.size()) || *peer == rank) {
      return absl::InvalidArgumentError(absl::StrCat(NodeName(ranks_[rank], node), ": ", attribute,
                                                     " ", *peer, " is not another of the ",
                                                     ranks_.size(), " ranks"));
    }
    return static_cast<uint32_t>(*peer);
  }

  absl::Status MatchSendsAndReceives() {
    using Key = std::tuple<uint32_t, uint32_t, int64_t>;  // source, destination, tag
    struct Receives {
      std::vector<size_t> nodes;  // on the destination rank, in file order
      size_t matched = 0;
    };
    absl::flat_hash_map<Key, Receives> receives;
    for (uint32_t r = 0; r < ranks_.size(); ++r) {
      for (size_t i = 0; i < ranks_[r].nodes.size(); ++i) {
        const TraceNode& node = ranks_[r].nodes[i];
        if (node.type != pb::COMM_RECV_NODE) continue;
        absl::StatusOr<uint32_t> src = Peer(r, node);
        if (!src.ok()) return src.status();
        receives[Key{*src, r, node.comm.tag.value_or(0)}].nodes.push_back(i);
      }
    }
    for (uint32_t r = 0; r < ranks_.size(); ++r) {
      for (size_t i = 0; i < ranks_[r].nodes.size(); ++i) {
        TraceNode& send = ranks_[r].nodes[i];
        if (send.type != pb::COMM_SEND_NODE) continue;
        absl::StatusOr<uint32_t> dst = Peer(r, send);
        if (!dst.ok()) return dst.status();
        const int64_t tag = send.comm.tag.value_or(0);
        Receives& candidates = receives[Key{r, *dst, tag}];
        if (candidates.matched == candidates.nodes.size()) {
          return absl::InvalidArgumentError(
              absl::StrCat(NodeName(ranks_[r], send), ": SEND to rank ", *dst, " tag ", tag,
                           " has no matching RECV in ", ranks_[*dst].file));
        }
        TraceNode& recv = ranks_[*dst].nodes[candidates.nodes[candidates.matched++]];
        absl::StatusOr<uint64_t> bytes = TransferBytes(r, send, *dst, recv);
        if (!bytes.ok()) return bytes.status();

        Step transfer;
        transfer.kind = StepKind::kTransfer;
        transfer.src = r;
        transfer.dst = *dst;
        transfer.bytes = *bytes;
        transfer.label = Label(r, send);
        const uint32_t step = AddStep(std::move(transfer), {r, i});
        send.entry_step = step;
        send.done = {step};
        workload_.steps[recv.entry_step].deps.push_back(step);
        recv.done = {static_cast<uint32_t>(recv.entry_step)};
      }
    }
    for (uint32_t r = 0; r < ranks_.size(); ++r) {
      for (const TraceNode& node : ranks_[r].nodes) {
        if (node.type == pb::COMM_RECV_NODE && node.done.empty()) {
          return absl::InvalidArgumentError(absl::StrCat(
              NodeName(ranks_[r], node), ": RECV from rank ", *node.comm.src, " tag ",
              node.comm.tag.value_or(0), " has no matching SEND in ", ranks_[*node.comm.src].file));
        }
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> TransferBytes(uint32_t src, const TraceNode& send, uint32_t dst,
                                         const TraceNode& recv) const {
    if (send.comm.size && recv.comm.size && *send.comm.size != *recv.comm.size) {
      return absl::InvalidArgumentError(absl::StrCat(
          NodeName(ranks_[src], send), ": SEND of ", *send.comm.size, " bytes, but its RECV ",
          NodeName(ranks_[dst], recv), " expects ", *recv.comm.size));
    }
    const std::optional<int64_t> size = send.comm.size ? send.comm.size : recv.comm.size;
    if (!size || *size <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(NodeName(ranks_[src], send), ": SEND without a positive comm_size"));
    }
    return static_cast<uint64_t>(*size);
  }

  // The replay operation for a CollectiveCommType, or "" when unsupported.
  static std::string Operation(int64_t type) {
    switch (type) {
      case pb::ALL_REDUCE:
        return "allreduce";
      case pb::REDUCE:
        return "reduce";
      case pb::ALL_GATHER:
        return "allgather";
      case pb::BROADCAST:
        return "broadcast";
      case pb::ALL_TO_ALL:
        return "alltoall";
      case pb::REDUCE_SCATTER:
      case pb::REDUCE_SCATTER_BLOCK:
        return "reducescatter";
      case pb::BARRIER:
        return "barrier";
      default:
        return "";
    }
  }

  // One communicator group's COMM_COLL nodes: per member, in the order of
  // `ranks`, the node indices in file order.
  struct GroupCollectives {
    std::string name;  // "" for the group of all ranks
    std::vector<uint32_t> ranks;
    std::vector<std::vector<size_t>> nodes;
  };

  // Sorts every COMM_COLL node into its group: the one its pg_name names
  // when groups were given, else the group of all ranks.
  absl::StatusOr<std::vector<GroupCollectives>> GroupCollectiveNodes() const {
    const uint32_t n = static_cast<uint32_t>(ranks_.size());
    std::vector<GroupCollectives> groups(1);
    for (uint32_t r = 0; r < n; ++r) groups[0].ranks.push_back(r);
    std::map<std::string, size_t> index;
    for (const auto& [name, members] : comm_groups_) {
      index[name] = groups.size();
      groups.push_back({name, members, {}});
    }
    for (GroupCollectives& g : groups) g.nodes.resize(g.ranks.size());
    for (uint32_t r = 0; r < n; ++r) {
      for (const size_t i : collectives_[r]) {
        const TraceNode& node = ranks_[r].nodes[i];
        size_t group = 0;
        if (node.pg_name && !comm_groups_.empty()) {
          const auto it = index.find(*node.pg_name);
          if (it == index.end()) {
            return absl::InvalidArgumentError(
                absl::StrCat(NodeName(ranks_[r], node), ": pg_name \"", *node.pg_name,
                             "\" is not a group of ", groups_source_));
          }
          group = it->second;
        }
        const std::vector<uint32_t>& members = groups[group].ranks;
        const auto at = std::find(members.begin(), members.end(), r);
        if (at == members.end()) {
          return absl::InvalidArgumentError(absl::StrCat(NodeName(ranks_[r], node), ": rank ", r,
                                                         " is not in group \"", *node.pg_name,
                                                         "\" of ", groups_source_));
        }
        groups[group].nodes[static_cast<size_t>(at - members.begin())].push_back(i);
      }
    }
    return groups;
  }

  absl::Status ExpandCollectives() {
    absl::StatusOr<std::vector<GroupCollectives>> groups = GroupCollectiveNodes();
    if (!groups.ok()) return groups.status();
    for (const GroupCollectives& g : *groups) {
      const std::string of_group = g.name.empty() ? "" : absl::StrCat(" of group \"", g.name, "\"");
      for (size_t m = 1; m < g.ranks.size(); ++m) {
        if (g.nodes[m].size() != g.nodes[0].size()) {
          return absl::InvalidArgumentError(absl::StrCat(
              ranks_[g.ranks[m]].file, ": ", g.nodes[m].size(), " COMM_COLL nodes", of_group,
              ", but ", ranks_[g.ranks[0]].file, " has ", g.nodes[0].size()));
        }
      }
      for (size_t k = 0; k < g.nodes[0].size(); ++k) {
        if (absl::Status s = ExpandGroupCollective(g, k); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }

  // The k-th collective of group `g`.
  absl::Status ExpandGroupCollective(const GroupCollectives& g, size_t k) {
    const uint32_t lead = g.ranks[0];
    const TraceNode& first = ranks_[lead].nodes[g.nodes[0][k]];
    if (!first.comm.type) {
      return absl::InvalidArgumentError(
          absl::StrCat(NodeName(ranks_[lead], first), ": COMM_COLL without comm_type"));
    }
    CollectiveSpec spec;
    spec.name = Label(lead, first);
    spec.operation = Operation(*first.comm.type);
    spec.algorithm = options_.collective_algorithm;
    if (spec.operation.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          NodeName(ranks_[lead], first), ": collective type ", *first.comm.type, " not supported"));
    }
    if (spec.operation != "barrier" && (!first.comm.size || *first.comm.size <= 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat(NodeName(ranks_[lead], first), ": COMM_COLL without a positive comm_size"));
    }
    spec.bytes = static_cast<uint64_t>(std::max<int64_t>(first.comm.size.value_or(0), 0));
    spec.ranks = g.ranks;
    std::vector<StepList> entry(g.ranks.size());
    for (size_t m = 0; m < g.ranks.size(); ++m) {
      const TraceNode& node = ranks_[g.ranks[m]].nodes[g.nodes[m][k]];
      if (node.comm.type != first.comm.type || node.comm.size != first.comm.size) {
        return absl::InvalidArgumentError(
            absl::StrCat(NodeName(ranks_[g.ranks[m]], node), ": collective ", k, " is type ",
                         node.comm.type.value_or(-1), " of ", node.comm.size.value_or(-1),
                         " bytes, but ", NodeName(ranks_[lead], first), " is type ",
                         *first.comm.type, " of ", first.comm.size.value_or(-1), " bytes"));
      }
      entry[m] = {static_cast<uint32_t>(node.entry_step)};
    }
    if (g.ranks.size() == 1) {
      // A group of one moves no data: the node completes when its gate does.
      ranks_[lead].nodes[g.nodes[0][k]].done = entry[0];
      return absl::OkStatus();
    }
    const size_t first_new = workload_.steps.size();
    absl::StatusOr<std::vector<StepList>> done = ExpandCollective(spec, entry, workload_);
    if (!done.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(NodeName(ranks_[lead], first), ": ", done.status().message()));
    }
    std::vector<size_t> node_of_rank(ranks_.size());
    for (size_t m = 0; m < g.ranks.size(); ++m) node_of_rank[g.ranks[m]] = g.nodes[m][k];
    for (size_t s = first_new; s < workload_.steps.size(); ++s) {
      const uint32_t rank = workload_.steps[s].src;
      owner_.push_back({rank, node_of_rank[rank]});
    }
    for (size_t m = 0; m < g.ranks.size(); ++m) {
      ranks_[g.ranks[m]].nodes[g.nodes[m][k]].done = (*done)[m];
    }
    return absl::OkStatus();
  }

  absl::Status AddDependencies() {
    for (RankTrace& trace : ranks_) {
      for (const TraceNode& node : trace.nodes) {
        StepList& deps = workload_.steps[node.entry_step].deps;
        for (uint64_t id : node.deps) {
          const auto it = trace.by_id.find(id);
          if (it == trace.by_id.end()) {
            return absl::InvalidArgumentError(
                absl::StrCat(NodeName(trace, node), ": depends on unknown node ", id));
          }
          const StepList& done = trace.nodes[it->second].done;
          deps.insert(deps.end(), done.begin(), done.end());
        }
        std::sort(deps.begin(), deps.end());
        deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
      }
    }
    return absl::OkStatus();
  }

  std::vector<RankTrace> ranks_;
  const ChakraOptions& options_;
  const CommGroups comm_groups_;
  const std::string groups_source_;
  Workload& workload_;
  std::vector<NodeRef> owner_;  // per step
  // Per rank, the indices of its COMM_COLL nodes in file order.
  std::vector<std::vector<size_t>> collectives_;
};

}  // namespace

absl::StatusOr<Workload> LoadChakraTrace(const std::string& dir, const ChakraOptions& options) {
  absl::StatusOr<std::vector<std::string>> files = ListRankFiles(dir);
  if (!files.ok()) return files.status();
  std::vector<RankTrace> ranks;
  for (const std::string& file : *files) {
    absl::StatusOr<RankTrace> trace = ReadRankTrace(file);
    if (!trace.ok()) return trace.status();
    ranks.push_back(*std::move(trace));
  }
  // A groups file overrides what the traces record.
  const bool from_file = !options.comm_groups_file.empty();
  absl::StatusOr<CommGroups> groups =
      from_file ? LoadCommGroups(options.comm_groups_file, static_cast<uint32_t>(ranks.size()))
                : GroupsFromTraces(ranks);
  if (!groups.ok()) return groups.status();
  std::string source =
      from_file ? options.comm_groups_file : absl::StrCat(dir, "'s process_group:init nodes");
  Workload workload;
  workload.description = dir;
  if (absl::Status status =
          TraceBuilder(std::move(ranks), options, *std::move(groups), std::move(source), workload)
              .Build();
      !status.ok()) {
    return status;
  }
  if (absl::Status status = ValidateWorkload(workload); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": ", status.message()));
  }
  return workload;
}

}  // namespace tern::replay
