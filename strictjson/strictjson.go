// Package strictjson decodes JSON documents strictly: unknown fields, wrong
// types and trailing data are refused, and every problem is reported with the
// full path of the offending field (e.g. "applications[1].mobile.proximty"),
// which encoding/json alone does not give.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tandem-id/tandem"
)

// Decode decodes one JSON value from data into v (a non-nil pointer). It
// returns nil on success; otherwise every shape problem it finds, each with
// a path that starts with prefix (e.g. "body"), and v is left unchanged.
// A syntax error is reported alone with its line and column. A document
// that is not valid UTF-8 is refused (RFC 8259 §8.1): encoding/json would
// silently turn the bad bytes into U+FFFD and store something else than
// what was sent.
func Decode(data []byte, v any, prefix string) []tandem.FieldError {
	if !utf8.Valid(data) {
		line, col := position(data, int64(invalidUTF8At(data)))
		return []tandem.FieldError{{Path: prefix, Message: fmt.Sprintf("malformed JSON at line %d, column %d: the document is not valid UTF-8 text", line, col)}}
	}
	var first json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&first); err != nil {
		return []tandem.FieldError{{Path: prefix, Message: syntaxMessage(data, err)}}
	}
	if _, err := dec.Token(); err != io.EOF {
		return []tandem.FieldError{{Path: prefix, Message: "unexpected data after the JSON value"}}
	}
	dec = json.NewDecoder(bytes.NewReader(first))
	dec.UseNumber()
	generic, ferr := readValue(dec, prefix)
	if ferr != nil {
		return []tandem.FieldError{*ferr}
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("strictjson: Decode needs a non-nil pointer")
	}
	var errs []tandem.FieldError
	check(generic, rv.Type().Elem(), prefix, &errs)
	if len(errs) > 0 {
		return errs
	}
	if err := json.Unmarshal(data, v); err != nil {
		// The shape check accepts only what Unmarshal accepts; report
		// anything else (e.g. a number out of range) plainly.
		return []tandem.FieldError{{Path: prefix, Message: strings.TrimPrefix(err.Error(), "json: ")}}
	}
	return nil
}

// readValue reads one JSON value token by token, refusing an object that
// names the same key twice (encoding/json would silently keep the last).
func readValue(dec *json.Decoder, path string) (any, *tandem.FieldError) {
	tok, err := dec.Token()
	if err != nil {
		return nil, &tandem.FieldError{Path: path, Message: "malformed JSON: " + err.Error()}
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, &tandem.FieldError{Path: path, Message: "malformed JSON: " + err.Error()}
				}
				k, _ := kt.(string)
				if _, dup := obj[k]; dup {
					return nil, &tandem.FieldError{Path: join(path, k), Message: fmt.Sprintf("field %q appears twice; give it once", k)}
				}
				v, ferr := readValue(dec, join(path, k))
				if ferr != nil {
					return nil, ferr
				}
				obj[k] = v
			}
			_, err = dec.Token() // '}'
			return obj, nil
		case '[':
			arr := []any{}
			for dec.More() {
				v, ferr := readValue(dec, fmt.Sprintf("%s[%d]", path, len(arr)))
				if ferr != nil {
					return nil, ferr
				}
				arr = append(arr, v)
			}
			_, err = dec.Token() // ']'
			return arr, nil
		}
	}
	return tok, nil
}

func syntaxMessage(data []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := position(data, se.Offset-1)
		return fmt.Sprintf("malformed JSON at line %d, column %d: %s", line, col, strings.TrimPrefix(se.Error(), "json: "))
	}
	if errors.Is(err, io.EOF) {
		return "the body is empty; send a JSON object"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "malformed JSON: the document ends too early"
	}
	return "malformed JSON: " + err.Error()
}

// invalidUTF8At returns the offset of the first byte of data that is not
// part of valid UTF-8, or len(data).
func invalidUTF8At(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(data)
}

func position(data []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < offset && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()
var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func check(v any, t reflect.Type, path string, errs *[]tandem.FieldError) {
	if t == rawMessageType || t.Kind() == reflect.Interface {
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return // the type decodes itself; Unmarshal reports its errors
	}
	if t.Kind() == reflect.Pointer {
		if v == nil {
			return
		}
		check(v, t.Elem(), path, errs)
		return
	}
	if v == nil {
		return // null leaves the zero value, as encoding/json does
	}
	bad := func(want string) {
		*errs = append(*errs, tandem.FieldError{Path: path, Message: fmt.Sprintf("must be %s, not %s", want, describe(v))})
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			bad("a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			bad("true or false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			bad("an integer")
			return
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || reflect.Zero(t).OverflowInt(i) {
			*errs = append(*errs, tandem.FieldError{Path: path, Message: fmt.Sprintf("must be a whole number in range, not %s", n)})
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			bad("a non-negative integer")
			return
		}
		u, err := strconv.ParseUint(string(n), 10, 64)
		if err != nil || reflect.Zero(t).OverflowUint(u) {
			*errs = append(*errs, tandem.FieldError{Path: path, Message: fmt.Sprintf("must be a non-negative whole number in range, not %s", n)})
		}
	case reflect.Float32, reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			bad("a number")
			return
		}
		if _, err := strconv.ParseFloat(string(n), 64); err != nil {
			*errs = append(*errs, tandem.FieldError{Path: path, Message: fmt.Sprintf("must be a number in range, not %s", n)})
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			bad("an array")
			return
		}
		for i, e := range arr {
			check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			bad("an object")
			return
		}
		for k, e := range obj {
			check(e, t.Elem(), join(path, k), errs)
		}
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			bad("an object")
			return
		}
		fields := structFields(t)
		for _, k := range sortedKeys(obj) {
			f, ok := fields[k]
			if !ok {
				*errs = append(*errs, tandem.FieldError{Path: join(path, k), Message: fmt.Sprintf("unknown field %q", k)})
				continue
			}
			check(obj[k], f.Type, join(path, k), errs)
		}
	}
}

// structFields maps JSON names to fields the way encoding/json does for the
// simple cases this project uses: tagged or exported fields, no embedding.
func structFields(t reflect.Type) map[string]reflect.StructField {
	out := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		out[name] = f
	}
	return out
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
