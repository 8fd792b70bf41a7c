// The files a job works on, found through the Volume (kinds share this walk: rekey, migrate).
// Threading: free functions, safe from any thread (the Volume is).
#pragma once

#include <string>
#include <vector>

#include "cafs/volume.h"
#include "jobs/job.h"

namespace cafs::jobs {

// Appends every regular file at or below the Volume path `rel` ("" for the root; sorted,
// depth-first; symlinks left alone) to `out`. InvalidArgument beyond 64 levels.
Status FilesBelow(core::Volume& volume, const std::string& rel, std::vector<std::string>& out);

// The Volume paths of a target: type "file": its path; any other type: FilesBelow its path.
Result<std::vector<std::string>> FilesOf(core::Volume& volume, const JobTarget& target);

}  // namespace cafs::jobs
