// tern-ab: runs a workload under two transport configurations (A and B) over
// several seeds on the simulated fabric and reports, metric by metric, whether
// B is better than A and by how much: DIR/report.md, DIR/summary.json and
// DIR/plots/*.png.
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "apps/ab_options.h"
#include "apps/ab_report.h"
#include "apps/ab_runner.h"
#include "apps/build_version.h"
#include "apps/file_io.h"
#include "apps/huge_page_heap.h"
#include "apps/replay_workload.h"
#include "transport/text.h"

extern char** environ;

namespace tern::ab {
namespace {

constexpr const char* kPython = "/usr/bin/python3";  // Debian's, where matplotlib is

bool WriteAll(const std::string& path, const std::string& text) {
  absl::Status written = WriteWholeFile(path, text);
  if (!written.ok())
    std::fprintf(stderr, "tern-ab: %s\n", PrintableText(written.message()).c_str());
  return written.ok();
}

std::string SelfDirectory() {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string();
}

// Size and modification time of `path` ("?" when it cannot be read): part
// of a run's key, so a rebuilt binary or an edited input file is never
// mistaken for the one an earlier run used.
std::string FileStamp(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return path + "=?";
  return absl::StrFormat("%s=%d@%d.%09d", path, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

// What a run's result depends on besides its arguments: the binaries that
// run it (tern-ab itself; over DPDK, also tern-replay and the launcher, with
// any file the launcher command names) and every file its arguments name
// (flow-size CDFs, flow files, traces).
std::string InputStamps(const std::vector<std::string>& args, const AbOptions& options) {
  std::string stamps = absl::StrCat(kBuildVersion, " ", FileStamp("/proc/self/exe"));
  if (options.dpdk) {
    absl::StrAppend(&stamps, " ", FileStamp(SelfDirectory() + "/tern-replay"));
    if (options.launcher.empty()) absl::StrAppend(&stamps, " ", FileStamp(NetnsLauncher()));
    for (std::string_view word : SplitText(options.launcher, ' ')) {
      std::error_code ec;
      const std::string path(word);
      if (std::filesystem::is_regular_file(path, ec))
        absl::StrAppend(&stamps, " ", FileStamp(path));
    }
  }
  for (const std::string& arg : args) {
    // A path follows '=', ':' or '+' in a comma-separated piece of a spec.
    for (std::string_view piece : SplitText(arg, ',')) {
      for (char separator : {'=', ':', '+'}) {
        const size_t at = piece.rfind(separator);
        const std::string candidate(at == std::string_view::npos ? piece : piece.substr(at + 1));
        std::error_code ec;
        if (std::filesystem::is_regular_file(candidate, ec)) {
          absl::StrAppend(&stamps, " ", FileStamp(candidate));
        } else if (std::filesystem::is_directory(candidate, ec)) {  // a trace directory
          for (const auto& entry : std::filesystem::directory_iterator(candidate, ec)) {
            absl::StrAppend(&stamps, " ", FileStamp(entry.path().string()));
          }
        }
      }
    }
  }
  return stamps;
}

std::string Machine() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  utsname uts{};
  uname(&uts);
  std::string cpu = "unknown CPU";
  std::istringstream cpuinfo(ReadWholeFile("/proc/cpuinfo").value_or(""));
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.starts_with("model name")) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  return absl::StrFormat("%s, %d cores, %s, %s %s", host, std::thread::hardware_concurrency(), cpu,
                         uts.sysname, uts.release);
}

// Runs the plotting script; fills report.plots, or report.plots_note with why not.
void Plot(const std::string& out_dir, AbReport& report) {
  const std::string script = SelfDirectory() + "/ab_plots.py";
  if (access(kPython, X_OK) != 0) {
    report.plots_note = absl::StrCat(kPython, " is not installed");
    return;
  }
  const std::string listing = out_dir + "/plots.out", log = out_dir + "/plots.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, listing.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const char* argv[] = {kPython, script.c_str(), out_dir.c_str(), nullptr};
  pid_t pid = 0;
  int status = 0;
  const int spawned =
      posix_spawn(&pid, kPython, &actions, nullptr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0 || waitpid(pid, &status, 0) != pid) {
    report.plots_note = absl::StrCat("could not run ", script);
    return;
  }
  std::istringstream lines(ReadWholeFile(listing).value_or(""));
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) report.plots.push_back(line);
  }
  std::error_code ec;
  std::filesystem::remove(listing, ec);
  if (report.plots.empty()) {
    std::string why = ReadWholeFile(log).value_or("");
    while (!why.empty() && why.back() == '\n') why.pop_back();
    report.plots_note = why.empty() ? "the plotting script wrote nothing" : why;
  }
}

int Main(int argc, char** argv) {
  absl::StatusOr<AbOptions> options =
      ParseAbOptions(std::span<const char* const>(argv + 1, static_cast<size_t>(argc - 1)));
  if (!options.ok()) {
    std::fprintf(stderr, "tern-ab: %s\n", PrintableText(options.status().message()).c_str());
    return 2;
  }
  if (options->help) {
    std::fputs(AbUsage().c_str(), stdout);
    return 0;
  }
  // Simulated runs share this process's heap; DPDK runs are other processes.
  if (!options->dpdk) RestartWithHugePageHeap(argv);
  const std::string& out = options->out_dir;
  std::error_code ec;
  std::filesystem::create_directories(out + "/runs", ec);
  if (ec) {
    std::fprintf(stderr, "tern-ab: cannot create %s/runs: %s\n", out.c_str(), ec.message().c_str());
    return 1;
  }
  // The launcher runs the tern-replay built with this tern-ab.
  if (options->dpdk) setenv("TERN_REPLAY", (SelfDirectory() + "/tern-replay").c_str(), 1);
  std::vector<PlannedRun> plan;
  std::vector<ReportRun> report_runs;
  for (uint64_t seed : options->seeds) {
    for (const AbSide* side : {&options->a, &options->b}) {
      const std::string id = side == &options->a ? "a" : "b";
      PlannedRun run;
      run.label = absl::StrFormat("%s seed %d", side->name, seed);
      const std::string relative = absl::StrFormat("runs/%s-seed%d", id, seed);
      run.dir = absl::StrCat(out, "/", relative);
      run.args = RunArguments(*options, *side, seed);
      if (options->dpdk) {
        run.launch = LaunchCommand(*options, run.dir, run.args);
      }
      for (const std::string& a : run.launch.empty() ? run.args : run.launch) {
        absl::StrAppend(&run.key, a, " ");
      }
      absl::StrAppend(&run.key, "| ", InputStamps(run.args, *options));
      plan.push_back(std::move(run));
      report_runs.push_back({id, seed, relative, 0, false});
    }
  }
  const unsigned jobs =
      options->jobs != 0 ? options->jobs : std::max(1u, std::thread::hardware_concurrency());
  std::fprintf(stderr, "tern-ab: %zu runs (%zu seeds x 2 sides), %u at a time, %s, into %s\n",
               plan.size(), options->seeds.size(), jobs,
               options->dpdk ? absl::StrFormat("over DPDK on %d hosts", options->ranks).c_str()
                             : "simulated",
               out.c_str());
  absl::StatusOr<std::vector<FinishedRun>> finished = ExecuteRuns(plan, jobs, stderr);
  if (!finished.ok()) {
    std::fprintf(stderr, "tern-ab: %s", PrintableText(finished.status().message()).c_str());
    return 1;
  }
  std::vector<RunRecord> a, b;
  for (size_t i = 0; i < finished->size(); ++i) {
    (i % 2 == 0 ? a : b).push_back((*finished)[i].record);
    report_runs[i].wall_seconds = (*finished)[i].record.wall_seconds;
    report_runs[i].reused = (*finished)[i].reused;
  }
  AbReport report;
  report.options = &*options;
  for (int i = 0; i < argc; ++i) absl::StrAppend(&report.command, i ? " " : "", argv[i]);
  report.commit = kBuildVersion;
  report.machine = Machine();
  report.runs = std::move(report_runs);
  report.bottleneck = a.front().bottleneck;
  if (!options->dpdk) {
    report.fabric = "simulated";
  } else if (options->launcher.empty()) {
    report.fabric =
        absl::StrFormat("DPDK, %d network-namespace hosts (net_af_packet)", options->ranks);
  } else {
    report.fabric =
        absl::StrFormat("DPDK, %d hosts started by: %s", options->ranks, options->launcher);
  }
  report.metrics = CompareSides(a, b, options->margin_percent / 100);
  // The plotting script reads summary.json (runs, bottleneck, metrics); it is
  // written again with the list of plots.
  if (!WriteAll(out + "/summary.json", FormatSummaryJson(report))) return 1;
  if (options->plots) {
    Plot(out, report);
  } else {
    report.plots_note = "--no-plots";
  }
  if (!WriteAll(out + "/summary.json", FormatSummaryJson(report)) ||
      !WriteAll(out + "/report.md", FormatReportMarkdown(report))) {
    return 1;
  }
  std::fputs(FormatSideBySide(report).c_str(), stdout);
  const std::string plots = report.plots.empty() ? absl::StrCat("no plots: ", report.plots_note)
                                                 : absl::StrCat(report.plots.size(), " plots");
  std::printf("\nreport: %s/report.md (with summary.json, %s)\n", out.c_str(), plots.c_str());
  return 0;
}

}  // namespace
}  // namespace tern::ab

int main(int argc, char** argv) { return tern::ab::Main(argc, argv); }
