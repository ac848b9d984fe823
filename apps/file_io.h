// Whole-file reads and writes for the apps' inputs (flow lists, CDFs, traces,
// topology files) and outputs (JSON, CSV, reports), with errors that name the
// file and why; and error text made safe to print, since it quotes those inputs.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tern {

// No input Tern reads comes near this: a workload holds at most 10 M steps.
// The limit turns a wrong path (/dev/zero, a disk image) into an error rather
// than a read that never ends or exhausts memory.
inline constexpr uint64_t kMaxInputFileBytes = uint64_t{1} << 30;

// The whole of `path`, or InvalidArgument "PATH: cannot open|read: REASON", or
// "PATH: more than MAX bytes ..." for a longer file. A regular file is refused
// by its size before any read; a pipe or device, after MAX + 1 bytes.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path,
                                          uint64_t max_bytes = kMaxInputFileBytes);
// Replaces `path` with `text`; Unavailable "cannot write PATH: REASON" on failure.
absl::Status WriteWholeFile(const std::string& path, const std::string& text);
// Whether WriteWholeFile(path, ...) could succeed now, checked by opening
// `path` as it would (an existing file is left as it is; one created for the
// check is removed): the same error, before a long run rather than after it.
absl::Status CheckWritable(const std::string& path);

// Bytes in the well-formed UTF-8 sequence of two to four bytes at the start
// of `text` (RFC 3629: no overlong forms, surrogates or code points past
// U+10FFFF); 0 when there is none.
size_t Utf8SequenceLength(absl::string_view text);

// `text` as a terminal should get it: printable ASCII, newline, tab and
// well-formed UTF-8 (C1 controls excepted) pass; every other byte becomes
// \xNN. Errors quote what a corrupt file or flag held, and raw control bytes
// would move the cursor or garble the line that explains them.
std::string PrintableText(absl::string_view text);

}  // namespace tern
