// NBD wire constants (NetworkBlockDevice/nbd doc/proto.md), fixed newstyle only.
//
// Everything on the NBD wire is big-endian. This header holds numbers only; the byte layouts
// are encoded and decoded in nbd/codec.h and described in docs/nbd.md.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cafs::edif::nbd {

// --- Handshake ---
inline constexpr std::uint64_t kNbdMagic = 0x4e42444d41474943ULL;  // "NBDMAGIC"
inline constexpr std::uint64_t kIHaveOpt = 0x49484156454F5054ULL;  // "IHAVEOPT"
inline constexpr std::uint64_t kOptionReplyMagic = 0x0003e889045565a9ULL;

// Handshake flags (server, 16 bits).
inline constexpr std::uint16_t kFlagFixedNewstyle = 1u << 0;
inline constexpr std::uint16_t kFlagNoZeroes = 1u << 1;
// Client flags (32 bits).
inline constexpr std::uint32_t kClientFlagFixedNewstyle = 1u << 0;
inline constexpr std::uint32_t kClientFlagNoZeroes = 1u << 1;

// Options.
inline constexpr std::uint32_t kOptExportName = 1;
inline constexpr std::uint32_t kOptAbort = 2;
inline constexpr std::uint32_t kOptList = 3;
inline constexpr std::uint32_t kOptStartTls = 5;
inline constexpr std::uint32_t kOptInfo = 6;
inline constexpr std::uint32_t kOptGo = 7;
inline constexpr std::uint32_t kOptStructuredReply = 8;

// Option reply types.
inline constexpr std::uint32_t kRepAck = 1;
inline constexpr std::uint32_t kRepServer = 2;
inline constexpr std::uint32_t kRepInfo = 3;
inline constexpr std::uint32_t kRepFlagError = 1u << 31;
inline constexpr std::uint32_t kRepErrUnsup = kRepFlagError | 1;
inline constexpr std::uint32_t kRepErrPolicy = kRepFlagError | 2;
inline constexpr std::uint32_t kRepErrInvalid = kRepFlagError | 3;
inline constexpr std::uint32_t kRepErrPlatform = kRepFlagError | 4;
inline constexpr std::uint32_t kRepErrTlsReqd = kRepFlagError | 5;
inline constexpr std::uint32_t kRepErrUnknown = kRepFlagError | 6;
inline constexpr std::uint32_t kRepErrShutdown = kRepFlagError | 7;
inline constexpr std::uint32_t kRepErrBlockSizeReqd = kRepFlagError | 8;
inline constexpr std::uint32_t kRepErrTooBig = kRepFlagError | 9;

// NBD_INFO_* items inside NBD_REP_INFO.
inline constexpr std::uint16_t kInfoExport = 0;
inline constexpr std::uint16_t kInfoName = 1;
inline constexpr std::uint16_t kInfoDescription = 2;
inline constexpr std::uint16_t kInfoBlockSize = 3;

// Transmission flags (16 bits), sent with the export size.
inline constexpr std::uint16_t kFlagHasFlags = 1u << 0;
inline constexpr std::uint16_t kFlagReadOnly = 1u << 1;
inline constexpr std::uint16_t kFlagSendFlush = 1u << 2;
inline constexpr std::uint16_t kFlagSendFua = 1u << 3;
inline constexpr std::uint16_t kFlagRotational = 1u << 4;
inline constexpr std::uint16_t kFlagSendTrim = 1u << 5;
inline constexpr std::uint16_t kFlagSendWriteZeroes = 1u << 6;
inline constexpr std::uint16_t kFlagCanMultiConn = 1u << 8;

// --- Transmission ---
inline constexpr std::uint32_t kRequestMagic = 0x25609513;
inline constexpr std::uint32_t kSimpleReplyMagic = 0x67446698;

// Command types.
inline constexpr std::uint16_t kCmdRead = 0;
inline constexpr std::uint16_t kCmdWrite = 1;
inline constexpr std::uint16_t kCmdDisc = 2;
inline constexpr std::uint16_t kCmdFlush = 3;
inline constexpr std::uint16_t kCmdTrim = 4;
inline constexpr std::uint16_t kCmdCache = 5;
inline constexpr std::uint16_t kCmdWriteZeroes = 6;
inline constexpr std::uint16_t kCmdBlockStatus = 7;

// Command flags.
inline constexpr std::uint16_t kCmdFlagFua = 1u << 0;
inline constexpr std::uint16_t kCmdFlagNoHole = 1u << 1;

// Errors in simple replies (NBD values, not the host's errno numbers).
inline constexpr std::uint32_t kNbdOk = 0;
inline constexpr std::uint32_t kNbdEperm = 1;
inline constexpr std::uint32_t kNbdEio = 5;
inline constexpr std::uint32_t kNbdEnomem = 12;
inline constexpr std::uint32_t kNbdEinval = 22;
inline constexpr std::uint32_t kNbdEnospc = 28;
inline constexpr std::uint32_t kNbdEoverflow = 75;
inline constexpr std::uint32_t kNbdEnotsup = 95;
inline constexpr std::uint32_t kNbdEshutdown = 108;

// --- Sizes of fixed parts ---
inline constexpr std::size_t kServerGreetingSize = 18;  // NBDMAGIC, IHAVEOPT, 16-bit flags
inline constexpr std::size_t kOptionHeaderSize = 16;    // IHAVEOPT, option, length
inline constexpr std::size_t kOptionReplyHeaderSize = 20;
inline constexpr std::size_t kExportNameReplySize = 10;  // size + flags (+124 zero bytes)
inline constexpr std::size_t kExportNameZeroPad = 124;
inline constexpr std::size_t kRequestSize = 28;
inline constexpr std::size_t kSimpleReplySize = 16;

// --- Our limits (docs/nbd.md "Limits") ---
// Largest option payload we accept or read; larger ones end the session (we cannot trust the
// peer to be sending anything meaningful, and skipping would let it make us read forever).
inline constexpr std::uint32_t kMaxOptionLength = 64 * 1024;
// Largest string (export name, description) per the spec.
inline constexpr std::uint32_t kMaxStringLength = 4096;
// Largest READ/WRITE payload we ever accept or send (advertised as the maximum block size).
inline constexpr std::uint32_t kMaxPayload = 32 * 1024 * 1024;

// "NBD_CMD_READ" etc. for logs; "unknown" for other values.
const char* CommandName(std::uint16_t type);
// "NBD_OPT_GO" etc. for logs; "unknown" for other values.
const char* OptionName(std::uint32_t option);

}  // namespace cafs::edif::nbd
