// SectorCipher throughput against raw OpenSSL EVP, for every CipherId at 512- and 4096-byte
// sectors, over a 1 MiB buffer.
//
// Method. "ours" is SectorCipher::Encrypt / Decrypt over the whole buffer (256 or 2048 sectors
// per call). "evp" is what `openssl speed -evp` measures for the same cipher, done per sector:
// one context keyed once, then for each sector EVP_CipherInit_ex2(ctx, NULL, NULL, iv) +
// EVP_CipherUpdate(sector). Its IV is the plain64 sector number, so for CBC-ESSIV the ratio
// includes the cost of computing the ESSIV IVs; for "none" the reference is EVP_enc_null().
// "1-sector enc" is ours again with one Encrypt call per sector (the fixed cost of a call).
// Each case runs --benchmark_repetitions times (default 2) and the best run counts, so that
// other work on the machine disturbs the ratio less.
//
// Output: Google Benchmark's table, then a summary table (MB/s = 10^6 bytes per second) and
// the line `ratio aes-256-xts/4096 = R (target >= 0.90)`, R = min(encrypt, decrypt) ratio.
// --check: exit 1 when R < 0.90. Other flags are Google Benchmark's (--benchmark_filter, ...).
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "crypto/rng.h"
#include "crypto/sector_cipher.h"

namespace cafs::crypto {
namespace {

constexpr std::size_t kBufferSize = 1 << 20;
constexpr double kTargetRatio = 0.90;
constexpr CipherId kCiphers[] = {CipherId::kNone, CipherId::kAes128Xts, CipherId::kAes256Xts,
                                 CipherId::kAes128CbcEssiv, CipherId::kAes256CbcEssiv};
constexpr std::uint32_t kSectorSizes[] = {512, 4096};

const EVP_CIPHER* RawCipher(CipherId id) {
  switch (id) {
    case CipherId::kNone:
      return EVP_enc_null();
    case CipherId::kAes128Xts:
      return EVP_aes_128_xts();
    case CipherId::kAes256Xts:
      return EVP_aes_256_xts();
    case CipherId::kAes128CbcEssiv:
      return EVP_aes_128_cbc();
    case CipherId::kAes256CbcEssiv:
      return EVP_aes_256_cbc();
  }
  return nullptr;
}

Bytes RandomData(std::size_t n) {
  Bytes b(n);
  if (!RandomBytes(MutableByteView(b)).ok()) std::abort();
  return b;
}

// `per_call`: bytes handed to one Encrypt/Decrypt call (the whole buffer, or one sector to show
// the fixed cost of a call).
void BenchOurs(benchmark::State& state, CipherId id, std::uint32_t sector, bool encrypt,
               std::size_t per_call) {
  const Bytes key = RandomData(CipherKeySize(id));
  auto cipher = SectorCipher::Create(id, key, sector);
  if (!cipher.ok()) {
    state.SkipWithError(cipher.status().ToString().c_str());
    return;
  }
  const Bytes in = RandomData(kBufferSize);
  Bytes out(kBufferSize);
  std::uint64_t first = 1000;
  for (auto _ : state) {
    for (std::size_t off = 0; off < kBufferSize; off += per_call) {
      const ByteView src = ByteView(in).subspan(off, per_call);
      const MutableByteView dst = MutableByteView(out).subspan(off, per_call);
      const std::uint64_t sector_no = first + off / sector;
      Status s = encrypt ? (*cipher)->Encrypt(sector_no, src, dst)
                         : (*cipher)->Decrypt(sector_no, src, dst);
      if (!s.ok()) {
        state.SkipWithError(s.ToString().c_str());
        return;
      }
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    first += kBufferSize / sector;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(kBufferSize));
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

void BenchEvp(benchmark::State& state, CipherId id, std::uint32_t sector, bool encrypt) {
  const EVP_CIPHER* evp = RawCipher(id);
  const Bytes key = RandomData(std::max<std::size_t>(CipherKeySize(id), 1));
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  if (!ctx ||
      EVP_CipherInit_ex2(ctx.get(), evp, key.data(), nullptr, encrypt ? 1 : 0, nullptr) != 1) {
    state.SkipWithError("EVP keying failed");
    return;
  }
  EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
  const Bytes in = RandomData(kBufferSize);
  Bytes out(kBufferSize);
  std::uint64_t first = 1000;
  std::uint8_t iv[16] = {};
  for (auto _ : state) {
    for (std::size_t off = 0; off < kBufferSize; off += sector) {
      const std::uint64_t n = first + off / sector;
      std::memcpy(iv, &n, sizeof n);  // plain64 (x86-64 and arm64 are little-endian)
      int outl = 0;
      if (EVP_CipherInit_ex2(ctx.get(), nullptr, nullptr, iv, encrypt ? 1 : 0, nullptr) != 1 ||
          EVP_CipherUpdate(ctx.get(), out.data() + off, &outl, in.data() + off,
                           static_cast<int>(sector)) != 1) {
        state.SkipWithError("EVP cipher failed");
        break;
      }
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    first += kBufferSize / sector;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(kBufferSize));
}

std::string CaseName(const char* impl, CipherId id, std::uint32_t sector, bool encrypt) {
  return std::string(impl) + "/" + std::string(CipherName(id)) + "/" + std::to_string(sector) +
         "/" + (encrypt ? "encrypt" : "decrypt");
}

void RegisterAll() {
  for (CipherId id : kCiphers) {
    for (std::uint32_t sector : kSectorSizes) {
      for (bool encrypt : {true, false}) {
        benchmark::RegisterBenchmark(CaseName("ours", id, sector, encrypt).c_str(), BenchOurs, id,
                                     sector, encrypt, kBufferSize)
            ->Unit(benchmark::kMicrosecond);
        if (encrypt) {
          benchmark::RegisterBenchmark(CaseName("ours-1-sector-calls", id, sector, encrypt).c_str(),
                                       BenchOurs, id, sector, encrypt, std::size_t{sector})
              ->Unit(benchmark::kMicrosecond);
        }
        benchmark::RegisterBenchmark(CaseName("evp", id, sector, encrypt).c_str(), BenchEvp, id,
                                     sector, encrypt)
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
}

// Keeps the best bytes/second of every case (over repetitions) while printing as usual.
class BestRateReporter : public benchmark::ConsoleReporter {
 public:
  // Colours only on a terminal (a reporter we construct does not follow --benchmark_color).
  BestRateReporter() : ConsoleReporter(isatty(STDOUT_FILENO) != 0 ? OO_Defaults : OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
      auto it = run.counters.find("bytes_per_second");
      if (it == run.counters.end()) continue;
      double& best = best_[run.run_name.function_name];
      best = std::max(best, static_cast<double>(it->second));
    }
    ConsoleReporter::ReportRuns(runs);
  }
  // Bytes per second, or 0 when the case did not run.
  double Rate(const std::string& name) const {
    auto it = best_.find(name);
    return it == best_.end() ? 0.0 : it->second;
  }

 private:
  std::map<std::string, double> best_;
};

double Ratio(double ours, double evp) { return evp > 0 ? ours / evp : 0.0; }

// Prints the summary table; returns the aes-256-xts/4096 ratio (min of both directions).
double PrintSummary(const BestRateReporter& r) {
  std::printf("\nSectorCipher vs raw EVP, 1 MiB buffer, best of repetitions (MB/s = 1e6 B/s)\n");
  std::printf("%-18s %6s | %10s %10s %6s | %10s %10s %6s | %12s\n", "cipher", "sector", "ours enc",
              "evp enc", "ratio", "ours dec", "evp dec", "ratio", "1-sector enc");
  double key_ratio = 0.0;
  for (CipherId id : kCiphers) {
    for (std::uint32_t sector : kSectorSizes) {
      const double oe = r.Rate(CaseName("ours", id, sector, true));
      const double ee = r.Rate(CaseName("evp", id, sector, true));
      const double od = r.Rate(CaseName("ours", id, sector, false));
      const double ed = r.Rate(CaseName("evp", id, sector, false));
      const double o1 = r.Rate(CaseName("ours-1-sector-calls", id, sector, true));
      if (oe == 0 && ee == 0 && od == 0 && ed == 0) continue;  // filtered out
      std::printf("%-18s %6u | %10.1f %10.1f %6.2f | %10.1f %10.1f %6.2f | %12.1f\n",
                  std::string(CipherName(id)).c_str(), sector, oe / 1e6, ee / 1e6, Ratio(oe, ee),
                  od / 1e6, ed / 1e6, Ratio(od, ed), o1 / 1e6);
      if (id == CipherId::kAes256Xts && sector == 4096) {
        key_ratio = std::min(Ratio(oe, ee), Ratio(od, ed));
      }
    }
  }
  std::printf("\nratio aes-256-xts/4096 = %.2f (target >= %.2f)\n", key_ratio, kTargetRatio);
  // The summary line bench/run-all.sh collects (format: bench/lib/figures.py; one round:
  // the repetitions' best is already taken above).
  std::printf("FIGURE\tcrypto.aes-256-xts-4096.ours/evp\t%.3f\t>=%.2f\t%.3f\t%.3f\t1\n", key_ratio,
              kTargetRatio, key_ratio, key_ratio);
  return key_ratio;
}

bool HasFlag(int argc, char** argv, const char* prefix) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix, std::strlen(prefix)) == 0) return true;
  }
  return false;
}

}  // namespace
}  // namespace cafs::crypto

int main(int argc, char** argv) {
  using namespace cafs::crypto;
  // Our own flag first; the rest goes to Google Benchmark, with short defaults.
  bool check = false;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && std::strcmp(argv[i], "--check") == 0) {
      check = true;
    } else {
      args.push_back(argv[i]);
    }
  }
  std::string min_time = "--benchmark_min_time=0.02";
  std::string reps = "--benchmark_repetitions=2";
  const int n = static_cast<int>(args.size());
  if (!HasFlag(n, args.data(), "--benchmark_min_time")) args.push_back(min_time.data());
  if (!HasFlag(n, args.data(), "--benchmark_repetitions")) args.push_back(reps.data());
  int bench_argc = static_cast<int>(args.size());
  args.push_back(nullptr);

  benchmark::Initialize(&bench_argc, args.data());
  if (benchmark::ReportUnrecognizedArguments(bench_argc, args.data())) return 2;
  benchmark::AddCustomContext("method",
                              "SectorCipher over 1 MiB vs per-sector EVP_CipherInit_ex2 + "
                              "EVP_CipherUpdate on a pre-keyed context");
  RegisterAll();
  BestRateReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  const double ratio = PrintSummary(reporter);
  if (check && ratio < kTargetRatio) {
    std::fprintf(stderr, "FAIL: aes-256-xts/4096 ratio %.2f is below %.2f\n", ratio, kTargetRatio);
    return 1;
  }
  return 0;
}
