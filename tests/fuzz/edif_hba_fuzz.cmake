# Fabric payloads (src/edif/hba) and the agents' AuthFrame / tunnel message (src/edif/agent) on
# hostile bytes. Source in tests/unit/edif/hba/fuzz/; seeds in
# tests/fuzz/corpus/fabric_payload_fuzzer/.
if(TARGET cafs_edif_hba AND TARGET cafs_edif_agent)
  cafs_add_fuzzer(fabric_payload_fuzzer
    SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/edif/hba/fuzz/fabric_payload_fuzzer.cc
    LIBS cafs_edif_hba cafs_edif_agent)
endif()
