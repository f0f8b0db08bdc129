"""c_proto_library: .proto files -> C with Debian's protoc-c, offline.

Bazel 4's native proto rules want protoc built from source (@com_google_protobuf),
which an offline build cannot fetch, so this is a genrule around the system
protoc-c (package protobuf-c-compiler) plus a cc_library over its output.

The package that calls the macro is the import root: `srcs = ["envoy/x/v3/y.proto"]`
is imported as "envoy/x/v3/y.proto" and generates `envoy/x/v3/y.pb-c.{c,h}`,
included as `#include "envoy/x/v3/y.pb-c.h"`. /usr/include is on the import path
too, for the well-known types Debian ships (package libprotobuf-dev); those get C
code only from a library that lists them in `system_srcs`, so that each message
descriptor is defined exactly once in the link.

`deps` are other c_proto_library targets of the same package whose files these
import: their .proto files are made visible to protoc-c and their C is linked in.
"""

def _stem(path):
    if not path.endswith(".proto"):
        fail("c_proto_library: %s does not end in .proto" % path)
    return path[:-len(".proto")]

def c_proto_library(name, srcs = [], system_srcs = [], deps = [], visibility = None, testonly = False):
    """Generates and compiles C for the given .proto files.

    Args:
      name: the cc_library; `<name>_protos` is a filegroup of the .proto files
        (srcs plus those of deps) for other tools (protoc descriptor sets).
      srcs: .proto files of this package.
      system_srcs: import paths under /usr/include to generate C for, e.g.
        "google/protobuf/any.proto".
      deps: c_proto_library targets of this package that srcs import.
      visibility: of the cc_library and the filegroup.
      testonly: passed on.
    """
    pkg = native.package_name()
    stems = [_stem(s) for s in srcs + system_srcs]
    outs_c = [s + ".pb-c.c" for s in stems]
    outs_h = [s + ".pb-c.h" for s in stems]

    native.filegroup(
        name = name + "_protos",
        srcs = srcs + [d + "_protos" for d in deps],
        visibility = visibility,
        testonly = testonly,
    )

    root = pkg if pkg else "."
    args = " ".join(
        ["%s/%s" % (root, s) for s in srcs] +
        ["/usr/include/" + s for s in system_srcs],
    )
    native.genrule(
        name = name + "_gen",
        srcs = [name + "_protos"],
        outs = outs_c + outs_h,
        cmd = "protoc-c %s--proto_path=/usr/include --c_out=$(RULEDIR) %s" % (
            ("--proto_path=%s " % root) if srcs else "",
            args,
        ),
        message = "protoc-c %s" % name,
        testonly = testonly,
    )

    native.cc_library(
        name = name,
        srcs = outs_c,
        hdrs = outs_h,
        # Generated includes are relative to the import root, in the
        # source tree and in bazel-bin alike.
        includes = ["."],
        deps = deps + ["//bazel:protobuf_c"],
        visibility = visibility,
        testonly = testonly,
    )
