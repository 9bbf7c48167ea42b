package verifypan_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/verifypan"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    string
		wantErr error
	}{
		{"person", "ABCPE1234F", "ABCPE1234F", nil},
		{"lower_case", "abcpe1234f", "ABCPE1234F", nil},
		{"mixed_case", "AbcPe1234f", "ABCPE1234F", nil},
		{"spaces", " ABCPE 1234 F ", "ABCPE1234F", nil},
		{"surrounding_newline", "ABCPE1234F\n", "ABCPE1234F", nil},
		{"holder_A", "AAAAA0000A", "AAAAA0000A", nil},
		{"holder_B", "AAABA0000A", "AAABA0000A", nil},
		{"holder_C", "AAACA0000A", "AAACA0000A", nil},
		{"holder_F", "AAAFA0000A", "AAAFA0000A", nil},
		{"holder_G", "AAAGA0000A", "AAAGA0000A", nil},
		{"holder_H", "AAAHA0000A", "AAAHA0000A", nil},
		{"holder_L", "AAALA0000A", "AAALA0000A", nil},
		{"holder_J", "AAAJA0000A", "AAAJA0000A", nil},
		{"holder_T", "AAATA9999Z", "AAATA9999Z", nil},
		{"empty", "", "", verifypan.ErrFormat},
		{"blank", "   ", "", verifypan.ErrFormat},
		{"too_short", "ABCPE1234", "", verifypan.ErrFormat},
		{"too_long", "ABCPE1234FG", "", verifypan.ErrFormat},
		{"digit_in_letters", "ABC1E1234F", "", verifypan.ErrFormat},
		{"digit_first", "1BCPE1234F", "", verifypan.ErrFormat},
		{"digit_fifth", "ABCP51234F", "", verifypan.ErrFormat},
		{"letter_sixth", "ABCPEA234F", "", verifypan.ErrFormat},
		{"letter_in_digits", "ABCPE12O4F", "", verifypan.ErrFormat},
		{"letter_ninth", "ABCPE123AF", "", verifypan.ErrFormat},
		{"last_is_digit", "ABCPE12345", "", verifypan.ErrFormat},
		{"hyphen", "ABCPE-1234F", "", verifypan.ErrFormat},
		{"inner_tab", "ABCPE\t1234F", "", verifypan.ErrFormat},
		{"dotless_i", "ABCPE1234ı", "", verifypan.ErrFormat},
		{"long_s", "ſBCPE1234F", "", verifypan.ErrFormat},
		{"fullwidth", "ＡＢＣＰＥ１２３４Ｆ", "", verifypan.ErrFormat},
		{"holder_D", "ABCDE1234F", "", verifypan.ErrHolderType},
		{"holder_K", "ABCKE1234F", "", verifypan.ErrHolderType},
		{"holder_lower_x", "abcxe1234f", "", verifypan.ErrHolderType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := verifypan.Normalize(tt.input)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Normalize(%q) error = %v, want %v", tt.input, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.input, got, tt.want)
			}
		})
	}
}

func TestErrHolderTypeMessage(t *testing.T) {
	want := "The fourth letter of a PAN tells the holder type and must be one of A, B, C, F, G, H, L, J, P, T."
	if got := verifypan.ErrHolderType.Error(); got != want {
		t.Errorf("ErrHolderType = %q, want %q", got, want)
	}
}

func TestDecodeConfig(t *testing.T) {
	reg := module.NewRegistry(verifypan.Info())
	tests := []struct {
		name string
		raw  string
		want []tandem.FieldError
	}{
		{"absent", "", nil},
		{"null", "null", nil},
		{"empty_object", "{}", nil},
		{"unknown_field", `{"strict":true}`, []tandem.FieldError{{Path: "strict", Message: `unknown field "strict"`}}},
		{"not_an_object", `[1]`, []tandem.FieldError{{Message: "must be an object, not an array"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, got := reg.DecodeConfig(verifypan.Type, json.RawMessage(tt.raw))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeConfig(%s) errors (-want +got):\n%s", tt.raw, diff)
			}
			if tt.want == nil {
				if _, ok := cfg.(*module.NoConfig); !ok {
					t.Errorf("DecodeConfig(%s) config = %T, want *module.NoConfig", tt.raw, cfg)
				}
			}
		})
	}
}

func TestInfo(t *testing.T) {
	in := verifypan.Info()
	got := []any{in.Type, in.Name, in.Side, in.Claims}
	want := []any{"verify_pan", "Verify PAN", module.SideBoth, []string{"pan_number", "pan_verified", "pan_verified_at"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Info (-want +got):\n%s", diff)
	}
}
