#include "edif/link/frame.h"

#include <gtest/gtest.h>

namespace cafs::edif::link {
namespace {

FrameHeader Sample(FrameType type) {
  FrameHeader h;
  h.type = type;
  h.src_port_id = 0x010203;
  h.dst_port_id = 0x040506;
  h.exchange_id = 0xCAFE;
  h.src_wwpn = 0x2100000000000001ull;
  h.dst_wwpn = 0x5000000000000002ull;
  h.lun = 3;
  return h;
}

TEST(LinkFrame, RoundTripEveryType) {
  for (FrameType t : {FrameType::kLogin, FrameType::kLoginAcc, FrameType::kLoginRjt,
                      FrameType::kLogo, FrameType::kAuthEls, FrameType::kData}) {
    const Bytes payload(static_cast<std::size_t>(t) * 10, static_cast<std::uint8_t>(t));
    auto wire = EncodeFrame(Sample(t), payload);
    ASSERT_TRUE(wire.ok());
    EXPECT_EQ(wire->size(), kLengthPrefixSize + kFrameHeaderSize + payload.size());
    EXPECT_EQ(LoadLe32(wire->data()), kFrameHeaderSize + payload.size());
    auto f = DecodeFrame(*wire);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    FrameHeader want = Sample(t);
    want.payload_len = static_cast<std::uint32_t>(payload.size());
    EXPECT_EQ(f->header, want);
    EXPECT_EQ(f->payload, payload);
  }
}

TEST(LinkFrame, RejectsBadHeaders) {
  Bytes wire = *EncodeFrame(Sample(FrameType::kData), Bytes(8, 1));
  auto corrupt = [&](std::size_t off, std::uint8_t v) {
    Bytes b = wire;
    b[off] = v;
    return DecodeFrame(b).status();
  };
  EXPECT_TRUE(corrupt(4, 2).IsCorruption());      // version
  EXPECT_TRUE(corrupt(5, 0).IsCorruption());      // type 0
  EXPECT_TRUE(corrupt(5, 7).IsCorruption());      // type 7
  EXPECT_TRUE(corrupt(7, 0x80).IsCorruption());   // unknown flag
  EXPECT_TRUE(corrupt(11, 0x01).IsCorruption());  // src port id > 24 bits
  EXPECT_TRUE(corrupt(36, 9).IsCorruption());     // payload_len disagrees
  EXPECT_TRUE(corrupt(0, 0xFF).IsCorruption());   // length prefix disagrees
  EXPECT_TRUE(DecodeFrame(ByteView(wire).first(20)).status().IsCorruption());
  FrameHeader h = Sample(FrameType::kData);
  h.dst_port_id = 0x01000000;
  EXPECT_FALSE(EncodeFrame(h, {}).ok());
  EXPECT_FALSE(EncodeFrame(Sample(FrameType::kData), Bytes(kMaxFramePayload + 1)).ok());
}

TEST(LinkFrame, ReaderReassemblesAByteStream) {
  Bytes stream;
  for (int i = 0; i < 5; ++i) {
    Bytes f = *EncodeFrame(Sample(FrameType::kData), Bytes(static_cast<std::size_t>(i * 100), 7));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  FrameReader reader;
  int frames = 0;
  for (std::uint8_t b : stream) {
    reader.Feed(ByteView(&b, 1));
    for (;;) {
      auto next = reader.Next();
      ASSERT_TRUE(next.ok());
      if (!next->has_value()) break;
      EXPECT_EQ((*next)->payload.size(), static_cast<std::size_t>(frames * 100));
      ++frames;
    }
  }
  EXPECT_EQ(frames, 5);
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(LinkFrame, ReaderFailsFastAndStaysFailed) {
  FrameReader reader;
  Bytes huge(8, 0);
  StoreLe32(huge.data(), 0x7FFFFFFF);  // a 2 GiB frame: refused before buffering it
  reader.Feed(huge);
  EXPECT_TRUE(reader.Next().status().IsCorruption());
  reader.Feed(*EncodeFrame(Sample(FrameType::kData), {}));
  EXPECT_FALSE(reader.Next().ok());
  // A bad header is refused as soon as the header is in, not after the payload.
  FrameReader r2;
  Bytes wire = *EncodeFrame(Sample(FrameType::kData), Bytes(1000, 1));
  wire[5] = 99;
  r2.Feed(ByteView(wire).first(kLengthPrefixSize + kFrameHeaderSize));
  EXPECT_TRUE(r2.Next().status().IsCorruption());
}

}  // namespace
}  // namespace cafs::edif::link
