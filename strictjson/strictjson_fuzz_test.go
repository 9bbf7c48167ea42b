package strictjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// fuzzItem and fuzzDoc have the shapes the API bodies use: strings, bools,
// integers, floats, a nested struct, a pointer, a slice of structs, a map
// and a raw (any JSON) member.
type fuzzItem struct {
	Flag bool    `json:"flag"`
	N    int8    `json:"n,omitempty"`
	U    uint16  `json:"u,omitempty"`
	F    float64 `json:"f"`
}

type fuzzDoc struct {
	Name  string          `json:"name"`
	Items []fuzzItem      `json:"items"`
	Ptr   *fuzzItem       `json:"ptr,omitempty"`
	Raw   json.RawMessage `json:"raw,omitempty"`
	Tags  map[string]int  `json:"tags,omitempty"`
	Skip  string          `json:"-"`
	Untag string
}

var fuzzSeeds = []string{
	`{"name":"x","items":[{"flag":true,"n":3,"u":7,"f":1.5}],"raw":{"any":[1]},"ptr":null,"tags":{"a":1},"Untag":"y"}`,
	`{"items":[{"flag":true},{"flga":true}]}`,
	`{"name":"a","name":"b"}`,
	`{"ptr":{"n":128}}`,
	`{"ptr":{"u":-1}}`,
	`{"items":[{"f":1e400}]}`,
	`{"tags":{"a":1.5}}`,
	`{"NAME":"x"}`,
	`{"-":"x"}`,
	`{"Skip":"x"}`,
	"{\"name\":\"\xff\"}",
	`{"name":"\ud800"}`,
	`[[[[[[[[[[1]]]]]]]]]]`,
	`{"raw":{"a":{"a":{"a":1}}}} `,
	`{"name":"x"} {}`,
	`null`,
	``,
	`{"name":"\u0000"}`,
}

// FuzzDecode checks that Decode never panics and never accepts what it
// must refuse: a document that is not valid UTF-8 or not one JSON value, an
// unknown member (names match exactly, not case-insensitively as
// encoding/json does), a member given twice, or a value of the wrong type.
// What it accepts decodes as encoding/json decodes it, and its errors name
// paths under the prefix.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got fuzzDoc
		errs := Decode(data, &got, "body")
		if len(errs) > 0 {
			for _, e := range errs {
				if e.Path != "body" && !strings.HasPrefix(e.Path, "body.") && !strings.HasPrefix(e.Path, "body[") {
					t.Errorf("error path %q is not under the prefix", e.Path)
				}
				if e.Message == "" {
					t.Errorf("error at %q has no message", e.Path)
				}
			}
			if !reflect.DeepEqual(got, fuzzDoc{}) {
				t.Errorf("Decode changed the value although it failed: %+v", got)
			}
			return
		}
		if !utf8.Valid(data) {
			t.Fatalf("accepted a document that is not valid UTF-8: %q", data)
		}
		if !json.Valid(data) {
			t.Fatalf("accepted a document that is not one JSON value: %q", data)
		}
		if msg := strictShape(data, reflect.TypeFor[fuzzDoc]()); msg != "" {
			t.Fatalf("accepted %q although %s", data, msg)
		}
		var want fuzzDoc
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", data, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Decode(%q) differs from encoding/json (-json +Decode):\n%s", data, diff)
		}
	})
}

// strictShape checks data against t independently of Decode: every object
// member is a field of its struct (exact name), no member appears twice,
// and every value has its field's JSON kind. It returns what is wrong, or
// "".
func strictShape(data []byte, t reflect.Type) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return shapeOf(dec, t)
}

func shapeOf(dec *json.Decoder, t reflect.Type) string {
	tok, err := dec.Token()
	if err != nil {
		return "it does not tokenize: " + err.Error()
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if tok == nil {
		return ""
	}
	skip := func() string { // the rest of a value whose shape is free
		if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
			depth := 1
			for depth > 0 {
				tk, err := dec.Token()
				if err != nil {
					return err.Error()
				}
				if d, ok := tk.(json.Delim); ok {
					if d == '{' || d == '[' {
						depth++
					} else {
						depth--
					}
				}
			}
		}
		return ""
	}
	if t == reflect.TypeFor[json.RawMessage]() || t.Kind() == reflect.Interface {
		return skip()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		if tok != json.Delim('{') {
			return "an object is expected"
		}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err.Error()
			}
			k := kt.(string)
			if seen[k] {
				return "member " + k + " appears twice"
			}
			seen[k] = true
			et := t
			if t.Kind() == reflect.Map {
				et = t.Elem()
			} else {
				f, ok := fieldByJSONName(t, k)
				if !ok {
					return "member " + k + " is unknown"
				}
				et = f.Type
			}
			if msg := shapeOf(dec, et); msg != "" {
				return k + ": " + msg
			}
		}
		dec.Token() // '}'
	case reflect.Slice:
		if tok != json.Delim('[') {
			return "an array is expected"
		}
		for dec.More() {
			if msg := shapeOf(dec, t.Elem()); msg != "" {
				return msg
			}
		}
		dec.Token() // ']'
	case reflect.String:
		if _, ok := tok.(string); !ok {
			return "a string is expected"
		}
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			return "a boolean is expected"
		}
	default: // numbers
		if _, ok := tok.(json.Number); !ok {
			return "a number is expected"
		}
	}
	return ""
}

func fieldByJSONName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		n := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			n, _, _ = strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n == "" {
				n = f.Name
			}
		}
		if n == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// TestDecodeRefusesInvalidUTF8 is the regression test of the bug the
// hostile input suite found: encoding/json turns bytes that are not UTF-8
// into U+FFFD, so "mark\xff" was stored as "mark\uFFFD".
func TestDecodeRefusesInvalidUTF8(t *testing.T) {
	for _, in := range []string{"{\"name\":\"mark\xff\"}", "{\"tags\":{\"\xc3\x28\":1}}", "\xef\xbb\xbf{}"[:2] + "{}"} {
		var v fuzzDoc
		errs := Decode([]byte(in), &v, "body")
		if len(errs) != 1 || errs[0].Path != "body" || !strings.Contains(errs[0].Message, "not valid UTF-8") {
			t.Errorf("Decode(%q) = %v, want one error saying the body is not valid UTF-8", in, errs)
		}
	}
	var v fuzzDoc
	if errs := Decode([]byte(`{"name":"é \ufffd 🙂"}`), &v, ""); errs != nil || v.Name != "é \ufffd 🙂" {
		t.Errorf("valid UTF-8 (with an escaped U+FFFD) refused: %v %q", errs, v.Name)
	}
}
