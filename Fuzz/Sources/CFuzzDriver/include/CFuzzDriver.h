#ifndef QUICKMIRROR_CFUZZDRIVER_H
#define QUICKMIRROR_CFUZZDRIVER_H
#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer's driver on `test_one_input`, with the command line given.
///
/// SwiftPM links an executable with `main` aliased to the module's own entry point
/// (MODULE_main), so libFuzzer's `main` is never the one that runs; each fuzz target's
/// entry point calls this instead, which is what libFuzzer's `main` does.
int qm_run_fuzzer(int argc, char **argv, int (*test_one_input)(const uint8_t *data, size_t size));
#endif
