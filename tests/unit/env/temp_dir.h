// TempDir: a unique directory under $TMPDIR (or /tmp) removed with its contents on
// destruction. For tests that need a real file system (PosixEnv).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace cafs::env::testing {

// Where a test that never cuts the power makes its files: its crashes are modelled by
// FaultInjectionEnv (DropUnsyncedData rolls back what was not synced) or are restarts of the
// process, whose writes the page cache keeps. /dev/shm, a memory file system on which fsync
// returns at once, when it is there, else $TMPDIR or /tmp. On the shared CI disk a test of
// thousands of syncs waited seconds to a minute for the disk and checked nothing more
// (docs/ci.md "Test phases").
inline std::string ModelledDurabilityTmpBase() {
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec)) return "/dev/shm";
  const char* base = std::getenv("TMPDIR");
  return base != nullptr ? base : "/tmp";
}

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/cafs-test-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace cafs::env::testing
