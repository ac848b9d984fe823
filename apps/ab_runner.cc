#include "apps/ab_runner.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "apps/file_io.h"
#include "apps/replay_cli.h"
#include "apps/replay_options.h"
#include "apps/replay_rank_file.h"
#include "apps/replay_workload.h"

extern char** environ;

namespace tern::ab {
namespace {

constexpr const char* kRecordFile = "/record.tsv";
constexpr double kHeartbeatSeconds = 15;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A simulated run: tern-replay's own code, in this process.
absl::StatusOr<replay::ReplayRun> ReplayInProcess(const PlannedRun& run) {
  std::vector<std::string> args = run.args;
  args.push_back("--json=" + run.dir + "/result.json");
  args.push_back("--csv=" + run.dir + "/flows.csv");
  args.push_back("--timeline=" + run.dir);
  args.push_back("--quiet");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  absl::StatusOr<replay::ReplayOptions> options = replay::ParseReplayOptions(argv);
  if (!options.ok()) return options.status();
  std::string command = "tern-replay";
  for (const std::string& a : args) absl::StrAppend(&command, " '", a, "'");
  absl::StatusOr<replay::ReplayRun> replay = replay::RunFromOptions(*options, command);
  if (!replay.ok()) return replay.status();
  if (absl::Status s = replay::WriteReplayOutputs(*options, *replay); !s.ok()) return s;
  return replay;
}

// A run on real hosts: the launcher leaves one rank file per host in the run
// directory (rank*.txt), merged here as `tern-replay --merge` would.
absl::StatusOr<replay::ReplayRun> LaunchAndMerge(const PlannedRun& run) {
  std::vector<char*> argv;
  for (const std::string& a : run.launch) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  int status = 0;
  if (posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0 ||
      waitpid(pid, &status, 0) != pid) {
    return absl::InternalError(absl::StrCat("cannot run ", run.launch[0]));
  }
  // 3: some flows did not finish, which the merged result reports.
  if (!WIFEXITED(status)) {
    return absl::InternalError(
        absl::StrFormat("the launcher was killed by signal %d", WTERMSIG(status)));
  }
  if (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 3) {
    return absl::InternalError(
        absl::StrFormat("the launcher failed (exit %d); its output is above", WEXITSTATUS(status)));
  }
  std::vector<std::string> rank_files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(run.dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("rank") && name.ends_with(".txt")) rank_files.push_back(entry.path());
  }
  std::sort(rank_files.begin(), rank_files.end());
  absl::StatusOr<replay::ReplayResult> merged = replay::MergeRankResults(rank_files);
  if (!merged.ok()) return merged.status();
  replay::ReplayRun out;
  std::string command;
  for (const std::string& a : run.launch) absl::StrAppend(&command, command.empty() ? "" : " ", a);
  out.description = replay::DescribeMergedRun(*merged, command);
  out.summary = replay::Summarize(*merged);
  out.result = *std::move(merged);
  replay::ReplayOptions files;
  files.json_path = run.dir + "/result.json";
  files.csv_path = run.dir + "/flows.csv";
  if (absl::Status s = replay::WriteReplayOutputs(files, out); !s.ok()) return s;
  return out;
}

// The child's whole life: run the replay, write its files, then the record
// (written last, and renamed into place, so a killed run is never reused).
[[noreturn]] void RunChild(const PlannedRun& run) {
  const int log = open((run.dir + "/log.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (log >= 0) {
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    close(log);
  }
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<replay::ReplayRun> replay =
      run.launch.empty() ? ReplayInProcess(run) : LaunchAndMerge(run);
  if (!replay.ok()) {
    std::fprintf(stderr, "tern-ab: %s\n", PrintableText(replay.status().message()).c_str());
    std::_Exit(1);
  }
  RunRecord record;
  record.key = run.key;
  record.wall_seconds = SecondsSince(start);
  record.metrics = ExtractMetrics(replay->summary);
  if (!replay->summary.ports.empty()) record.bottleneck = replay->summary.ports.front().name;
  const std::string temporary = run.dir + kRecordFile + ".tmp";
  if (!WriteWholeFile(temporary, FormatRunRecord(record)).ok()) std::_Exit(1);
  std::fflush(nullptr);
  std::_Exit(std::rename(temporary.c_str(), (run.dir + kRecordFile).c_str()) == 0 ? 0 : 1);
}

// The record of an earlier run with the same key, if there is one.
std::optional<RunRecord> Reusable(const PlannedRun& run) {
  const std::string path = run.dir + kRecordFile;
  absl::StatusOr<RunRecord> record = ParseRunRecord(ReadWholeFile(path).value_or(""), path);
  if (!record.ok() || record->key != run.key) return std::nullopt;
  return *std::move(record);
}

std::string LastLines(const std::string& path, int count) {
  const std::string text = ReadWholeFile(path).value_or("");
  size_t begin = text.size();
  for (int n = 0; n <= count && begin > 0;) {
    if (text[--begin] == '\n') ++n;
  }
  return text.substr(begin);
}

}  // namespace

absl::StatusOr<std::vector<FinishedRun>> ExecuteRuns(const std::vector<PlannedRun>& runs,
                                                     unsigned jobs, std::FILE* progress) {
  std::vector<FinishedRun> finished(runs.size());
  std::map<pid_t, size_t> running;
  std::vector<std::string> failures;
  const auto start = std::chrono::steady_clock::now();
  size_t next = 0, completed = 0;
  auto last_line = start;
  auto report = [&](size_t i, std::string_view what) {
    ++completed;
    last_line = std::chrono::steady_clock::now();
    std::fprintf(progress, "tern-ab: [%*zu/%zu] %-12s %s  (%.1f s elapsed)\n",
                 static_cast<int>(std::to_string(runs.size()).size()), completed, runs.size(),
                 runs[i].label.c_str(), std::string(what).c_str(), SecondsSince(start));
    std::fflush(progress);
  };
  while (completed < runs.size()) {
    while (next < runs.size() && running.size() < std::max(1u, jobs)) {
      const size_t i = next++;
      if (std::optional<RunRecord> record = Reusable(runs[i])) {
        finished[i] = {*std::move(record), true};
        report(i, "reused");
        continue;
      }
      std::error_code ec;
      std::filesystem::create_directories(runs[i].dir, ec);
      std::filesystem::remove(runs[i].dir + kRecordFile, ec);
      std::fflush(nullptr);  // nothing buffered is written twice
      const pid_t pid = fork();
      if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
      if (pid == 0) RunChild(runs[i]);
      running[pid] = i;
    }
    if (running.empty()) continue;
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("waitpid: ", std::strerror(errno)));
    }
    if (pid == 0) {
      // Long runs: say what is still going every kHeartbeat.
      if (SecondsSince(last_line) >= kHeartbeatSeconds) {
        std::string names;
        for (const auto& [unused, i] : running)
          absl::StrAppend(&names, names.empty() ? "" : ", ", runs[i].label);
        std::fprintf(progress, "tern-ab: %zu/%zu done; running %s  (%.0f s elapsed)\n", completed,
                     runs.size(), names.c_str(), SecondsSince(start));
        std::fflush(progress);
        last_line = std::chrono::steady_clock::now();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    const size_t i = it->second;
    running.erase(it);
    const std::string record_path = runs[i].dir + kRecordFile;
    absl::StatusOr<RunRecord> record =
        WIFEXITED(status) && WEXITSTATUS(status) == 0
            ? ParseRunRecord(ReadWholeFile(record_path).value_or(""), record_path)
            : absl::InternalError("no record");
    if (record.ok()) {
      finished[i] = {*std::move(record), false};
      report(i, absl::StrFormat("done in %.1f s", finished[i].record.wall_seconds));
      continue;
    }
    const std::string how = WIFSIGNALED(status)
                                ? absl::StrFormat("killed by signal %d", WTERMSIG(status))
                                : absl::StrFormat("exit %d", WEXITSTATUS(status));
    report(i, "FAILED (" + how + ")");
    failures.push_back(absl::StrFormat("%s failed (%s); %s/log.txt ends:\n%s", runs[i].label, how,
                                       runs[i].dir, LastLines(runs[i].dir + "/log.txt", 5)));
  }
  if (!failures.empty()) {
    std::string message;
    for (const std::string& f : failures) absl::StrAppend(&message, f, "\n");
    return absl::InternalError(message);
  }
  return finished;
}

}  // namespace tern::ab
