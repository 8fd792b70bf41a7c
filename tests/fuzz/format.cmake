# Pool file header decoder (src/format/header_codec.h). Seeds: valid headers for each cipher
# and sector size, made by format_test (HeaderCodecTest.WriteFuzzSeeds with
# CAFS_WRITE_FUZZ_SEEDS=<dir>): valid-* version 1, v2-seed-* version 2 (some mid-rekey), and
# the headers of the golden v2-mid-rekey and v2-upgrade-interrupted files.
cafs_add_fuzzer(header_decode_fuzzer
  SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/format/fuzz/header_decode_fuzzer.cc
  LIBS cafs_format)
