#include "edif/nbd/errors.h"

#include <cerrno>
#include <string>

#include "edif/nbd/protocol.h"

namespace cafs::edif::nbd {

std::uint32_t ToNbdError(const Status& status) {
  if (status.ok()) return kNbdOk;
  switch (status.errno_value()) {
    case EPERM:
    case EACCES:
    case EROFS:
      return kNbdEperm;
    case ENOMEM:
      return kNbdEnomem;
    case EINVAL:
      return kNbdEinval;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      return kNbdEnospc;
    case EOVERFLOW:
      return kNbdEoverflow;
    case ENOTSUP:
      return kNbdEnotsup;
    case ESHUTDOWN:
      return kNbdEshutdown;
    default:
      return kNbdEio;
  }
}

Status FromNbdError(std::uint32_t error, std::string_view context) {
  const std::string ctx(context);
  switch (error) {
    case kNbdOk:
      return Status::OK();
    case kNbdEperm:
      return Status::PermissionDenied(ctx + ": NBD_EPERM");
    case kNbdEinval:
      return Status::InvalidArgument(ctx + ": NBD_EINVAL");
    case kNbdEnospc:
      return Status::NoSpace(ctx + ": NBD_ENOSPC");
    case kNbdEnotsup:
      return Status::NotSupported(ctx + ": NBD_ENOTSUP");
    case kNbdEnomem:
      return Status::FromErrno(ENOMEM, ctx + ": NBD_ENOMEM");
    case kNbdEoverflow:
      return Status::FromErrno(EOVERFLOW, ctx + ": NBD_EOVERFLOW");
    case kNbdEshutdown:
      return Status::FromErrno(ESHUTDOWN, ctx + ": NBD_ESHUTDOWN");
    default:
      return Status::FromErrno(EIO, ctx + ": NBD error " + std::to_string(error));
  }
}

}  // namespace cafs::edif::nbd
