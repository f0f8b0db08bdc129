/*
 * h1_request_fuzz.c: libFuzzer target for the HTTP/1.1 request parser and the
 * chunked decoder, fed what a client could send: a stream of pipelined
 * requests with their bodies. See h1_fuzz.h for what is checked; the seeds
 * (corpus/h1_request/) are valid requests and every smuggling vector of the
 * unit tests.
 */
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/h1/h1_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    h1_fuzz_stream(0, data, size);
    return 0;
}
