# CAFS gateway: cafsd + FUSE against real clients (qemu-img, qemu-io, fio, dd).
if(TARGET cafsd)
  add_test(NAME cafs_fuse_end_to_end
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_fuse_test.sh $<TARGET_FILE:cafsd>)
  set_tests_properties(cafs_fuse_end_to_end PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
endif()
if(TARGET cafsd AND TARGET kpsd AND TARGET cafsctl)
  add_test(NAME cafs_kps_end_to_end
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cafs_kps_test.sh $<TARGET_FILE:cafsd> $<TARGET_FILE:kpsd>
            $<TARGET_FILE:cafsctl>)
  set_tests_properties(cafs_kps_end_to_end PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
