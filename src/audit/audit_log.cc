#include "audit/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

namespace cafs::audit {

namespace {

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "appending to audit log " + path);
    }
    done += static_cast<std::size_t>(n);
  }
  return Status::OK();
}

cafs::Result<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::FromErrno(errno, "reading audit log " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

AuditLog::AuditLog(std::string path, int fd, AuditLogOptions options)
    : path_(std::move(path)), fd_(fd), options_(options), last_hash_(GenesisHash()) {}

AuditLog::~AuditLog() { ::close(fd_); }

cafs::Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path,
                                                       AuditLogOptions options) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "opening audit log " + path);
  std::unique_ptr<AuditLog> log(new AuditLog(path, fd, options));

  CAFS_ASSIGN_OR_RETURN(std::string content, ReadWhole(path));
  // Cut a torn tail: bytes after the last newline are an incomplete record.
  std::size_t complete = content.rfind('\n');
  complete = complete == std::string::npos ? 0 : complete + 1;
  if (complete < content.size()) {
    log->torn_bytes_dropped_ = content.size() - complete;
    if (::ftruncate(fd, static_cast<off_t>(complete)) != 0) {
      return Status::FromErrno(errno, "cutting torn tail of audit log " + path);
    }
    content.resize(complete);
  }
  if (!content.empty()) {
    std::size_t start = content.rfind('\n', content.size() - 2);
    start = start == std::string::npos ? 0 : start + 1;
    auto last =
        AuditRecord::FromLine(std::string_view(content).substr(start, content.size() - 1 - start));
    if (!last.ok()) {
      return Status::Corruption("audit log " + path + ": last record unreadable (" +
                                last.status().message() + ")");
    }
    log->last_seq_ = last->seq;
    log->last_hash_ = last->hash;
  }
  return log;
}

cafs::Result<AuditRecord> AuditLog::Append(AuditRecord record) {
  std::lock_guard<std::mutex> lock(mu_);
  record.seq = last_seq_ + 1;
  record.prev_hash = last_hash_;
  if (record.end_ms < record.time_ms) record.end_ms = record.time_ms;
  record.hash = record.ComputeHash();
  CAFS_RETURN_IF_ERROR(WriteAll(fd_, record.ToLine() + "\n", path_));
  if (options_.sync_every_record && ::fdatasync(fd_) != 0) {
    return Status::FromErrno(errno, "syncing audit log " + path_);
  }
  last_seq_ = record.seq;
  last_hash_ = record.hash;
  for (const auto& listener : listeners_) listener(record);
  return record;
}

void AuditLog::AddListener(Listener listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listeners_.push_back(std::move(listener));
}

std::uint64_t AuditLog::last_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_seq_;
}

cafs::Result<VerifyReport> VerifyAuditLog(const std::string& path) {
  CAFS_ASSIGN_OR_RETURN(std::string content, ReadWhole(path));
  VerifyReport report;
  std::string prev(GenesisHash());
  std::uint64_t line_no = 0;
  std::size_t pos = 0;
  auto fail = [&](std::string problem) {
    report.ok = false;
    report.bad_line = line_no;
    report.problem = std::move(problem);
    return report;
  };
  while (pos < content.size()) {
    ++line_no;
    std::size_t nl = content.find('\n', pos);
    if (nl == std::string::npos) return fail("torn last line (no newline)");
    auto rec = AuditRecord::FromLine(std::string_view(content).substr(pos, nl - pos));
    pos = nl + 1;
    if (!rec.ok()) return fail(rec.status().message());
    if (rec->seq != report.records + 1) {
      return fail("seq " + std::to_string(rec->seq) + " where " +
                  std::to_string(report.records + 1) +
                  " was expected (record removed or reordered)");
    }
    if (rec->prev_hash != prev) return fail("prev hash does not match the record before");
    if (rec->ComputeHash() != rec->hash) return fail("hash does not match contents (edited)");
    prev = rec->hash;
    ++report.records;
  }
  return report;
}

cafs::Result<std::vector<AuditRecord>> ReadAuditLog(const std::string& path) {
  CAFS_ASSIGN_OR_RETURN(std::string content, ReadWhole(path));
  std::vector<AuditRecord> out;
  std::size_t pos = 0;
  while (pos < content.size()) {
    std::size_t nl = content.find('\n', pos);
    if (nl == std::string::npos) break;  // torn tail: not a record yet
    auto rec = AuditRecord::FromLine(std::string_view(content).substr(pos, nl - pos));
    if (!rec.ok()) {
      return Status::Corruption("audit log " + path + " record " + std::to_string(out.size() + 1) +
                                ": " + rec.status().message());
    }
    out.push_back(std::move(rec).value());
    pos = nl + 1;
  }
  return out;
}

}  // namespace cafs::audit
