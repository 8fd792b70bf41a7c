# ASan + UBSan build (CAFS_SANITIZE=ON): every target, fail on the first UB report.
if(CAFS_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
  # Executables are linked position-dependent (docs/ci.md "ASan start-up"): at -O0 UBSan
  # keeps a static descriptor per check (~80 MB of .data in cafsd), and in a PIE every one of
  # them is a relocation the loader applies and a page it copies at each start, ~0.2 s CPU a
  # process; the integration tests start cafsd, kpsd and cafsctl hundreds of times. The
  # objects stay -fPIE (the compiler's default), so the compile is the same and ccache entries
  # are shared with the trees that link PIE.
  string(APPEND CMAKE_EXE_LINKER_FLAGS " -no-pie")
endif()

# libFuzzer (CAFS_FUZZ=ON, clang only): the library code is instrumented for coverage;
# each fuzz target links with -fsanitize=fuzzer.
if(CAFS_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CAFS_FUZZ needs clang: configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
