// The source tree's absolute path, for tests that read files from it (golden files, test
// data, helper scripts). Defined in one small object that tests/CMakeLists.txt generates
// (cafs_test_source_dir), not a -D on the test's own file: an absolute path on a heavy test
// file's command line made it miss the compiler cache in every other checkout of the tree
// (a CI clone), docs/ci.md "Compiler cache". Thread-safe: a constant.
#pragma once

namespace cafs::testing {

// E.g. "/work/main"; never ends in '/'.
const char* SourceDir();

}  // namespace cafs::testing
