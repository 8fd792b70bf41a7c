// CheckCounter: the pass/fail bookkeeping of the libnfs check programs (nfs_names, nfs_posix):
// one "FAIL ..." line per failed check on stdout, a summary line at the end.
// Not thread-safe (one per program run).
#pragma once

#include <cstdio>
#include <string>

#include "nfs3_client.h"

namespace cafs::nfs_test {

class CheckCounter {
 public:
  // A step the rest of the run depends on failed: reported, and the run ends (returns false).
  bool Fail(const std::string& what) {
    std::printf("FAIL %s\nFAILED\n", what.c_str());
    ++failures_;
    return false;
  }
  void Check(bool ok, const std::string& what) {
    ++checks_;
    if (!ok) {
      ++failures_;
      std::printf("FAIL %s\n", what.c_str());
    }
  }
  // NFS statuses, named in the failure line.
  void Expect(const std::string& what, int got, int want) {
    Check(got == want, what + ": " + NfsStatusName(got) + ", want " + NfsStatusName(want));
  }
  int failures() const { return failures_; }
  // "<name>: N checks passed" or "FAILED (N checks)"; true when nothing failed.
  bool Summary(const char* name) const {
    if (failures_ == 0) {
      std::printf("%s: %d checks passed\n", name, checks_);
    } else {
      std::printf("FAILED (%d checks)\n", checks_);
    }
    return failures_ == 0;
  }

 private:
  int checks_ = 0;
  int failures_ = 0;
};

}  // namespace cafs::nfs_test
