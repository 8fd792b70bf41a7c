// Deep-rekey throughput (issue 14) as a ratio to the raw cost of the same bytes on this
// machine, measured in the same run:
//   raw    = read + AES-XTS decrypt + AES-XTS encrypt + write of the pool file's data area in
//            1 MiB chunks through the same env::File, one fdatasync at the end (the floor:
//            what any re-encryption must do, with no crash safety);
//   rekey  = Rekeyer::Step() until finished on the same file (journal, 4 fdatasyncs per
//            hotzone, the final key switch). A step costs four fdatasyncs whatever its length,
//            so the hotzone length (bounded by the journal format: 3072 sectors compact, 384
//            fingerprint; docs/format.md 8.3) sets the ratio.
// The machine's load average is printed with the result: fdatasync latency and CPU share
// depend on what else runs.
// Order: raw, rekey, raw (the raw passes decrypt and re-encrypt under one key, so the file
// keeps its content); the ratio is rekey / mean(raw). Goal (issue 14): >= 0.8.
// Usage: rekey_bench [--dir DIR] [--mib N] [--sector 512|4096] [--hotzone N]
//                    [--journal compact|fingerprint]
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "crypto/sector_cipher.h"
#include "env/env.h"
#include "format/file_keys.h"
#include "format/rekeyer.h"

namespace {

using Clock = std::chrono::steady_clock;
using cafs::SecureBuffer;

void Die(const cafs::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

template <typename T>
T Must(cafs::Result<T> r, const char* what) {
  Die(r.status(), what);
  return std::move(r).value();
}

SecureBuffer Dek(std::uint8_t seed) {
  SecureBuffer dek(64);
  for (std::size_t i = 0; i < dek.size(); ++i)
    dek.data()[i] = static_cast<std::uint8_t>(seed + 3 * i);
  return dek;
}

// One raw pass over `bytes` of data after the header with the file's data key of `dek`.
double RawPass(cafs::env::File& file, const SecureBuffer& dek, std::uint32_t sector,
               std::uint64_t bytes) {
  std::vector<std::uint8_t> header(cafs::format::kHeaderSize);
  Must(file.ReadAt(0, header), "read header");
  std::array<std::uint8_t, cafs::format::kFileNonceSize> nonce{};
  std::memcpy(nonce.data(), header.data() + cafs::format::layout::kFileNonce, nonce.size());
  auto keys =
      Must(cafs::format::DeriveFileKeys(dek, cafs::crypto::CipherId::kAes256Xts, nonce), "derive");
  auto cipher = Must(cafs::crypto::SectorCipher::Create(cafs::crypto::CipherId::kAes256Xts,
                                                        keys.data_key.view(), sector),
                     "cipher");
  constexpr std::size_t kChunk = 1024 * 1024;
  std::vector<std::uint8_t> buf(kChunk);
  const auto start = Clock::now();
  for (std::uint64_t off = 0; off < bytes; off += kChunk) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, bytes - off));
    cafs::MutableByteView b(buf.data(), n);
    Must(file.ReadAt(cafs::format::kHeaderSize + off, b), "raw read");
    const std::uint64_t first = off / sector;
    Die(cipher->Decrypt(first, b, b), "decrypt");
    Die(cipher->Encrypt(first, b, b), "encrypt");
    Die(file.WriteAt(cafs::format::kHeaderSize + off, b), "raw write");
  }
  Die(file.Sync(), "raw sync");
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = std::getenv("TMPDIR") != nullptr ? std::getenv("TMPDIR") : "/tmp";
  std::uint64_t mib = 256;
  std::uint32_t sector = 4096;
  std::uint32_t hotzone = cafs::format::kMaxHotzoneSectors;
  std::uint8_t journal = cafs::format::kJournalCompact;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--dir")
      dir = argv[i + 1];
    else if (flag == "--mib")
      mib = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--sector")
      sector = static_cast<std::uint32_t>(std::atoi(argv[i + 1]));
    else if (flag == "--hotzone")
      hotzone = static_cast<std::uint32_t>(std::atoi(argv[i + 1]));
    else if (flag == "--journal")
      journal = std::string(argv[i + 1]) == "fingerprint" ? cafs::format::kJournalFingerprint
                                                          : cafs::format::kJournalCompact;
    else {
      std::fprintf(stderr,
                   "usage: %s [--dir DIR] [--mib N] [--sector 512|4096] [--hotzone N] "
                   "[--journal compact|fingerprint]\n",
                   argv[0]);
      return 2;
    }
  }
  const std::uint64_t bytes = mib * 1024 * 1024;
  const std::string path = dir + "/cafs-rekey-bench-" + std::to_string(::getpid());
  cafs::env::Env* env = cafs::env::Env::Default();
  const SecureBuffer old_dek = Dek(1), new_dek = Dek(2);
  cafs::format::CreateParams params;
  params.cipher = cafs::crypto::CipherId::kAes256Xts;
  params.sector_size = sector;
  params.key_guid = cafs::Uuid::Random();
  params.key_version = 1;
  auto ef = Must(cafs::format::EncryptedFile::Create(
                     Must(env->OpenFile(path, cafs::env::OpenOptions::CreateNew()), "create"),
                     params, old_dek),
                 "create pool file");
  {
    std::mt19937_64 rng(1);
    std::vector<std::uint8_t> chunk(1024 * 1024);
    for (std::uint64_t off = 0; off < bytes; off += chunk.size()) {
      for (auto& b : chunk) b = static_cast<std::uint8_t>(rng());
      Die(ef->Write(off, cafs::ByteView(chunk.data(),
                                        std::min<std::uint64_t>(chunk.size(), bytes - off))),
          "fill");
    }
    Die(ef->Sync(), "sync");
  }
  auto raw_file = Must(env->OpenFile(path, cafs::env::OpenOptions::ReadWrite()), "open raw");
  const double raw1 = RawPass(*raw_file, old_dek, sector, bytes);

  auto rekeyer =
      Must(cafs::format::Rekeyer::Start(*ef, cafs::Uuid::Random(), 2, new_dek,
                                        {.hotzone_sectors = hotzone, .journal_format = journal}),
           "start rekey");
  std::uint64_t steps = 0;
  const auto start = Clock::now();
  while (!Must(rekeyer->Step(), "step").finished) ++steps;
  const double rekey = std::chrono::duration<double>(Clock::now() - start).count();

  const double raw2 = RawPass(*raw_file, new_dek, sector, bytes);
  raw_file.reset();
  rekeyer.reset();
  ef.reset();
  Die(env->RemoveFile(path), "remove");

  const double mb = static_cast<double>(bytes) / 1e6;
  const double raw = (raw1 + raw2) / 2;
  std::string load = "?";
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    char buf[64] = {};
    if (std::fgets(buf, sizeof buf, f) != nullptr) load = std::string(buf, std::strcspn(buf, "\n"));
    std::fclose(f);
  }
  std::printf(
      "deep rekey benchmark: aes-256-xts, %u-byte sectors, %llu MiB in %s, hotzone %u sectors, "
      "%s journal\n",
      sector, static_cast<unsigned long long>(mib), dir.c_str(), hotzone,
      journal == cafs::format::kJournalCompact ? "compact" : "fingerprint");
  // The 1, 5 and 15 minute averages (the first three fields).
  std::size_t cut = 0;
  for (int field = 0; field < 3 && cut != std::string::npos; ++field) cut = load.find(' ', cut + 1);
  std::printf("  load average: %s\n", load.substr(0, cut).c_str());
  std::printf(
      "  raw read+decrypt+encrypt+write (1 MiB chunks, 1 fdatasync): %8.1f MB/s  (%.3f s, %.3f "
      "s)\n",
      mb / raw, raw1, raw2);
  std::printf(
      "  Rekeyer (%llu steps + switch, 4 fdatasyncs per step):        %8.1f MB/s  (%.3f s)\n",
      static_cast<unsigned long long>(steps), mb / rekey, rekey);
  std::printf("  ratio rekey / raw: %.2f  (goal >= 0.80)\n", raw / rekey);
  // The summary line bench/run-all.sh collects (format: bench/lib/figures.py).
  std::printf("FIGURE\trekey.deep.rekey/raw\t%.3f\t>=0.80\t%.3f\t%.3f\t1\n", raw / rekey,
              raw / rekey, raw / rekey);
  return 0;
}
