// BackingStoreLock: one user of a backing store at a time. cafsd holds it while it serves, and
// `cafsd fsck` while it checks: two gateways on one backing store would race each other's
// creates and renames, and a check beside a running gateway would take its creates in
// progress for orphans (docs/redirectors.md).
//
// An exclusive flock(2) on `<backing root>/.cafs-lock`, a regular file without "##" (the
// Volume never lists it). The kernel drops it when the holder exits, kill -9 included, so a
// crash never leaves the store locked. The file holds the holder's pid, for the message.
//
// Threading: Acquire from any thread; the object is not shared.
#pragma once

#include <memory>
#include <string>

#include "util/result.h"

namespace cafs::core {

class BackingStoreLock {
 public:
  static constexpr const char* kFileName = ".cafs-lock";

  // Errors: FailedPrecondition "backing store <root> is in use by pid N" when another process
  // holds it; errno-carrying errors when the lock file cannot be opened (a missing root:
  // NotFound).
  static Result<std::unique_ptr<BackingStoreLock>> Acquire(const std::string& backing_root);

  ~BackingStoreLock();  // releases the lock (the file stays)
  BackingStoreLock(const BackingStoreLock&) = delete;
  BackingStoreLock& operator=(const BackingStoreLock&) = delete;

 private:
  explicit BackingStoreLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace cafs::core
