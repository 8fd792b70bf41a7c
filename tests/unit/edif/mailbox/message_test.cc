#include "edif/mailbox/message.h"

#include <gtest/gtest.h>

#include "edif/mailbox/payloads.h"

namespace cafs::edif::mailbox {
namespace {

Header SampleHeader(MessageType type) {
  Header h;
  h.type = type;
  h.flags = kFlagRetransmit;
  h.epoch = 0x1122334455667788ull;
  h.seq = 42;
  h.ack_seq = 41;
  h.req_id = 0xABCDEF0123ull;
  h.wwpn = 0x21000024FF123456ull;
  h.port_id = 0x010203;
  return h;
}

Bytes SamplePayload(std::size_t n) {
  Bytes p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(i * 31 + 1);
  return p;
}

TEST(MailboxMessage, DownstreamRoundTripPadsToSectors) {
  const Header h = SampleHeader(MessageType::kAuthElsSend);
  const Bytes payload = SamplePayload(700);
  auto wire = EncodeDownstream(h, payload);
  ASSERT_TRUE(wire.ok()) << wire.status().ToString();
  EXPECT_EQ(wire->size(), 2 * kSectorSize);
  auto m = DecodeDownstream(*wire);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  Header want = h;
  want.payload_len = 700;
  EXPECT_EQ(m->header, want);
  EXPECT_EQ(m->payload, payload);
}

TEST(MailboxMessage, HeaderLayoutIsLittleEndianAtDocumentedOffsets) {
  auto wire = EncodeMessage(SampleHeader(MessageType::kKeepalive), {});
  ASSERT_TRUE(wire.ok());
  ASSERT_EQ(wire->size(), kHeaderSize);
  const std::uint8_t* p = wire->data();
  EXPECT_EQ(p[0], 'C');
  EXPECT_EQ(p[1], 'M');
  EXPECT_EQ(p[2], 'B');
  EXPECT_EQ(p[3], 'X');
  EXPECT_EQ(LoadLe16(p + 4), 1);
  EXPECT_EQ(LoadLe16(p + 6), 0x000A);
  EXPECT_EQ(LoadLe16(p + 10), 64);
  EXPECT_EQ(LoadLe64(p + 16), 0x1122334455667788ull);
  EXPECT_EQ(LoadLe64(p + 40), 0xABCDEF0123ull);
  EXPECT_EQ(LoadLe32(p + 56), 0x010203u);
}

// Every single-bit flip of a sample sector is rejected; flips inside the CRC-covered bytes
// that leave magic and payload_len alone are reported as a CRC failure.
TEST(MailboxMessage, EverySingleBitFlipOfASectorIsRejected) {
  auto wire = EncodeDownstream(SampleHeader(MessageType::kAuthElsSend), SamplePayload(300));
  ASSERT_TRUE(wire.ok());
  ASSERT_EQ(wire->size(), kSectorSize);
  const std::size_t msg_len = kHeaderSize + 300;
  for (std::size_t bit = 0; bit < kSectorSize * 8; ++bit) {
    Bytes bad = *wire;
    bad[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    auto m = DecodeDownstream(bad);
    ASSERT_FALSE(m.ok()) << "bit " << bit;
    const std::size_t byte = bit / 8;
    const MailboxError e = ErrorOf(m.status());
    if (byte < 4) {
      EXPECT_EQ(e, MailboxError::kBadMagic) << bit;
    } else if (byte >= kOffPayloadLen && byte < kOffPayloadLen + 4) {
      EXPECT_TRUE(e == MailboxError::kBadCrc || e == MailboxError::kPayloadTooLong ||
                  e == MailboxError::kTruncated)
          << bit << " " << MailboxErrorName(e);
    } else if (byte < msg_len) {
      EXPECT_EQ(e, MailboxError::kBadCrc) << bit;
      EXPECT_TRUE(m.status().IsCorruption());
    } else {
      EXPECT_EQ(e, MailboxError::kBadPadding) << bit;
    }
  }
}

TEST(MailboxMessage, TornWriteIsRejectedAsBadCrc) {
  Header h = SampleHeader(MessageType::kAuthElsSend);
  auto old_wire = EncodeDownstream(h, SamplePayload(900));
  h.seq = 43;
  Bytes other = SamplePayload(900);
  other[0] ^= 0x55;
  other[600] ^= 0x55;
  auto new_wire = EncodeDownstream(h, other);
  ASSERT_TRUE(old_wire.ok() && new_wire.ok());
  // Sector 0 from the new message, sector 1 still the old one.
  Bytes torn = *new_wire;
  std::copy(old_wire->begin() + kSectorSize, old_wire->end(), torn.begin() + kSectorSize);
  EXPECT_EQ(ErrorOf(DecodeDownstream(torn).status()), MailboxError::kBadCrc);
  // Half a sector new, half old (a torn sector inside a device with 4 KiB atomicity lies).
  torn = *old_wire;
  std::copy(new_wire->begin(), new_wire->begin() + 256, torn.begin());
  EXPECT_EQ(ErrorOf(DecodeDownstream(torn).status()), MailboxError::kBadCrc);
}

TEST(MailboxMessage, UnknownTypeIsAnExplicitError) {
  Header h = SampleHeader(static_cast<MessageType>(0x0077));
  auto wire = EncodeDownstream(h, {});
  ASSERT_TRUE(wire.ok());
  auto m = DecodeDownstream(*wire);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(ErrorOf(m.status()), MailboxError::kUnknownType);
  EXPECT_EQ(m.status().code(), Status::Code::kNotSupported);
  // Reply payload types are not messages of their own.
  wire = EncodeDownstream(SampleHeader(MessageType::kPortInfo), {});
  EXPECT_EQ(ErrorOf(DecodeDownstream(*wire).status()), MailboxError::kUnknownType);
}

TEST(MailboxMessage, SpecificErrors) {
  auto wire = EncodeDownstream(SampleHeader(MessageType::kKeepalive), {});
  ASSERT_TRUE(wire.ok());
  EXPECT_EQ(ErrorOf(DecodeDownstream(ByteView(*wire).first(100)).status()),
            MailboxError::kMisaligned);
  EXPECT_EQ(ErrorOf(DecodeDownstream(Bytes(kSectorSize, 0)).status()), MailboxError::kBadMagic);
  // An upstream type written downstream.
  wire = EncodeDownstream(SampleHeader(MessageType::kNop), {});
  EXPECT_EQ(ErrorOf(DecodeDownstream(*wire).status()), MailboxError::kWrongDirection);
  // payload_len over the limit (CRC is not even computed).
  Bytes big = *EncodeDownstream(SampleHeader(MessageType::kKeepalive), {});
  StoreLe32(big.data() + kOffPayloadLen, 70000);
  EXPECT_EQ(ErrorOf(DecodeDownstream(big).status()), MailboxError::kPayloadTooLong);
  StoreLe32(big.data() + kOffPayloadLen, 600);
  EXPECT_EQ(ErrorOf(DecodeDownstream(big).status()), MailboxError::kTruncated);
  // Version and unknown flags are covered by the CRC: re-encode with them.
  Header h = SampleHeader(MessageType::kKeepalive);
  h.version = 2;
  EXPECT_EQ(ErrorOf(DecodeDownstream(*EncodeDownstream(h, {})).status()),
            MailboxError::kBadVersion);
  h = SampleHeader(MessageType::kKeepalive);
  h.flags = 0x8000;
  EXPECT_EQ(ErrorOf(DecodeDownstream(*EncodeDownstream(h, {})).status()), MailboxError::kBadFlags);
  h.flags = 0;
  h.port_id = 0x01000000;
  EXPECT_FALSE(EncodeMessage(h, {}).ok());
  EXPECT_FALSE(EncodeMessage(SampleHeader(MessageType::kKeepalive), Bytes(kMaxPayload + 1)).ok());
}

TEST(MailboxMessage, UpstreamPacksSeveralMessagesAndTerminates) {
  std::vector<Bytes> encoded;
  for (int i = 0; i < 5; ++i) {
    Header h = SampleHeader(MessageType::kAuthNeeded);
    h.seq = static_cast<std::uint64_t>(i + 1);
    encoded.push_back(*EncodeMessage(h, SamplePayload(static_cast<std::size_t>(3 + 5 * i))));
  }
  Bytes buf;
  EXPECT_EQ(PackUpstream(encoded, 4096, buf), 5u);
  EXPECT_EQ(buf.size(), 4096u);
  auto msgs = DecodeUpstream(buf);
  ASSERT_TRUE(msgs.ok()) << msgs.status().ToString();
  ASSERT_EQ(msgs->size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ((*msgs)[i].header.seq, i + 1);
    EXPECT_EQ((*msgs)[i].payload, SamplePayload(3 + 5 * i));
  }
  // Only what fits.
  EXPECT_EQ(PackUpstream(encoded, 200, buf), 2u);
  EXPECT_EQ(DecodeUpstream(buf)->size(), 2u);
  // All zeros: no messages (the reserved region).
  EXPECT_TRUE(DecodeUpstream(Bytes(512, 0))->empty());
}

TEST(MailboxMessage, UpstreamGarbageAfterTerminatorOrInPaddingIsRejected) {
  std::vector<Bytes> encoded = {*EncodeMessage(SampleHeader(MessageType::kNop), Bytes(3, 1))};
  Bytes buf;
  PackUpstream(encoded, 512, buf);
  Bytes bad = buf;
  bad[kHeaderSize + 4] = 9;  // inside the 8-byte alignment padding
  EXPECT_EQ(ErrorOf(DecodeUpstream(bad).status()), MailboxError::kBadPadding);
  bad = buf;
  bad[500] = 1;  // after the terminator
  EXPECT_EQ(ErrorOf(DecodeUpstream(bad).status()), MailboxError::kBadPadding);
  // A downstream type in a read.
  encoded = {*EncodeMessage(SampleHeader(MessageType::kKeepalive), {})};
  PackUpstream(encoded, 512, buf);
  EXPECT_EQ(ErrorOf(DecodeUpstream(buf).status()), MailboxError::kWrongDirection);
}

TEST(MailboxMessage, ErrorOfSurvivesContext) {
  const Status s = MailboxStatus(MailboxError::kStaleSeq, "x").WithContext("write");
  EXPECT_EQ(ErrorOf(s), MailboxError::kStaleSeq);
  EXPECT_EQ(ErrorOf(Status::Corruption("other")), MailboxError::kNone);
  EXPECT_EQ(ErrorOf(Status::OK()), MailboxError::kNone);
}

}  // namespace
}  // namespace cafs::edif::mailbox
