// The default I/O rate limit of each job kind (docs/jobs.md "Rate limits"): what a job runs at
// when its spec names none. cafsd's [jobs] table overrides them (shred_rate, rekey_rate,
// migrate_rate, resync_rate; JobManager::RegisterKind), and a job's own rate (`--rate`)
// overrides both. Chosen so that a job running beside a VM leaves it most of the machine:
// the foreground slowdown goal of issue 14 is <= 20% (bench/run-rekey-slowdown-bench.sh).
//  - rekey and migrate read and write every byte (a rekey also decrypts and encrypts it):
//    32 MiB/s is about a tenth of what one disk-backed FUSE writer reaches here (315 MiB/s,
//    docs/performance.md), i.e. ~64 MiB/s of disk traffic and well under one core of AES;
//  - shred only writes (random bytes from the DRBG, no read-back of ciphertext it keeps):
//    64 MiB/s costs the same disk traffic;
//  - resync reads one copy and writes the other, ciphertext only (no crypto): as migrate.
#pragma once

#include <cstdint>

namespace cafs::jobs {

inline constexpr std::uint64_t kDefaultShredRateBps = std::uint64_t{64} << 20;
inline constexpr std::uint64_t kDefaultRekeyRateBps = std::uint64_t{32} << 20;
inline constexpr std::uint64_t kDefaultMigrateRateBps = std::uint64_t{32} << 20;
inline constexpr std::uint64_t kDefaultResyncRateBps = std::uint64_t{32} << 20;

}  // namespace cafs::jobs
