// ONC RPC (RFC 5531) messages without sockets: record marking (RecordAssembler), call header and
// credential decoding, program lookup and reply encoding (RpcDispatcher). The TCP server
// (rpc_server.h) feeds bytes through these; the fuzzer (tests/fuzz/nfs.cmake) does too.
// docs/nfs.md ("ONC RPC") has the byte tables.
//
// Threading: RecordAssembler is per connection, not thread-safe. RpcDispatcher is immutable
// after its programs are added (Add before serving); Prepare/Execute are then thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "frontend/nfs/rpc_program.h"
#include "frontend/nfs/xdr.h"
#include "util/bytes.h"
#include "util/status.h"

namespace cafs::frontend::nfs {

inline constexpr std::uint32_t kRpcVersion = 2;
inline constexpr std::uint32_t kLastFragment = 0x80000000u;
// 1 MiB of WRITE data plus room for the call header, credentials and NFS arguments.
inline constexpr std::size_t kDefaultMaxRecordSize = (1u << 20) + 4096;
inline constexpr std::size_t kMaxAuthBody = 400;  // RFC 5531: opaque_auth body <= 400 bytes
inline constexpr std::size_t kMaxMachineName = 255;
inline constexpr std::size_t kMaxAuthSysGids = 16;

// RFC 5531 auth_stat.
enum class AuthStat : std::uint32_t {
  kOk = 0,
  kBadCred = 1,
  kRejectedCred = 2,
  kBadVerf = 3,
  kRejectedVerf = 4,
  kTooWeak = 5,
};

// The 4-byte big-endian mark before each fragment: high bit = last fragment, low 31 bits =
// fragment length.
struct RecordMark {
  std::size_t length = 0;
  bool last = false;
};
RecordMark DecodeRecordMark(const std::uint8_t* mark);

// Reassembles records from a byte stream of fragments (4-byte big-endian mark: high bit = last
// fragment, low 31 bits = fragment length). A record whose fragments add up to more than
// `max_record_size` is an error (the connection is to be dropped): nothing is buffered for it.
class RecordAssembler {
 public:
  explicit RecordAssembler(std::size_t max_record_size) : max_(max_record_size) {}

  // Consumes all of `data`, appending every record it completes to `records`.
  // InvalidArgument once a record is oversized; the assembler is then unusable.
  Status Feed(ByteView data, std::vector<Bytes>& records);

  // Bytes of an incomplete record held (for tests: a vanished client frees them with the
  // connection).
  std::size_t buffered() const { return record_.size(); }

 private:
  const std::size_t max_;
  std::uint8_t mark_[4] = {};
  std::size_t mark_have_ = 0;  // bytes of the current fragment mark read
  std::size_t frag_left_ = 0;  // bytes of the current fragment still to come
  bool last_ = false;          // the current fragment ends the record
  bool in_fragment_ = false;   // mark read, body pending
  bool failed_ = false;
  Bytes record_;
};

// Frames one message as a single last fragment: prepends the record mark. `message` must have
// been encoded after a ReserveU32() at offset 0 (see EncodeReplyHeader); returns its bytes.
void FinishRecord(XdrEncoder& message);

// Writes the record-mark slot and the accepted-reply header (xid, REPLY, MSG_ACCEPTED, null
// verifier, `stat`) into an empty encoder.
void EncodeReplyHeader(XdrEncoder& out, std::uint32_t xid, AcceptStat stat);

// What to do with one record.
struct PreparedCall {
  enum class Action {
    kIgnore,    // not a call (a REPLY, or too short to hold an xid): no answer
    kReply,     // answered without the program (errors): `reply` is the framed record
    kDispatch,  // run the program: `call`, `program`, `args_offset`
  };
  Action action = Action::kIgnore;
  RpcCall call;
  RpcProgram* program = nullptr;
  std::size_t args_offset = 0;  // procedure arguments start here in the record
  XdrBytes reply;
};

class RpcDispatcher {
 public:
  // Adds `program` (not owned; must outlive the dispatcher). A second program with the same
  // number replaces the first.
  void Add(RpcProgram* program);

  // Decodes the call header and credentials of `record` and finds the program:
  // rpcvers != 2 -> RPC_MISMATCH(2, 2); a credential that does not decode (body > 400 bytes,
  // AUTH_SYS machine name > 255 bytes or > 16 gids, trailing bytes) -> AUTH_BADCRED; a flavor
  // other than AUTH_NONE/AUTH_SYS -> AUTH_REJECTEDCRED (AUTH_SHORT) or AUTH_BADCRED; unknown
  // program -> PROG_UNAVAIL; version outside -> PROG_MISMATCH(low, high); AUTH_NONE for a
  // procedure other than 0 of a program that does not accept it -> AUTH_TOOWEAK.
  PreparedCall Prepare(ByteView record, const std::string& peer_address,
                       std::uint16_t peer_port) const;

  // Runs a kDispatch call on the calling thread and returns the framed reply record
  // (program errors become their accept_stat; an exception becomes SYSTEM_ERR). The reply is
  // encoded into `buffer` (a recycled reply: its capacity is reused) when given.
  // `would_wait` (optional): set when the program answered kAcceptWouldWait to a call with
  // `may_wait` false; the result is then an unused buffer, and the caller runs the call again
  // where it may wait (without `would_wait`, or for a call that may wait: SYSTEM_ERR).
  XdrBytes Execute(const PreparedCall& prepared, ByteView record, XdrBytes buffer = {},
                   bool* would_wait = nullptr) const;

 private:
  std::map<std::uint32_t, RpcProgram*> programs_;
};

}  // namespace cafs::frontend::nfs
