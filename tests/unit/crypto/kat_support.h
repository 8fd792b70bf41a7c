// Helpers shared by the crypto known-answer tests: hex literals, a private temp directory,
// and running the `openssl` command line as an independent implementation.
//
// Threading: test-only; each helper is self-contained and may run in parallel test processes
// (temp directories are unique per call).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/bytes.h"

namespace cafs::crypto::testing {

// Parses a hex literal from a test vector; a malformed literal fails the test (and returns an
// empty buffer), so a typo in a vector can never pass silently.
Bytes Hex(std::string_view hex);

// The bytes 0, 1, ..., 255, 0, 1, ... (`size` of them): the plaintext of IEEE 1619 vectors 4-6
// and 10-14.
Bytes Counting(std::size_t size);

// A directory made with mkdtemp under $TMPDIR (or /tmp), removed with its files on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  bool ok() const { return !path_.empty(); }
  // `name` inside the directory.
  std::string File(std::string_view name) const;

 private:
  std::string path_;
};

bool WriteFile(const std::string& path, ByteView data);
std::optional<Bytes> ReadFile(const std::string& path);

// Runs `command` with /bin/sh, returns its stdout, or nullopt if it could not run or exited
// non-zero. stderr is left to the test log.
std::optional<std::string> RunCommand(const std::string& command);

// True when an `openssl` binary of major version 3 is on PATH.
bool OpenSslCliAvailable();

// AES-ECB of `data` (a whole number of blocks, no padding) with the `openssl enc` command line:
// the independent block cipher the CLI cross-checks build on. nullopt on any failure.
std::optional<Bytes> CliAesEcbEncrypt(const TempDir& dir, ByteView key, ByteView data);

// AES-CBC, no padding, with the `openssl enc` command line.
std::optional<Bytes> CliAesCbc(const TempDir& dir, ByteView key, ByteView iv, ByteView data,
                               bool encrypt);

// SHA-256 with the `openssl dgst` command line.
std::optional<Bytes> CliSha256(const TempDir& dir, ByteView data);

}  // namespace cafs::crypto::testing
