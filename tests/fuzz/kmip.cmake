# KMIP TTLV codec and message layer (src/kmip). Seeds in tests/fuzz/corpus/kmip_ttlv_fuzzer/:
# the KMIP 1.1 test-case DiscoverVersions request, one item of each type (the spec's 9.1.2
# examples) and requests as PyKMIP sends them (Create, Get, Locate), see docs/kmip.md.
if(TARGET cafs_kmip)
  cafs_add_fuzzer(kmip_ttlv_fuzzer
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/kmip_ttlv_fuzzer.cc
    LIBS cafs_kmip)
endif()
