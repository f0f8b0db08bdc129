#!/usr/bin/python3
"""Checks tern's proto/ subset against Envoy's own .proto files, field by field.

Our files are written for tern, with fewer fields than Envoy's; what must hold is
that everything we declare exists upstream with the same wire meaning:
  - every message and enum we declare has the same full name upstream;
  - every field has the same number, name, type, label, message/enum type and
    oneof as the upstream field of that number;
  - every enum value has the same number upstream;
  - every service method has the same request/response types and streaming.
Fields, values and messages that we leave out are fine (protobuf skips unknown
fields), and are counted so the report says how much of upstream we cover.

Usage: check_upstream.py OURS.pb UPSTREAM.pb
Both are FileDescriptorSets (protoc --include_imports --descriptor_set_out).
Exit status 0 when everything matches, 1 with one line per mismatch otherwise.
"""
import sys

from google.protobuf import descriptor_pb2

TYPE_NAMES = {v: k for k, v in descriptor_pb2.FieldDescriptorProto.Type.items()}
LABEL_NAMES = {v: k for k, v in descriptor_pb2.FieldDescriptorProto.Label.items()}


def load(path):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    return fds


def index(fds):
    """Full name -> (kind, descriptor proto, file name) for messages, enums, services."""
    out = {}

    def walk_msg(prefix, msg, fname):
        full = prefix + "." + msg.name
        out[full] = ("message", msg, fname)
        for nested in msg.nested_type:
            walk_msg(full, nested, fname)
        for en in msg.enum_type:
            out[full + "." + en.name] = ("enum", en, fname)

    for f in fds.file:
        prefix = "." + f.package if f.package else ""
        for msg in f.message_type:
            walk_msg(prefix, msg, f.name)
        for en in f.enum_type:
            out[prefix + "." + en.name] = ("enum", en, f.name)
        for svc in f.service:
            out[prefix + "." + svc.name] = ("service", svc, f.name)
    return out


def oneof_of(msg, field):
    # proto3 "optional" is a synthetic oneof; neither side uses it, but be exact.
    if not field.HasField("oneof_index"):
        return None
    return msg.oneof_decl[field.oneof_index].name


def check_message(name, ours, theirs, errors, stats):
    up_fields = {f.number: f for f in theirs.field}
    for f in ours.field:
        where = "%s.%s (field %d)" % (name, f.name, f.number)
        u = up_fields.get(f.number)
        if u is None:
            errors.append("%s: no field with this number upstream" % where)
            continue
        stats["fields"] += 1
        if f.name != u.name:
            errors.append("%s: upstream calls field %d '%s'" % (where, f.number, u.name))
        if f.type != u.type:
            errors.append("%s: type %s, upstream %s" % (where, TYPE_NAMES[f.type], TYPE_NAMES[u.type]))
        if f.label != u.label:
            errors.append("%s: label %s, upstream %s" % (where, LABEL_NAMES[f.label], LABEL_NAMES[u.label]))
        if f.type_name != u.type_name:
            errors.append("%s: type %s, upstream %s" % (where, f.type_name, u.type_name))
        if oneof_of(ours, f) != oneof_of(theirs, u):
            errors.append("%s: oneof %s, upstream %s" % (where, oneof_of(ours, f), oneof_of(theirs, u)))
    stats["fields_upstream"] += len(theirs.field)


def check_enum(name, ours, theirs, errors, stats):
    up_values = {v.name: v.number for v in theirs.value}
    for v in ours.value:
        stats["enum_values"] += 1
        if v.name not in up_values:
            errors.append("%s.%s: no such enum value upstream" % (name, v.name))
        elif up_values[v.name] != v.number:
            errors.append("%s.%s = %d: upstream %d" % (name, v.name, v.number, up_values[v.name]))


def check_service(name, ours, theirs, errors, stats):
    up_methods = {m.name: m for m in theirs.method}
    for m in ours.method:
        stats["methods"] += 1
        u = up_methods.get(m.name)
        if u is None:
            errors.append("%s/%s: no such method upstream" % (name, m.name))
            continue
        for attr in ("input_type", "output_type", "client_streaming", "server_streaming"):
            if getattr(m, attr) != getattr(u, attr):
                errors.append("%s/%s: %s %r, upstream %r" % (name, m.name, attr, getattr(m, attr), getattr(u, attr)))


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    ours_fds, up_fds = load(argv[1]), load(argv[2])
    ours, up = index(ours_fds), index(up_fds)
    errors = []
    stats = {"messages": 0, "enums": 0, "fields": 0, "fields_upstream": 0,
             "enum_values": 0, "methods": 0}
    for name, (kind, desc, fname) in sorted(ours.items()):
        if name.startswith(".google.protobuf."):
            continue  # Debian's own copies on both sides
        if name not in up:
            errors.append("%s (%s in %s): not defined upstream" % (name, kind, fname))
            continue
        ukind, udesc, ufname = up[name]
        if ukind != kind:
            errors.append("%s: a %s here, a %s upstream" % (name, kind, ukind))
            continue
        if fname != ufname and not name.endswith("Entry"):
            errors.append("%s: declared in %s, upstream in %s" % (name, fname, ufname))
        if kind == "message":
            stats["messages"] += 1
            check_message(name, desc, udesc, errors, stats)
        elif kind == "enum":
            stats["enums"] += 1
            check_enum(name, desc, udesc, errors, stats)
        else:
            check_service(name, desc, udesc, errors, stats)
    for e in errors:
        print("MISMATCH " + e)
    print("checked %(messages)d messages, %(fields)d fields (of %(fields_upstream)d upstream), "
          "%(enums)d enums, %(enum_values)d enum values, %(methods)d methods" % stats)
    print("%d passed, %d failed" % (1 if not errors else 0, 1 if errors else 0))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
