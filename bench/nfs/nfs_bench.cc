// nfs_bench: an NFSv3 load generator on libnfs's ASYNC API with a queue depth (Debian's fio
// has no nfs engine). One file, five jobs in order, each with N requests in flight on one
// TCP connection:
//   seqwrite-new  1 MiB writes, QD 8, the whole file from offset 0 into a new (truncated)
//                 file: the server's file system allocates as it goes.
//   seqwrite      the same over the now existing file (overwrite): the server's data path
//                 without the host file system's block allocation.
//   seqread       1 MiB reads, QD 8, the whole file.
//   randwrite     4 KiB writes, QD 16, at uniformly random 4 KiB-aligned offsets (fixed
//                 seed), size/4 KiB requests or --runtime seconds, whichever ends first.
//   randread      4 KiB reads, QD 16, likewise.
// Writes are UNSTABLE, as libnfs sends them, timed to the last reply. After each write job
// one COMMIT is timed apart; "<job>+commit" adds it (the same bytes made durable).
// libnfs's client page cache and read-ahead are off (its defaults), so every request reaches
// the server. Prints one human line and one "RESULT <job> <MiB/s> <IOPS>" line per figure.
//
// Usage: nfs_bench [--size BYTES[K|M|G]] [--runtime S] [--jobs a,b,..] [--keep]
//                  nfs://HOST/EXPORT[?nfsport=N&mountport=M] FILE
//   FILE is a path under the export (its directory must exist); truncated first when
//   seqwrite-new runs, else used as it is (a file kept by an earlier --keep run); removed at
//   the end unless --keep. Exit 0 on success, 1 on an NFS error, 2 on bad usage.

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

// clang-format off
#include <nfsc/libnfs.h>
// clang-format on

namespace {

struct Job {
  std::string name;
  bool write;
  bool random;
  uint32_t block;
  int depth;
};

const Job kJobs[] = {
    {"seqwrite-new", true, false, 1 << 20, 8}, {"seqwrite", true, false, 1 << 20, 8},
    {"seqread", false, false, 1 << 20, 8},     {"randwrite", true, true, 4096, 16},
    {"randread", false, true, 4096, 16},
};

// Requests in flight for one job; the completion callback updates it.
struct Flight {
  int in_flight = 0;
  uint64_t done_bytes = 0;
  uint64_t done_ops = 0;
  std::string error;
};

void OnDone(int status, nfs_context* /*nfs*/, void* data, void* private_data) {
  auto* f = static_cast<Flight*>(private_data);
  --f->in_flight;
  if (status < 0) {
    if (f->error.empty()) f->error = data != nullptr ? static_cast<const char*>(data) : "error";
    return;
  }
  f->done_bytes += static_cast<uint64_t>(status);
  ++f->done_ops;
}

// Services the connection once (up to 100 ms). False if the connection failed.
bool Service(nfs_context* nfs, std::string& error) {
  pollfd pfd{};
  pfd.fd = nfs_get_fd(nfs);
  pfd.events = static_cast<short>(nfs_which_events(nfs));
  const int n = poll(&pfd, 1, 100);
  if (n < 0) return true;  // EINTR
  if (nfs_service(nfs, n > 0 ? pfd.revents : 0) < 0) {
    const char* e = nfs_get_error(nfs);
    error = std::string("nfs_service: ") + (e != nullptr ? e : "?");
    return false;
  }
  return true;
}

struct Result {
  double seconds = 0;
  uint64_t bytes = 0;
  uint64_t ops = 0;
};

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

bool RunJob(nfs_context* nfs, nfsfh* fh, const Job& job, uint64_t size, double runtime,
            Result& result, std::string& error) {
  const uint64_t blocks = size / job.block;
  std::vector<char> buffer(job.block);
  std::mt19937_64 rng(42);
  for (char& c : buffer) c = static_cast<char>(rng());
  std::uniform_int_distribution<uint64_t> pick(0, blocks - 1);
  Flight flight;
  uint64_t issued = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(runtime));
  bool stop = false;
  while (true) {
    while (!stop && flight.in_flight < job.depth && issued < blocks) {
      const uint64_t offset = (job.random ? pick(rng) : issued) * job.block;
      const int rc =
          job.write ? nfs_pwrite_async(nfs, fh, offset, job.block, buffer.data(), &OnDone, &flight)
                    : nfs_pread_async(nfs, fh, offset, job.block, &OnDone, &flight);
      if (rc != 0) {
        error = std::string("queue ") + job.name + ": " + nfs_get_error(nfs);
        return false;
      }
      ++flight.in_flight;
      ++issued;
    }
    if (flight.in_flight == 0) break;
    if (!Service(nfs, error)) return false;
    if (!flight.error.empty()) {
      error = job.name + ": " + flight.error;
      return false;
    }
    if (job.random && std::chrono::steady_clock::now() > deadline) stop = true;
  }
  result.seconds = Seconds(std::chrono::steady_clock::now() - start);
  result.bytes = flight.done_bytes;
  result.ops = flight.done_ops;
  if (result.bytes != flight.done_ops * job.block) {
    error = job.name + ": short transfer (" + std::to_string(result.bytes) + " bytes in " +
            std::to_string(result.ops) + " requests)";
    return false;
  }
  return true;
}

void Print(const std::string& name, const std::string& shape, const Result& r) {
  const double mib = static_cast<double>(r.bytes) / (1 << 20);
  const double mibps = r.seconds > 0 ? mib / r.seconds : 0;
  const double iops = r.seconds > 0 ? static_cast<double>(r.ops) / r.seconds : 0;
  std::printf("%-20s %-13s %8.1f MiB in %6.2f s  %8.1f MiB/s  %9.0f IOPS\n", name.c_str(),
              shape.c_str(), mib, r.seconds, mibps, iops);
  std::printf("RESULT %s %.1f %.0f\n", name.c_str(), mibps, iops);
  std::fflush(stdout);
}

uint64_t ParseSize(const std::string& s) {
  char* end = nullptr;
  uint64_t v = std::strtoull(s.c_str(), &end, 10);
  switch (end != nullptr ? *end : '\0') {
    case 'G':
    case 'g':
      v <<= 30;
      break;
    case 'M':
    case 'm':
      v <<= 20;
      break;
    case 'K':
    case 'k':
      v <<= 10;
      break;
    default:
      break;
  }
  return v;
}

int Usage() {
  std::fprintf(stderr,
               "usage: nfs_bench [--size BYTES[K|M|G]] [--runtime S] [--jobs a,b,..] [--keep] "
               "nfs://HOST/EXPORT[?nfsport=N&mountport=M] FILE\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // libnfs (4.0) mallocs a buffer of about 1 MiB per READ reply and WRITE call and frees it
  // on completion. Left to glibc's defaults (a dynamic mmap threshold, heap trimmed above
  // 128 KiB free at the top), this client's heap can fall into shrink-and-regrow: 5x the page
  // faults and twice the CPU per MiB, which on this 2-core host is taken from the server
  // under test. Whether it happens depended on this process's earlier allocations (the job
  // list), not on the server, so figures swung 2x between identical runs
  // (docs/performance.md, "NFS"). A fixed threshold and a heap kept across requests make the
  // client's cost the same for every server and every run.
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  uint64_t size = 512ull << 20;
  double runtime = 10;
  std::string jobs = "seqwrite-new,seqwrite,seqread,randwrite,randread";
  bool keep = false;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--size" && i + 1 < argc) {
      size = ParseSize(argv[++i]);
    } else if (a == "--runtime" && i + 1 < argc) {
      runtime = std::atof(argv[++i]);
    } else if (a == "--jobs" && i + 1 < argc) {
      jobs = argv[++i];
    } else if (a == "--keep") {
      keep = true;
    } else if (!a.empty() && a[0] != '-') {
      positional.push_back(a);
    } else {
      return Usage();
    }
  }
  if (positional.size() != 2 || size < (1 << 20)) return Usage();
  size -= size % (1 << 20);
  const std::string file = positional[1][0] == '/' ? positional[1] : "/" + positional[1];
  // A new file only when seqwrite-new runs; other jobs alone use the file as it is (--keep).
  const bool truncate = ("," + jobs + ",").find(",seqwrite-new,") != std::string::npos;

  nfs_context* nfs = nfs_init_context();
  if (nfs == nullptr) return 1;
  int rc = 1;
  nfs_url* url = nfs_parse_url_dir(nfs, positional[0].c_str());
  nfsfh* fh = nullptr;
  std::string error;
  if (url == nullptr) {
    error = std::string("bad URL: ") + nfs_get_error(nfs);
  } else if (nfs_mount(nfs, url->server, url->path) != 0) {
    error = std::string("mount: ") + nfs_get_error(nfs);
  } else if (nfs_create(nfs, file.c_str(), O_RDWR | (truncate ? O_TRUNC : 0), 0644, &fh) != 0) {
    error = "create " + file + ": " + nfs_get_error(nfs);
  } else {
    std::printf("nfs_bench: %s:%s file %s, %llu MiB, rsize/wsize %llu/%llu, libnfs async API\n",
                url->server, url->path, file.c_str(), static_cast<unsigned long long>(size >> 20),
                static_cast<unsigned long long>(nfs_get_readmax(nfs)),
                static_cast<unsigned long long>(nfs_get_writemax(nfs)));
    rc = 0;
    for (const Job& job : kJobs) {
      if (("," + jobs + ",").find("," + job.name + ",") == std::string::npos) continue;
      Result r;
      if (!RunJob(nfs, fh, job, size, runtime, r, error)) {
        rc = 1;
        break;
      }
      const std::string shape = (job.block >= (1 << 20) ? std::to_string(job.block >> 20) + "M"
                                                        : std::to_string(job.block >> 10) + "k") +
                                " QD" + std::to_string(job.depth);
      Print(job.name, shape, r);
      if (job.write) {
        const auto start = std::chrono::steady_clock::now();
        if (nfs_fsync(nfs, fh) != 0) {
          error = std::string("COMMIT: ") + nfs_get_error(nfs);
          rc = 1;
          break;
        }
        const double commit = Seconds(std::chrono::steady_clock::now() - start);
        Result durable = r;
        durable.seconds += commit;
        std::printf("%-20s %-13s %.3f s\n", "COMMIT", "", commit);
        Print(job.name + "+commit", shape, durable);
      }
    }
    nfs_close(nfs, fh);
    if (!keep && nfs_unlink(nfs, file.c_str()) != 0 && rc == 0) {
      error = "unlink " + file + ": " + nfs_get_error(nfs);
      rc = 1;
    }
  }
  if (!error.empty()) std::fprintf(stderr, "nfs_bench: %s\n", error.c_str());
  if (url != nullptr) nfs_destroy_url(url);
  nfs_destroy_context(nfs);
  return rc;
}
