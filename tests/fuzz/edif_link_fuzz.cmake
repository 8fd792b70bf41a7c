# Fabric frame codec + RX SA open with a fixed key on hostile byte streams (src/edif/link).
# Source in tests/unit/edif/link/fuzz/; seeds in tests/fuzz/corpus/link_frame_fuzzer/.
cafs_add_fuzzer(link_frame_fuzzer
  SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/edif/link/fuzz/link_frame_fuzzer.cc
  LIBS cafs_edif_link)
