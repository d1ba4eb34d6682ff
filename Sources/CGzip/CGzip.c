#include "CGzip.h"
#include <stdlib.h>
#include <zlib.h>

struct qm_deflater {
    z_stream stream;
};

qm_deflater *qm_deflater_new(int level) {
    qm_deflater *deflater = calloc(1, sizeof *deflater);
    if (!deflater) return NULL;
    // Raw deflate (negative window bits): the gzip header and trailer are written apart.
    if (deflateInit2(&deflater->stream, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(deflater);
        return NULL;
    }
    return deflater;
}

void qm_deflater_free(qm_deflater *deflater) {
    if (!deflater) return;
    deflateEnd(&deflater->stream);
    free(deflater);
}

size_t qm_deflate_bound(qm_deflater *deflater, size_t length) {
    // A sync flush adds an empty stored block (5 bytes) and may close a partial one.
    return deflateBound(&deflater->stream, length) + 16;
}

int64_t qm_deflate_segment(qm_deflater *deflater, const void *input, size_t length, void *out, size_t capacity) {
    z_stream *stream = &deflater->stream;
    if (deflateReset(stream) != Z_OK) return -1;
    stream->next_in = (Bytef *)input;
    stream->avail_in = (uInt)length;
    stream->next_out = out;
    stream->avail_out = (uInt)capacity;
    int result = deflate(stream, Z_SYNC_FLUSH);
    if ((result != Z_OK && result != Z_BUF_ERROR) || stream->avail_in != 0 || stream->avail_out == 0) return -1;
    return (int64_t)(capacity - stream->avail_out);
}

uint32_t qm_crc32(uint32_t crc, const void *bytes, size_t length) {
    return (uint32_t)crc32(crc, bytes, (uInt)length);
}

uint32_t qm_crc32_combine(uint32_t first, uint32_t second, int64_t second_length) {
    return (uint32_t)crc32_combine(first, second, (z_off_t)second_length);
}
