#include "edif/link/security_association.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>

namespace cafs::edif::link {
namespace {

SecurityAssociation MakeSa(std::uint32_t spi, Direction dir, std::uint8_t key_byte = 0x42) {
  SecurityAssociation sa;
  sa.spi = spi;
  sa.key = SecureBuffer(Bytes(32, key_byte));
  sa.salt = {0xA1, 0xB2, 0xC3, 0xD4};
  sa.direction = dir;
  return sa;
}

FrameHeader DataHeader() {
  FrameHeader h;
  h.type = FrameType::kData;
  h.src_port_id = 0x0A0000;
  h.dst_port_id = 0x0B0000;
  h.exchange_id = 12;
  h.src_wwpn = 1;
  h.dst_wwpn = 2;
  return h;
}

class SaTest : public testing::Test {
 protected:
  SaTest() : clock_(Clock::TimePoint(std::chrono::hours(10))) {
    tx_ = std::move(TxSa::Create(MakeSa(0x1001, Direction::kTx), limits_, clock_)).value();
    rx_ = std::move(RxSa::Create(MakeSa(0x1001, Direction::kRx), limits_, clock_)).value();
  }
  Frame SealFrame(ByteView payload) {
    auto wire = tx_->Seal(DataHeader(), payload);
    EXPECT_TRUE(wire.ok());
    auto f = DecodeFrame(*wire);
    EXPECT_TRUE(f.ok());
    return *f;
  }
  std::variant<RxSa::Opened, DropReason> OpenFrame(const Frame& f) {
    return rx_->Open(f.header, f.payload);
  }
  static std::optional<DropReason> Drop(const std::variant<RxSa::Opened, DropReason>& v) {
    if (const auto* d = std::get_if<DropReason>(&v)) return *d;
    return std::nullopt;
  }

  ManualClock clock_;
  SaLimits limits_;
  std::unique_ptr<TxSa> tx_;
  std::unique_ptr<RxSa> rx_;
};

TEST_F(SaTest, SealOpenRoundTripAndWireIsNotPlaintext) {
  const Bytes payload = Bytes(4096, 0);
  auto wire = tx_->Seal(DataHeader(), payload);
  ASSERT_TRUE(wire.ok());
  EXPECT_EQ(wire->size(), kLengthPrefixSize + kFrameHeaderSize + kSecuredOverhead + 4096);
  // Zero plaintext: the ciphertext must not contain a run of 64 zero bytes.
  const Bytes zeros(64, 0);
  EXPECT_EQ(std::search(wire->begin() + 56, wire->end(), zeros.begin(), zeros.end()), wire->end());
  auto f = DecodeFrame(*wire);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->header.flags & kFrameSecured, kFrameSecured);
  auto opened = OpenFrame(*f);
  ASSERT_FALSE(Drop(opened).has_value());
  EXPECT_EQ(std::get<RxSa::Opened>(opened).plaintext, payload);
  EXPECT_EQ(std::get<RxSa::Opened>(opened).seq, 1u);
  // Empty payloads work too.
  EXPECT_FALSE(Drop(OpenFrame(SealFrame({}))).has_value());
}

// Independent check of the documented layout: nonce = salt || seq wire bytes, AAD = the
// 40-byte header || SPI || seq, payload = SPI || seq || ciphertext || tag.
TEST_F(SaTest, LayoutMatchesRfc4106StyleDescription) {
  const Bytes payload = {1, 2, 3, 4, 5};
  Bytes wire = *tx_->Seal(DataHeader(), payload);
  const std::uint8_t* esp = wire.data() + kLengthPrefixSize + kFrameHeaderSize;
  EXPECT_EQ(LoadLe32(esp), 0x1001u);
  EXPECT_EQ(LoadLe64(esp + 4), 1u);
  std::array<std::uint8_t, 12> nonce = {0xA1, 0xB2, 0xC3, 0xD4};
  std::copy(esp + 4, esp + 12, nonce.begin() + 4);
  const ByteView aad(wire.data() + kLengthPrefixSize, kAadSize);
  auto gcm = std::move(crypto::Aes256Gcm::Create(Bytes(32, 0x42))).value();
  auto pt = gcm->Open(nonce, aad, ByteView(esp + 12, payload.size() + kIcvSize));
  ASSERT_TRUE(pt.ok()) << pt.status().ToString();
  EXPECT_EQ(*pt, payload);
}

TEST_F(SaTest, EveryTamperedByteIsDropped) {
  const Bytes wire = *tx_->Seal(DataHeader(), Bytes(64, 0x33));
  int dropped = 0;
  for (std::size_t i = kLengthPrefixSize; i < wire.size(); ++i) {
    Bytes bad = wire;
    bad[i] ^= 0x01;
    auto f = DecodeFrame(bad);
    if (!f.ok()) continue;  // the frame codec refused it (header sanity): also never delivered
    auto r = rx_->Open(f->header, f->payload);
    ASSERT_TRUE(Drop(r).has_value()) << "byte " << i;
    ++dropped;
  }
  EXPECT_GT(dropped, 100);
  // The genuine frame still opens: failed attempts did not move the window.
  EXPECT_FALSE(Drop(OpenFrame(*DecodeFrame(wire))).has_value());
}

// SealInto writes the same wire frame as Seal into a reused buffer; OpenInPlace decrypts it
// over the ciphertext and views the plaintext inside the frame's payload.
TEST_F(SaTest, SealIntoAndOpenInPlaceRoundTrip) {
  auto tx2 = std::move(TxSa::Create(MakeSa(0x1001, Direction::kTx), limits_, clock_)).value();
  Bytes payload(5000);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i * 7);
  UninitBytes wire(1 << 20, 0xEE);  // larger and dirty: resized down, fully rewritten
  ASSERT_TRUE(tx_->SealInto(DataHeader(), payload, wire).ok());
  const Bytes expected = *tx2->Seal(DataHeader(), payload);  // same key, same seq 1
  ASSERT_EQ(wire.size(), expected.size());
  EXPECT_TRUE(std::equal(wire.begin(), wire.end(), expected.begin()));
  auto f = DecodeFrame(ByteView(wire.data(), wire.size()));
  ASSERT_TRUE(f.ok());
  const std::uint8_t* payload_start = f->payload.data();
  auto opened = rx_->OpenInPlace(f->header, f->payload);
  ASSERT_TRUE(std::holds_alternative<RxSa::OpenedInPlace>(opened));
  const MutableByteView plain = std::get<RxSa::OpenedInPlace>(opened).plaintext;
  EXPECT_EQ(plain.data(), payload_start + kSpiSize + kSeqSize);  // inside the frame buffer
  EXPECT_TRUE(std::equal(plain.begin(), plain.end(), payload.begin(), payload.end()));
  EXPECT_EQ(std::get<RxSa::OpenedInPlace>(opened).seq, 1u);
  // Sealing again reuses the buffer (seq 2) and opens too; empty payloads work.
  ASSERT_TRUE(tx_->SealInto(DataHeader(), {}, wire).ok());
  EXPECT_EQ(wire.size(), kLengthPrefixSize + kFrameHeaderSize + kSecuredOverhead);
  auto g = DecodeFrame(ByteView(wire.data(), wire.size()));
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(std::holds_alternative<RxSa::OpenedInPlace>(rx_->OpenInPlace(g->header, g->payload)));
}

// A tampered tag or ciphertext is still rejected in place, the ciphertext bytes are zeroed
// (nothing unauthenticated stays in the buffer) and the window does not move.
TEST_F(SaTest, OpenInPlaceRejectsTamperingAndClearsTheBuffer) {
  const Bytes payload(300, 0x5A);
  const Bytes wire = *tx_->Seal(DataHeader(), payload);
  for (const std::size_t where : {wire.size() - 1, wire.size() - kIcvSize - 1}) {  // tag, body
    Bytes bad = wire;
    bad[where] ^= 0x80;
    auto f = DecodeFrame(bad);
    ASSERT_TRUE(f.ok());
    auto r = rx_->OpenInPlace(f->header, f->payload);
    ASSERT_TRUE(std::holds_alternative<DropReason>(r));
    EXPECT_EQ(std::get<DropReason>(r), DropReason::kAuthFailed);
    const auto body = ByteView(f->payload).subspan(kSpiSize + kSeqSize, payload.size());
    EXPECT_TRUE(std::all_of(body.begin(), body.end(), [](std::uint8_t b) { return b == 0; }));
  }
  // A replay is refused before decryption: the buffer keeps its ciphertext.
  auto f = DecodeFrame(wire);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(std::holds_alternative<RxSa::OpenedInPlace>(rx_->OpenInPlace(f->header, f->payload)));
  auto again = DecodeFrame(wire);
  ASSERT_TRUE(again.ok());
  auto r = rx_->OpenInPlace(again->header, again->payload);
  ASSERT_TRUE(std::holds_alternative<DropReason>(r));
  EXPECT_EQ(std::get<DropReason>(r), DropReason::kReplay);
  EXPECT_EQ(again->payload, DecodeFrame(wire).value().payload);
}

// SealInto past the hard limit seals nothing and leaves the buffer empty.
TEST_F(SaTest, SealIntoFailureClearsTheBuffer) {
  clock_.Advance(limits_.hard_lifetime);
  UninitBytes wire(100, 1);
  EXPECT_EQ(tx_->SealInto(DataHeader(), Bytes(10, 1), wire).code(),
            Status::Code::kFailedPrecondition);
  EXPECT_TRUE(wire.empty());
  EXPECT_EQ(tx_->last_seq(), 0u);
}

TEST_F(SaTest, ReplayAndTooOldAndOutOfOrder) {
  std::vector<Frame> frames;
  for (int i = 0; i < 40; ++i) frames.push_back(SealFrame(Bytes(10, static_cast<std::uint8_t>(i))));
  ASSERT_FALSE(Drop(OpenFrame(frames[39])).has_value());        // seq 40
  EXPECT_EQ(Drop(OpenFrame(frames[39])), DropReason::kReplay);  // again
  EXPECT_EQ(Drop(OpenFrame(frames[0])), DropReason::kTooOld);   // seq 1: 39 behind
  EXPECT_EQ(Drop(OpenFrame(frames[7])), DropReason::kTooOld);   // seq 8: 32 behind
  ASSERT_FALSE(Drop(OpenFrame(frames[8])).has_value());         // seq 9: 31 behind, in window
  EXPECT_EQ(Drop(OpenFrame(frames[8])), DropReason::kReplay);
  ASSERT_FALSE(Drop(OpenFrame(frames[20])).has_value());
  ASSERT_FALSE(Drop(OpenFrame(frames[30])).has_value());
  EXPECT_EQ(Drop(OpenFrame(frames[30])), DropReason::kReplay);
}

TEST(ReplayWindow, SlidesOver64BitSequence) {
  ReplayWindow w;
  EXPECT_EQ(w.Check(0), DropReason::kTooOld);
  w.Accept(1);
  EXPECT_EQ(w.Check(1), DropReason::kReplay);
  w.Accept(1ull << 40);
  EXPECT_EQ(w.Check(1), DropReason::kTooOld);
  EXPECT_FALSE(w.Check((1ull << 40) - 31).has_value());
  EXPECT_EQ(w.Check((1ull << 40) - 32), DropReason::kTooOld);
  w.Accept((1ull << 40) - 31);
  EXPECT_EQ(w.Check((1ull << 40) - 31), DropReason::kReplay);
  w.Accept((1ull << 40) + 1);
  EXPECT_EQ(w.Check((1ull << 40) - 31), DropReason::kTooOld);
  EXPECT_EQ(w.Check(1ull << 40), DropReason::kReplay);
  EXPECT_EQ(w.highest(), (1ull << 40) + 1);
}

TEST_F(SaTest, WrongKeyWrongSpiAndMalformed) {
  auto other =
      std::move(RxSa::Create(MakeSa(0x1001, Direction::kRx, 0x43), limits_, clock_)).value();
  Frame f = SealFrame(Bytes(5, 5));
  EXPECT_EQ(Drop(other->Open(f.header, f.payload)), DropReason::kAuthFailed);
  auto spi2 = std::move(RxSa::Create(MakeSa(0x2002, Direction::kRx), limits_, clock_)).value();
  EXPECT_EQ(Drop(spi2->Open(f.header, f.payload)), DropReason::kUnknownSpi);
  FrameHeader clear = f.header;
  clear.flags = 0;
  EXPECT_EQ(Drop(rx_->Open(clear, f.payload)), DropReason::kMalformed);
  EXPECT_EQ(Drop(rx_->Open(f.header, ByteView(f.payload).first(20))), DropReason::kMalformed);
  EXPECT_FALSE(Drop(OpenFrame(f)).has_value());
}

TEST(SaCreate, RefusesBadParameters) {
  ManualClock clock(Clock::TimePoint{});
  SaLimits limits;
  EXPECT_FALSE(TxSa::Create(MakeSa(0, Direction::kTx), limits, clock).ok());
  EXPECT_FALSE(TxSa::Create(MakeSa(1, Direction::kRx), limits, clock).ok());
  SecurityAssociation short_key = MakeSa(1, Direction::kRx);
  short_key.key = SecureBuffer(Bytes(16, 1));
  EXPECT_FALSE(RxSa::Create(std::move(short_key), limits, clock).ok());
}

}  // namespace
}  // namespace cafs::edif::link
