// The main() of a fuzz target built without libFuzzer: runs the target's
// LLVMFuzzerTestOneInput over corpus files and over seeded random inputs, so
// that every build compiles the targets and the test suite replays them.
//
//   TARGET [--seed=S] [--random=N] [--first=K] [--max-len=L] [FILE|DIR]...
//
// Random input K of seed S depends on S and K alone: `--first=K --random=1`
// runs it again by itself. A crash names the input it died in.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "transport/random.h"
#include "transport/text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
extern "C" void __sanitizer_set_death_callback(void (*callback)(void));
#define TERN_HAS_SANITIZER 1
#endif

namespace {

// What runs now, for the report of a crash (written from a signal handler).
char g_current[512] = "";

void SayWhereItDied() {
  const char prefix[] = "fuzz driver: died in ";
  (void)!write(STDERR_FILENO, prefix, sizeof(prefix) - 1);
  (void)!write(STDERR_FILENO, g_current, strnlen(g_current, sizeof(g_current)));
  (void)!write(STDERR_FILENO, "\n", 1);
}

void OnFatalSignal(int signal_number) {
  SayWhereItDied();
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}

void SetCurrent(const std::string& what) {
  std::snprintf(g_current, sizeof(g_current), "%s", what.c_str());
}

void Run(const std::vector<uint8_t>& input) { LLVMFuzzerTestOneInput(input.data(), input.size()); }

bool RunFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    std::fprintf(stderr, "fuzz driver: cannot read %s\n", path.c_str());
    return false;
  }
  const std::vector<uint8_t> input((std::istreambuf_iterator<char>(file)),
                                   std::istreambuf_iterator<char>());
  SetCurrent(path);
  Run(input);
  return true;
}

// Runs `path`, or every regular file in it (sorted, so runs repeat) when it
// is a directory. Returns the number of files run, -1 on an unreadable path.
int RunPath(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    std::fprintf(stderr, "fuzz driver: no such file or directory: %s\n", path.c_str());
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) return RunFile(path) ? 1 : -1;
  std::vector<std::string> files;
  if (DIR* dir = ::opendir(path.c_str())) {
    while (const dirent* entry = ::readdir(dir)) {
      const std::string file = path + "/" + entry->d_name;
      struct stat file_st;
      if (::stat(file.c_str(), &file_st) == 0 && S_ISREG(file_st.st_mode)) files.push_back(file);
    }
    ::closedir(dir);
  }
  std::sort(files.begin(), files.end());
  for (const std::string& file : files) {
    if (!RunFile(file)) return -1;
  }
  return static_cast<int>(files.size());
}

int Usage(const char* program) {
  std::fprintf(stderr,
               "usage: %s [--seed=S] [--random=N] [--first=K] [--max-len=L] [FILE|DIR]...\n",
               program);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1, random_inputs = 0, first = 0, max_len = 512;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    uint64_t* value = nullptr;
    std::string_view text;
    for (auto [name, target] : {std::pair{"--seed=", &seed}, std::pair{"--random=", &random_inputs},
                                std::pair{"--first=", &first}, std::pair{"--max-len=", &max_len}}) {
      if (arg.starts_with(name)) {
        value = target;
        text = arg.substr(std::strlen(name));
      }
    }
    if (value != nullptr) {
      const std::optional<uint64_t> parsed = tern::ParseUnsigned(text);
      if (!parsed) {
        std::fprintf(stderr, "fuzz driver: %s is not a number\n", argv[i]);
        return Usage(argv[0]);
      }
      *value = *parsed;
    } else if (arg.starts_with("-")) {
      std::fprintf(stderr, "fuzz driver: unknown flag %s\n", argv[i]);
      return Usage(argv[0]);
    } else {
      paths.emplace_back(arg);
    }
  }
  for (int signal_number : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
    ::signal(signal_number, OnFatalSignal);
  }
#ifdef TERN_HAS_SANITIZER
  __sanitizer_set_death_callback(SayWhereItDied);
#endif

  int files = 0;
  for (const std::string& path : paths) {
    const int n = RunPath(path);
    if (n < 0) return 1;
    files += n;
  }
  for (uint64_t k = first; k < first + random_inputs; ++k) {
    tern::Random rng(seed ^ (k * 0x9E3779B97F4A7C15ull));
    std::vector<uint8_t> input(rng.Uniform(max_len + 1));
    for (uint8_t& byte : input) byte = static_cast<uint8_t>(rng.Next());
    SetCurrent("random input " + std::to_string(k) + " of --seed=" + std::to_string(seed) +
               " (run it alone: --seed=" + std::to_string(seed) + " --first=" + std::to_string(k) +
               " --random=1)");
    Run(input);
  }
  std::printf("fuzz driver: %d corpus files and %llu random inputs (seed %llu, first %llu) ran\n",
              files, static_cast<unsigned long long>(random_inputs),
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(first));
  return 0;
}
