#include "kat_support.h"

#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace cafs::crypto::testing {

Bytes Hex(std::string_view hex) {
  auto parsed = FromHex(hex);
  if (!parsed.ok()) {
    ADD_FAILURE() << "bad hex literal in a test vector: " << parsed.status().ToString();
    return {};
  }
  return std::move(parsed).value();
}

Bytes Counting(std::size_t size) {
  Bytes out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>(i & 0xff);
  return out;
}

TempDir::TempDir() {
  const char* base = getenv("TMPDIR");
  std::string tmpl =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/cafs-crypto-kat-XXXXXX";
  if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::File(std::string_view name) const { return path_ + "/" + std::string(name); }

bool WriteFile(const std::string& path, ByteView data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  return static_cast<bool>(f);
}

std::optional<Bytes> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::optional<std::string> RunCommand(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string out;
  std::array<char, 4096> buf;
  std::size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  const int status = pclose(pipe);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << "command failed (status " << status << "): " << command;
    return std::nullopt;
  }
  return out;
}

bool OpenSslCliAvailable() {
  FILE* pipe = popen("openssl version 2>/dev/null", "r");
  if (pipe == nullptr) return false;
  std::array<char, 128> buf{};
  const std::size_t n = fread(buf.data(), 1, buf.size() - 1, pipe);
  const int status = pclose(pipe);
  return status == 0 && std::string_view(buf.data(), n).starts_with("OpenSSL 3");
}

namespace {

std::string AesEcbName(std::size_t key_size) {
  return "aes-" + std::to_string(key_size * 8) + "-ecb";
}

std::optional<Bytes> RunEnc(const TempDir& dir, const std::string& args, ByteView data) {
  const std::string in = dir.File("enc-in.bin");
  const std::string out = dir.File("enc-out.bin");
  if (!WriteFile(in, data)) return std::nullopt;
  if (!RunCommand("openssl enc " + args + " -nopad -in '" + in + "' -out '" + out + "'")) {
    return std::nullopt;
  }
  return ReadFile(out);
}

}  // namespace

std::optional<Bytes> CliAesEcbEncrypt(const TempDir& dir, ByteView key, ByteView data) {
  return RunEnc(dir, "-e -" + AesEcbName(key.size()) + " -K " + ToHex(key), data);
}

std::optional<Bytes> CliAesCbc(const TempDir& dir, ByteView key, ByteView iv, ByteView data,
                               bool encrypt) {
  return RunEnc(dir,
                std::string(encrypt ? "-e" : "-d") + " -aes-" + std::to_string(key.size() * 8) +
                    "-cbc -K " + ToHex(key) + " -iv " + ToHex(iv),
                data);
}

std::optional<Bytes> CliSha256(const TempDir& dir, ByteView data) {
  const std::string in = dir.File("dgst-in.bin");
  const std::string out = dir.File("dgst-out.bin");
  if (!WriteFile(in, data)) return std::nullopt;
  if (!RunCommand("openssl dgst -sha256 -binary -out '" + out + "' '" + in + "'")) {
    return std::nullopt;
  }
  return ReadFile(out);
}

}  // namespace cafs::crypto::testing
