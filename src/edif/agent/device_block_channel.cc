#include "edif/agent/device_block_channel.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace cafs::edif::agent {

namespace {

constexpr std::size_t kAlign = 4096;

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<std::uint8_t, AlignedFree>;

AlignedBuffer AllocAligned(std::size_t length) {
  void* p = nullptr;
  if (posix_memalign(&p, kAlign, length) != 0) return nullptr;
  std::memset(p, 0, length);
  return AlignedBuffer(static_cast<std::uint8_t*>(p));
}

}  // namespace

Result<std::unique_ptr<DeviceBlockChannel>> DeviceBlockChannel::Open(const std::string& path,
                                                                     DeviceChannelOptions options) {
  bool direct = true;
  int fd = ::open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (fd < 0 && errno == EINVAL) {
    if (!options.allow_buffered) {
      return Status::NotSupported("open " + path + ": O_DIRECT refused by the file system");
    }
    direct = false;
    fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  }
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::FromErrno(err, "fstat " + path);
  }
  std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
  if (S_ISBLK(st.st_mode) && ::ioctl(fd, BLKGETSIZE64, &size) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::FromErrno(err, "BLKGETSIZE64 " + path);
  }
  return std::unique_ptr<DeviceBlockChannel>(
      new DeviceBlockChannel(fd, direct, size, options.io_threads == 0 ? 1 : options.io_threads));
}

DeviceBlockChannel::DeviceBlockChannel(int fd, bool direct, std::uint64_t size, unsigned threads)
    : fd_(fd), direct_(direct), size_(size), wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { Worker(); });
}

DeviceBlockChannel::~DeviceBlockChannel() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  std::deque<std::unique_ptr<Job>> left;
  {
    std::lock_guard lock(mu_);
    for (auto& j : pending_) {
      j->status = Status::Unavailable("device channel closed");
      done_.push_back(std::move(j));
    }
    pending_.clear();
    left.swap(done_);
  }
  for (auto& j : left) {
    if (j->write) {
      j->write_done(j->status);
    } else {
      j->read_done(j->status, std::move(j->data));
    }
  }
  ::close(fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void DeviceBlockChannel::Read(std::uint64_t offset, std::size_t length, ReadDone done) {
  auto job = std::make_unique<Job>();
  job->offset = offset;
  job->length = length;
  job->read_done = std::move(done);
  job->status = CheckSectorRange(offset, length);
  std::lock_guard lock(mu_);
  ++in_flight_;
  if (!job->status.ok()) {
    done_.push_back(std::move(job));
    Wake();
    return;
  }
  pending_.push_back(std::move(job));
  cv_.notify_one();
}

void DeviceBlockChannel::Write(std::uint64_t offset, Bytes data, WriteDone done) {
  auto job = std::make_unique<Job>();
  job->write = true;
  job->offset = offset;
  job->length = data.size();
  job->data = std::move(data);
  job->write_done = std::move(done);
  job->status = CheckSectorRange(offset, job->length);
  std::lock_guard lock(mu_);
  ++in_flight_;
  if (!job->status.ok()) {
    done_.push_back(std::move(job));
    Wake();
    return;
  }
  pending_.push_back(std::move(job));
  cv_.notify_one();
}

void DeviceBlockChannel::Worker() {
  for (;;) {
    std::unique_ptr<Job> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (stopping_) return;
      job = std::move(pending_.front());
      pending_.pop_front();
    }
    Execute(*job);
    Complete(std::move(job));
  }
}

void DeviceBlockChannel::Execute(Job& job) {
  AlignedBuffer buf = AllocAligned(job.length);
  if (!buf) {
    job.status = Status::NoSpace("device channel: out of memory for an aligned buffer");
    return;
  }
  if (job.write) std::memcpy(buf.get(), job.data.data(), job.length);
  std::size_t done = 0;
  while (done < job.length) {
    const auto off = static_cast<off_t>(job.offset + done);
    const ssize_t n = job.write ? ::pwrite(fd_, buf.get() + done, job.length - done, off)
                                : ::pread(fd_, buf.get() + done, job.length - done, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      job.status = Status::FromErrno(errno, job.write ? "pwrite mailbox" : "pread mailbox");
      break;
    }
    if (n == 0) {
      job.status = Status::FromErrno(EIO, "mailbox device: short transfer at end of device");
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (job.write) {
    std::memset(buf.get(), 0, job.length);  // may hold SA keys
    std::memset(job.data.data(), 0, job.data.size());
  } else if (job.status.ok()) {
    job.data.assign(buf.get(), buf.get() + job.length);
  }
}

void DeviceBlockChannel::Complete(std::unique_ptr<Job> job) {
  std::lock_guard lock(mu_);
  done_.push_back(std::move(job));
  Wake();
}

Status DeviceBlockChannel::Poll(std::chrono::milliseconds timeout) {
  bool have = false;
  {
    std::lock_guard lock(mu_);
    have = !done_.empty();
  }
  if (!have) {
    pollfd pfd{wake_fd_, POLLIN, 0};
    const int n = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
    if (n < 0 && errno != EINTR) return Status::FromErrno(errno, "poll device channel");
  }
  std::uint64_t v;
  while (::read(wake_fd_, &v, sizeof v) > 0) {
  }
  std::deque<std::unique_ptr<Job>> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(done_);
    in_flight_ -= batch.size();
  }
  for (auto& j : batch) {
    if (j->write) {
      j->write_done(j->status);
    } else {
      j->read_done(j->status, std::move(j->data));
    }
  }
  return Status::OK();
}

void DeviceBlockChannel::Wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

std::size_t DeviceBlockChannel::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

}  // namespace cafs::edif::agent
