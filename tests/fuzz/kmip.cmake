# KMIP TTLV codec and message layer (src/kmip). Seeds in tests/fuzz/corpus/kmip_ttlv_fuzzer/:
# the KMIP 1.1 test-case DiscoverVersions request, one item of each type (the spec's 9.1.2
# examples) and requests as PyKMIP sends them (Create, Get, Locate), see docs/kmip.md.
if(TARGET cafs_kmip)
  cafs_add_fuzzer(kmip_ttlv_fuzzer
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/kmip_ttlv_fuzzer.cc
    LIBS cafs_kmip)
endif()

# kpsd's KMIP operations on a real kpsd core (SQLite store in a temporary directory): the
# service layer behind the codec. Seeds in tests/fuzz/corpus/kmip_service_fuzzer/: byte 0
# picks the caller, then a request message (the codec's seeds, a Get with a non-UTF-8 Unique
# Identifier, a Create with a non-UTF-8 Name).
if(TARGET cafs_kps)
  cafs_add_fuzzer(kmip_service_fuzzer
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/kmip_service_fuzzer.cc
    LIBS cafs_kps)
  target_include_directories(kmip_service_fuzzer PRIVATE ${PROJECT_SOURCE_DIR}/tests)
endif()
