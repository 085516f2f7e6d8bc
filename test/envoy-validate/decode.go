package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// protojson reports where decoding stopped as "(line L:C): what", C counted in runes.
var decodeAt = regexp.MustCompile(`(?s)\(line (\d+):(\d+)\): (.*)$`)

// decodeProblem turns a protojson error into "<path>: <what>", the path found from the
// error's position in js, so a decode error reads like a validation one.
func decodeProblem(js []byte, err error) string {
	m := decodeAt.FindStringSubmatch(err.Error())
	if m == nil {
		return "<root>: " + err.Error()
	}
	line, _ := strconv.Atoi(m[1])
	column, _ := strconv.Atoi(m[2])
	return orRoot(jsonPathAt(js, byteOffset(js, line, column))) + ": " + m[3]
}

func byteOffset(js []byte, line, column int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(js[off:], '\n')
		if i < 0 {
			return len(js)
		}
		off += i + 1
	}
	for c := 1; c < column && off < len(js); c++ {
		_, size := utf8.DecodeRune(js[off:])
		off += size
	}
	return off
}

type jsonFrame struct {
	path    string
	object  bool
	wantKey bool
	key     string
	index   int
}

// jsonPathAt is the path of the JSON token starting at offset: for an object key, or the
// "@type" of an Any, the path of the object that holds it. An Any's path gets its type in
// parentheses once its "@type" has been read, as in the validation problems.
func jsonPathAt(js []byte, offset int) string {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var stack []*jsonFrame
	valuePath := func(top *jsonFrame) string {
		switch {
		case top == nil:
			return ""
		case top.object && plainKey.MatchString(top.key):
			return join(top.path, top.key)
		case top.object:
			return top.path + "[" + quote(top.key) + "]"
		default:
			return fmt.Sprintf("%s[%d]", top.path, top.index)
		}
	}
	closeValue := func() {
		if len(stack) == 0 {
			return
		}
		if top := stack[len(stack)-1]; top.object {
			top.wantKey = true
		} else {
			top.index++
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		// Tokens before the offending one end at or before its start.
		here := offset < int(dec.InputOffset())
		var top *jsonFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				p := valuePath(top)
				if here {
					return p
				}
				stack = append(stack, &jsonFrame{path: p, object: d == '{', wantKey: true})
			default:
				if here {
					return top.path
				}
				stack = stack[:len(stack)-1]
				closeValue()
			}
			continue
		}
		if top != nil && top.object && top.wantKey {
			if here {
				return top.path
			}
			top.key, _ = tok.(string)
			top.wantKey = false
			continue
		}
		isType := top != nil && top.object && top.key == "@type"
		if here {
			if isType {
				return top.path
			}
			return valuePath(top)
		}
		if s, ok := tok.(string); ok && isType {
			top.path += "(" + s[strings.LastIndex(s, "/")+1:] + ")"
		}
		closeValue()
	}
}

// plainKey: a key written bare in a path; others (map keys) are written ["key"].
var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
