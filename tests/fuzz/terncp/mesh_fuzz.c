/* mesh_fuzz: bytes -> mesh_parse -> (if valid) gen_snapshot for every
 * service. A model that parses must generate without crashing; an error
 * must be one "FILE:LINE: ..." line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xds/cp/gen.h"
#include "xds/cp/mesh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct mesh_model *m = mesh_parse("fuzz.yaml", (const char *)data, size, err, sizeof(err));
	unsigned i;

	if (!m) {
		if (strncmp(err, "fuzz.yaml:", 10) != 0 || strchr(err, '\n'))
			abort();
		return 0;
	}
	for (i = 0; i < m->n_services; i++) {
		const struct mesh_service *s = &m->services[i];
		struct gen_input in = { .model = m, .cert_pem = "C", .key_pem = "K", .ca_pem = "A" };
		struct gen_node node = { .svc = s, .inbound = s->inbound, .app = s->app, .outbound = s->outbound,
					 .proxyless = (int)(size & 1) };

		snapshot_unref(gen_snapshot(&in, &node, s->name));
	}
	mesh_model_free(m);
	return 0;
}
