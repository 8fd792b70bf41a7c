#include "util/status.h"

#include <cstring>

namespace cafs {

Status::Status(Code code, std::string_view msg, int err, bool retryable)
    : state_(std::make_shared<const State>(State{code, err, retryable, std::string(msg)})) {}

Status Status::FromErrno(int err, std::string_view context) {
  std::string msg(context);
  switch (err) {
    case ENOENT:
      return Status(Code::kNotFound, msg, err);
    case EEXIST:
      return Status(Code::kAlreadyExists, msg, err);
    case ENOSPC:
    case EDQUOT:
      return Status(Code::kNoSpace, msg, err);
    case EACCES:
    case EPERM:
      return Status(Code::kPermissionDenied, msg, err);
    case EINVAL:
      return Status(Code::kInvalidArgument, msg, err);
    case ENOTSUP:
      return Status(Code::kNotSupported, msg, err);
    case ETIMEDOUT:
      return Status(Code::kTimeout, msg, err, true);
    case EAGAIN:
    case EINTR:
      return Status(Code::kIoError, msg, err, true);
    default:
      return Status(Code::kIoError, msg, err == 0 ? EIO : err);
  }
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return state_ ? state_->message : kEmpty;
}

std::string_view Status::CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kNotFound:
      return "not found";
    case Code::kAlreadyExists:
      return "already exists";
    case Code::kInvalidArgument:
      return "invalid argument";
    case Code::kCorruption:
      return "corruption";
    case Code::kAuthFailed:
      return "authentication failed";
    case Code::kPermissionDenied:
      return "permission denied";
    case Code::kIoError:
      return "I/O error";
    case Code::kNoSpace:
      return "no space";
    case Code::kNotSupported:
      return "not supported";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kTimeout:
      return "timeout";
    case Code::kFailedPrecondition:
      return "failed precondition";
    case Code::kInternal:
      return "internal error";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(CodeName(state_->code));
  out += ": ";
  out += state_->message;
  if (state_->code == Code::kIoError || state_->code == Code::kNoSpace) {
    out += " (errno ";
    out += std::to_string(state_->err);
    out += ": ";
    out += std::strerror(state_->err);
    out += ")";
  }
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string msg(context);
  msg += ": ";
  msg += state_->message;
  return Status(state_->code, msg, state_->err, state_->retryable);
}

}  // namespace cafs
