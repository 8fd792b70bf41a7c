# Mailbox decoders and the driver-side endpoint on hostile sectors (src/edif/mailbox).
# Source in tests/unit/edif/mailbox/fuzz/; seeds in tests/fuzz/corpus/mailbox_decode_fuzzer/.
cafs_add_fuzzer(mailbox_decode_fuzzer
  SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/edif/mailbox/fuzz/mailbox_decode_fuzzer.cc
  LIBS cafs_edif_mailbox)
