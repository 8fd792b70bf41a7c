# NFS front-end: RPC record marking, call headers and credentials, MOUNT v3 and portmapper
# argument decoding (src/frontend/nfs). Seeds in tests/fuzz/corpus/nfs_rpc_fuzzer/: records
# captured from Debian's rpcinfo and libnfs clients plus hand-built ones (see docs/nfs.md).
if(TARGET cafs_frontend_nfs)
  cafs_add_fuzzer(nfs_rpc_fuzzer
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/nfs_rpc_fuzzer.cc
    LIBS cafs_frontend_nfs)
endif()
