/*
 * xds_samples_dump.c: writes each sample of xds_samples.h to
 * DIR/<name>.<full message name>.bin, for the Python test that decodes them
 * with Envoy's own .proto files. Usage: xds_samples_dump DIR
 */
#include <stdio.h>
#include <stdlib.h>

#include "tests/unit/proto/xds_samples.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    for (int id = 0; id < XDS_SAMPLE_COUNT; id++) {
        struct xds_bytes b;
        char path[4096];
        FILE *f;

        if (xds_sample_pack(id, &b) != 0) {
            fprintf(stderr, "%s: out of memory\n", xds_sample_name(id));
            return 1;
        }
        snprintf(path, sizeof(path), "%s/%s.%s.bin", argv[1], xds_sample_name(id), xds_sample_message(id));
        f = fopen(path, "wb");
        if (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0) {
            perror(path);
            return 1;
        }
        free(b.data);
    }
    return 0;
}
