/*
 * h1_response_fuzz.c: libFuzzer target for the HTTP/1.1 response parser and
 * the chunked decoder, fed what a server could send: responses (1xx included)
 * with their bodies, one after the other. See h1_fuzz.h for what is checked;
 * the seeds (corpus/h1_response/) are valid and malformed responses.
 */
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/h1/h1_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    h1_fuzz_stream(1, data, size);
    return 0;
}
