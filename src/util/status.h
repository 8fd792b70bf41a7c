// Status: the outcome of an operation at a module boundary, as a value.
//
// A Status is either OK or carries a Code, a human-readable message and the errno that best
// describes the failure (kept from the system call that failed, or chosen from the code), plus
// a retryable flag (the same call may succeed later: a timeout, a server not reachable yet).
// Front-ends map a Status to their wire errors in exactly one place each (FUSE: -errno,
// NFS: NFS3ERR_*, REST: HTTP status), using code() and errno_value().
//
// Threading: a Status is an immutable value; copies are independent.
#pragma once

#include <cerrno>
#include <memory>
#include <string>
#include <string_view>

namespace cafs {

class [[nodiscard]] Status {
 public:
  enum class Code : unsigned char {
    kOk = 0,
    kNotFound,            // ENOENT: no such object, file, key, VM set
    kAlreadyExists,       // EEXIST
    kInvalidArgument,     // EINVAL: bad input from the caller (malformed XML, bad flag)
    kCorruption,          // EIO: stored data failed a check (MAC, CRC, magic, truncation)
    kAuthFailed,          // EIO: wrong key or failed authentication of data
    kPermissionDenied,    // EACCES: policy, role or window refuses the caller
    kIoError,             // errno from the OS
    kNoSpace,             // ENOSPC / EDQUOT
    kNotSupported,        // ENOTSUP
    kUnavailable,         // EAGAIN-like: a peer or server cannot be reached now
    kTimeout,             // ETIMEDOUT
    kFailedPrecondition,  // EINVAL-like: the object is in the wrong state
    kInternal,            // a bug: an invariant did not hold
  };

  Status() noexcept = default;  // OK
  static Status OK() { return Status(); }

  static Status NotFound(std::string_view msg) { return Status(Code::kNotFound, msg, ENOENT); }
  static Status AlreadyExists(std::string_view msg) {
    return Status(Code::kAlreadyExists, msg, EEXIST);
  }
  static Status InvalidArgument(std::string_view msg) {
    return Status(Code::kInvalidArgument, msg, EINVAL);
  }
  static Status Corruption(std::string_view msg) { return Status(Code::kCorruption, msg, EIO); }
  static Status AuthFailed(std::string_view msg) { return Status(Code::kAuthFailed, msg, EIO); }
  static Status PermissionDenied(std::string_view msg) {
    return Status(Code::kPermissionDenied, msg, EACCES);
  }
  static Status NoSpace(std::string_view msg) { return Status(Code::kNoSpace, msg, ENOSPC); }
  static Status NotSupported(std::string_view msg) {
    return Status(Code::kNotSupported, msg, ENOTSUP);
  }
  static Status Unavailable(std::string_view msg) {
    return Status(Code::kUnavailable, msg, EAGAIN, /*retryable=*/true);
  }
  static Status Timeout(std::string_view msg) {
    return Status(Code::kTimeout, msg, ETIMEDOUT, /*retryable=*/true);
  }
  static Status FailedPrecondition(std::string_view msg) {
    return Status(Code::kFailedPrecondition, msg, EINVAL);
  }
  static Status Internal(std::string_view msg) { return Status(Code::kInternal, msg, EIO); }

  // From a failed system call: keeps `err` and picks the code that fits it
  // (ENOENT -> kNotFound, ENOSPC/EDQUOT -> kNoSpace, EACCES/EPERM -> kPermissionDenied,
  // EAGAIN/EINTR -> retryable kIoError, anything else -> kIoError). `context` says what was
  // being done, e.g. "pwrite /pool/a/osdisk1.vmdk".
  static Status FromErrno(int err, std::string_view context);

  bool ok() const { return state_ == nullptr; }
  Code code() const { return state_ ? state_->code : Code::kOk; }
  // The errno that best describes this failure; 0 when ok().
  int errno_value() const { return state_ ? state_->err : 0; }
  bool retryable() const { return state_ && state_->retryable; }
  // The message alone (empty when ok()).
  const std::string& message() const;

  bool IsNotFound() const { return code() == Code::kNotFound; }
  bool IsCorruption() const { return code() == Code::kCorruption; }
  bool IsAuthFailed() const { return code() == Code::kAuthFailed; }
  bool IsPermissionDenied() const { return code() == Code::kPermissionDenied; }
  bool IsNoSpace() const { return code() == Code::kNoSpace; }
  bool IsInvalidArgument() const { return code() == Code::kInvalidArgument; }

  // "OK", or "<code name>: <message> (errno N: strerror)" for logs and CLI output.
  std::string ToString() const;

  // A copy with `context` prepended to the message ("reading header: <message>").
  Status WithContext(std::string_view context) const;

  static std::string_view CodeName(Code code);

 private:
  struct State {
    Code code;
    int err;
    bool retryable;
    std::string message;
  };
  Status(Code code, std::string_view msg, int err, bool retryable = false);

  std::shared_ptr<const State> state_;  // null when OK: an OK status costs one pointer
};

}  // namespace cafs

// Returns from the enclosing function when `expr` (a Status) is not OK. The temporary's name
// carries the line number so nested uses (a lambda inside another use) do not shadow.
#define CAFS_STATUS_CONCAT_INNER_(a, b) a##b
#define CAFS_STATUS_CONCAT_(a, b) CAFS_STATUS_CONCAT_INNER_(a, b)
#define CAFS_RETURN_IF_ERROR(expr) \
  CAFS_RETURN_IF_ERROR_IMPL_(CAFS_STATUS_CONCAT_(cafs_status_, __LINE__), expr)
#define CAFS_RETURN_IF_ERROR_IMPL_(tmp, expr) \
  do {                                        \
    ::cafs::Status tmp = (expr);              \
    if (!tmp.ok()) return tmp;                \
  } while (0)
