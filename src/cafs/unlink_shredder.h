// UnlinkShredder: how the Gateway unlinks the last name of a file whose vobj says
// <shred-on-free>yes</shred-on-free> (docs/policy.md; docs/jobs.md "Shred on free"): the name
// goes before the call returns, as for a plain unlink, and the file's pool file is overwritten,
// discarded and removed by a persisted shred job that survives crashes and restarts, instead of
// being removed with its ciphertext left in the pool's free blocks.
//
// Implemented by jobs::ShredOnFree (src/jobs/shred_on_free.h); the core does not depend on the
// jobs component. Errors: the Volume's (NotFound, EISDIR, ...), the job store's (the unlink is
// refused and nothing changed when the job cannot be persisted).
//
// Threading: Unlink may be called from many threads at once.
#pragma once

#include <string>

#include "util/status.h"

namespace cafs::core {

class UnlinkShredder {
 public:
  virtual ~UnlinkShredder() = default;
  // Unlinks `rel` (Volume-relative). A name that is not a file's last one (hard links), a
  // symlink or a special file is unlinked as usual (nothing is freed).
  virtual Status Unlink(const std::string& rel) = 0;
};

}  // namespace cafs::core
