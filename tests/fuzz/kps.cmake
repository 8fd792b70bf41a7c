# kpsd (src/kps). http_request_fuzzer: the REST listener's request-head parser; seeds in
# tests/fuzz/corpus/http_request_fuzzer/ (requests as curl, cafsctl/cpp-httplib and the
# hostile suite send them).
if(TARGET cafs_kps)
  cafs_add_fuzzer(http_request_fuzzer
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/http_request_fuzzer.cc
    LIBS cafs_kps)
endif()
# kpsd's REST request handling (src/kps/rest_api.h) against a real keyring and an in-memory
# SQLite store. Seeds in tests/fuzz/corpus/kps_rest_fuzzer/: a few valid requests per
# endpoint as each role would send them (see the input format in kps_rest_fuzzer.cc).
if(TARGET cafs_kps)
  cafs_add_fuzzer(kps_rest_fuzzer
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/kps_rest_fuzzer.cc
    LIBS cafs_kps)
endif()
