#include "edif/nbd/file_block_device.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace cafs::edif::nbd {

Result<std::shared_ptr<FileBlockDevice>> FileBlockDevice::Open(const std::string& path,
                                                               FileBlockDeviceOptions options) {
  const int fd = ::open(path.c_str(), (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::FromErrno(err, "fstat " + path);
  }
  std::uint64_t size = 0;
  const bool is_block = S_ISBLK(st.st_mode);
  if (is_block) {
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0) {
      const int err = errno;
      ::close(fd);
      return Status::FromErrno(err, "BLKGETSIZE64 " + path);
    }
  } else if (S_ISREG(st.st_mode)) {
    size = static_cast<std::uint64_t>(st.st_size);
  } else {
    ::close(fd);
    return Status::InvalidArgument(path + ": not a regular file or block device");
  }
  if (options.worker_threads == 0) options.worker_threads = 1;
  return std::shared_ptr<FileBlockDevice>(new FileBlockDevice(fd, size, is_block, options));
}

FileBlockDevice::FileBlockDevice(int fd, std::uint64_t size, bool is_block_device,
                                 FileBlockDeviceOptions options)
    : fd_(fd), size_(size), is_block_device_(is_block_device), options_(options) {
  for (unsigned i = 0; i < options_.worker_threads; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

FileBlockDevice::~FileBlockDevice() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  ::close(fd_);
}

DeviceFeatures FileBlockDevice::Features() const {
  DeviceFeatures f;
  f.read_only = options_.read_only;
  f.multi_conn = true;  // no cache of our own: fdatasync covers every connection
  return f;
}

void FileBlockDevice::Submit(std::function<void()> work) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(work));
  }
  cv_.notify_one();
}

void FileBlockDevice::WorkerLoop() {
  for (;;) {
    std::function<void()> work;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping_ and drained
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

Status FileBlockDevice::WriteAll(std::uint64_t offset, ByteView data) const {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "pwrite");
    }
    done += static_cast<std::size_t>(n);
  }
  return Status::OK();
}

Status FileBlockDevice::Sync() const {
  if (::fdatasync(fd_) != 0) return Status::FromErrno(errno, "fdatasync");
  return Status::OK();
}

void FileBlockDevice::Read(std::uint64_t offset, std::uint32_t length, ReadCallback done) {
  Submit([this, offset, length, done = std::move(done)] {
    Bytes out(length);
    std::size_t got = 0;
    while (got < length) {
      const ssize_t n =
          ::pread(fd_, out.data() + got, length - got, static_cast<off_t>(offset + got));
      if (n < 0) {
        if (errno == EINTR) continue;
        done(Status::FromErrno(errno, "pread"), {});
        return;
      }
      if (n == 0) break;  // end of file: the rest reads as zeros (already zero-filled)
      got += static_cast<std::size_t>(n);
    }
    done(Status::OK(), std::move(out));
  });
}

void FileBlockDevice::Write(std::uint64_t offset, Bytes data, bool fua, DoneCallback done) {
  Submit([this, offset, fua, data = std::move(data), done = std::move(done)] {
    Status s = WriteAll(offset, data);
    if (s.ok() && fua) s = Sync();
    done(s);
  });
}

void FileBlockDevice::Flush(DoneCallback done) {
  Submit([this, done = std::move(done)] { done(Sync()); });
}

void FileBlockDevice::Trim(std::uint64_t offset, std::uint32_t length, DoneCallback done) {
  Submit([this, offset, length, done = std::move(done)] {
    if (!is_block_device_) {
      // Advisory: a file system that cannot punch holes keeps the data, which is allowed.
      (void)::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                        static_cast<off_t>(length));
    }
    done(Status::OK());
  });
}

void FileBlockDevice::WriteZeroes(std::uint64_t offset, std::uint32_t length, bool fua,
                                  DoneCallback done) {
  Submit([this, offset, length, fua, done = std::move(done)] {
    Status s;
    if (is_block_device_ ||
        ::fallocate(fd_, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                    static_cast<off_t>(length)) != 0) {
      const Bytes zeros(std::min<std::uint32_t>(length, 1u << 20), 0);
      for (std::uint64_t at = 0; s.ok() && at < length; at += zeros.size()) {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), length - at));
        s = WriteAll(offset + at, ByteView(zeros.data(), n));
      }
    }
    if (s.ok() && fua) s = Sync();
    done(s);
  });
}

}  // namespace cafs::edif::nbd
