// Fuzzes what the NFS front-end's RPC layer decodes from a client, without sockets: record
// marking (RecordAssembler), call headers and credentials (RpcDispatcher::Prepare), and the
// MOUNT v3 and portmapper argument decoders (Execute), with the reply encoders behind them.
//
// Input layout: byte 0 selects the mode. Even: the rest is a TCP byte stream, fed to the
// assembler in chunks of (byte 1 + 1) bytes; every completed record is dispatched. Odd: the
// rest is one record.
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "frontend/nfs/exports.h"
#include "frontend/nfs/mount3.h"
#include "frontend/nfs/portmap.h"
#include "frontend/nfs/rpc_message.h"

using namespace cafs;
using namespace cafs::frontend::nfs;

namespace {

const Exports& TheExports() {
  static const Exports exports = [] {
    ExportConfig a;
    a.path = "/my_vmset";
    a.clients = {"127.0.0.0/8", "::1"};
    a.squash = Squash::kNoRootSquash;
    ExportConfig b;
    b.path = "/";
    b.clients = {"192.0.2.0/24"};
    auto e = Exports::Create({a, b});
    if (!e.ok()) __builtin_trap();
    return std::move(*e);
  }();
  return exports;
}

void Serve(const RpcDispatcher& dispatcher, const Bytes& record) {
  PreparedCall p = dispatcher.Prepare(record, "127.0.0.1", 800);
  if (p.action == PreparedCall::Action::kDispatch) {
    XdrBytes reply = dispatcher.Execute(p, record);
    if (reply.size() < 4) __builtin_trap();  // every reply is a framed record
  } else if (p.action == PreparedCall::Action::kReply && p.reply.size() < 4) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  if (size < 2) return 0;
  PortmapProgram portmap({{kPortmapProgram, kPortmapVersion, kIpProtoTcp, kPortmapPort},
                          {kMountProgram, kMountVersion3, kIpProtoTcp, 20048}});
  Mount3Program mount(&TheExports(), [](std::string_view path) -> Result<Bytes> {
    if (path.size() > 40) return Status::NotFound("no such directory");
    return Bytes(path.begin(), path.end());
  });
  RpcDispatcher dispatcher;
  dispatcher.Add(&portmap);
  dispatcher.Add(&mount);

  const ByteView input(data + 1, size - 1);
  if ((data[0] & 1) != 0) {
    Serve(dispatcher, Bytes(input.begin(), input.end()));
    return 0;
  }
  const std::size_t chunk = std::size_t{data[1]} + 1;
  RecordAssembler assembler(64 * 1024);
  std::vector<Bytes> records;
  for (std::size_t pos = 1; pos < input.size(); pos += chunk) {
    const ByteView piece = input.subspan(pos, std::min(chunk, input.size() - pos));
    if (!assembler.Feed(piece, records).ok()) break;  // the server drops the connection
    for (const Bytes& r : records) Serve(dispatcher, r);
    records.clear();
  }
  return 0;
}
