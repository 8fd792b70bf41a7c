# NBD: option and request decoding + validation as the server sees a client's bytes.
if(TARGET cafs_edif_nbd)
  cafs_add_fuzzer(nbd_request_fuzzer
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/nbd_request_fuzzer.cc
    LIBS cafs_edif_nbd)
endif()
