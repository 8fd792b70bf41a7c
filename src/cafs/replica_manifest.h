// ReplicaManifest: what one DR replica of a VM holds (docs/replicas.md "Manifest", byte
// table there): the VM set GUID, per file its GUIDs, key GUID and version, sizes at the cut
// and the SHA-256 of every chunk the replica stores, closed by an HMAC-SHA-256 under the
// gateway's replica key (ReplicaMacKey) so any change of a byte is detected.
//
// The replica key is not a data key: it authenticates manifests only (ciphertext needs no
// more: a tampered chunk fails its manifest hash, and the pool file format's own header MAC
// and the per-sector cipher stand behind that). The DR side stores and verifies replicas
// without any key that decrypts.
//
// Threading: free functions, safe from any thread. Errors: Corruption naming the field for a
// malformed manifest, AuthFailed "replica manifest MAC mismatch ..." for a tampered one.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "util/bytes.h"
#include "util/result.h"
#include "util/secure_buffer.h"
#include "util/uuid.h"

namespace cafs::core {

inline constexpr std::size_t kManifestDigestSize = 32;
using ChunkDigest = std::array<std::uint8_t, kManifestDigestSize>;

// A chunk stored by the replica: its index, the SHA-256 of its bytes as stored (the last chunk
// of a file may be short) and where they are in the replica's data file. Version 3 manifests
// record the offset (data files are written append-only: chunks in the order they were
// copied); versions 1 and 2 stored chunk k at k * chunk_bytes, which decoding fills in.
// An all-zero digest means the chunk is all zeros and is not stored (a hole; offset 0).
struct ReplicaExtent {
  std::uint64_t chunk = 0;
  ChunkDigest sha256{};
  std::uint64_t offset = 0;  // of the chunk's bytes in the data file
  bool IsHole() const { return sha256 == ChunkDigest{}; }
  bool operator==(const ReplicaExtent&) const = default;
};

struct ReplicaFileEntry {
  Uuid file_guid;
  Uuid key_guid;
  std::uint32_t key_version = 0;
  std::uint32_t sector_size = 0;
  std::uint64_t pool_file_size = 0;  // bytes of the pool file (header included) at the cut
  std::uint64_t logical_size = 0;    // the header's logical size at the cut
  // The file's permission bits and owner at the cut (a restore gives them back). Version 1
  // manifests did not keep them: 0644, root.
  std::uint32_t mode = 0644;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string name;                    // the file's name in the VM directory
  std::string pool;                    // the pool it was in
  std::vector<ReplicaExtent> extents;  // ascending chunk; a full replica lists every chunk
  bool operator==(const ReplicaFileEntry&) const = default;
};

struct ReplicaManifest {
  Uuid replica_id;
  Uuid parent_id;  // nil: a full replica; else the replica this one is incremental to
  Uuid vm_set_id;
  std::uint64_t created_ms = 0;  // Unix ms of the cut
  std::uint32_t chunk_bytes = 0;
  std::string vm_path;  // the VM's gateway path at the cut ("my_vmset/vm1")
  std::vector<ReplicaFileEntry> files;
  bool operator==(const ReplicaManifest&) const = default;

  const ReplicaFileEntry* Find(const Uuid& file_guid) const;
};

// The MAC key of manifests: HKDF-SHA-512(replica secret, info "cafs/v1/replica-manifest").
Result<SecureBuffer> ReplicaMacKey(ByteView replica_secret);
// Loads the 32-byte replica secret at `path` (NotFound when missing; Corruption for another
// length).
Result<SecureBuffer> LoadReplicaSecret(const std::string& path);
// The same, creating it (random, 0600, never replacing one made meanwhile) when missing.
Result<SecureBuffer> LoadOrCreateReplicaSecret(const std::string& path);

Result<Bytes> EncodeManifest(const ReplicaManifest& m, ByteView mac_key);
// Writes format version 3. Decoding reads versions 1, 2 and 3.
// Checks the MAC first (AuthFailed), then the structure (Corruption).
Result<ReplicaManifest> DecodeManifest(ByteView bytes, ByteView mac_key);

}  // namespace cafs::core
