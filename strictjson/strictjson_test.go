package strictjson

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
)

type inner struct {
	Flag bool    `json:"flag"`
	N    int     `json:"n,omitempty"`
	F    float64 `json:"f"`
}

type outer struct {
	Name  string          `json:"name"`
	Items []inner         `json:"items"`
	Ptr   *inner          `json:"ptr,omitempty"`
	Raw   json.RawMessage `json:"raw,omitempty"`
	Tags  map[string]int  `json:"tags,omitempty"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []tandem.FieldError
	}{
		{"valid", `{"name":"x","items":[{"flag":true,"n":3,"f":1.5}],"raw":{"any":[1]},"ptr":null}`, nil},
		{"unknownNested", `{"items":[{"flag":true},{"flga":true}]}`, []tandem.FieldError{{Path: "body.items[1].flga", Message: `unknown field "flga"`}}},
		{"unknownTop", `{"nmae":"x"}`, []tandem.FieldError{{Path: "body.nmae", Message: `unknown field "nmae"`}}},
		{"wrongType", `{"name":5,"items":{}}`, []tandem.FieldError{
			{Path: "body.items", Message: "must be an array, not an object"},
			{Path: "body.name", Message: "must be a string, not a number"},
		}},
		{"fractionForInt", `{"items":[{"n":1.5}]}`, []tandem.FieldError{{Path: "body.items[0].n", Message: "must be a whole number in range, not 1.5"}}},
		{"mapValue", `{"tags":{"a":"b"}}`, []tandem.FieldError{{Path: "body.tags.a", Message: "must be an integer, not a string"}}},
		{"pointerStruct", `{"ptr":{"zzz":1}}`, []tandem.FieldError{{Path: "body.ptr.zzz", Message: `unknown field "zzz"`}}},
		{"syntax", "{\n \"name\": }", []tandem.FieldError{{Path: "body", Message: "malformed JSON at line 2, column 10: invalid character '}' looking for beginning of value"}}},
		{"empty", ``, []tandem.FieldError{{Path: "body", Message: "the body is empty; send a JSON object"}}},
		{"truncated", `{"name":"x"`, []tandem.FieldError{{Path: "body", Message: "malformed JSON: the document ends too early"}}},
		{"trailing", `{"name":"x"} {}`, []tandem.FieldError{{Path: "body", Message: "unexpected data after the JSON value"}}},
		{"notObject", `[1]`, []tandem.FieldError{{Path: "body", Message: "must be an object, not an array"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got outer
			errs := Decode([]byte(tt.in), &got, "body")
			if diff := cmp.Diff(tt.want, errs); diff != "" {
				t.Errorf("Decode(%s) errors (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestDecodeLeavesValueOnError(t *testing.T) {
	v := outer{Name: "keep"}
	if errs := Decode([]byte(`{"name":"new","bogus":1}`), &v, ""); len(errs) != 1 || errs[0].Path != "bogus" {
		t.Fatalf("errors = %v, want one for bogus", errs)
	}
	if v.Name != "keep" {
		t.Errorf("Name = %q after a refused decode, want it unchanged", v.Name)
	}
}

func TestDecodeRefusesDuplicateAndCaseVariantKeys(t *testing.T) {
	tests := []struct {
		name, in string
		want     []tandem.FieldError
	}{
		{"duplicate", `{"name":"a","items":[{"n":1,"n":2}]}`, []tandem.FieldError{{Path: "items[0].n", Message: `field "n" appears twice; give it once`}}},
		{"caseVariant", `{"NAME":"a"}`, []tandem.FieldError{{Path: "NAME", Message: `unknown field "NAME"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v outer
			if diff := cmp.Diff(tt.want, Decode([]byte(tt.in), &v, "")); diff != "" {
				t.Errorf("Decode(%s) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}
