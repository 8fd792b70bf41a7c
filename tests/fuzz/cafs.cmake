# The gateway core (src/cafs). replica_manifest_fuzzer: the DR replica manifest decoder
# (docs/replicas.md "Manifest"); the input is a manifest without its MAC, which the fuzzer
# appends. Seeds: tests/unit/cafs/testdata/replica_manifest_v*.bin without their last 32 bytes.
if(TARGET cafs_core)
  cafs_add_fuzzer(replica_manifest_fuzzer
    SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/cafs/fuzz/replica_manifest_fuzzer.cc
    LIBS cafs_core)
endif()
