# kpsd (src/kps). http_request_fuzzer: the REST listener's request-head parser; seeds in
# tests/fuzz/corpus/http_request_fuzzer/ (requests as curl, cafsctl/cpp-httplib and the
# hostile suite send them).
if(TARGET cafs_kps)
  cafs_add_fuzzer(http_request_fuzzer
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/http_request_fuzzer.cc
    LIBS cafs_kps)
endif()
