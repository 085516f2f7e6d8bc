// Command envoy-validate checks Envoy config files with Envoy's own Go API (go-control-plane):
// strict proto3 JSON decoding (unknown fields and unresolvable Any types are errors), then the
// protoc-gen-validate rules (ValidateAll), also inside every Any, which ValidateAll skips.
//
// Usage: envoy-validate <kind>=<path> [<kind>=<path> ...], kind "bootstrap" or "sds".
// Prints {"files":[{"kind","path","problems"}]} and exits 0 (no problem), 1 (problems) or 2
// (usage error or unreadable file).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	// The extensions the generated config names in "@type"; any other type is unresolvable.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

type fileReport struct {
	Kind     string   `json:"kind"`
	Path     string   `json:"path"`
	Problems []string `json:"problems"`
}

// kinds maps a CLI kind to a new empty message of the type Envoy reads such a file as.
var kinds = map[string]func() proto.Message{
	"bootstrap": func() proto.Message { return &bootstrapv3.Bootstrap{} },
	// A path_config_source file is a DiscoveryResponse (Envoy's filesystem subscription).
	"sds": func() proto.Message { return &discoveryv3.DiscoveryResponse{} },
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		return usage("no files given")
	}
	reports := make([]fileReport, 0, len(args))
	failed := false
	for _, arg := range args {
		kind, path, ok := strings.Cut(arg, "=")
		if !ok || kinds[kind] == nil || path == "" {
			return usage(fmt.Sprintf("bad argument %q", arg))
		}
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "envoy-validate: %v\n", err)
			return 2
		}
		problems := check(kind, data)
		failed = failed || len(problems) > 0
		reports = append(reports, fileReport{Kind: kind, Path: path, Problems: problems})
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false) // "<root>" stays readable
	if err := enc.Encode(map[string][]fileReport{"files": reports}); err != nil {
		fmt.Fprintf(os.Stderr, "envoy-validate: %v\n", err)
		return 2
	}
	if failed {
		return 1
	}
	return 0
}

func usage(why string) int {
	fmt.Fprintf(os.Stderr, "envoy-validate: %s\nusage: envoy-validate <bootstrap|sds>=<path> ...\n", why)
	return 2
}

// check returns every problem Envoy's API finds in one file (never nil, so JSON gets []).
func check(kind string, data []byte) []string {
	problems := []string{}
	// Envoy too reads YAML by converting it to JSON and parsing that with the JSON mapping.
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return append(problems, "<root>: not YAML: "+err.Error())
	}
	msg := kinds[kind]()
	opts := protojson.UnmarshalOptions{DiscardUnknown: false, Resolver: protoregistry.GlobalTypes}
	if err := opts.Unmarshal(js, msg); err != nil {
		return append(problems, decodeProblem(js, err))
	}
	problems = append(problems, validate(msg, "")...)
	problems = append(problems, walkAnys(msg.ProtoReflect(), "")...)
	if kind == "sds" {
		problems = append(problems, sdsProblems(msg.(*discoveryv3.DiscoveryResponse))...)
	}
	return problems
}

// sdsProblems checks what SDS takes from the file: exactly one resource, a Secret
// (Envoy's source/common/secret/sds_api.cc). The Secret's own rules are checked by walkAnys.
func sdsProblems(resp *discoveryv3.DiscoveryResponse) []string {
	var problems []string
	want := string((&tlsv3.Secret{}).ProtoReflect().Descriptor().FullName())
	if n := len(resp.GetResources()); n != 1 {
		problems = append(problems, fmt.Sprintf("resources: SDS takes exactly one resource, got %d", n))
	}
	for i, r := range resp.GetResources() {
		name := string(r.MessageName())
		if name != want {
			problems = append(problems, fmt.Sprintf("resources[%d]: @type must be %s, got %q", i, want, name))
		}
	}
	return problems
}

// validate runs the PGV rules of one message and flattens the errors into path-prefixed lines.
func validate(msg proto.Message, path string) []string {
	v, ok := msg.(interface{ ValidateAll() error })
	if !ok {
		return nil
	}
	err := v.ValidateAll()
	if err == nil {
		return nil
	}
	return flatten(err, msg.ProtoReflect().Descriptor(), path)
}

// walkAnys finds every google.protobuf.Any under m, unpacks it, validates the concrete message
// and descends into it (it may hold further Anys). ValidateAll stops at an Any.
func walkAnys(m protoreflect.Message, path string) []string {
	var problems []string
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		here := join(path, string(fd.Name()))
		v := m.Get(fd)
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				continue
			}
			mp := v.Map()
			keys := make([]protoreflect.MapKey, 0, mp.Len())
			mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
				keys = append(keys, k)
				return true
			})
			sort.Slice(keys, func(a, b int) bool { return keys[a].String() < keys[b].String() })
			for _, k := range keys {
				at := fmt.Sprintf("%s[%s]", here, quote(k.String()))
				problems = append(problems, visit(mp.Get(k).Message(), at)...)
			}
		case fd.IsList():
			if fd.Message() == nil {
				continue
			}
			list := v.List()
			for j := 0; j < list.Len(); j++ {
				problems = append(problems, visit(list.Get(j).Message(), fmt.Sprintf("%s[%d]", here, j))...)
			}
		case fd.Message() != nil:
			problems = append(problems, visit(v.Message(), here)...)
		}
	}
	return problems
}

const anyName protoreflect.FullName = "google.protobuf.Any"

// visit descends into a message value, unpacking it first if it is an Any.
func visit(m protoreflect.Message, path string) []string {
	if m.Descriptor().FullName() != anyName {
		return walkAnys(m, path)
	}
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		return []string{path + ": an Any of an unexpected Go type"}
	}
	inner, err := a.UnmarshalNew()
	if err != nil {
		return []string{fmt.Sprintf("%s: cannot unpack %q: %v", path, a.GetTypeUrl(), err)}
	}
	at := fmt.Sprintf("%s(%s)", path, inner.ProtoReflect().Descriptor().FullName())
	return append(validate(inner, at), walkAnys(inner.ProtoReflect(), at)...)
}

// pgvError is what every PGV-generated <Message>ValidationError implements.
type pgvError interface {
	Field() string
	Reason() string
	Cause() error
	Key() bool
}

// flatten turns a PGV error tree (multi-errors of errors whose causes are the embedded
// messages' errors) into one line per rule broken, with the proto field path.
func flatten(err error, md protoreflect.MessageDescriptor, path string) []string {
	if multi, ok := err.(interface{ AllErrors() []error }); ok {
		var out []string
		for _, e := range multi.AllErrors() {
			out = append(out, flatten(e, md, path)...)
		}
		return out
	}
	pe, ok := err.(pgvError)
	if !ok {
		return []string{fmt.Sprintf("%s: %v", orRoot(path), err)}
	}
	// PGV names fields in Go style, with an index or map key: "Clusters[0]".
	goName, index, indexed := strings.Cut(pe.Field(), "[")
	fd, name := protoField(md, goName)
	here := join(path, name)
	if indexed {
		index = strings.TrimSuffix(index, "]")
		if fd != nil && fd.IsMap() && fd.MapKey().Kind() == protoreflect.StringKind {
			index = quote(index)
		}
		here = fmt.Sprintf("%s[%s]", here, index)
	}
	if pe.Key() {
		here += " (key)"
	}
	cause := pe.Cause()
	if cause != nil && pe.Reason() == "embedded message failed validation" && fd != nil {
		child := fd.Message()
		if fd.IsMap() {
			child = fd.MapValue().Message()
		}
		if child != nil {
			return flatten(cause, child, here)
		}
	}
	line := here + ": " + pe.Reason()
	if cause != nil {
		line += ": " + cause.Error()
	}
	return []string{line}
}

// protoField finds the field (or oneof) of md that PGV calls goName and returns its proto name.
func protoField(md protoreflect.MessageDescriptor, goName string) (protoreflect.FieldDescriptor, string) {
	// Go names are the proto names in CamelCase: compare without case and underscores.
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
	want := norm(goName)
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		if fd := fields.Get(i); norm(string(fd.Name())) == want {
			return fd, string(fd.Name())
		}
	}
	oneofs := md.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		if od := oneofs.Get(i); norm(string(od.Name())) == want {
			return nil, string(od.Name())
		}
	}
	return nil, goName
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func orRoot(path string) string {
	if path == "" {
		return "<root>"
	}
	return path
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
