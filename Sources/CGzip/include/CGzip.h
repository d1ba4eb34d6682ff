#ifndef QUICKMIRROR_CGZIP_H
#define QUICKMIRROR_CGZIP_H

// zlib, for gzip forms made of independently compressed segments. Only plain types
// here: zlib.h stays in the .c file, so this module never clashes with another package's
// view of the same header.
#include <stddef.h>
#include <stdint.h>

typedef struct qm_deflater qm_deflater;

/// A raw deflate compressor at `level` (1 fastest .. 9), reused for many segments; NULL
/// when zlib cannot allocate it.
qm_deflater *qm_deflater_new(int level);
void qm_deflater_free(qm_deflater *deflater);

/// The most bytes `qm_deflate_segment` writes for `length` input bytes.
size_t qm_deflate_bound(qm_deflater *deflater, size_t length);

/// Compresses `length` bytes as a self-contained raw deflate fragment that ends on a byte
/// boundary with an empty stored block (a sync flush) and no final block: fragments put
/// one after another are one deflate stream once a final block follows. Returns the
/// bytes written to `out`, or -1.
int64_t qm_deflate_segment(qm_deflater *deflater, const void *input, size_t length, void *out, size_t capacity);

uint32_t qm_crc32(uint32_t crc, const void *bytes, size_t length);

/// The CRC-32 of two byte runs one after the other, from theirs and the second's length.
uint32_t qm_crc32_combine(uint32_t first, uint32_t second, int64_t second_length);

#endif
