// NFSv3 (RFC 1813) wire types shared by the NFSv3 program: procedure numbers, nfsstat3, the
// mapping of gateway errors to nfsstat3 (the one place it happens), and the XDR of file
// handles, fattr3, post_op_attr, wcc_data and sattr3. docs/nfs.md ("NFSv3") lists them.
// Free functions over XdrEncoder/XdrDecoder; no state.
#pragma once

#include <cstdint>
#include <optional>

#include "cafs/attr.h"
#include "frontend/nfs/xdr.h"
#include "util/bytes.h"
#include "util/status.h"

namespace cafs::frontend::nfs {

inline constexpr std::uint32_t kNfsProgram = 100003;
inline constexpr std::uint32_t kNfsVersion3 = 3;
inline constexpr std::size_t kNfs3FhSize = 64;
inline constexpr std::size_t kNfs3MaxPath = 4096;      // nfspath3
inline constexpr std::size_t kNfs3MaxData = 1u << 20;  // rtmax/wtmax

enum class Nfs3Proc : std::uint32_t {
  kNull = 0,
  kGetAttr = 1,
  kSetAttr = 2,
  kLookup = 3,
  kAccess = 4,
  kReadLink = 5,
  kRead = 6,
  kWrite = 7,
  kCreate = 8,
  kMkDir = 9,
  kSymlink = 10,
  kMkNod = 11,
  kRemove = 12,
  kRmDir = 13,
  kRename = 14,
  kLink = 15,
  kReadDir = 16,
  kReadDirPlus = 17,
  kFsStat = 18,
  kFsInfo = 19,
  kPathConf = 20,
  kCommit = 21,
};

enum class Nfs3Status : std::uint32_t {
  kOk = 0,
  kPerm = 1,
  kNoEnt = 2,
  kIo = 5,
  kNxio = 6,
  kAcces = 13,
  kExist = 17,
  kXdev = 18,
  kNoDev = 19,
  kNotDir = 20,
  kIsDir = 21,
  kInval = 22,
  kFBig = 27,
  kNoSpc = 28,
  kRoFs = 30,
  kMLink = 31,
  kNameTooLong = 63,
  kNotEmpty = 66,
  kDQuot = 69,
  kStale = 70,
  kRemote = 71,
  kBadHandle = 10001,
  kNotSync = 10002,
  kBadCookie = 10003,
  kNotSupp = 10004,
  kTooSmall = 10005,
  kServerFault = 10006,
  kBadType = 10007,
  kJukebox = 10008,
};

enum class StableHow : std::uint32_t { kUnstable = 0, kDataSync = 1, kFileSync = 2 };
enum class CreateMode : std::uint32_t { kUnchecked = 0, kGuarded = 1, kExclusive = 2 };

// ftype3
inline constexpr std::uint32_t kNf3Reg = 1;
inline constexpr std::uint32_t kNf3Dir = 2;
inline constexpr std::uint32_t kNf3Blk = 3;
inline constexpr std::uint32_t kNf3Chr = 4;
inline constexpr std::uint32_t kNf3Lnk = 5;
inline constexpr std::uint32_t kNf3Sock = 6;
inline constexpr std::uint32_t kNf3Fifo = 7;

// ACCESS3 bits
inline constexpr std::uint32_t kAccessRead = 0x01;
inline constexpr std::uint32_t kAccessLookup = 0x02;
inline constexpr std::uint32_t kAccessModify = 0x04;
inline constexpr std::uint32_t kAccessExtend = 0x08;
inline constexpr std::uint32_t kAccessDelete = 0x10;
inline constexpr std::uint32_t kAccessExecute = 0x20;

// The one mapping of gateway/core errors to nfsstat3 (docs/nfs.md "Errors").
Nfs3Status ToNfs3Status(const Status& status);

// nfs_fh3: opaque<64>.
Bytes DecodeFh(XdrDecoder& in);
void EncodeFh(XdrEncoder& out, ByteView fh);

// The fixed part of WRITE3args before the data: file handle, offset, count, stable_how. The
// handle is a view into the decoder's input. Decoding errors show in `in.ok()`; stable_how is
// returned as sent (the caller checks it is a StableHow).
struct Write3Header {
  ByteView fh;
  std::uint64_t offset = 0;
  std::uint32_t count = 0;
  std::uint32_t stable = 0;
};
Write3Header DecodeWrite3Header(XdrDecoder& in);

// fattr3 of `attr`; `fsid` identifies the exported filesystem.
void EncodeFattr(XdrEncoder& out, const core::Attr& attr, std::uint64_t fsid);
// post_op_attr: false, or true + fattr3.
void EncodePostOpAttr(XdrEncoder& out, const core::Attr* attr, std::uint64_t fsid);
// wcc_data: pre_op_attr (size, mtime, ctime of `before`) + post_op_attr (`after`).
void EncodeWcc(XdrEncoder& out, const core::Attr* before, const core::Attr* after,
               std::uint64_t fsid);
void EncodeTime(XdrEncoder& out, const struct timespec& t);
struct timespec DecodeTime(XdrDecoder& in);

// sattr3 as a gateway request (SET_TO_SERVER_TIME becomes UTIME_NOW).
core::SetAttrRequest DecodeSattr(XdrDecoder& in);
bool IsEmpty(const core::SetAttrRequest& r);

}  // namespace cafs::frontend::nfs
