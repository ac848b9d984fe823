// Whole-file reads and writes for the apps' inputs (flow lists, CDFs, traces)
// and outputs (JSON, CSV, reports), with errors that name the file and why.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tern {

// The whole of `path`, or InvalidArgument "PATH: cannot open|read: REASON".
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);
// Replaces `path` with `text`; Unavailable "cannot write PATH: REASON" on failure.
absl::Status WriteWholeFile(const std::string& path, const std::string& text);

}  // namespace tern
