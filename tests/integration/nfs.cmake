# NFSv3 front-end end to end: cafsd (NFS only) in a private network namespace driven by the
# libnfs tools, qemu-img and qemu-io; a denied client through a veth pair; kill -9 + restart.
if(TARGET cafsd)
  add_test(NAME cafs_nfs_end_to_end
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/nfs_e2e_test.sh $<TARGET_FILE:cafsd>)
  set_tests_properties(cafs_nfs_end_to_end PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
